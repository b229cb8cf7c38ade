//go:build unix

package main

import (
	"os"
	"syscall"
)

// pollable returns a file reading what f reads that the Go runtime waits
// on in its network poller, when f is a pipe or a socket (as an MCP
// client's stdio is), and restore, which puts f back in blocking mode.
// A read blocked in a system call instead keeps an OS thread in it and
// Go's sysmon thread waking up to every 20 µs, CPU time that the tools of
// the calls then lack. f itself is left open; terminals and files are
// returned as they are.
func pollable(f *os.File) (r *os.File, restore func()) {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) == 0 {
		return f, func() {}
	}
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return f, func() {}
	}
	syscall.CloseOnExec(fd)
	// O_NONBLOCK belongs to the open pipe, which the duplicate shares.
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return f, func() {}
	}
	r = os.NewFile(uintptr(fd), f.Name())
	return r, func() {
		// Closed first: a read still parked on r ends now, rather than
		// block in the kernel once the pipe is in blocking mode again.
		r.Close()
		syscall.SetNonblock(int(f.Fd()), false)
	}
}
