package workspace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/toolhost/toolhost/protocol"
)

// fixture builds a workspace next to a folder outside it:
//
//	outside/secret.txt
//	ws/a.txt, sub/b.txt, .hidden, .git/config, and symbolic links:
//	  link_in -> a.txt, link_dir_in -> sub, link_up_in -> sub/../a.txt,
//	  link_out -> ../outside/secret.txt, link_dir_out -> ../outside,
//	  link_abs_out -> <outside>/secret.txt, link_abs_in -> <ws>/a.txt,
//	  loop1 -> loop2 -> loop1, dangling -> missing.txt
//
// It returns the workspace's folder and the outside folder. Tests that need
// symbolic links are skipped where they cannot be made.
func fixture(t *testing.T) (ws, outside string) {
	t.Helper()
	base := t.TempDir()
	ws, outside = filepath.Join(base, "ws"), filepath.Join(base, "outside")
	files := map[string]string{
		"outside/secret.txt": "secret\n",
		"ws/a.txt":           "hello\n",
		"ws/sub/b.txt":       "bee\n",
		"ws/.hidden":         "hidden\n",
		"ws/.git/config":     "[core]\n",
	}
	for name, content := range files {
		writeFile(t, filepath.Join(base, name), content)
	}
	links := []struct{ name, target string }{
		{"link_in", "a.txt"},
		{"link_dir_in", "sub"},
		{"link_up_in", "sub/../a.txt"},
		{"link_out", "../outside/secret.txt"},
		{"link_dir_out", "../outside"},
		{"link_abs_out", filepath.Join(outside, "secret.txt")},
		{"link_abs_in", filepath.Join(ws, "a.txt")},
		{"loop1", "loop2"},
		{"loop2", "loop1"},
		{"dangling", "missing.txt"},
	}
	for _, l := range links {
		if err := os.Symlink(filepath.FromSlash(l.target), filepath.Join(ws, l.name)); err != nil {
			t.Skipf("symbolic links: %v", err)
		}
	}
	return ws, outside
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, dir string) *Root {
	t.Helper()
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// code returns the code of err, "" for nil, or fails for a foreign error.
func code(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var we *Error
	if !errors.As(err, &we) {
		t.Fatalf("error %#v is not a *workspace.Error", err)
	}
	return we.Code
}

func TestOpenRegular(t *testing.T) {
	ws, _ := fixture(t)
	r := open(t, ws)
	tests := []struct {
		name, path string
		code       string
		content    string
	}{
		{"file", "a.txt", "", "hello\n"},
		{"nested", "sub/b.txt", "", "bee\n"},
		{"inner dot dot", "sub/../a.txt", "", "hello\n"},
		{"link inside", "link_in", "", "hello\n"},
		{"through a folder link inside", "link_dir_in/b.txt", "", "bee\n"},
		{"link climbing but staying inside", "link_up_in", "", "hello\n"},
		{"folder", "sub", CodeNotAFile, ""},
		{"root", ".", CodeNotAFile, ""},
		{"missing", "nope.txt", CodeNotFound, ""},
		{"dangling link", "dangling", CodeNotFound, ""},
		{"file as a folder", "a.txt/x", CodeNotADir, ""},
		{"absolute", filepath.Join(ws, "a.txt"), CodeBadPath, ""},
		{"dot dot", "../outside/secret.txt", CodeBadPath, ""},
		{"link out", "link_out", CodeBadPath, ""},
		{"folder link out", "link_dir_out/secret.txt", CodeBadPath, ""},
		{"absolute link out", "link_abs_out", CodeBadPath, ""},
		{"absolute link in", "link_abs_in", CodeBadPath, ""},
		{"link loop", "loop1", CodeBadPath, ""},
		{"empty", "", CodeBadPath, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, fi, err := r.OpenRegular(tt.path)
			if got := code(t, err); got != tt.code {
				t.Fatalf("OpenRegular(%q): code %q (%v), want %q", tt.path, got, err, tt.code)
			}
			if err != nil {
				return
			}
			defer f.Close()
			b, err := io.ReadAll(f)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.content || fi.Size() != int64(len(tt.content)) {
				t.Errorf("content %q, size %d; want %q", b, fi.Size(), tt.content)
			}
		})
	}
}

func TestStatAndLstat(t *testing.T) {
	ws, _ := fixture(t)
	r := open(t, ws)
	tests := []struct {
		path      string
		stat      string // code, or the mode type letter on success
		lstat     string
		statIsDir bool
	}{
		{"sub", "", "", true},
		{"link_dir_in", "", "", true},
		{"link_out", CodeBadPath, "", false},
		{"link_dir_out", CodeBadPath, "", false},
		{"link_abs_out", CodeBadPath, "", false},
		{"link_dir_out/secret.txt", CodeBadPath, CodeBadPath, false},
		{"missing/x", CodeNotFound, CodeNotFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			fi, err := r.stat(tt.path)
			if got := code(t, err); got != tt.stat {
				t.Errorf("Stat: code %q (%v), want %q", got, err, tt.stat)
			}
			if err == nil && fi.IsDir() != tt.statIsDir {
				t.Errorf("Stat: IsDir %v, want %v", fi.IsDir(), tt.statIsDir)
			}
			if _, err := r.Lstat(tt.path); code(t, err) != tt.lstat {
				t.Errorf("Lstat: code %q (%v), want %q", code(t, err), err, tt.lstat)
			}
		})
	}
}

func TestErrorBecomesProtocolError(t *testing.T) {
	ws, _ := fixture(t)
	r := open(t, ws)
	_, _, err := r.OpenRegular("link_out")
	wrapped := fmt.Errorf("read: %w", err)
	var pe *protocol.Error
	if !errors.As(wrapped, &pe) {
		t.Fatalf("errors.As(%v, *protocol.Error) = false", wrapped)
	}
	want := &protocol.Error{Code: CodeBadPath, Message: err.Error()}
	if diff := cmp.Diff(want, pe); diff != "" {
		t.Errorf("protocol error mismatch (-want +got):\n%s", diff)
	}
	if !protocol.ValidToolCode(pe.Code) {
		t.Errorf("code %q is not a valid tool code", pe.Code)
	}
}

func TestCodesAreToolCodes(t *testing.T) {
	for _, c := range []string{CodeBadPath, CodeNotFound, CodeNotAFile, CodeNotADir, CodeTooLarge, CodePermission, CodeExists, CodeInterrupted, CodeIO} {
		if !protocol.ValidToolCode(c) {
			t.Errorf("%q is not a valid tool code", c)
		}
	}
}

func TestErrorMessageBounded(t *testing.T) {
	tests := []struct {
		name, path string
		max        int
	}{
		{"long", strings.Repeat("é", 1000) + "/../../x", 300},
		{"long and not UTF-8", strings.Repeat("\xff", 1000) + "\x00", 4*shownLen + 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Clean(tt.path)
			if err == nil {
				t.Fatal("want an error")
			}
			if n := len(err.Error()); n > tt.max {
				t.Errorf("message is %d bytes: %s", n, err)
			}
		})
	}
}

func TestWalk(t *testing.T) {
	ws, _ := fixture(t)
	r := open(t, ws)
	type visit struct {
		Path string
		Type fs.FileMode
	}
	walk := func(t *testing.T, start string, opts WalkOptions) ([]visit, error) {
		var got []visit
		err := r.Walk(context.Background(), start, opts, func(p string, d fs.DirEntry) error {
			got = append(got, visit{p, d.Type()})
			return nil
		})
		return got, err
	}
	link := fs.ModeSymlink
	dir := fs.ModeDir
	tests := []struct {
		name  string
		start string
		opts  WalkOptions
		want  []visit
		code  string
	}{
		{"root", ".", WalkOptions{}, []visit{
			{".", dir}, {"a.txt", 0}, {"dangling", link}, {"link_abs_in", link}, {"link_abs_out", link},
			{"link_dir_in", link}, {"link_dir_out", link}, {"link_in", link}, {"link_out", link}, {"link_up_in", link},
			{"loop1", link}, {"loop2", link}, {"sub", dir}, {"sub/b.txt", 0},
		}, ""},
		{"hidden but never .git", ".", WalkOptions{IncludeHidden: true}, []visit{
			{".", dir}, {".hidden", 0}, {"a.txt", 0}, {"dangling", link}, {"link_abs_in", link}, {"link_abs_out", link},
			{"link_dir_in", link}, {"link_dir_out", link}, {"link_in", link}, {"link_out", link}, {"link_up_in", link},
			{"loop1", link}, {"loop2", link}, {"sub", dir}, {"sub/b.txt", 0},
		}, ""},
		{"folder", "sub", WalkOptions{}, []visit{{"sub", dir}, {"sub/b.txt", 0}}, ""},
		{"start through a link inside", "link_dir_in", WalkOptions{}, []visit{{"link_dir_in", dir}, {"link_dir_in/b.txt", 0}}, ""},
		// The host refuses such a start; the walk still shows nothing in it.
		{"explicit .git start", ".git", WalkOptions{}, []visit{{".git", dir}}, ""},
		{"a file", "a.txt", WalkOptions{}, []visit{{"a.txt", 0}}, ""},
		{"start through a link out", "link_dir_out", WalkOptions{}, nil, CodeBadPath},
		{"start outside", "..", WalkOptions{}, nil, CodeBadPath},
		{"missing", "nope", WalkOptions{}, nil, CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := walk(t, tt.start, tt.opts)
			if c := code(t, err); c != tt.code {
				t.Fatalf("Walk(%q): code %q (%v), want %q", tt.start, c, err, tt.code)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Walk(%q) mismatch (-want +got):\n%s", tt.start, diff)
			}
		})
	}
}

// What the floor protects is skipped at any depth, hidden or not:
// sub/.env, sub/.ssh/id_rsa, sub/_netrc, sub/.aws/credentials, keys.
func TestWalkSkipsProtected(t *testing.T) {
	ws := t.TempDir()
	for _, p := range []string{"sub/.env", "sub/.ssh/id_rsa", "sub/_netrc", "sub/.aws/credentials", "deep/er/server.key",
		"deep/secrets/token", "deep/.config/gh/hosts.yml", "sub/notes.txt", "deep/er/main.go"} {
		os.MkdirAll(filepath.Join(ws, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(ws, p), []byte("x"), 0o644)
	}
	r := open(t, ws)
	var got []string
	err := r.Walk(context.Background(), ".", WalkOptions{IncludeHidden: true}, func(p string, d fs.DirEntry) error {
		if !d.IsDir() {
			got = append(got, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"deep/er/main.go", "sub/notes.txt"}; !slices.Equal(got, want) {
		t.Errorf("walked %q, want only %q", got, want)
	}
}

func TestWalkCancelled(t *testing.T) {
	ws, _ := fixture(t)
	r := open(t, ws)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := r.Walk(ctx, ".", WalkOptions{}, func(string, fs.DirEntry) error { return nil })
	if c := code(t, err); c != CodeInterrupted {
		t.Errorf("code %q (%v), want %q", c, err, CodeInterrupted)
	}
}

func TestWalkStops(t *testing.T) {
	ws, _ := fixture(t)
	r := open(t, ws)
	n := 0
	err := r.Walk(context.Background(), ".", WalkOptions{}, func(string, fs.DirEntry) error {
		if n++; n == 3 {
			return fs.SkipAll
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Errorf("Walk: %v after %d visits, want nil after 3", err, n)
	}
}
