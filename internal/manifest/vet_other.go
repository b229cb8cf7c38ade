//go:build !unix

package manifest

import (
	"fmt"
	"io/fs"
	"os"
	"time"
)

// fileID identifies one version of a file as well as this platform allows.
type fileID struct {
	size  int64
	mtime time.Time
}

func identify(f *os.File) (fileID, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileID{}, err
	}
	return fileID{size: fi.Size(), mtime: fi.ModTime()}, nil
}

// Permission bits do not describe who may change a file on this platform;
// its ACLs are not checked here.
func isExecutable(fs.FileInfo) bool                  { return true }
func checkOwnerAndMode(string, fs.FileInfo) error    { return nil }
func checkDirOwnerAndMode(string, fs.FileInfo) error { return nil }

func openRegular(path string) (*os.File, error) {
	f, err := os.Open(path)
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
