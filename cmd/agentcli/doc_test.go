//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/toolhost/toolhost/internal/asuser"
)

// The documentation's transcripts are tests: every "$ agentcli ..." line in
// a shell block of README.md and docs/*.md is run by a shell in a scratch
// copy of the repository's workspace (the toolbelt and tools.json), and
// what it prints must be the lines that follow it in the block.
//
// An HTML comment just before a block, invisible on a rendered page, tells
// the test what the block is for:
//
//	<!-- doctest: file PATH -->         the block is a file to write at PATH (mode 0755)
//	<!-- doctest: tool -->              the block is an entry to add to tools.json
//	<!-- doctest: vary KEY... -->       in the transcript's JSON, these keys vary by run:
//	                                    only their presence and JSON type must match
//
// Each page runs in a workspace of its own, its blocks in order.

// docBlock is one fenced code block of a page.
type docBlock struct {
	line  int      // of the opening fence, 1-based
	lang  string   // the fence's info string
	body  []string // the lines between the fences
	marks []string // the doctest comments just before it, without "doctest:"
}

func readDocBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		blocks []docBlock
		cur    *docBlock
		marks  []string
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && strings.HasPrefix(line, "```"):
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.body = append(cur.body, line)
		case strings.HasPrefix(line, "```"):
			cur = &docBlock{line: n, lang: strings.TrimPrefix(line, "```"), marks: marks}
			marks = nil
		case strings.HasPrefix(line, "<!-- doctest:"):
			mark, ok := strings.CutSuffix(strings.TrimPrefix(line, "<!-- doctest:"), "-->")
			if !ok {
				t.Fatalf("%s:%d: a doctest comment must end on its line: %q", path, n, line)
			}
			marks = append(marks, strings.TrimSpace(mark))
		case strings.TrimSpace(line) != "":
			marks = nil
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: code block never closed", path, cur.line)
	}
	return blocks
}

func TestDocTranscripts(t *testing.T) {
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append([]string{"../../README.md"}, pages...)
	ran := 0
	for _, page := range pages {
		blocks := readDocBlocks(t, page)
		name := strings.TrimPrefix(page, "../../")
		t.Run(name, func(t *testing.T) {
			dir := docWorkspace(t)
			for _, b := range blocks {
				ran += runDocBlock(t, dir, name, b)
			}
		})
	}
	if ran == 0 {
		t.Fatal("no transcript ran: the pages or the parser changed")
	}
}

// docWorkspace is a scratch workspace with a tools/bin of its own (so a page
// can add programs to it) holding the built toolbelt, and the repository's
// tools.json. Every user may enter it, as a repository under /home may be:
// a script tool runs by its path as a user of its own at the default level.
func docWorkspace(t *testing.T) string {
	t.Helper()
	dir := asuser.PublicDir(t)
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, ".state"))
	bin := filepath.Join(dir, "tools", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	progs, err := os.ReadDir(filepath.Join(built, "tools", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range progs {
		if err := os.Link(filepath.Join(built, "tools", "bin", p.Name()), filepath.Join(bin, p.Name())); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile("../../tools.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tools.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runDocBlock does what the block's marks say, or runs its transcript; it
// returns the number of commands run.
func runDocBlock(t *testing.T, dir, page string, b docBlock) int {
	t.Helper()
	var vary []string
	for _, m := range b.marks {
		verb, arg, _ := strings.Cut(m, " ")
		switch verb {
		case "file":
			path := filepath.Join(dir, filepath.FromSlash(arg))
			if err := os.WriteFile(path, []byte(strings.Join(b.body, "\n")+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			return 0
		case "tool":
			addDocTool(t, dir, page, b)
			return 0
		case "vary":
			vary = strings.Fields(arg)
		default:
			t.Fatalf("%s:%d: unknown doctest comment %q", page, b.line, m)
		}
	}
	if b.lang != "sh" {
		return 0
	}
	ran := 0
	for i := 0; i < len(b.body); {
		cmdLine, ok := strings.CutPrefix(b.body[i], "$ ")
		if !ok {
			if ran > 0 {
				t.Fatalf("%s:%d: output line with no command before it: %q", page, b.line+1+i, b.body[i])
			}
			return 0 // a block of commands to read, not a transcript
		}
		at := b.line + 1 + i
		for i++; strings.HasSuffix(cmdLine, "\\") && i < len(b.body); i++ {
			cmdLine += "\n" + b.body[i]
		}
		var want []string
		for ; i < len(b.body) && !strings.HasPrefix(b.body[i], "$ "); i++ {
			want = append(want, b.body[i])
		}
		if !strings.HasPrefix(cmdLine, "agentcli ") {
			t.Fatalf("%s:%d: the transcript test runs agentcli commands only: %q", page, at, cmdLine)
		}
		cmd := exec.Command("/bin/sh", "-c", cmdLine)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+built+":/usr/local/bin:/usr/bin:/bin")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		_ = cmd.Run() // the transcript shows failures too: only the output counts
		got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if !sameTranscript(got, want, vary) {
			t.Errorf("%s:%d: $ %s\nprinted:\n%s\nthe page says:\n%s", page, at, cmdLine, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		ran++
	}
	return ran
}

// addDocTool adds the block, a tools.json entry, to the workspace's manifest.
func addDocTool(t *testing.T, dir, page string, b docBlock) {
	t.Helper()
	path := filepath.Join(dir, "tools.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var tool any
	if err := json.Unmarshal([]byte(strings.Join(b.body, "\n")), &tool); err != nil {
		t.Fatalf("%s:%d: the tool entry is not JSON: %v", page, b.line, err)
	}
	doc["tools"] = append(doc["tools"].([]any), tool)
	if data, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sameTranscript compares output lines; lines that are JSON compare as
// values, with the keys in vary only needing the same JSON type.
func sameTranscript(got, want, vary []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] == want[i] {
			continue
		}
		var g, w any
		if json.Unmarshal([]byte(got[i]), &g) != nil || json.Unmarshal([]byte(want[i]), &w) != nil {
			return false
		}
		if !sameJSON(g, w, vary) {
			return false
		}
	}
	return true
}

func sameJSON(got, want any, vary []string) bool {
	g, gok := got.(map[string]any)
	w, wok := want.(map[string]any)
	if !gok || !wok {
		return reflect.DeepEqual(got, want)
	}
	if len(g) != len(w) {
		return false
	}
	for k, wv := range w {
		gv, ok := g[k]
		if !ok {
			return false
		}
		if slices.Contains(vary, k) {
			if reflect.TypeOf(gv) != reflect.TypeOf(wv) {
				return false
			}
			continue
		}
		if !sameJSON(gv, wv, vary) {
			return false
		}
	}
	return true
}
