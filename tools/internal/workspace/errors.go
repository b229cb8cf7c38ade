package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"unicode/utf8"

	"github.com/toolhost/toolhost/protocol"
)

// Codes of workspace failures. They are stable tool codes (see
// protocol.ValidToolCode): models and scripts match on them.
const (
	// CodeBadPath: the path is malformed or leads outside the workspace.
	CodeBadPath = "BAD_PATH"
	// CodeNotFound: nothing exists at the path.
	CodeNotFound = "NOT_FOUND"
	// CodeNotAFile: the path names a folder or a special file (device,
	// FIFO, socket) where a regular file is needed.
	CodeNotAFile = "NOT_A_FILE"
	// CodeNotADir: the path, or one of its parents, is not a folder.
	CodeNotADir = "NOT_A_DIR"
	// CodeTooLarge: the content is over a tool's size limit.
	CodeTooLarge = "TOO_LARGE"
	// CodePermission: the operating system refused access.
	CodePermission = "PERMISSION"
	// CodeExists: the file exists and the caller asked not to replace it.
	CodeExists = "EXISTS"
	// CodeInterrupted: the call was cancelled (the host sent SIGTERM).
	CodeInterrupted = "INTERRUPTED"
	// CodeIO: any other failure of the file system.
	CodeIO = "IO_ERROR"
)

// Error is a failed workspace operation. It is safe to share once built.
type Error struct {
	// Code is one of the Code constants.
	Code string
	// Path is the workspace path as the caller gave it.
	Path string
	// Reason says what is wrong, in words a model can act on.
	Reason string
	// Err is the underlying cause; nil when the path itself was refused.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("path %q: %s", shown(e.Path), e.Reason)
}

func (e *Error) Unwrap() error { return e.Err }

// As lets errors.As turn an *Error into the *protocol.Error that
// protocol.Run reports, so the code reaches the host even when a tool
// wraps the error.
func (e *Error) As(target any) bool {
	p, ok := target.(**protocol.Error)
	if ok {
		*p = &protocol.Error{Code: e.Code, Message: e.Error()}
	}
	return ok
}

// shownLen bounds how much of a path an error message repeats, so that a
// hostile name cannot flood the host's stderr cap.
const shownLen = 200

func shown(p string) string {
	if len(p) <= shownLen {
		return p
	}
	cut := shownLen
	for cut > 0 && !utf8.RuneStart(p[cut]) {
		cut--
	}
	return p[:cut] + "..."
}

func badPath(name, reason string) *Error {
	return &Error{Code: CodeBadPath, Path: name, Reason: reason}
}

// fail turns an error from os.Root into an *Error for name. escape is the
// error value os.Root uses for a path that leaves the root; the standard
// library does not export it, so Open captures it (see escapeError).
func fail(name string, err, escape error) *Error {
	var we *Error
	if errors.As(err, &we) {
		return we
	}
	e := &Error{Code: CodeIO, Path: name, Err: err, Reason: err.Error()}
	switch {
	case escape != nil && errors.Is(err, escape):
		e.Code, e.Reason = CodeBadPath, "leads outside the workspace (through \"..\" or a symbolic link; absolute symbolic links are never followed)"
	case errors.Is(err, syscall.ELOOP):
		e.Code, e.Reason = CodeBadPath, "too many levels of symbolic links"
	case errors.Is(err, syscall.ENAMETOOLONG):
		e.Code, e.Reason = CodeBadPath, "name too long"
	case errors.Is(err, fs.ErrNotExist):
		e.Code, e.Reason = CodeNotFound, "does not exist"
	case errors.Is(err, syscall.ENOTDIR):
		e.Code, e.Reason = CodeNotADir, "a parent in the path is not a folder"
	case errors.Is(err, syscall.EISDIR):
		e.Code, e.Reason = CodeNotAFile, "is a folder"
	case errors.Is(err, fs.ErrPermission):
		e.Code, e.Reason = CodePermission, "permission denied"
	case errors.Is(err, fs.ErrExist):
		e.Code, e.Reason = CodeExists, "already exists"
	case errors.Is(err, fs.ErrInvalid):
		e.Code, e.Reason = CodeBadPath, "not a valid path"
	}
	return e
}
