//go:build unix

package audit

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func openFile(path string) (*os.File, error) {
	// O_NOFOLLOW: a symlink planted in the log's place must not redirect
	// the writes.
	return os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
}

func lockFile(f *os.File) error   { return unix.Flock(int(f.Fd()), unix.LOCK_EX) }
func unlockFile(f *os.File) error { return unix.Flock(int(f.Fd()), unix.LOCK_UN) }

func owner(fi os.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// checkFolder refuses a folder others could write to: they could delete or
// replace the log.
func checkFolder(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if uid := owner(fi); uid != os.Geteuid() && uid != 0 {
		return &UnsafeError{Path: dir, Reason: fmt.Sprintf("in a folder owned by uid %d", uid), Fix: "use a folder you own (-audit)"}
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &UnsafeError{Path: dir, Reason: fmt.Sprintf("in a folder writable by group or others (mode %04o)", perm), Fix: "chmod 700 " + dir}
	}
	return nil
}

// checkFile insists on a regular file of ours that nobody else can read or
// write (mode 0600).
func checkFile(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return &UnsafeError{Path: path, Reason: "not a regular file", Fix: "remove it or choose another path (-audit)"}
	}
	if uid := owner(fi); uid != os.Geteuid() {
		return &UnsafeError{Path: path, Reason: fmt.Sprintf("owned by uid %d", uid), Fix: "use a log of your own (-audit)"}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return &UnsafeError{Path: path, Reason: fmt.Sprintf("readable or writable by others (mode %04o)", perm), Fix: "chmod 600 " + path}
	}
	return nil
}
