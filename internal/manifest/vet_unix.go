//go:build unix

package manifest

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/toolhost/toolhost/internal/realowner"
)

// fileID identifies one version of a file: replacing the file changes dev
// or inode, and writing to it changes ctime, which no user can set back.
type fileID struct {
	dev, ino, size uint64
	mtime, ctime   unix.Timespec
}

func identify(f *os.File) (fileID, error) {
	// x/sys/unix names the times alike on every Unix (syscall does not).
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fileID{}, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino), size: uint64(st.Size), mtime: st.Mtim, ctime: st.Ctim}, nil
}

func isExecutable(fi fs.FileInfo) bool { return fi.Mode().Perm()&0o111 != 0 }

// trustedOwner reports whether path, whose information is fi, is owned by
// root or the user running the host. In the user namespace agentcli makes
// for an ordinary user, where root's files show another user, the owner is
// asked of the process outside (see package realowner).
func trustedOwner(path string, fi fs.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	uid, err := realowner.UID(path, st.Uid)
	if err != nil {
		return st.Uid, false
	}
	return uid, uid == 0 || int(uid) == os.Geteuid()
}

func checkOwnerAndMode(path string, fi fs.FileInfo) error {
	if uid, ok := trustedOwner(path, fi); !ok {
		return &UnsafeFileError{Path: path, Reason: fmt.Sprintf("owned by uid %d, neither root nor the current user", uid), Fix: "chown it to yourself or root"}
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &UnsafeFileError{Path: path, Reason: fmt.Sprintf("writable by group or others (mode %04o)", perm), Fix: "chmod go-w " + path}
	}
	return nil
}

// checkDirOwnerAndMode is checkOwnerAndMode for folders, which may be
// writable by everyone when the sticky bit keeps others from renaming or
// deleting entries they do not own (as /tmp is).
func checkDirOwnerAndMode(path string, fi fs.FileInfo) error {
	if uid, ok := trustedOwner(path, fi); !ok {
		return &UnsafeFileError{Path: path, Reason: fmt.Sprintf("a folder owned by uid %d, neither root nor the current user", uid), Fix: "chown it to yourself or root"}
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return &UnsafeFileError{Path: path, Reason: fmt.Sprintf("a folder writable by group or others (mode %04o)", perm), Fix: "chmod go-w " + path}
	}
	return nil
}

// openRegular opens path for reading without blocking (a FIFO put in a
// program's place must not hang the host) and insists on a regular file.
func openRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	return f, nil
}
