package main

import (
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/toolhost/toolhost/protocol/tooltest"
)

// newWorkspace makes a workspace holding files (by slash path), next to a
// folder "outside" holding secret.txt; it returns the workspace's folder.
func newWorkspace(t *testing.T, files map[string]string) string {
	t.Helper()
	return tooltest.Workspace(t, "secret\n", files)
}

func TestProcess(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		want    output
		changes map[string]string // by path below the workspace's parent
	}{
		{"new file", `{"path":"new.txt","content":"hello"}`,
			output{"new.txt", 5, true}, map[string]string{"ws/new.txt": "hello"}},
		{"replace", `{"path":"a.txt","content":"replaced"}`,
			output{"a.txt", 8, false}, map[string]string{"ws/a.txt": "replaced"}},
		{"replace, overwrite true", `{"path":"a.txt","content":"again","overwrite":true}`,
			output{"a.txt", 5, false}, map[string]string{"ws/a.txt": "again"}},
		{"empty content", `{"path":"a.txt","content":""}`,
			output{"a.txt", 0, false}, map[string]string{"ws/a.txt": ""}},
		{"cleaned path", `{"path":"./sub/../sub/n.txt","content":"n"}`,
			output{"sub/n.txt", 1, true}, map[string]string{"ws/sub/n.txt": "n"}},
		{"utf-8", `{"path":"u.txt","content":"héllo 😀\n","encoding":"utf-8"}`,
			output{"u.txt", 12, true}, map[string]string{"ws/u.txt": "héllo 😀\n"}},
		{"base64", `{"path":"bin.dat","content":"AAH/","encoding":"base64"}`,
			output{"bin.dat", 3, true}, map[string]string{"ws/bin.dat": "\x00\x01\xff"}},
		{"create folders", `{"path":"x/y/z.txt","content":"z","createDirs":true}`,
			output{"x/y/z.txt", 1, true}, map[string]string{"ws/x": "/", "ws/x/y": "/", "ws/x/y/z.txt": "z"}},
		{"overwrite false, new", `{"path":"new.txt","content":"n","overwrite":false}`,
			output{"new.txt", 1, true}, map[string]string{"ws/new.txt": "n"}},
		{"through a link inside", `{"path":"link_in","content":"via link"}`,
			output{"link_in", 8, false}, map[string]string{"ws/a.txt": "via link"}},
		{"through a folder link inside", `{"path":"link_dir_in/b.txt","content":"via dir"}`,
			output{"link_dir_in/b.txt", 7, false}, map[string]string{"ws/sub/b.txt": "via dir"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := fixture(t)
			base := filepath.Dir(ws)
			want := tooltest.Tree(t, base)
			for k, v := range tt.changes {
				want[k] = v
			}
			var got output
			tool.Succeed(t, ws, tt.args, &got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", tt.args, diff)
			}
			if diff := cmp.Diff(want, tooltest.Tree(t, base)); diff != "" {
				t.Errorf("files mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// fixture is the workspace most tests write to.
func fixture(t *testing.T) string {
	ws := newWorkspace(t, map[string]string{"a.txt": "old", "sub/b.txt": "bee"})
	outside := filepath.Join(filepath.Dir(ws), "outside")
	tooltest.Symlink(t, "a.txt", filepath.Join(ws, "link_in"))
	tooltest.Symlink(t, "sub", filepath.Join(ws, "link_dir_in"))
	tooltest.Symlink(t, "../outside/secret.txt", filepath.Join(ws, "link_out"))
	tooltest.Symlink(t, "../outside", filepath.Join(ws, "link_dir_out"))
	tooltest.Symlink(t, filepath.Join(outside, "secret.txt"), filepath.Join(ws, "link_abs_out"))
	tooltest.Symlink(t, filepath.Join(outside, "new.txt"), filepath.Join(ws, "link_abs_new_out"))
	tooltest.Symlink(t, "../outside/new.txt", filepath.Join(ws, "link_new_out"))
	return ws
}

// TestProcessErrors checks every refusal leaves the whole tree, inside and
// outside the workspace, exactly as it was: no write, no temporary file.
func TestProcessErrors(t *testing.T) {
	big := strings.Repeat("a", maxContent+1)
	tests := []struct {
		name string
		args string
		code string
	}{
		{"absolute", `{"path":"/tmp/pwned","content":"x"}`, "BAD_PATH"},
		{"dot dot", `{"path":"../outside/secret.txt","content":"x"}`, "BAD_PATH"},
		{"climbing", `{"path":"sub/../../outside/new.txt","content":"x"}`, "BAD_PATH"},
		{"windows drive", `{"path":"C:\\x.txt","content":"x"}`, "BAD_PATH"},
		{"link out", `{"path":"link_out","content":"pwned"}`, "BAD_PATH"},
		{"absolute link out", `{"path":"link_abs_out","content":"pwned"}`, "BAD_PATH"},
		{"dangling link out", `{"path":"link_new_out","content":"pwned"}`, "BAD_PATH"},
		{"dangling absolute link out", `{"path":"link_abs_new_out","content":"pwned"}`, "BAD_PATH"},
		{"folder link out", `{"path":"link_dir_out/secret.txt","content":"pwned"}`, "BAD_PATH"},
		{"folder link out, new file", `{"path":"link_dir_out/new.txt","content":"pwned"}`, "BAD_PATH"},
		{"folder link out, createDirs", `{"path":"link_dir_out/d/new.txt","content":"pwned","createDirs":true}`, "BAD_PATH"},
		{"empty path", `{"path":"","content":"x"}`, "BAD_PATH"},
		{"exists", `{"path":"a.txt","content":"x","overwrite":false}`, "EXISTS"},
		{"exists through a link", `{"path":"link_in","content":"x","overwrite":false}`, "EXISTS"},
		{"missing folder", `{"path":"nope/x.txt","content":"x"}`, "NOT_FOUND"},
		{"folder", `{"path":"sub","content":"x"}`, "NOT_A_FILE"},
		{"root", `{"path":".","content":"x"}`, "NOT_A_FILE"},
		{"file as a folder", `{"path":"a.txt/x","content":"x"}`, "NOT_A_DIR"},
		{"bad base64", `{"path":"a.txt","content":"not base64!","encoding":"base64"}`, codeBadContent},
		{"unknown encoding", `{"path":"a.txt","content":"x","encoding":"latin1"}`, codeBadInput},
		{"too large", fmt.Sprintf(`{"path":"a.txt","content":%q}`, big), "TOO_LARGE"},
		{"too large in base64", fmt.Sprintf(`{"path":"a.txt","content":%q,"encoding":"base64"}`, base64.StdEncoding.EncodeToString([]byte(big))), "TOO_LARGE"},
		{"content not a string", `{"path":"a.txt","content":5}`, codeBadInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := fixture(t)
			base := filepath.Dir(ws)
			before := tooltest.Tree(t, base)
			if got := tool.Fail(t, ws, tt.args); got.Code != tt.code {
				t.Errorf("code = %q, want %q (message %q)", got.Code, tt.code, got.Message)
			}
			if diff := cmp.Diff(before, tooltest.Tree(t, base)); diff != "" {
				t.Errorf("files changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestProcessLimit(t *testing.T) {
	ws := newWorkspace(t, nil)
	content := strings.Repeat("a", maxContent)
	var got output
	tool.Succeed(t, ws, fmt.Sprintf(`{"path":"max.txt","content":%q}`, content), &got)
	if got.BytesWritten != maxContent {
		t.Errorf("bytesWritten = %d, want %d", got.BytesWritten, maxContent)
	}
}

func TestProcessModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix permission bits")
	}
	ws := newWorkspace(t, map[string]string{"private": "old", "script": "old"})
	for name, mode := range map[string]fs.FileMode{"private": 0o600, "script": 0o755} {
		if err := os.Chmod(filepath.Join(ws, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		path string
		want fs.FileMode
	}{
		{"private", 0o600},
		{"script", 0o755},
		{"new", 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var got output
			tool.Succeed(t, ws, fmt.Sprintf(`{"path":%q,"content":"new"}`, tt.path), &got)
			fi, err := os.Stat(filepath.Join(ws, tt.path))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.want {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), tt.want)
			}
		})
	}
}

func TestInputSchema(t *testing.T) {
	tests := []struct {
		args string
		ok   bool
	}{
		{`{"path":"a","content":""}`, true},
		{`{"path":"a","content":"x","encoding":"base64","createDirs":true,"overwrite":false}`, true},
		{`{"path":"a"}`, false},
		{`{"content":"x"}`, false},
		{`{"path":"","content":"x"}`, false},
		{`{"path":"a","content":"x","encoding":"latin1"}`, false},
		{`{"path":"a","content":"x","overwrite":"no"}`, false},
		{`{"path":"a","content":"x","mode":"0777"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			if err := tool.CheckArgs(t, tt.args); (err == nil) != tt.ok {
				t.Errorf("valid = %v, want %v (%v)", err == nil, tt.ok, err)
			}
		})
	}
}
