package tooltest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Workspace makes a workspace for one test and returns its folder: a
// folder "ws" holding files (by slash path; a name ending in "/" is an
// empty folder), next to a folder "outside" holding secret.txt with the
// content secret, which a tool that escapes the workspace would reveal.
// Both live in t.TempDir.
func Workspace(t testing.TB, secret string, files map[string]string) string {
	t.Helper()
	base := t.TempDir()
	ws := filepath.Join(base, "ws")
	WriteFile(t, filepath.Join(base, "outside", "secret.txt"), secret)
	if err := os.MkdirAll(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(ws, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		WriteFile(t, p, content)
	}
	return ws
}

// WriteFile writes content to the file name (mode 0644), making its
// parent folders first, and fails the test on any error.
func WriteFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Symlink makes name a symbolic link to target (a slash path), and skips
// the test where symbolic links cannot be made (Windows without the
// privilege).
func Symlink(t testing.TB, target, name string) {
	t.Helper()
	if err := os.Symlink(filepath.FromSlash(target), name); err != nil {
		t.Skipf("symbolic links: %v", err)
	}
}

// Tree returns every path below dir with its content ("/" for folders,
// "-> target" for symbolic links), so a test can compare a whole folder at
// once, stray temporary files included.
func Tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			got[rel] = "-> " + filepath.ToSlash(target)
		case d.IsDir():
			got[rel] = "/"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
