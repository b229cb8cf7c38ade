package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/toolhost/toolhost/protocol/tooltest"
)

// newWorkspace makes a workspace holding files (by slash path; a name
// ending in "/" is an empty folder), next to a folder "outside" holding
// secret.txt; it returns the workspace's folder.
func newWorkspace(t *testing.T, files map[string]string) string {
	t.Helper()
	return tooltest.Workspace(t, "secret\n", files)
}

// fixture is the tree most tests list.
func fixture(t *testing.T) string {
	ws := newWorkspace(t, map[string]string{
		"b.txt":            "bb",
		"a.txt":            "a",
		"a/x.go":           "package x\n",
		"a/y/z.md":         "zz\n",
		"a.d/k":            "",
		"empty/":           "",
		".env":             "SECRET=1\n",
		".config/c.toml":   "c = 1\n",
		".git/config":      "[core]\n",
		"a/.git":           "gitdir: ../.git/modules/a\n",
		"a/.hidden/h":      "h",
		"ünïcode/ß.txt":    "ß",
		"with space/f.txt": "f",
	})
	tooltest.Symlink(t, "a", filepath.Join(ws, "link_dir_in"))
	tooltest.Symlink(t, "b.txt", filepath.Join(ws, "link_in"))
	tooltest.Symlink(t, "../outside", filepath.Join(ws, "link_out"))
	return ws
}

func TestProcess(t *testing.T) {
	ws := fixture(t)
	file := func(p string, size int64) entry { return entry{p, "file", size} }
	dir := func(p string) entry { return entry{p, "dir", 0} }
	link := func(p string) entry { return entry{p, "symlink", 0} }
	tests := []struct {
		name string
		args string
		want output
	}{
		{"root", `{}`, output{".", []entry{
			dir("a"), dir("a.d"), file("a.txt", 1), file("b.txt", 2), dir("empty"),
			link("link_dir_in"), link("link_in"), link("link_out"),
			dir("with space"), dir("ünïcode"),
		}, false}},
		{"root explicitly", `{"path":"./"}`, output{".", []entry{
			dir("a"), dir("a.d"), file("a.txt", 1), file("b.txt", 2), dir("empty"),
			link("link_dir_in"), link("link_in"), link("link_out"),
			dir("with space"), dir("ünïcode"),
		}, false}},
		{"recursive in tree order", `{"recursive":true}`, output{".", []entry{
			dir("a"), file("a/x.go", 10), dir("a/y"), file("a/y/z.md", 3),
			dir("a.d"), file("a.d/k", 0), file("a.txt", 1), file("b.txt", 2), dir("empty"),
			link("link_dir_in"), link("link_in"), link("link_out"),
			dir("with space"), file("with space/f.txt", 1),
			dir("ünïcode"), file("ünïcode/ß.txt", 2),
		}, false}},
		{"hidden, never .git", `{"recursive":true,"includeHidden":true,"path":"a"}`, output{"a", []entry{
			dir("a/.hidden"), file("a/.hidden/h", 1), file("a/x.go", 10), dir("a/y"), file("a/y/z.md", 3),
		}, false}},
		{"hidden at the root", `{"includeHidden":true}`, output{".", []entry{
			dir(".config"), dir("a"), dir("a.d"), file("a.txt", 1), file("b.txt", 2), dir("empty"),
			link("link_dir_in"), link("link_in"), link("link_out"),
			dir("with space"), dir("ünïcode"),
		}, false}},
		{"sub folder", `{"path":"a/y"}`, output{"a/y", []entry{file("a/y/z.md", 3)}, false}},
		{"empty folder", `{"path":"empty"}`, output{"empty", []entry{}, false}},
		{"hidden folder named", `{"path":".config"}`, output{".config", []entry{file(".config/c.toml", 6)}, false}},
		{"folder link inside", `{"path":"link_dir_in"}`, output{"link_dir_in", []entry{
			file("link_dir_in/x.go", 10), dir("link_dir_in/y"),
		}, false}},
		{"max entries", `{"maxEntries":3}`, output{".", []entry{dir("a"), dir("a.d"), file("a.txt", 1)}, true}},
		{"max entries exactly", `{"path":"a","maxEntries":2}`, output{"a", []entry{file("a/x.go", 10), dir("a/y")}, false}},
		{"max entries recursive", `{"recursive":true,"maxEntries":2}`, output{".", []entry{dir("a"), file("a/x.go", 10)}, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got output
			tool.Succeed(t, ws, tt.args, &got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestProcessErrors(t *testing.T) {
	ws := fixture(t)
	tooltest.Symlink(t, filepath.Join(filepath.Dir(ws), "outside"), filepath.Join(ws, "link_abs_out"))
	abs, err := filepath.Abs(ws)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args string
		code string
	}{
		{"absolute", fmt.Sprintf(`{"path":%q}`, abs), "BAD_PATH"},
		{"parent", `{"path":".."}`, "BAD_PATH"},
		{"climbing", `{"path":"a/../../outside"}`, "BAD_PATH"},
		{"windows UNC", `{"path":"\\\\server\\share"}`, "BAD_PATH"},
		{"folder link out", `{"path":"link_out"}`, "BAD_PATH"},
		{"absolute folder link out", `{"path":"link_abs_out"}`, "BAD_PATH"},
		{"below a folder link out", `{"path":"link_out/x","recursive":true}`, "BAD_PATH"},
		{"a file", `{"path":"a.txt"}`, "NOT_A_DIR"},
		{"a link to a file", `{"path":"link_in"}`, "NOT_A_DIR"},
		{"missing", `{"path":"nope"}`, "NOT_FOUND"},
		{"maxEntries too large", `{"maxEntries":10001}`, "BAD_INPUT"},
		{"maxEntries negative", `{"maxEntries":-1}`, "BAD_INPUT"},
		{"recursive not a boolean", `{"recursive":"yes"}`, "BAD_INPUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tool.Fail(t, ws, tt.args); got.Code != tt.code {
				t.Errorf("code = %q, want %q (message %q)", got.Code, tt.code, got.Message)
			}
		})
	}
}

// TestProcessOutputBound lists many entries with long names and checks the
// result stays well under the 1 MiB cap.
func TestProcessOutputBound(t *testing.T) {
	ws := newWorkspace(t, nil)
	long := strings.Repeat("<", 200)
	for i := range 2000 {
		tooltest.WriteFile(t, filepath.Join(ws, fmt.Sprintf("%s%05d", long, i)), "")
	}
	var got output
	tool.SucceedBounded(t, ws, `{"maxEntries":10000}`, &got)
	if !got.Truncated || len(got.Entries) == 0 || len(got.Entries) >= 2000 {
		t.Errorf("truncated %v with %d entries, want a truncated, non-empty list", got.Truncated, len(got.Entries))
	}
}

func TestInputSchema(t *testing.T) {
	tests := []struct {
		args string
		ok   bool
	}{
		{`{}`, true},
		{`{"path":"a","recursive":true,"maxEntries":10000,"includeHidden":true}`, true},
		{`{"maxEntries":1}`, true},
		{`{"maxEntries":0}`, false},
		{`{"maxEntries":10001}`, false},
		{`{"path":""}`, false},
		{`{"recursive":"yes"}`, false},
		{`{"hidden":true}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			if err := tool.CheckArgs(t, tt.args); (err == nil) != tt.ok {
				t.Errorf("valid = %v, want %v (%v)", err == nil, tt.ok, err)
			}
		})
	}
}
