package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Genesis is the "prev" of the first line of a log.
var Genesis = strings.Repeat("0", 64)

// hashPrefix starts the member that ends every line.
const hashPrefix = `,"hash":"`

// seal appends the line for rec to b, hash member and newline included,
// and returns the hash. rec.Hash must be empty.
func seal(b []byte, rec *Record) ([]byte, string) {
	start := len(b)
	b = appendRecord(b, rec)
	sum := sha256.Sum256(b[start:])
	hash := hex.EncodeToString(sum[:])
	b = append(b[:len(b)-1], hashPrefix...)
	b = append(b, hash...)
	b = append(b, `"}`+"\n"...)
	return b, hash
}

// link is what the chain needs from a line.
type link struct {
	V    int    `json:"v"`
	Seq  uint64 `json:"seq"`
	Prev string `json:"prev"`
	hash string
}

// open checks that line (without its newline) hashes to the hash it
// carries, and returns its chain members.
func open(line []byte) (*link, string) {
	const suffixLen = len(hashPrefix) + 64 + 2 // ,"hash":"<64 hex>"}
	if len(line) < suffixLen+2 || line[0] != '{' {
		return nil, "not an audit record"
	}
	cut := len(line) - suffixLen
	suffix := line[cut:]
	if !bytes.HasPrefix(suffix, []byte(hashPrefix)) || !bytes.HasSuffix(suffix, []byte(`"}`)) {
		return nil, "no hash at the end of the line"
	}
	claimed := string(suffix[len(hashPrefix) : len(hashPrefix)+64])
	body := make([]byte, 0, cut+1)
	body = append(append(body, line[:cut]...), '}')
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != claimed {
		return nil, "hash mismatch: the line was edited"
	}
	var l link
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, "not an audit record: " + err.Error()
	}
	if l.V != Version {
		return nil, fmt.Sprintf("unknown record version %d", l.V)
	}
	l.hash = claimed
	return &l, ""
}
