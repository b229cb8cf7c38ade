package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Mark is an argument a tool's input schema marks for a guard, with the
// keywords "x-path": "read" or "write" (a file system path) and
// "x-command": true (a command line, or an argv array).
type Mark struct {
	// Pointer locates the argument; "*" stands for every item of an
	// array.
	Pointer []string
	// Path is "read" or "write" for a path; "" otherwise.
	Path string
	// Command marks a command.
	Command bool
}

// Field names the argument as a JSON pointer.
func (m Mark) Field() string { return "/" + strings.Join(m.Pointer, "/") }

// Marks finds the marked arguments of an input schema: under
// "properties", recursively, and "items" (arrays).
func Marks(schema json.RawMessage) ([]Mark, error) {
	var root any
	if err := json.Unmarshal(schema, &root); err != nil {
		return nil, err
	}
	var marks []Mark
	var errs []error
	var walk func(at []string, s any)
	walk = func(at []string, s any) {
		obj, ok := s.(map[string]any)
		if !ok {
			return
		}
		m := Mark{Pointer: append([]string(nil), at...)}
		if v, ok := obj["x-path"]; ok {
			switch v {
			case "read", "write":
				m.Path = v.(string)
			default:
				errs = append(errs, fmt.Errorf("%s: x-path must be \"read\" or \"write\", got %v", m.Field(), v))
			}
		}
		if v, ok := obj["x-command"]; ok {
			if b, isBool := v.(bool); !isBool {
				errs = append(errs, fmt.Errorf("%s: x-command must be true or false", m.Field()))
			} else {
				m.Command = b
			}
		}
		if (m.Path != "" || m.Command) && len(at) > 0 {
			marks = append(marks, m)
		}
		if props, ok := obj["properties"].(map[string]any); ok {
			for k, p := range props {
				walk(append(at, k), p)
			}
		}
		if items, ok := obj["items"]; ok {
			walk(append(at, "*"), items)
		}
	}
	walk(nil, root)
	// A mark anywhere else ($ref, anyOf, additionalProperties, ...) would
	// look like protection and give none: refused.
	var check func(at string, v any, enforced bool)
	check = func(at string, v any, enforced bool) {
		switch x := v.(type) {
		case map[string]any:
			for _, kw := range []string{"x-path", "x-command"} {
				if _, ok := x[kw]; ok && (!enforced || at == "") {
					errs = append(errs, fmt.Errorf("%s: %s is not enforced here: the host reads marks only on properties (and array items) reached from the root through \"properties\" and \"items\"", orRoot(at), kw))
				}
			}
			for k, e := range x {
				switch k {
				case "properties":
					if props, ok := e.(map[string]any); ok {
						for name, ps := range props {
							check(at+"/properties/"+name, ps, enforced)
						}
						continue
					}
				case "items":
					check(at+"/items", e, enforced)
					continue
				}
				check(at+"/"+k, e, false)
			}
		case []any:
			for i, e := range x {
				check(fmt.Sprintf("%s/%d", at, i), e, false)
			}
		}
	}
	check("", root, true)
	return marks, errors.Join(errs...)
}

// Values returns the values at a mark's place in args, with their
// pointers.
func (m Mark) Values(args map[string]any) (ptrs []string, vals []any) {
	var walk func(at string, v any, rest []string)
	walk = func(at string, v any, rest []string) {
		if len(rest) == 0 {
			ptrs, vals = append(ptrs, at), append(vals, v)
			return
		}
		switch x := v.(type) {
		case map[string]any:
			if rest[0] == "*" {
				return
			}
			for k, e := range x {
				// Under any spelling a decoder would match.
				if k == rest[0] || FoldKey(k) == FoldKey(rest[0]) {
					walk(at+"/"+k, e, rest[1:])
				}
			}
		case []any:
			if rest[0] == "*" {
				for i, e := range x {
					walk(at+"/"+strconv.Itoa(i), e, rest[1:])
				}
			}
		}
	}
	walk("", args, m.Pointer)
	return ptrs, vals
}

// Paths are where a tool's path arguments may point.
type Paths struct {
	// Workspace is the absolute, resolved workspace; Access is "none",
	// "read" or "write".
	Workspace, Access string
	// Read and Write are extra grants, absolute and resolved.
	Read, Write []string
	// Own are the host's own paths, protected by the floor.
	Own []string
	// Deny are the policy's paths.deny, protected like the floor.
	Deny *DenyPaths
}

// Floor reports the floor entry or paths.deny pattern protecting the
// resolved absolute path p, or nil.
func (ps *Paths) Floor(p string) *Finding {
	if f := FloorPath(p, ps.Own); f != nil {
		return f
	}
	return ps.Deny.Match(p)
}

// Resolve makes p absolute (relative to the workspace) and follows its
// symbolic links the way the kernel will: component by component, with
// ".." taken after the links before it are followed (a lexical clean
// first would turn "link/../x" into "x" while the kernel opens the link's
// parent's x). Components that do not exist yet (what a write would
// create) are taken as written; a link to nothing resolves to where it
// points, which is where a write through it lands.
func (ps *Paths) Resolve(p string) (string, error) {
	if strings.ContainsRune(p, 0) {
		return "", errors.New("contains a NUL byte")
	}
	if strings.HasPrefix(p, "~") {
		return "", errors.New("~ is not expanded; give a path in the workspace")
	}
	base := ps.Workspace
	if filepath.IsAbs(p) {
		base = "/"
	}
	links := 0
	return resolveFrom(base, p, &links)
}

// resolveFrom resolves the path p (relative or absolute) from the folder
// cur, which is resolved already.
func resolveFrom(cur, p string, links *int) (string, error) {
	if filepath.IsAbs(p) {
		cur = "/"
	}
	for _, c := range strings.Split(filepath.ToSlash(p), "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		switch {
		case err != nil && errors.Is(err, fs.ErrNotExist):
			cur = next // to be created; nothing below it exists either
		case err != nil:
			return "", err
		case fi.Mode()&fs.ModeSymlink != 0:
			if *links++; *links > 40 {
				return "", fmt.Errorf("%s: too many levels of symbolic links", next)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return "", err
			}
			if cur, err = resolveFrom(cur, target, links); err != nil {
				return "", err
			}
		default:
			cur = next
		}
	}
	return cur, nil
}

// Check resolves a path argument and checks it: outside the floor, and
// inside the workspace (when its access allows) or a grant. The finding
// says why not.
func (ps *Paths) Check(p string, write bool) (string, *Finding) {
	abs, err := ps.Resolve(p)
	if err != nil {
		return "", &Finding{ID: "path-unresolved", Category: CategoryPathGuard, Reason: fmt.Sprintf("path %q does not resolve: %v", p, err)}
	}
	if f := ps.Floor(abs); f != nil {
		return abs, f
	}
	inWorkspace := Within(abs, ps.Workspace)
	switch {
	case inWorkspace && ps.Access == "write":
		return abs, nil
	case inWorkspace && ps.Access == "read" && !write:
		return abs, nil
	}
	for _, g := range ps.Write {
		if Within(abs, g) {
			return abs, nil
		}
	}
	if !write {
		for _, g := range ps.Read {
			if Within(abs, g) {
				return abs, nil
			}
		}
	}
	what := "read"
	if write {
		what = "write"
	}
	where := "outside the workspace and the tool's grants"
	if inWorkspace {
		where = fmt.Sprintf("in the workspace, which this tool may only %s", ps.Access)
	}
	return abs, &Finding{ID: "path-outside", Category: CategoryPathGuard, Reason: fmt.Sprintf("may not %s %s: it is %s", what, abs, where)}
}

// CategoryPathGuard is the category of path arguments the guard refuses.
const CategoryPathGuard = "path-guard"

// LooksLikePath reports whether an unmarked string argument is probably a
// path, so that the floor checks it too: one word that names a folder
// ("./x", "../x", "/x", "a/b") or a dot file.
func LooksLikePath(s string) bool {
	if s == "" || len(s) > 4096 || strings.ContainsAny(s, " \t\n\r") {
		return false
	}
	return strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "~") || strings.Contains(s, "/")
}

// PathCandidates are the paths an unmarked string argument (or a word of
// a command) may name: itself, and, when they look like paths, what
// follows a file: URL's scheme and host (in any case, percent-decoded),
// "@" (curl's file argument), "=" (--output=/x), "host:" (scp, rsync) and
// the letters of a glued short option (-T/etc/shadow, -d@/etc/shadow).
func PathCandidates(s string) []string {
	var out []string
	var walk func(s string, depth int)
	walk = func(s string, depth int) {
		if s == "" || depth > 4 || len(out) > 32 {
			return
		}
		if LooksLikePath(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
		if p, ok := fileURL(s); ok {
			walk(p, depth+1)
			return
		}
		if rest, ok := strings.CutPrefix(s, "@"); ok {
			walk(rest, depth+1)
		}
		if i := strings.IndexByte(s, '='); i >= 0 {
			walk(s[i+1:], depth+1)
			if j := strings.LastIndexByte(s, '='); j > i {
				walk(s[j+1:], depth+1)
			}
		}
		if i := strings.IndexByte(s, ':'); i > 0 && !strings.HasPrefix(s[i+1:], "//") && !strings.ContainsAny(s[:i], "/=") {
			walk(s[i+1:], depth+1)
		}
		if len(s) > 2 && s[0] == '-' && s[1] != '-' {
			for j := 2; j < len(s) && j <= 8; j++ {
				if !isAlnum(s[j-1]) {
					break
				}
				if !isAlnum(s[j]) {
					walk(s[j:], depth+1)
				}
			}
		}
	}
	walk(s, 0)
	return out
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// fileURL returns the path of a file: URL (FILE:///x, file://localhost/x,
// file:/x), percent-decoded.
func fileURL(s string) (string, bool) {
	if len(s) < 5 || !strings.EqualFold(s[:5], "file:") {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil {
		// Not a URL Go reads; the shell tools may still: take the rest.
		return strings.TrimLeft(s[5:], "/"), true
	}
	p := u.Path
	if p == "" {
		p = u.Opaque
	}
	return p, true
}

// FloorName reports a floor entry that protects one of the names in p,
// read lexically: for a path that cannot be resolved, such as "~/.ssh/x".
func FloorName(p string) *Finding {
	for _, part := range strings.Split(filepath.ToSlash(p), "/") {
		if f := ProtectedName(part); f != nil {
			return f
		}
	}
	if strings.HasPrefix(p, "/") {
		return FloorPath(filepath.Clean(p), nil)
	}
	return nil
}
