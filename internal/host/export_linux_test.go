package host

import (
	"crypto/sha256"
	"encoding/hex"
	"io"

	"github.com/rs/zerolog"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func newTestLogger(w io.Writer) zerolog.Logger {
	return zerolog.New(w).Level(zerolog.DebugLevel)
}
