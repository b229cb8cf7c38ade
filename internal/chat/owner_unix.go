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

// openNoWait opens without blocking (a FIFO) and without following a
// symbolic link in the last step.
const openNoWait = syscall.O_NONBLOCK | syscall.O_NOFOLLOW

// links is the number of names of the file.
func links(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
