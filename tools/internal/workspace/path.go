package workspace

import (
	"path"
	"path/filepath"
	"strings"
)

// MaxPathLen bounds the length in bytes of a workspace path (Linux's
// PATH_MAX): no operating system opens a longer one, and it keeps every
// path a tool echoes small next to the host's output cap.
const MaxPathLen = 4096

// windowsPaths reports whether backslashes and colons are path syntax
// here, not ordinary name bytes.
const windowsPaths = filepath.Separator == '\\'

// Clean checks name, a path relative to the workspace root, and returns its
// lexically cleaned form with forward slashes ("." for the root itself).
//
// It refuses, with a BAD_PATH *Error: the empty string, names longer than
// MaxPathLen, NUL bytes, absolute paths in Unix or Windows form (/x, \x,
// \\server\share, C:\x and the drive-relative C:x), and paths whose cleaned
// form climbs out with "..". Backslashes count as separators for these
// checks on every system, so a name that would escape on Windows is refused
// everywhere; on Unix they otherwise stay ordinary name bytes.
//
// Clean is lexical only: symbolic links are checked when the path is used
// through a Root.
func Clean(name string) (string, error) {
	switch {
	case name == "":
		return "", badPath(name, "empty path; use \".\" for the workspace root")
	case len(name) > MaxPathLen:
		return "", badPath(name, "longer than 4096 bytes")
	case strings.IndexByte(name, 0) >= 0:
		return "", badPath(name, "contains a NUL byte")
	}
	if windowsPaths && strings.IndexByte(name, ':') >= 0 {
		// NTFS reads "name:stream" as an alternate data stream.
		return "", badPath(name, "colons are not allowed in paths")
	}
	clean := path.Clean(name)
	if windowsPaths {
		clean = path.Clean(strings.ReplaceAll(name, `\`, "/"))
	}
	// Both the name as given and the name the system will get must be
	// relative and stay inside, with backslashes read as separators.
	for _, p := range []string{name, clean} {
		if err := checkRelative(name, strings.ReplaceAll(p, `\`, "/")); err != nil {
			return "", err
		}
	}
	// Belt and braces: the standard library's own notion of a local path
	// (it also knows Windows' reserved names such as NUL and COM1).
	if !filepath.IsLocal(filepath.FromSlash(clean)) {
		return "", badPath(name, "not a local path")
	}
	return clean, nil
}

// checkRelative refuses p, a form of name with forward slashes, when it
// is absolute, has a drive letter or climbs out once cleaned.
func checkRelative(name, p string) error {
	switch c := path.Clean(p); {
	case strings.HasPrefix(p, "/"):
		return badPath(name, "absolute paths are not allowed; use a path relative to the workspace root")
	case hasDriveLetter(p) || hasDriveLetter(c):
		return badPath(name, "paths with a drive letter are not allowed; use a path relative to the workspace root")
	case c == ".." || strings.HasPrefix(c, "../"):
		return badPath(name, "leads outside the workspace (\"..\")")
	}
	return nil
}

// hasDriveLetter reports whether p starts like "C:", which is absolute
// ("C:\x") or drive-relative ("C:x") on Windows.
func hasDriveLetter(p string) bool {
	if len(p) < 2 || p[1] != ':' {
		return false
	}
	c := p[0] | 0x20 // lower case
	return 'a' <= c && c <= 'z'
}

// native turns a cleaned slash path into the operating system's form.
func native(clean string) string {
	return filepath.FromSlash(clean)
}
