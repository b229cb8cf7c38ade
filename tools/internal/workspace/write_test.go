package workspace

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/toolhost/toolhost/protocol/tooltest"
)

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		content string
		opts    WriteOptions
		code    string
		created bool
		// changes to the fixture's files, by path below the fixture.
		changes map[string]string
	}{
		{name: "new file", path: "new.txt", content: "new", created: true,
			changes: map[string]string{"ws/new.txt": "new"}},
		{name: "replace", path: "a.txt", content: "replaced",
			changes: map[string]string{"ws/a.txt": "replaced"}},
		{name: "empty content", path: "a.txt", content: "",
			changes: map[string]string{"ws/a.txt": ""}},
		{name: "nested existing folder", path: "sub/c.txt", content: "c", created: true,
			changes: map[string]string{"ws/sub/c.txt": "c"}},
		{name: "missing folder", path: "x/y/z.txt", content: "z", code: CodeNotFound},
		{name: "create folders", path: "x/y/z.txt", content: "z", opts: WriteOptions{CreateDirs: true}, created: true,
			changes: map[string]string{"ws/x": "/", "ws/x/y": "/", "ws/x/y/z.txt": "z"}},
		{name: "file as a folder", path: "a.txt/z.txt", content: "z", code: CodeNotADir},
		{name: "file as a folder with createDirs", path: "a.txt/z.txt", content: "z", opts: WriteOptions{CreateDirs: true}, code: CodeNotADir},
		{name: "no replace, new", path: "new.txt", content: "new", opts: WriteOptions{NoReplace: true}, created: true,
			changes: map[string]string{"ws/new.txt": "new"}},
		{name: "no replace, exists", path: "a.txt", content: "x", opts: WriteOptions{NoReplace: true}, code: CodeExists},
		{name: "folder", path: "sub", content: "x", code: CodeNotAFile},
		{name: "root", path: ".", content: "x", code: CodeNotAFile},
		{name: "through a link inside", path: "link_in", content: "via link",
			changes: map[string]string{"ws/a.txt": "via link"}},
		{name: "through a folder link inside", path: "link_dir_in/b.txt", content: "via dir link",
			changes: map[string]string{"ws/sub/b.txt": "via dir link"}},
		{name: "through a climbing link inside", path: "link_up_in", content: "up",
			changes: map[string]string{"ws/a.txt": "up"}},
		{name: "through a dangling link inside", path: "dangling", content: "made", created: true,
			changes: map[string]string{"ws/missing.txt": "made"}},
		{name: "link out", path: "link_out", content: "pwned", code: CodeBadPath},
		{name: "absolute link out", path: "link_abs_out", content: "pwned", code: CodeBadPath},
		{name: "folder link out", path: "link_dir_out/secret.txt", content: "pwned", code: CodeBadPath},
		{name: "folder link out, new file", path: "link_dir_out/new.txt", content: "pwned", code: CodeBadPath},
		{name: "folder link out, createDirs", path: "link_dir_out/x/new.txt", content: "pwned", opts: WriteOptions{CreateDirs: true}, code: CodeBadPath},
		{name: "absolute link in", path: "link_abs_in", content: "x", code: CodeBadPath},
		{name: "link loop", path: "loop1", content: "x", code: CodeBadPath},
		{name: "dot dot", path: "../outside/secret.txt", content: "pwned", code: CodeBadPath},
		{name: "absolute", path: "/tmp/x", content: "pwned", code: CodeBadPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, _ := fixture(t)
			base := filepath.Dir(ws)
			before := tooltest.Tree(t, base)
			created, err := open(t, ws).WriteFile(tt.path, []byte(tt.content), tt.opts)
			if c := code(t, err); c != tt.code {
				t.Fatalf("WriteFile(%q): code %q (%v), want %q", tt.path, c, err, tt.code)
			}
			if created != tt.created {
				t.Errorf("created = %v, want %v", created, tt.created)
			}
			want := before
			for k, v := range tt.changes {
				want[k] = v
			}
			// Nothing else changed, and no temporary file is left.
			if diff := cmp.Diff(want, tooltest.Tree(t, base)); diff != "" {
				t.Errorf("files mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix permission bits")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "private"), "old")
	if err := os.Chmod(filepath.Join(dir, "private"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "script"), "old")
	if err := os.Chmod(filepath.Join(dir, "script"), 0o750); err != nil {
		t.Fatal(err)
	}
	r := open(t, dir)
	tests := []struct {
		path string
		want fs.FileMode
	}{
		{"private", 0o600},
		{"script", 0o750},
		{"new", 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if _, err := r.WriteFile(tt.path, []byte("new"), WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(filepath.Join(dir, tt.path))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.want {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), tt.want)
			}
		})
	}
}

func TestWriteFileLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	r := open(t, dir)
	for range 3 {
		if _, err := r.WriteFile("f", []byte("x"), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.WriteFile("f", []byte("y"), WriteOptions{NoReplace: true}); code(t, err) != CodeExists {
		t.Fatalf("want EXISTS, got %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"f"}) {
		t.Errorf("folder holds %q, want only f", names)
	}
}
