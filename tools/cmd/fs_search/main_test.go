package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/toolhost/toolhost/protocol"
	"github.com/toolhost/toolhost/protocol/tooltest"
	"github.com/toolhost/toolhost/tools/internal/workspace"
)

// newWorkspace makes a workspace holding files (by slash path), next to a
// folder "outside" holding secret.txt, which holds the needle so that a
// search escaping the workspace would find it; it returns the workspace's
// folder.
func newWorkspace(t *testing.T, files map[string]string) string {
	t.Helper()
	return tooltest.Workspace(t, "needle outside\n", files)
}

func fixture(t *testing.T) string {
	long := strings.Repeat("é", 130) + "needle" // 266 bytes
	ws := newWorkspace(t, map[string]string{
		"a.go":             "package a\n\nfunc Needle() {}\n// needle here, needle there\n",
		"b.txt":            "no match\r\nA NEEDLE in caps\r\n",
		"sub/c.go":         "package sub\nvar x = \"needle\"",
		"sub/d.md":         "# Needles\n",
		"long.txt":         long + "\n",
		"bin.dat":          "needle\x00binary",
		"late_nul.txt":     strings.Repeat("x", 9000) + "\x00\nneedle\n",
		"big.txt":          "needle\n" + strings.Repeat("x", maxFileSize),
		".env":             "TOKEN=needle\n",
		".hidden/h.txt":    "needle\n",
		".git/config":      "needle\n",
		"sub/.git":         "needle\n",
		"regex.txt":        "a.c\nabc\nfoo123bar\n",
		"unicode/ünï.txt":  "ÀÉ needle ß\n",
		"empty.txt":        "",
		"deep/er/est.json": "{\"needle\": true}\n",
	})
	tooltest.Symlink(t, "a.go", filepath.Join(ws, "link_in.go"))
	tooltest.Symlink(t, "sub", filepath.Join(ws, "link_dir_in"))
	tooltest.Symlink(t, "../outside", filepath.Join(ws, "link_out"))
	tooltest.Symlink(t, "../outside/secret.txt", filepath.Join(ws, "link_file_out"))
	return ws
}

func TestProcess(t *testing.T) {
	ws := fixture(t)
	longText := strings.Repeat("é", 120) // 240 bytes, cut before the 121st é
	tests := []struct {
		name string
		args string
		want output
	}{
		{"literal, case-sensitive", `{"query":"needle"}`, output{[]match{
			{"a.go", 4, 4, "// needle here, needle there"},
			{"deep/er/est.json", 1, 3, `{"needle": true}`},
			{"late_nul.txt", 2, 1, "needle"},
			{"long.txt", 1, 261, longText},
			{"sub/c.go", 2, 10, `var x = "needle"`},
			{"unicode/ünï.txt", 1, 6, "ÀÉ needle ß"},
		}, false, 10}},
		{"case-insensitive", `{"query":"NEEDLE","caseSensitive":false,"path":"sub"}`, output{[]match{
			{"sub/c.go", 2, 10, `var x = "needle"`},
			{"sub/d.md", 1, 3, "# Needles"},
		}, false, 2}},
		{"CRLF lines", `{"query":"NEEDLE","path":"b.txt"}`, output{[]match{
			{"b.txt", 2, 3, "A NEEDLE in caps"},
		}, false, 1}},
		{"literal dot", `{"query":"a.c","path":"regex.txt"}`, output{[]match{
			{"regex.txt", 1, 1, "a.c"},
		}, false, 1}},
		{"regex", `{"query":"a.c","regex":true,"path":"regex.txt"}`, output{[]match{
			{"regex.txt", 1, 1, "a.c"}, {"regex.txt", 2, 1, "abc"},
		}, false, 1}},
		{"regex classes", `{"query":"[0-9]+bar$","regex":true}`, output{[]match{
			{"regex.txt", 3, 4, "foo123bar"},
		}, false, 10}},
		{"regex, case-insensitive", `{"query":"^func n","regex":true,"caseSensitive":false}`, output{[]match{
			{"a.go", 3, 1, "func Needle() {}"},
		}, false, 10}},
		{"glob", `{"query":"needle","glob":"*.go"}`, output{[]match{
			{"a.go", 4, 4, "// needle here, needle there"},
			{"sub/c.go", 2, 10, `var x = "needle"`},
		}, false, 2}},
		{"glob by name, not path", `{"query":"needle","glob":"c.*"}`, output{[]match{
			{"sub/c.go", 2, 10, `var x = "needle"`},
		}, false, 1}},
		// Never .git, and never what the host's floor protects (.env).
		{"hidden included, never .git", `{"query":"needle","includeHidden":true,"glob":"*.*"}`, output{[]match{
			{".hidden/h.txt", 1, 1, "needle"},
			{"a.go", 4, 4, "// needle here, needle there"},
			{"deep/er/est.json", 1, 3, `{"needle": true}`},
			{"late_nul.txt", 2, 1, "needle"},
			{"long.txt", 1, 261, longText},
			{"sub/c.go", 2, 10, `var x = "needle"`},
			{"unicode/ünï.txt", 1, 6, "ÀÉ needle ß"},
		}, false, 11}},
		{"hidden names with includeHidden, never protected ones", `{"query":"needle","includeHidden":true,"glob":".*"}`, output{[]match{}, false, 0}},
		{"a file named as path", `{"query":"TOKEN","path":".env"}`, output{[]match{
			{".env", 1, 1, "TOKEN=needle"},
		}, false, 1}},
		{"a hidden folder named as path", `{"query":"needle","path":".hidden"}`, output{[]match{
			{".hidden/h.txt", 1, 1, "needle"},
		}, false, 1}},
		{"a folder link inside named as path", `{"query":"needle","path":"link_dir_in"}`, output{[]match{
			{"link_dir_in/c.go", 2, 10, `var x = "needle"`},
		}, false, 2}},
		{"max results", `{"query":"needle","maxResults":2}`, output{[]match{
			{"a.go", 4, 4, "// needle here, needle there"},
			{"deep/er/est.json", 1, 3, `{"needle": true}`},
		}, true, 5}},
		{"max results exactly", `{"query":"needle","path":"sub","maxResults":1}`, output{[]match{
			{"sub/c.go", 2, 10, `var x = "needle"`},
		}, false, 2}},
		{"empty-width regex matches every line", `{"query":"^","regex":true,"path":"a.go"}`, output{[]match{
			{"a.go", 1, 1, "package a"}, {"a.go", 2, 1, ""}, {"a.go", 3, 1, "func Needle() {}"}, {"a.go", 4, 1, "// needle here, needle there"},
		}, false, 1}},
		{"no match", `{"query":"haystack"}`, output{[]match{}, false, 10}},
		{"binary file named as path", `{"query":"needle","path":"bin.dat"}`, output{[]match{}, false, 0}},
		{"big file named as path", `{"query":"needle","path":"big.txt"}`, output{[]match{}, false, 0}},
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
	tests := []struct {
		name string
		args string
		code string
	}{
		{"bad regex", `{"query":"a(b","regex":true}`, codeBadQuery},
		{"backreference", `{"query":"(a)\\1","regex":true}`, codeBadQuery},
		{"empty query", `{"query":""}`, codeBadQuery},
		{"missing query", `{}`, codeBadQuery},
		{"query too long", fmt.Sprintf(`{"query":%q}`, strings.Repeat("x", maxQueryLen+1)), codeBadQuery},
		{"bad glob", `{"query":"x","glob":"[a-"}`, codeBadGlob},
		{"absolute", `{"query":"x","path":"/etc"}`, "BAD_PATH"},
		{"parent", `{"query":"x","path":".."}`, "BAD_PATH"},
		{"link out", `{"query":"x","path":"link_out"}`, "BAD_PATH"},
		{"file link out", `{"query":"x","path":"link_file_out"}`, "BAD_PATH"},
		{"missing", `{"query":"x","path":"nope"}`, "NOT_FOUND"},
		{"maxResults too large", `{"query":"x","maxResults":1001}`, codeBadInput},
		{"caseSensitive not a boolean", `{"query":"x","caseSensitive":"no"}`, codeBadInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tool.Fail(t, ws, tt.args); got.Code != tt.code {
				t.Errorf("code = %q, want %q (message %q)", got.Code, tt.code, got.Message)
			}
		})
	}
}

// TestProcessOutputBound searches many long matching lines in files with
// long names and checks the result stays well under the 1 MiB cap.
func TestProcessOutputBound(t *testing.T) {
	ws := newWorkspace(t, nil)
	name := strings.Repeat("<", 200)
	line := strings.Repeat("\x01", 240) + "\n"
	for i := range 10 {
		tooltest.WriteFile(t, filepath.Join(ws, fmt.Sprintf("%s%d", name, i)), strings.Repeat(line, 100))
	}
	args := `{"query":"\u0001","maxResults":1000}`
	var got output
	tool.SucceedBounded(t, ws, args, &got)
	if !got.Truncated || len(got.Matches) == 0 || len(got.Matches) >= 1000 {
		t.Errorf("truncated %v with %d matches, want a truncated, non-empty list", got.Truncated, len(got.Matches))
	}
}

func TestSearchCancelled(t *testing.T) {
	ws := fixture(t)
	r, err := workspace.Open(ws)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = search(ctx, r, input{Query: "needle"})
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != workspace.CodeInterrupted {
		t.Errorf("search with a cancelled context: %v, want code %s", err, workspace.CodeInterrupted)
	}
}

// TestSearchCancelledInAFile cancels while one large file is searched: the
// search notices between lines, not only between files.
func TestSearchCancelledInAFile(t *testing.T) {
	ws := newWorkspace(t, map[string]string{"f.txt": strings.Repeat("line\n", 3*checkEvery)})
	r, err := workspace.Open(ws)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	q, err := parse(input{Query: "never"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &searcher{ctx: ctx, ws: r, q: q}
	err = s.file("f.txt", true)
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != workspace.CodeInterrupted {
		t.Errorf("file with a cancelled context: %v, want code %s", err, workspace.CodeInterrupted)
	}
}

func TestCutLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		want string
	}{
		{"short", "abc", "abc"},
		{"exactly 240", strings.Repeat("a", 240), strings.Repeat("a", 240)},
		{"ASCII", strings.Repeat("a", 300), strings.Repeat("a", 240)},
		{"two-byte characters", "a" + strings.Repeat("é", 200), "a" + strings.Repeat("é", 119)},
		{"four-byte characters", strings.Repeat("😀", 100), strings.Repeat("😀", 60)},
		{"three-byte at the edge", strings.Repeat("a", 239) + "€", strings.Repeat("a", 239)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cutLine([]byte(tt.line)); got != tt.want {
				t.Errorf("cutLine = %q (%d bytes), want %q", got, len(got), tt.want)
			}
		})
	}
}

func TestInputSchema(t *testing.T) {
	tests := []struct {
		args string
		ok   bool
	}{
		{`{"query":"x"}`, true},
		{`{"query":"x","regex":true,"path":"a","glob":"*.go","caseSensitive":false,"maxResults":1000,"includeHidden":true}`, true},
		{`{}`, false},
		{`{"query":""}`, false},
		{fmt.Sprintf(`{"query":%q}`, strings.Repeat("x", 1001)), false},
		{`{"query":"x","maxResults":0}`, false},
		{`{"query":"x","maxResults":1001}`, false},
		{`{"query":"x","glob":""}`, false},
		{`{"query":"x","caseSensitive":"no"}`, false},
		{`{"query":"x","limit":5}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			if err := tool.CheckArgs(t, tt.args); (err == nil) != tt.ok {
				t.Errorf("valid = %v, want %v (%v)", err == nil, tt.ok, err)
			}
		})
	}
}
