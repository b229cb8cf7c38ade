package host

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The index finds protected names at any depth, sees names made since
// the last scan, and forgets folders that are gone.
func TestProtIndex(t *testing.T) {
	for _, watch := range []bool{true, false} {
		t.Run(fmt.Sprint("watch=", watch), func(t *testing.T) {
			old := watchFolders
			watchFolders = watch
			defer func() { watchFolders = old }()
			testProtIndex(t)
		})
	}
}

func testProtIndex(t *testing.T) {
	ws := t.TempDir()
	mk := func(p string) {
		os.MkdirAll(filepath.Dir(filepath.Join(ws, p)), 0o755)
		os.WriteFile(filepath.Join(ws, p), nil, 0o644)
	}
	mk("a/b/c/ok.txt")
	mk("x/y/ok.txt")
	var x protIndex
	none := func(string) bool { return false }
	scan := func() map[string]bool {
		r, err := x.scan(ws, "", none)
		if err != nil {
			t.Fatal(err)
		}
		return r.holds
	}
	if h := scan(); len(h) != 0 {
		t.Errorf("holds %v in a clean tree", h)
	}
	if (x.w != nil) != watchFolders {
		t.Fatalf("watcher %v, want %v", x.w != nil, watchFolders)
	}
	mk("a/b/c/.env")
	if h := scan(); !h[ws] || !h[filepath.Join(ws, "a")] || !h[filepath.Join(ws, "a/b/c")] || h[filepath.Join(ws, "x")] {
		t.Errorf("after a/b/c/.env: %v", h)
	}
	os.RemoveAll(filepath.Join(ws, "a"))
	if h := scan(); len(h) != 0 || len(x.dirs) != 3 {
		t.Errorf("after removing a: holds %v, %d folders indexed", h, len(x.dirs))
	}
	// A folder made, filled and moved in.
	mk("new/ok.txt")
	scan()
	mk("new/deep/id_rsa")
	if h := scan(); !h[filepath.Join(ws, "new/deep")] {
		t.Errorf("after new/deep/id_rsa: %v", h)
	}
	os.MkdirAll(filepath.Join(ws, "out/keys"), 0o755)
	os.WriteFile(filepath.Join(ws, "out/keys/.netrc"), nil, 0o600)
	os.Rename(filepath.Join(ws, "out/keys"), filepath.Join(ws, "x/keys"))
	if h := scan(); !h[filepath.Join(ws, "x/keys")] || h[filepath.Join(ws, "out")] {
		t.Errorf("after moving keys into x: %v", h)
	}
	deny := func(p string) bool { return filepath.Base(p) == "y" }
	if r, _ := x.scan(ws, "y", deny); !r.holds[filepath.Join(ws, "x")] || !slices.Contains(r.paths, filepath.Join(ws, "x/y")) {
		t.Errorf("a denied folder: %v", r)
	}
}

func TestProtIndexBound(t *testing.T) {
	old := maxIndexedDirs
	maxIndexedDirs = 50
	defer func() { maxIndexedDirs = old }()
	ws := t.TempDir()
	// Wide rather than deep: maxIndexedDirs+1 folders.
	for i := range maxIndexedDirs + 1 {
		os.Mkdir(filepath.Join(ws, fmt.Sprint(i)), 0o755)
	}
	var x protIndex
	if _, err := x.scan(ws, "", func(string) bool { return false }); err == nil || !strings.Contains(err.Error(), "more than 50 folders") {
		t.Errorf("past the bound: %v", err)
	}
}

// BenchmarkProtIndex measures a scan of 1,000 folders indexed already,
// the cost the strict level adds to each call on such a workspace: with
// the watcher (nothing changed: one read of the pending events) and
// without it (a stat per folder).
func BenchmarkProtIndex(b *testing.B) {
	ws := b.TempDir()
	for i := range 100 {
		for j := range 9 {
			os.MkdirAll(filepath.Join(ws, fmt.Sprint(i), fmt.Sprint(j)), 0o755)
		}
	}
	for _, watch := range []bool{true, false} {
		name := "stat"
		if watch {
			name = "watched"
		}
		b.Run(name, func(b *testing.B) {
			old := watchFolders
			watchFolders = watch
			defer func() { watchFolders = old }()
			var x protIndex
			defer x.close()
			none := func(string) bool { return false }
			x.scan(ws, "", none)
			for b.Loop() {
				x.scan(ws, "", none)
			}
		})
	}
}
