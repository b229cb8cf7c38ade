package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// workspace makes a folder with tools/bin/<name> programs and returns it.
func workspace(t testing.TB, programs ...string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "tools", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range programs {
		writeProgram(t, filepath.Join(bin, p), "#!/bin/sh\necho '{}'\n")
	}
	return dir
}

func writeProgram(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o755); err != nil { // umask may have cleared bits
		t.Fatal(err)
	}
}

func writeManifest(t testing.TB, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "tools.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A manifest written for goagent loads unchanged, with goagent's meaning.
func TestLoadGoagentManifest(t *testing.T) {
	dir := workspace(t, "get_time", "fs_read_file")
	path := writeManifest(t, dir, `{
  "tools": [
    {
      "name": "get_time",
      "description": "Return current time",
      "schema": {"type": "object", "properties": {"timezone": {"type": "string"}}, "additionalProperties": false},
      "command": ["./tools/bin/get_time"],
      "timeoutSec": 5,
      "envPassthrough": ["tz", "LANG", "TZ"]
    },
    {
      "name": "fs_read_file",
      "command": ["tools/bin/fs_read_file", "--flag"]
    }
  ]
}`)
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tools) != 2 {
		t.Fatalf("got %d tools", len(m.Tools))
	}
	gt := m.Lookup("get_time")
	if gt == nil {
		t.Fatal("get_time missing")
	}
	if diff := cmp.Diff([]string{"TZ", "LANG"}, gt.EnvPassthrough); diff != "" {
		t.Errorf("envPassthrough (-want +got):\n%s", diff)
	}
	if gt.Timeout != 5*time.Second {
		t.Errorf("timeout = %v", gt.Timeout)
	}
	realDir, _ := filepath.EvalSymlinks(dir)
	if want := filepath.Join(realDir, "tools", "bin", "get_time"); gt.Program.Path != want {
		t.Errorf("program = %q, want %q", gt.Program.Path, want)
	}
	if gt.Input == nil || gt.Output != nil {
		t.Errorf("schemas: input %v output %v", gt.Input, gt.Output)
	}
	rf := m.Lookup("fs_read_file")
	if diff := cmp.Diff([]string{"tools/bin/fs_read_file", "--flag"}, rf.Command); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	if string(rf.InputSchema) != `{"type":"object"}` || rf.Input == nil {
		t.Errorf("default input schema = %s", rf.InputSchema)
	}
	if m.Lookup("nope") != nil {
		t.Error("Lookup of an unknown name returned a tool")
	}
}

func TestLoadExtensions(t *testing.T) {
	dir := workspace(t, "echo")
	sum := sha256.Sum256([]byte("#!/bin/sh\necho '{}'\n"))
	path := writeManifest(t, dir, `{
  "$schema": "./schemas/manifest.schema.json",
  "x-note": "ignored",
  "tools": [{
    "name": "echo",
    "command": ["./tools/bin/echo"],
    "schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
    "outputSchema": {"type": "object", "required": ["ok"]},
    "annotations": {"title": "Echo", "readOnlyHint": true},
    "maxOutputBytes": 4.096e3,
    "maxArgsBytes": 512,
    "timeoutSec": 7.0,
    "sha256": "`+strings.ToUpper(hex.EncodeToString(sum[:]))+`",
    "x-owner": "team"
  }]
}`)
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e := m.Lookup("echo")
	if e.Output == nil || e.MaxOutputBytes != 4096 || e.MaxArgsBytes != 512 || e.Timeout != 7*time.Second || e.Annotations.Title != "Echo" || !*e.Annotations.ReadOnlyHint {
		t.Errorf("extensions not loaded: %+v", e)
	}
	if e.Program.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("sha256 not normalized: %q", e.Program.SHA256)
	}
	if err := e.Output.Validate(map[string]any{}); err == nil {
		t.Error("output schema accepts an object without ok")
	}
	if e.Sandbox.Level != LevelLimits || e.Sandbox.Workspace != WorkspaceRead || m.Policy != nil {
		t.Errorf("defaults: sandbox %+v, policy %v", e.Sandbox, m.Policy)
	}
}

func TestLoadSandboxAndPolicy(t *testing.T) {
	dir := workspace(t, "echo")
	path := writeManifest(t, dir, `{
  "policy": {"mode": "strict", "rules": [{"id": "e", "tool": "echo", "decision": "allow"}], "commands": {"allow": ["git status"]}},
  "tools": [{
    "name": "echo",
    "command": ["./tools/bin/echo"],
    "schema": {"type": "object", "properties": {"p": {"type": "string", "x-path": "write"}, "c": {"x-command": true}}},
    "sandbox": {"level": "strict", "user": "1000:1000", "workspace": "write", "read": ["/usr/share"], "write": ["out"], "network": true,
      "limits": {"cpuSec": 5, "memoryMB": 512, "openFiles": 64, "processes": 32, "fileSizeMB": 0}}
  }]
}`)
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e := m.Lookup("echo")
	sb := e.Sandbox
	if sb.Level != LevelStrict || sb.User != "1000:1000" || sb.Workspace != WorkspaceWrite || !sb.Network ||
		sb.Read[0] != "/usr/share" || sb.Write[0] != "out" || sb.Limits.CPUSec != 5 || sb.Limits.MemoryMB != 512 || sb.Limits.OpenFiles != 64 || sb.Limits.Processes != 32 {
		t.Errorf("sandbox %+v", sb)
	}
	if len(e.Marks) != 2 {
		t.Errorf("marks %+v", e.Marks)
	}
	if m.Policy == nil || m.Policy.Mode != "strict" || len(m.Policy.Rules) != 1 || m.Policy.Commands.Allow[0] != "git status" {
		t.Errorf("policy %+v", m.Policy)
	}
}

// Each broken manifest is refused with an error naming the tool and field.
func TestLoadErrors(t *testing.T) {
	const ok = `{"name":"ok","command":["./tools/bin/ok"]}`
	tests := []struct {
		name string
		body string
		want []string // substrings of the error
	}{
		{"not JSON", `{"tools": [`, []string{"not JSON", "line 1"}},
		{"empty file", ``, []string{"not JSON: the file is empty"}},
		{"syntax error position", "{\n  \"tools\": [,]\n}", []string{"line 2, column 13"}},
		{"trailing data", `{"tools":[]} {}`, []string{"data after the top-level value"}},
		{"top level not object", `[]`, []string{"expected object"}},
		{"tools missing", `{}`, []string{"missing properties: 'tools'"}},
		{"unknown top-level field", `{"tools":[],"tool":[]}`, []string{`unknown key "tool"`, "goagent ignores them"}},
		{"duplicate names", `{"tools":[` + ok + `,` + ok + `]}`, []string{`tools[1] "ok": name: duplicate name (first used by tools[0])`}},
		{"missing command", `{"tools":[{"name":"x"}]}`, []string{`tools[0] "x"`, "missing properties: 'command'"}},
		{"empty command", `{"tools":[{"name":"x","command":[]}]}`, []string{`tools[0] "x": command`, "minimum 1 items"}},
		{"empty program", `{"tools":[{"name":"x","command":[""]}]}`, []string{`tools[0] "x": command[0]`}},
		{"missing name", `{"tools":[{"command":["./tools/bin/ok"]}]}`, []string{`tools[0]: `, "missing properties: 'name'"}},
		{"bad name", `{"tools":[{"name":"a b","command":["./tools/bin/ok"]}]}`, []string{`tools[0] "a b": name`, "does not match pattern"}},
		{"escape with dotdot", `{"tools":[{"name":"x","command":["./tools/bin/../../etc/passwd"]}]}`, []string{`tools[0] "x": command[0]`, "must be under ./tools/bin/"}},
		{"escape with backslashes", `{"tools":[{"name":"x","command":["tools\\bin\\..\\..\\x"]}]}`, []string{`command[0]`, "must be under ./tools/bin/"}},
		{"relative outside bin", `{"tools":[{"name":"x","command":["./bin/x"]}]}`, []string{`command[0]`, "must be under ./tools/bin/"}},
		{"parent relative", `{"tools":[{"name":"x","command":["../tools/bin/ok"]}]}`, []string{`command[0]`, "must be under ./tools/bin/"}},
		{"bin folder itself", `{"tools":[{"name":"x","command":["./tools/bin"]}]}`, []string{`command[0]`, "must be under ./tools/bin/"}},
		{"bad env name", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"envPassthrough":["OK","1BAD"]}]}`, []string{`tools[0] "x": envPassthrough[1]`, "does not match pattern"}},
		{"env name with dash", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"envPassthrough":["A-B"]}]}`, []string{`envPassthrough[0]`}},
		{"schema not object", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"schema":"nope"}]}`, []string{`tools[0] "x": schema`, "expected object"}},
		{"schema type not object", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"schema":{"type":"string"}}]}`, []string{`tools[0] "x": schema`, `type must be "object"`}},
		{"schema invalid keyword value", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"schema":{"type":"object","properties":{"a":{"type":"strin"}}}}]}`, []string{`tools[0] "x": schema: invalid JSON Schema`, "/properties/a/type"}},
		{"schema bad regex", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"schema":{"type":"object","properties":{"a":{"pattern":"(?<=x)"}}}}]}`, []string{`tools[0] "x": schema: invalid JSON Schema`}},
		{"schema file ref refused", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"schema":{"type":"object","properties":{"a":{"$ref":"file:///etc/passwd"}}}}]}`, []string{`tools[0] "x": schema`, "references outside the schema are not allowed"}},
		{"schema http ref refused", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"schema":{"$ref":"https://example.com/s.json"}}]}`, []string{`schema`, "references outside the schema are not allowed"}},
		{"bad sandbox level", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"sandbox":{"level":"paranoid"}}]}`, []string{`tools[0] "x": sandbox.level`, "must be one of"}},
		{"unknown sandbox field", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"sandbox":{"netwrok":true}}]}`, []string{`tools[0] "x": sandbox`, "netwrok"}},
		{"limit out of range", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"sandbox":{"limits":{"memoryMB":1}}}]}`, []string{`sandbox.limits.memoryMB`}},
		{"bad path mark", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"schema":{"type":"object","properties":{"p":{"x-path":"rw"}}}}]}`, []string{`tools[0] "x": schema`, `/p: x-path must be "read" or "write"`}},
		{"bad policy decision", `{"policy":{"rules":[{"tool":"x","decision":"perhaps"}]},"tools":[` + ok + `]}`, []string{`policy.rules[0].decision`, "must be one of"}},
		{"policy rule without words", `{"policy":{"rules":[{"tool":"--","decision":"deny"}]},"tools":[` + ok + `]}`, []string{`policy`, "no words to match"}},
		{"output schema invalid", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"outputSchema":{"minimum":"zero"}}]}`, []string{`tools[0] "x": outputSchema: invalid JSON Schema`}},
		{"unknown tool field", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"timeoutsec":3}]}`, []string{`tools[0] "x"`, `unknown key "timeoutsec" (did you mean "timeoutSec"?)`}},
		{"timeout wrong type", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"timeoutSec":"5"}]}`, []string{`tools[0] "x": timeoutSec`, "expected integer"}},
		{"timeout negative", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"timeoutSec":-1}]}`, []string{`timeoutSec`, "must be >= 0"}},
		{"output cap too large", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"maxOutputBytes":1e12}]}`, []string{`maxOutputBytes`}},
		{"bad sha256", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"sha256":"abc"}]}`, []string{`tools[0] "x": sha256`}},
		{"sha256 mismatch", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"sha256":"` + strings.Repeat("0", 64) + `"}]}`, []string{`tools[0] "x": command[0]`, "sha256 is", "pinned 0000"}},
		{"missing program", `{"tools":[{"name":"x","command":["./tools/bin/missing"]}]}`, []string{`tools[0] "x": command[0]: program`, "tools/bin/missing not found"}},
		{"program is a folder", `{"tools":[{"name":"x","command":["./tools"]}]}`, []string{`must be under ./tools/bin/`}},
		{"bad annotation", `{"tools":[{"name":"x","command":["./tools/bin/ok"],"annotations":{"readOnly":true}}]}`, []string{`tools[0] "x": annotations`, `unknown key "readOnly"`}},
		{"every problem reported", `{"tools":[{"name":"a","command":["./x"]},{"name":"b","command":["./tools/bin/missing"]}]}`, []string{"2 problems", `tools[0] "a"`, `tools[1] "b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := workspace(t, "ok")
			_, err := Load(writeManifest(t, dir, tt.body))
			if err == nil {
				t.Fatal("loaded a broken manifest")
			}
			var le *LoadError
			t.Log(err)
			if !errors.As(err, &le) {
				t.Fatalf("error is %T, want *LoadError: %v", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

// Files and folders that others could change are refused.
func TestLoadUnsafeFiles(t *testing.T) {
	const body = `{"tools":[{"name":"x","command":["./tools/bin/x"]}]}`
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"group-writable program", func(t *testing.T, dir string) {
			chmod(t, filepath.Join(dir, "tools/bin/x"), 0o775)
		}, "writable by group or others (mode 0775)"},
		{"world-writable program", func(t *testing.T, dir string) {
			chmod(t, filepath.Join(dir, "tools/bin/x"), 0o757)
		}, "chmod go-w"},
		{"not executable", func(t *testing.T, dir string) {
			chmod(t, filepath.Join(dir, "tools/bin/x"), 0o644)
		}, "not executable (mode 0644)"},
		{"world-writable tools folder", func(t *testing.T, dir string) {
			chmod(t, filepath.Join(dir, "tools/bin"), 0o777)
		}, "a folder writable by group or others (mode 0777)"},
		{"world-writable folder above", func(t *testing.T, dir string) {
			chmod(t, filepath.Join(dir, "tools"), 0o777)
		}, "a folder writable by group or others"},
		{"symlink into an unsafe folder", func(t *testing.T, dir string) {
			bad := filepath.Join(dir, "bad")
			if err := os.Mkdir(bad, 0o777); err != nil {
				t.Fatal(err)
			}
			chmod(t, bad, 0o777)
			writeProgram(t, filepath.Join(bad, "real"), "#!/bin/sh\n")
			os.Remove(filepath.Join(dir, "tools/bin/x"))
			if err := os.Symlink(filepath.Join(bad, "real"), filepath.Join(dir, "tools/bin/x")); err != nil {
				t.Fatal(err)
			}
		}, "bad is a folder writable by group or others"},
		{"program is a fifo", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "tools/bin/x")
			os.Remove(p)
			mkfifo(t, p)
		}, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := workspace(t, "x")
			tt.setup(t, dir)
			_, err := Load(writeManifest(t, dir, body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), `tools[0] "x": command[0]`) {
				t.Errorf("error does not name the tool and field: %v", err)
			}
		})
	}

	t.Run("group-writable manifest", func(t *testing.T) {
		dir := workspace(t, "x")
		p := writeManifest(t, dir, body)
		chmod(t, p, 0o664)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), "writable by group or others (mode 0664)") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("unreadable manifest path", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "missing.json"))
		if err == nil || !strings.Contains(err.Error(), "missing.json") {
			t.Fatalf("error = %v", err)
		}
	})
}

func chmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// A pinned program is re-checked at every Open, and what Open returns is
// the checked file.
func TestProgramIntegrity(t *testing.T) {
	const content = "#!/bin/sh\necho '{}'\n"
	sum := sha256.Sum256([]byte(content))
	pin := hex.EncodeToString(sum[:])
	load := func(t *testing.T) (*Tool, string) {
		dir := workspace(t, "x")
		m, err := Load(writeManifest(t, dir, `{"tools":[{"name":"x","command":["./tools/bin/x"],"sha256":"`+pin+`"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		return m.Lookup("x"), filepath.Join(dir, "tools/bin/x")
	}

	t.Run("unchanged", func(t *testing.T) {
		tool, _ := load(t)
		for range 2 {
			f, err := tool.Program.Open()
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	})
	t.Run("replaced after load", func(t *testing.T) {
		tool, path := load(t)
		tmp := path + ".new"
		writeProgram(t, tmp, "#!/bin/sh\necho '{\"evil\":true}'\n")
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		_, err := tool.Program.Open()
		var ie *IntegrityError
		if !errors.As(err, &ie) || ie.Want != pin {
			t.Fatalf("Open = %v, want *IntegrityError", err)
		}
	})
	t.Run("edited in place with the same size and mtime", func(t *testing.T) {
		tool, path := load(t)
		fi, _ := os.Stat(path)
		evil := strings.Replace(content, "{}", "[]", 1)
		if err := os.WriteFile(path, []byte(evil), 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(path, fi.ModTime(), fi.ModTime())
		if _, err := tool.Program.Open(); err == nil {
			t.Fatal("Open accepted an edited program")
		}
	})
	t.Run("restored content is accepted again", func(t *testing.T) {
		tool, path := load(t)
		writeProgram(t, path, "#!/bin/sh\nexit 1\n")
		if _, err := tool.Program.Open(); err == nil {
			t.Fatal("Open accepted an edited program")
		}
		writeProgram(t, path, content)
		f, err := tool.Program.Open()
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	})
}
