package workspace

import (
	"errors"
	"io/fs"
	"os"
)

// Root is an open workspace. Its methods take workspace paths as a model
// sends them, check them with Clean, and reach the file system only through
// an os.Root, so no path, ".." or symbolic link leads outside.
//
// A Root is safe for concurrent use. The zero value is not usable; call
// Open.
type Root struct {
	root *os.Root
	// escape is the error os.Root returns for a path leaving the root.
	escape error
}

// Open opens the workspace at dir (the tools pass ".", the folder the
// host starts them in).
func Open(dir string) (*Root, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fail(dir, err, nil)
	}
	return &Root{root: root, escape: escapeError(root)}, nil
}

// escapeError returns the error value os.Root uses when a path leaves the
// root. The standard library does not export it, so it is taken from a
// lookup that always escapes and matched by identity, never by its text.
func escapeError(root *os.Root) error {
	_, err := root.Lstat("..")
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return nil
}

// Close releases the workspace's descriptor.
func (r *Root) Close() error { return r.root.Close() }

// stat returns the file information of name, following symbolic links that
// stay inside the workspace.
func (r *Root) stat(name string) (fs.FileInfo, error) {
	clean, err := Clean(name)
	if err != nil {
		return nil, err
	}
	fi, err := r.root.Stat(native(clean))
	if err != nil {
		return nil, fail(name, err, r.escape)
	}
	return fi, nil
}

// Lstat returns the file information of name without following a symbolic
// link in its last element.
func (r *Root) Lstat(name string) (fs.FileInfo, error) {
	clean, err := Clean(name)
	if err != nil {
		return nil, err
	}
	fi, err := r.root.Lstat(native(clean))
	if err != nil {
		return nil, fail(name, err, r.escape)
	}
	return fi, nil
}

// OpenRegular opens name for reading and returns it with its information.
// Only a regular file is opened: a folder or a special file (device, FIFO,
// socket) is a NOT_A_FILE *Error. The open never blocks, even when a FIFO
// is swapped in after the check (see openNonblock), and the type is checked
// again on the opened descriptor. The caller closes the file.
func (r *Root) OpenRegular(name string) (*os.File, fs.FileInfo, error) {
	clean, err := Clean(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := r.root.Stat(native(clean))
	if err != nil {
		return nil, nil, fail(name, err, r.escape)
	}
	if err := regular(name, fi); err != nil {
		return nil, nil, err
	}
	f, err := r.root.OpenFile(native(clean), os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, nil, fail(name, err, r.escape)
	}
	fi, err = f.Stat()
	if err == nil {
		err = regular(name, fi)
	}
	if err != nil {
		f.Close()
		return nil, nil, fail(name, err, r.escape)
	}
	return f, fi, nil
}

// regular returns a NOT_A_FILE *Error unless fi describes a regular file.
func regular(name string, fi fs.FileInfo) error {
	switch {
	case fi.Mode().IsRegular():
		return nil
	case fi.IsDir():
		return &Error{Code: CodeNotAFile, Path: name, Reason: "is a folder, not a file"}
	default:
		return &Error{Code: CodeNotAFile, Path: name, Reason: "is not a regular file (" + kind(fi.Mode()) + ")"}
	}
}

// kind names a special file's type for messages.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	default:
		return "special file"
	}
}
