package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/toolhost/toolhost/internal/gobuild"
)

// built holds the toolbelt and agentcli, built once per test run.
var built string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agentcli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	built = dir
	for _, b := range [][2]string{
		{filepath.Join(dir, "tools", "bin") + "/", "./tools/cmd/..."},
		{filepath.Join(dir, "agentcli"), "./cmd/agentcli"},
	} {
		if err := gobuild.Build("../..", b[0], b[1]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(2)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// project makes a folder with the toolbelt, the repository's tools.json
// plus extra entries, and an audit location; it returns the folder.
func project(t testing.TB, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	if err := os.Symlink(filepath.Join(built, "tools"), filepath.Join(dir, "tools")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../../tools.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(extra) > 0 {
		// Extra tools are allowed by rules of their own: the tests that
		// add them are about what happens once a call may run.
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		pol := doc["policy"].(map[string]any)
		for _, e := range extra {
			var tool map[string]any
			if err := json.Unmarshal([]byte(e), &tool); err != nil {
				t.Fatal(err)
			}
			doc["tools"] = append(doc["tools"].([]any), tool)
			pol["rules"] = append(pol["rules"].([]any), map[string]any{"tool": tool["name"], "decision": "allow"})
		}
		if data, err = json.Marshal(doc); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "tools.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runIn(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runStdin(t, dir, "", args...)
}

func runStdin(t *testing.T, dir, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	old, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(old)
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestTools(t *testing.T) {
	dir := project(t)
	code, out, errs := runIn(t, dir, "tools")
	if code != 0 || !strings.Contains(out, "fs_read_file") || !strings.Contains(out, "5 tools vetted from") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	// The bundled get_time and fs_search run resident; the others not.
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasPrefix(f[0], "get_time") && !strings.HasPrefix(f[0], "fs_") {
			continue
		}
		want := "per-call"
		if f[0] == "get_time" || f[0] == "fs_search" {
			want = "resident"
		}
		if f[2] != want {
			t.Errorf("%s runs %q, want %q:\n%s", f[0], f[2], want, out)
		}
	}
	code, out, _ = runIn(t, dir, "tools", "-json")
	var list []toolInfo
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 5 || list[0].Name != "get_time" || len(list[0].InputSchema) == 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	if r := list[0].Resident; r == nil || r.IdleSec != 120 || r.Concurrency != 8 || list[1].Resident != nil {
		t.Errorf("resident settings listed: %+v, %+v", list[0].Resident, list[1].Resident)
	}
}

func TestCall(t *testing.T) {
	dir := project(t)
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(dir, "strict.json"), []byte(`{"mode":"strict","rules":[{"tool":"fs_read_file","decision":"allow"}]}`), 0o644)
	tests := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"success", "", []string{"call", "fs_read_file", `{"path":"hello.txt"}`}, 0, `"content":"hello"`, ""},
		{"flags after the arguments", "", []string{"call", "fs_read_file", `{"path":"hello.txt"}`, "-tools", "tools.json"}, 0, `"content":"hello"`, ""},
		{"arguments from stdin", `{"path":"hello.txt"}`, []string{"call", "fs_read_file", "-"}, 0, `"content":"hello"`, ""},
		{"no arguments means {}", "", []string{"call", "get_time"}, 0, `"timezone":"UTC"`, ""},
		{"tool failure", "", []string{"call", "fs_read_file", `{"path":"missing.txt"}`}, 1, "", `"code":"NOT_FOUND"`},
		{"denied by the floor", "", []string{"call", "fs_read_file", `{"path":"/etc/passwd"}`}, 1, "", `{"error":"fs_read_file denied by floor:path-etc (argument /path)`},
		{"needs approval", "", []string{"call", "fs_write_file", `{"path":"new.txt","content":"x"}`}, 1, "", `"code":"NEEDS_APPROVAL"`},
		{"pre-approved", "", []string{"call", "-approve", "fs_write_file", "fs_write_file", `{"path":"new.txt","content":"x"}`}, 0, `"bytesWritten":1`, ""},
		{"mode strict denies what no rule matches", "", []string{"call", "-policy", "strict.json", "get_time"}, 1, "", `get_time denied (no policy rule matched and mode strict denies)`},
		{"unknown tool", "", []string{"call", "nope"}, 1, "", `"code":"UNKNOWN_TOOL"`},
		{"invalid arguments", "", []string{"call", "fs_read_file", `{"path":3}`}, 1, "", `"code":"INVALID_ARGS"`},
		{"arguments not JSON", "", []string{"call", "fs_read_file", `path=x`}, 1, "", `arguments are not JSON`},
		{"no tool name", "", []string{"call"}, 2, "", "call wants a tool name"},
		{"too many arguments", "", []string{"call", "a", "{}", "{}"}, 2, "", `"{}" is one too many`},
		{"an argument is never a flag", "", []string{"call", "fs_list_dir", "-workspace=/"}, 2, "", `must be JSON or - (for stdin), not "-workspace=/"`},
		{"flags before the name", "", []string{"call", "-tools", "tools.json", "get_time", "{}"}, 0, `"timezone":"UTC"`, ""},
		{"bad flag", "", []string{"call", "-nope", "get_time"}, 2, "", "flag provided but not defined: -nope"},
		{"bad flag value", "", []string{"call", "-tool-timeout", "0s", "get_time"}, 2, "", "-tool-timeout must be positive"},
		{"missing manifest", "", []string{"call", "-tools", "missing.json", "get_time"}, 2, "", "missing.json"},
		{"unknown command", "", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"no command", "", nil, 2, "", "Usage:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runStdin(t, dir, tt.stdin, tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errs, tt.wantErr) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errs)
			}
			if tt.wantCode == 1 {
				// The envelope is one JSON line on stderr, and stdout is empty.
				var env struct{ Error, Code string }
				if out != "" || json.Unmarshal([]byte(strings.TrimSpace(errs)), &env) != nil || env.Code == "" {
					t.Errorf("failure output: stdout %q, stderr %q", out, errs)
				}
			}
		})
	}
}

// A tool's stderr reaches its author: with -debug on success too, and on
// failure its end (where a traceback is) survives a long log before it.
func TestCallShowsToolStderr(t *testing.T) {
	dir := project(t,
		`{"name":"chatty","command":["/bin/sh","-c","cat >/dev/null; echo 'log: warming the cache' >&2; echo '{}'"]}`,
		`{"name":"crashy","command":["/bin/sh","-c","cat >/dev/null; i=0; while [ $i -lt 400 ]; do echo \"log line $i of the tool's busy day\" >&2; i=$((i+1)); done; echo 'ValueError: the last words' >&2; exit 1"]}`,
	)
	code, out, errs := runIn(t, dir, "call", "-debug", "chatty")
	if code != exitOK || out != "{}\n" || !strings.Contains(errs, "log: warming the cache") {
		t.Errorf("-debug success: exit %d, stdout %q, stderr %s", code, out, errs)
	}
	if _, _, errs := runIn(t, dir, "call", "chatty"); strings.Contains(errs, "warming") {
		t.Errorf("without -debug a success's stderr stays out of the way: %s", errs)
	}
	code, _, errs = runIn(t, dir, "call", "crashy")
	if code != exitFailed || !strings.Contains(errs, "ValueError: the last words") || !strings.Contains(errs, "log line 0 of") || !strings.Contains(errs, "bytes cut]") {
		t.Errorf("failure: exit %d, stderr %s", code, errs)
	}
}

func TestBrokenManifestNamesTheProblem(t *testing.T) {
	dir := project(t, `{"name":"bad","command":["./tools/bin/../../escape"]}`)
	code, _, errs := runIn(t, dir, "call", "get_time")
	if code != 2 || !strings.Contains(errs, `tools[5] "bad": command[0]`) {
		t.Errorf("exit %d: %s", code, errs)
	}
	code, _, errs = runIn(t, dir, "tools")
	if code != 2 || !strings.Contains(errs, `must be under ./tools/bin/`) {
		t.Errorf("exit %d: %s", code, errs)
	}
}

func TestAuditVerify(t *testing.T) {
	dir := project(t)
	log := filepath.Join(dir, "audit.jsonl")
	for range 3 {
		if code, _, errs := runIn(t, dir, "call", "-audit", log, "get_time"); code != 0 {
			t.Fatal(errs)
		}
	}
	code, out, errs := runIn(t, dir, "audit", "verify", log)
	if code != 0 || !strings.Contains(out, "ok, 3 records, head ") {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	// The default log is the one calls write to.
	runIn(t, dir, "call", "get_time")
	if code, out, _ := runIn(t, dir, "audit", "verify"); code != 0 || !strings.Contains(out, "ok, 1 records") {
		t.Errorf("default log: exit %d: %s", code, out)
	}
	data, _ := os.ReadFile(log)
	os.WriteFile(log, bytes.Replace(data, []byte(`"tool":"get_time"`), []byte(`"tool":"get_tine"`), 1), 0o600)
	code, _, errs = runIn(t, dir, "audit", "verify", log)
	if code != 1 || !strings.Contains(errs, "line 1: hash mismatch") {
		t.Errorf("tampered log: exit %d: %s", code, errs)
	}
	if code, _, errs := runIn(t, dir, "audit", "check"); code != 2 || !strings.Contains(errs, "usage: agentcli audit verify") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

// Ctrl-C during a call kills the tool and exits with the interrupted
// status, leaving nothing running.
func TestInterrupt(t *testing.T) {
	dir := project(t, `{"name":"sleeper","command":["/bin/sleep","1234.5"]}`)
	cmd := exec.Command(filepath.Join(built, "agentcli"), "call", "sleeper")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the tool runs, then interrupt.
	deadline := time.Now().Add(10 * time.Second)
	for !sleeperRunning() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Errorf("exit: %v, stderr %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"code":"CANCELLED"`) {
		t.Errorf("stderr %s", stderr.String())
	}
	// agentcli exits only after the call's processes are gone.
	if sleeperRunning() {
		t.Error("the tool outlived the interrupted call")
	}
}

func sleeperRunning() bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if c, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.Contains(string(c), "1234.5") {
			if stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat"); !bytes.Contains(stat, []byte(") Z ")) {
				return true
			}
		}
	}
	return false
}
