//go:build linux

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolhost/toolhost/internal/asuser"
)

// toolTestPasses runs agentcli tool test on the manifest in dir and wants
// no error and no warning.
func toolTestPasses(t *testing.T, dir string) {
	t.Helper()
	t.Setenv("XDG_STATE_HOME", filepath.Join(t.TempDir(), "state"))
	code, out, errs := runIn(t, dir, "tool", "test", "-json")
	if code != exitOK {
		t.Fatalf("tool test: exit %d\n%s%s", code, out, errs)
	}
	if rep := toolTestReport(t, out); rep.Errors+rep.Warnings != 0 {
		t.Errorf("tool test found problems:\n%s", out)
	}
}

// runOK runs a command in dir and fails the test when it fails.
func runOK(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// An indented manifest, reached through a symbolic link, gets the entry
// at the end of its tools, indented as the others, every line it had kept
// and its mode kept; an empty tools array gets it on a line of its own.
func TestToolNewKeepsTheManifest(t *testing.T) {
	dir := t.TempDir()
	orig, err := os.ReadFile("../../tools.json")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "conf"), 0o755)
	real := filepath.Join(dir, "conf", "tools.json")
	os.WriteFile(real, orig, 0o600)
	os.Symlink(filepath.Join("conf", "tools.json"), filepath.Join(dir, "tools.json"))
	if code, _, errs := runIn(t, dir, "tool", "new", "fresh"); code != exitOK {
		t.Fatalf("tool new: exit %d: %s", code, errs)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "tools.json")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v", err)
	}
	data, _ := os.ReadFile(real)
	if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 as it was", fi.Mode().Perm())
	}
	got := strings.Split(string(data), "\n")
	j := 0
	for _, line := range strings.Split(string(orig), "\n") {
		for j < len(got) && got[j] != line {
			j++
		}
		if j == len(got) {
			t.Fatalf("line %q of the manifest is gone:\n%s", line, data)
		}
	}
	if !strings.Contains(string(data), "\n    {\n      \"annotations\": {") {
		t.Errorf("the entry is not indented as the others:\n%s", data)
	}
	var doc struct{ Tools []struct{ Name string } }
	if err := json.Unmarshal(data, &doc); err != nil || doc.Tools[len(doc.Tools)-1].Name != "fresh" {
		t.Errorf("not JSON, or fresh is not the last tool: %v", err)
	}

	os.WriteFile(filepath.Join(dir, "empty.json"), []byte("{\n  \"tools\": []\n}\n"), 0o644)
	if code, _, errs := runIn(t, dir, "tool", "new", "-tools", "empty.json", "first"); code != exitOK {
		t.Fatalf("tool new: exit %d: %s", code, errs)
	}
	data, _ = os.ReadFile(filepath.Join(dir, "empty.json"))
	if !strings.HasPrefix(string(data), "{\n  \"tools\": [\n    {\n") || !strings.HasSuffix(string(data), "\n    }\n  ]\n}\n") || json.Unmarshal(data, &doc) != nil {
		t.Errorf("empty tools array:\n%s", data)
	}
}

// A skeleton in each language passes its own test and agentcli tool test
// as written.
func TestToolNewPasses(t *testing.T) {
	for _, lang := range []string{"python", "sh"} {
		t.Run(lang, func(t *testing.T) {
			dir := asuser.PublicDir(t) // the tool's own user runs the script by its path
			code, out, errs := runIn(t, dir, "tool", "new", "-lang", lang, "greet")
			if code != exitOK || !strings.Contains(out, "agentcli tool test greet") {
				t.Fatalf("tool new: exit %d\n%s%s", code, out, errs)
			}
			test := map[string][]string{"python": {"python3", "tools/tests/test_greet.py"}, "sh": {"sh", "tools/tests/greet_test.sh"}}[lang]
			runOK(t, dir, nil, test[0], test[1:]...)
			toolTestPasses(t, dir)
		})
	}
	t.Run("go", func(t *testing.T) {
		// A module of the author's own that uses this checkout of the
		// kit; its dependencies are this module's (go.sum), all cached.
		dir := asuser.PublicDir(t)
		repo, _ := filepath.Abs("../..")
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/mytools\n\ngo 1.26\n\nrequire github.com/toolhost/toolhost v0.0.0\n\nreplace github.com/toolhost/toolhost => "+repo+"\n"), 0o644)
		sum, err := os.ReadFile("../../go.sum")
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644)
		if code, out, errs := runIn(t, dir, "tool", "new", "-lang", "go", "greet"); code != exitOK {
			t.Fatalf("tool new: exit %d\n%s%s", code, out, errs)
		}
		env := []string{"GOFLAGS=-mod=mod", "GOPROXY=off"}
		runOK(t, dir, env, "go", "build", "-o", "tools/bin/greet", "./tools/cmd/greet")
		runOK(t, dir, env, "go", "test", "-count=1", "./tools/cmd/greet")
		toolTestPasses(t, dir)
	})
}

// tool new adds its entry to an existing manifest and keeps the rest of
// it; it never overwrites a file or a tool, and refuses bad names and
// languages.
func TestToolNewManifest(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "tools.json")
	os.WriteFile(manifest, []byte(`{"policy":{"mode":"default"},"tools":[{"name":"old","command":["/bin/true"]}],"x-note":"kept"}`), 0o644)
	if code, _, errs := runIn(t, dir, "tool", "new", "-lang", "sh", "fresh"); code != exitOK {
		t.Fatalf("tool new: exit %d: %s", code, errs)
	}
	data, _ := os.ReadFile(manifest)
	if !strings.HasPrefix(string(data), `{"policy":{"mode":"default"},"tools":[{"name":"old","command":["/bin/true"]},{"annotations":`) ||
		!strings.HasSuffix(string(data), `}],"x-note":"kept"}`) {
		t.Errorf("the manifest is not as it was with one entry more, on its one line:\n%s", data)
	}
	var doc struct {
		Tools []struct {
			Name    string
			Command []string
		}
	}
	json.Unmarshal(data, &doc)
	if len(doc.Tools) != 2 || doc.Tools[0].Name != "old" || doc.Tools[1].Name != "fresh" || doc.Tools[1].Command[0] != "./tools/bin/fresh.sh" {
		t.Errorf("tools %+v", doc.Tools)
	}
	os.WriteFile(filepath.Join(dir, "tools", "bin", "taken.py"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "trailing.json"), []byte(`{"tools":[]} {"x":1}`), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"fresh", "-lang", "python"}, `already has a tool "fresh"`},
		{[]string{"taken"}, "taken.py exists: tool new never overwrites a file"},
		{[]string{"a b"}, `tool name "a b"`},
		{[]string{"x", "-lang", "cobol"}, `-lang "cobol": want go, python or sh`},
		{nil, "tool new wants one tool name"},
		{[]string{"-tools", "trailing.json", "y"}, "trailing.json: text after the JSON object"},
	} {
		before, _ := os.ReadFile(manifest)
		code, _, errs := runIn(t, dir, append([]string{"tool", "new"}, c.args...)...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%q: exit %d, %q; want 2 and %q", c.args, code, errs, c.want)
		}
		if after, _ := os.ReadFile(manifest); string(after) != string(before) {
			t.Errorf("%q changed the manifest", c.args)
		}
	}
}
