//go:build unix

package chat

import (
	"os"
	"syscall"
)

// ownedByUs reports whether the file is this process's user's.
func ownedByUs(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
