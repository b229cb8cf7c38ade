package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// flushInput returns a function that discards what was typed on the
// terminal f and not yet read.
func flushInput(f *os.File) (func(), bool) {
	return func() { unix.IoctlSetInt(int(f.Fd()), unix.TCFLSH, unix.TCIFLUSH) }, true
}
