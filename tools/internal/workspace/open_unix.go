//go:build unix

package workspace

import "syscall"

// openNonblock makes opening a FIFO return at once instead of waiting for a
// writer. Reads from regular files ignore the flag.
const openNonblock = syscall.O_NONBLOCK
