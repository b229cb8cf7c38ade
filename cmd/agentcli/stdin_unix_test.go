//go:build unix

package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func nonblocking(t *testing.T, f *os.File) bool {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	rc.Control(func(fd uintptr) { flags, err = unix.FcntlInt(fd, unix.F_GETFL, 0) })
	if err != nil {
		t.Fatal(err)
	}
	return flags&unix.O_NONBLOCK != 0
}

// A pipe on standard input is read through the poller, and left in
// blocking mode again afterwards; a regular file is read as it is.
func TestPollableStdin(t *testing.T) {
	var fds [2]int
	if err := unix.Pipe(fds[:]); err != nil { // blocking, as os.Stdin's
		t.Fatal(err)
	}
	blocking, w := os.NewFile(uintptr(fds[0]), "stdin"), os.NewFile(uintptr(fds[1]), "client")
	defer blocking.Close()
	defer w.Close()
	p, restore := pollable(blocking)
	if p == blocking || !nonblocking(t, p) {
		t.Fatal("a pipe was not made pollable")
	}
	go func() { w.Write([]byte("hello\n")); w.Close() }()
	if got, err := io.ReadAll(p); err != nil || string(got) != "hello\n" {
		t.Errorf("read %q, %v", got, err)
	}
	restore()
	if nonblocking(t, blocking) {
		t.Error("the pipe was left in non-blocking mode")
	}

	f, err := os.Create(filepath.Join(t.TempDir(), "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if p, restore := pollable(f); p != f {
		t.Error("a regular file was replaced")
	} else {
		restore()
	}
}
