package manifest

import (
	"fmt"
	"strings"
)

// FieldError is one problem in a manifest, located by tool and field.
type FieldError struct {
	Index int    // index of the tool in "tools"; -1 for the manifest as a whole
	Tool  string // the tool's name, when it has one
	Field string // the field at fault, e.g. "command[0]" or "schema"; "" for the whole tool
	Err   error
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Index >= 0 {
		fmt.Fprintf(&b, "tools[%d]", e.Index)
		if e.Tool != "" {
			fmt.Fprintf(&b, " %q", e.Tool)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *FieldError) Unwrap() error { return e.Err }

// LoadError holds every problem found in a manifest. Load reports them all
// at once, so a broken manifest is fixed in one pass.
type LoadError struct {
	Path string // the manifest file
	Errs []*FieldError
}

func (e *LoadError) Error() string {
	if len(e.Errs) == 1 {
		return fmt.Sprintf("%s: %v", e.Path, e.Errs[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problems:", e.Path, len(e.Errs))
	for _, fe := range e.Errs {
		b.WriteString("\n  ")
		b.WriteString(fe.Error())
	}
	return b.String()
}

// Unwrap returns the individual problems, so errors.Is and errors.As see
// through a LoadError.
func (e *LoadError) Unwrap() []error {
	errs := make([]error, len(e.Errs))
	for i, fe := range e.Errs {
		errs[i] = fe
	}
	return errs
}

// IntegrityError reports a program whose content no longer matches its
// pinned sha256.
type IntegrityError struct {
	Path string
	Want string // pinned digest, lower-case hex
	Got  string // digest of the file as found
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("%s: sha256 is %s, pinned %s", e.Path, e.Got, e.Want)
}

// UnsafeFileError reports a program, manifest or folder that someone other
// than root or the current user could change.
type UnsafeFileError struct {
	Path   string
	Reason string // e.g. "writable by group or others (mode 0775)"
	Fix    string // e.g. "chmod go-w /path"
}

func (e *UnsafeFileError) Error() string {
	s := e.Path + " is " + e.Reason
	if e.Fix != "" {
		s += "; fix: " + e.Fix
	}
	return s
}
