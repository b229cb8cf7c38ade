package host

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolhost/toolhost/internal/audit"
	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/policy"
	"github.com/toolhost/toolhost/internal/sandbox"
	"github.com/toolhost/toolhost/protocol"
)

type env struct {
	t         *testing.T
	h         *Host
	auditPath string
	workspace string
}

// helperTool is a manifest entry running the named helper.
func helperTool(name string, extra string) string {
	exe, _ := os.Executable()
	cmd, _ := json.Marshal([]string{exe, "host-helper", name})
	if extra != "" {
		extra = "," + extra
	}
	return fmt.Sprintf(`{"name":%q,"command":%s%s}`, name, cmd, extra)
}

// newEnv starts a host serving the given manifest entries plus the real
// toolbelt from the repository's tools.json.
func newEnv(t *testing.T, entries []string, opts Options) *env {
	t.Helper()
	dir := t.TempDir()
	manifestPath := filepath.Join(dir, "tools.json")
	var repo struct {
		Tools []json.RawMessage `json:"tools"`
	}
	data, err := os.ReadFile("../../tools.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &repo); err != nil {
		t.Fatal(err)
	}
	all := entries
	for _, raw := range repo.Tools {
		all = append(all, strings.ReplaceAll(string(raw), `"./tools/bin/`, `"`+toolBin+`/`))
	}
	body := `{"tools":[` + strings.Join(all, ",") + `]}`
	if err := os.WriteFile(manifestPath, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Load(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, auditPath: filepath.Join(dir, "audit", "audit.jsonl"), workspace: filepath.Join(dir, "ws")}
	os.Mkdir(e.workspace, 0o755)
	if opts.Audit, err = audit.Open(e.auditPath); err != nil {
		t.Fatal(err)
	}
	if opts.Workspace == "" {
		opts.Workspace = e.workspace
	}
	if opts.Sandbox.KillGrace == 0 {
		opts.Sandbox.KillGrace = 300 * time.Millisecond
	}
	if opts.Environ == nil {
		opts.Environ = []string{"API_TOKEN=tok-1234-very-secret", "LANG=C.UTF-8", "UNLISTED=nope"}
	}
	if opts.Policy == nil && opts.Mode == "" {
		// These tests are about what happens once a call may run; the
		// gate has tests of its own.
		opts.Mode = policy.ModeBypass
	}
	if e.h, err = New(m, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.h.Close()
		opts.Audit.Close()
	})
	return e
}

func (e *env) call(name, args string) *Result {
	e.t.Helper()
	r, err := e.h.Call(context.Background(), Request{Tool: name, Args: json.RawMessage(args)})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) auditLog() string {
	if err := e.h.opts.Audit.Flush(); err != nil {
		e.t.Fatal(err)
	}
	data, err := os.ReadFile(e.auditPath)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(data)
}

func wantCode(t *testing.T, r *Result, code string, msgParts ...string) {
	t.Helper()
	if r.Err == nil {
		t.Fatalf("call succeeded with %s, want %s", r.Output, code)
	}
	if r.Err.Code != code {
		t.Errorf("code %s (%s), want %s", r.Err.Code, r.Err.Message, code)
	}
	for _, p := range msgParts {
		if !strings.Contains(r.Err.Message, p) {
			t.Errorf("message %q does not mention %q", r.Err.Message, p)
		}
	}
}

var hostileTools = []string{
	helperTool("echo", `"schema":{"type":"object","properties":{"n":{"type":"integer","maximum":10},"s":{"type":"string"}},"additionalProperties":false}`),
	helperTool("stdin-raw", ""),
	helperTool("env", `"envPassthrough":["API_TOKEN","lang","MISSING"]`),
	helperTool("cwd", ""),
	helperTool("ansi-secret", `"envPassthrough":["API_TOKEN"]`),
	helperTool("secret-failure", `"envPassthrough":["API_TOKEN"]`),
	helperTool("not-json", ""),
	helperTool("two-values", ""),
	helperTool("fail", ""),
	helperTool("fail-reserved-code", ""),
	helperTool("fail-plain", ""),
	helperTool("fail-exit-zero", ""),
	helperTool("quiet-exit-zero", ""),
	helperTool("crash", ""),
	helperTool("grandchild", `"outputSchema":{"type":"object","required":["ok"]}`),
	helperTool("ignore-term", `"timeoutSec":1`),
	helperTool("flood-stdout", ""),
	helperTool("flood-stderr", `"timeoutSec":1`),
	helperTool("forkbomb", `"timeoutSec":2`),
	// As root: the cgroup, not RLIMIT_NPROC (which root ignores), must
	// stop it.
	helperTool("thousands", `"timeoutSec":20,"sandbox":{"user":"root"}`),
	`{"name":"strict_output","command":["` + mustExe() + `","host-helper","echo"],"outputSchema":{"type":"object","required":["must"]}}`,
}

func mustExe() string {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return exe
}

func TestHostileTools(t *testing.T) {
	opts := Options{Sandbox: sandbox.Options{MaxProcs: 128}}
	if os.Geteuid() != 0 {
		// An ordinary user's bound (RLIMIT_NPROC in agentcli's user
		// namespace) is for all calls together: one call's, with one slot.
		opts.Sandbox.MaxConcurrent = 1
	}
	e := newEnv(t, hostileTools, opts)
	tests := []struct {
		name  string
		tool  string
		args  string
		check func(t *testing.T, r *Result)
	}{
		{"echo", "echo", `{"n":3,"s":"hi"}`, func(t *testing.T, r *Result) {
			if !r.OK() || string(r.Output) != `{"n":3,"s":"hi"}` {
				t.Errorf("result %s %v", r.Output, r.Err)
			}
		}},
		{"arguments as the tool reads them", "stdin-raw", `{"s":"<a & b>", "t": [1, 2.50]}`, func(t *testing.T, r *Result) {
			// Re-encoded compactly, as validated; <, > and & left alone
			// (encoding/json's default makes each of them six bytes).
			var stdin string
			if !r.OK() || json.Unmarshal(r.Output, &stdin) != nil || stdin != `{"s":"<a & b>","t":[1,2.50]}` {
				t.Errorf("result %s %v", r.Output, r.Err)
			}
		}},
		{"grandchild holding stdout", "grandchild", `{}`, func(t *testing.T, r *Result) {
			if !r.OK() || string(r.Output) != `{"ok":true}` {
				t.Errorf("result %s %v", r.Output, r.Err)
			}
		}},
		{"ignores SIGTERM", "ignore-term", `{}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeTimeout, "ignore-term did not finish within 1s")
		}},
		{"floods stdout", "flood-stdout", `{}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeOutputLimit, "more than 1048576 bytes")
		}},
		{"floods stderr", "flood-stderr", `{}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeTimeout)
			if len(r.Err.Message) > maxMessage+16 {
				t.Errorf("message of %d bytes", len(r.Err.Message))
			}
		}},
		{"prints non-JSON", "not-json", `{}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeBadOutput, `output starts "hello, I am not JSON`)
		}},
		{"prints two values", "two-values", `{}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeBadOutput, "more than one JSON value")
		}},
		{"fails but exits 0", "fail-exit-zero", `{}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeBadOutput, "nothing on standard output, but its standard error ends with an error envelope (code BROKE: the thing broke)")
		}},
		{"prints nothing, exits 0", "quiet-exit-zero", `{}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeBadOutput, "nothing on standard output, want one JSON value; its last output on stderr: Traceback: the last words")
		}},
		{"fails with an envelope", "fail", `{}`, func(t *testing.T, r *Result) {
			wantCode(t, r, "BROKE", "the thing broke")
		}},
		{"claims a host code", "fail-reserved-code", `{}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeToolError, "pretend the host said so", `code "DENIED", which tools may not use`)
		}},
		{"fails without an envelope", "fail-plain", `{}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeToolError, "fail-plain failed (exit status 2): panic: runtime error")
		}},
		{"crashes", "crash", `{}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeToolError, "killed by signal 11, segmentation fault (a crash, or a resource limit)")
		}},
		{"breaks its output schema", "strict_output", `{"x":1}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeOutputSchema, "(root): missing properties: 'must' (required)")
		}},
		{"fork bomb", "forkbomb", `{}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeTimeout)
		}},
		{"starts thousands of processes", "thousands", `{}`, func(t *testing.T, r *Result) {
			var got struct{ Started int }
			if !r.OK() || json.Unmarshal(r.Output, &got) != nil || got.Started >= 128 || got.Started == 0 {
				t.Errorf("result %s %v: want fewer than 128 processes started", r.Output, r.Err)
			}
		}},
		{"unknown tool", "no_such_tool", `{}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeUnknownTool, `unknown tool "no_such_tool"`, "echo")
		}},
		{"arguments break the schema", "echo", `{"n":"three"}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeInvalidArgs, "/n: expected integer, but got string (type)")
		}},
		{"arguments past a limit", "echo", `{"n":11}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeInvalidArgs, "/n: must be <= 10 but found 11 (maximum)")
		}},
		{"unexpected argument", "echo", `{"x":1}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeInvalidArgs, "additionalProperties 'x' not allowed")
		}},
		{"arguments over the default size limit", "echo", `{"s":"` + strings.Repeat("a", DefaultMaxArgs) + `"}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeInvalidArgs, fmt.Sprintf("arguments are %d bytes, over echo's limit of %d (maxArgsBytes", DefaultMaxArgs+8, DefaultMaxArgs))
		}},
		{"arguments not JSON", "echo", `{n:1}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeInvalidArgs, "arguments are not JSON")
		}},
		{"arguments not an object", "echo", `[1]`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeInvalidArgs, "must be a JSON object, got an array")
		}},
		{"empty arguments are {}", "echo", ``, func(t *testing.T, r *Result) {
			if !r.OK() || string(r.Output) != `{}` {
				t.Errorf("result %s %v", r.Output, r.Err)
			}
		}},
		{"keys differing only in case", "cwd", `{"s":"safe","S":"--evil"}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeInvalidArgs, `(root): keys "S" and "s" differ only in letter case`)
		}},
		{"keys equal under Unicode folding", "cwd", `{"deep":[{"n":1,"s":"a","ſ":"b"}]}`, func(t *testing.T, r *Result) {
			wantCode(t, r, protocol.CodeInvalidArgs, `/deep/0: keys "s" and "ſ" differ only in letter case`)
		}},
		{"duplicate keys reach the tool as validated", "echo", `{"s":"first","s":"second"}`, func(t *testing.T, r *Result) {
			if !r.OK() || string(r.Output) != `{"s":"second"}` {
				t.Errorf("result %s %v", r.Output, r.Err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, e.call(tt.tool, tt.args)) })
	}

	// Every call above is in the audit log, and the log verifies.
	e.auditLog()
	f, err := os.Open(e.auditPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := audit.Verify(f, audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != len(tests) {
		t.Errorf("%d audit records for %d calls", rep.Records, len(tests))
	}
	checkNoLeftovers(t)
}

// checkNoLeftovers fails when a helper process or a zombie child remains.
func checkNoLeftovers(t *testing.T) {
	t.Helper()
	exe := mustExe()
	entries, _ := os.ReadDir("/proc")
	for _, en := range entries {
		cmdline, err := os.ReadFile("/proc/" + en.Name() + "/cmdline")
		if err != nil || en.Name() == fmt.Sprint(os.Getpid()) {
			continue
		}
		if c := string(cmdline); strings.Contains(c, exe+"\x00host-helper") || strings.Contains(c, "toolhost-forkbomb") {
			t.Errorf("process %s left running: %q", en.Name(), strings.ReplaceAll(c, "\x00", " "))
		}
		if stat, err := os.ReadFile("/proc/" + en.Name() + "/stat"); err == nil {
			f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
			if len(f) > 1 && f[0] == "Z" && f[1] == fmt.Sprint(os.Getpid()) {
				t.Errorf("zombie child %s left", en.Name())
			}
		}
	}
}

// The tool sees PATH, HOME and the declared variables that are set;
// nothing else, and it runs in the workspace.
func TestToolEnvironment(t *testing.T) {
	e := newEnv(t, hostileTools, Options{Path: "/custom/bin", Home: "/home/tool"})
	r := e.call("env", `{}`)
	var got []string
	if err := json.Unmarshal(r.Output, &got); err != nil {
		t.Fatalf("%s %v", r.Output, r.Err)
	}
	want := []string{"PATH=/custom/bin", "HOME=/home/tool", "API_TOKEN=[REDACTED]", "LANG=C.UTF-8", "TMPDIR="}
	if len(got) == len(want) && strings.HasPrefix(got[4], want[4]) {
		want[4] = got[4] // the call's own folder
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("environment %q, want %q", got, want)
	}
	r = e.call("cwd", `{}`)
	var wd string
	json.Unmarshal(r.Output, &wd)
	if real, _ := filepath.EvalSymlinks(e.workspace); wd != real {
		t.Errorf("cwd %q, want the workspace %q", wd, real)
	}
	if log := e.auditLog(); !strings.Contains(log, `"env":["PATH","HOME","API_TOKEN","LANG"]`) {
		t.Errorf("audit log does not list the names passed:\n%s", log)
	}
}

// Escapes, control characters and secrets never reach the caller, the
// logs or the audit log.
func TestHygiene(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, hostileTools, Options{Logger: newTestLogger(&logs), Redact: []*regexp.Regexp{regexp.MustCompile(`sk-[a-z0-9]{8}`)}})
	r := e.call("ansi-secret", `{}`)
	if !r.OK() {
		t.Fatal(r.Err)
	}
	var out map[string]string
	if err := json.Unmarshal(r.Output, &out); err != nil {
		t.Fatal(err)
	}
	if out["text"] != "red bell evil" {
		t.Errorf("text %q, want escapes and controls stripped", out["text"])
	}
	if out["secret"] != Redacted || out[Redacted] != "key" {
		t.Errorf("secret not redacted in values and keys: %s", r.Output)
	}
	r = e.call("secret-failure", `{}`)
	wantCode(t, r, "AUTH_FAILED", "cannot use token "+Redacted)
	if strings.Contains(r.Err.Message, "\x1b") {
		t.Errorf("escape in message %q", r.Err.Message)
	}
	// An argument value is recorded only as a digest.
	e.call("echo", `{"s":"sk-abcdefgh and tok-1234-very-secret"}`)
	for what, text := range map[string]string{"audit log": e.auditLog(), "logs": logs.String()} {
		for _, secret := range []string{"tok-1234-very-secret", "sk-abcdefgh"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds the secret %q:\n%s", what, secret, text)
			}
		}
	}
}

func TestSixteenConcurrentCalls(t *testing.T) {
	e := newEnv(t, hostileTools, Options{})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := strings.Repeat(string(rune('a'+i)), 100<<10+i)
			r, err := e.h.Call(context.Background(), Request{Tool: "echo", Args: json.RawMessage(`{"n":` + fmt.Sprint(i%10) + `,"s":"` + payload + `"}`)})
			if err != nil {
				t.Error(err)
				return
			}
			var got struct {
				N int
				S string
			}
			if !r.OK() || json.Unmarshal(r.Output, &got) != nil || got.S != payload || got.N != i%10 {
				t.Errorf("call %d got someone else's or no result (%d bytes, %v)", i, len(r.Output), r.Err)
			}
		}()
	}
	wg.Wait()
}

func TestCancel(t *testing.T) {
	e := newEnv(t, hostileTools, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	r, err := e.h.Call(ctx, Request{Tool: "ignore-term", Args: json.RawMessage(`{}`), Caller: Caller{Frontend: "mcp", Identity: "token:ci"}})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, r, protocol.CodeCancelled)
	if log := e.auditLog(); !strings.Contains(log, `"frontend":"mcp","caller":"token:ci","tool":"ignore-term"`) || !strings.Contains(log, `"code":"CANCELLED"`) {
		t.Errorf("audit log:\n%s", log)
	}
	checkNoLeftovers(t)
}

// A flood of gigabytes on stdout leaves the host's memory flat.
func TestFloodMemory(t *testing.T) {
	e := newEnv(t, hostileTools, Options{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := e.call("flood-stdout", `{}`)
	runtime.ReadMemStats(&after)
	wantCode(t, r, protocol.CodeOutputLimit)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("the host allocated %d MiB during a flood capped at 1 MiB", grew>>20)
	}
}

func TestIntegrity(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tools", "bin")
	os.MkdirAll(bin, 0o755)
	script := "#!/bin/sh\necho '{\"v\":1}'\n"
	os.WriteFile(filepath.Join(bin, "pinned"), []byte(script), 0o755)
	sum := sha256Hex(script)
	os.WriteFile(filepath.Join(dir, "tools.json"), []byte(`{"tools":[{"name":"pinned","command":["./tools/bin/pinned"],"sha256":"`+sum+`"}]}`), 0o644)
	m, err := manifest.Load(filepath.Join(dir, "tools.json"))
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	h, err := New(m, Options{Audit: log, Workspace: dir, Mode: policy.ModeBypass})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	r, _ := h.Call(context.Background(), Request{Tool: "pinned"})
	if !r.OK() || string(r.Output) != `{"v":1}` {
		t.Fatalf("pinned tool: %s %v", r.Output, r.Err)
	}
	// Replaced after load: refused.
	tmp := filepath.Join(bin, "new")
	os.WriteFile(tmp, []byte("#!/bin/sh\necho '{\"v\":666}'\n"), 0o755)
	os.Rename(tmp, filepath.Join(bin, "pinned"))
	r, _ = h.Call(context.Background(), Request{Tool: "pinned"})
	wantCode(t, r, protocol.CodeIntegrity, "refusing to run pinned", "pinned "+sum)
}

// A host that cannot write its audit log returns no result and runs
// nothing.
func TestAuditFailureWithholdsResult(t *testing.T) {
	e := newEnv(t, []string{helperTool("touch", "")}, Options{})
	e.h.opts.Audit.Close()
	r, err := e.h.Call(context.Background(), Request{Tool: "touch", Args: json.RawMessage(`{}`)})
	if err == nil || r != nil {
		t.Fatalf("Call = %v, %v; want an error and no result", r, err)
	}
	if _, err := os.Stat(filepath.Join(e.workspace, "touched")); !os.IsNotExist(err) {
		t.Errorf("the tool ran although the audit log had failed (%v)", err)
	}
}

// Refuse records a call a frontend refused, even of a tool that exists,
// and runs nothing.
func TestRefuse(t *testing.T) {
	e := newEnv(t, []string{helperTool("touch", "")}, Options{})
	r, err := e.h.Call(context.Background(), Request{Tool: "touch", Args: json.RawMessage(`{}`), Caller: Caller{Frontend: "mcp", Identity: "stdio"},
		Refusal: protocol.Errorf(protocol.CodeUnknownTool, "not offered")})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, r, protocol.CodeUnknownTool, "not offered")
	if _, err := os.Stat(filepath.Join(e.workspace, "touched")); !os.IsNotExist(err) {
		t.Errorf("the refused tool ran (%v)", err)
	}
	if log := e.auditLog(); !strings.Contains(log, `"frontend":"mcp","caller":"stdio","tool":"touch"`) || !strings.Contains(log, `"code":"UNKNOWN_TOOL","message":"not offered"`) {
		t.Errorf("audit log:\n%s", log)
	}
}

func TestNeedsAuditAndWorkspace(t *testing.T) {
	m := &manifest.Manifest{}
	if _, err := New(m, Options{}); err == nil {
		t.Error("New without an audit log succeeded")
	}
	log, err := audit.Open(filepath.Join(t.TempDir(), "a.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if _, err := New(m, Options{Audit: log, Workspace: "/nonexistent/ws"}); err == nil {
		t.Error("New with a missing workspace succeeded")
	}
}

// The toolbelt runs through the host in the workspace, and its outputs
// pass its own output schemas.
func TestToolbelt(t *testing.T) {
	e := newEnv(t, nil, Options{})
	os.WriteFile(filepath.Join(e.workspace, "notes.txt"), []byte("alpha\nneedle here\n"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(e.workspace, "escape"))
	r := e.call("fs_write_file", `{"path":"out/new.txt","content":"written","createDirs":true}`)
	if !r.OK() {
		t.Fatal(r.Err)
	}
	for _, c := range []struct{ tool, args, want string }{
		{"get_time", `{"timezone":"Europe/Helsinki"}`, `"timezone":"Europe/Helsinki"`},
		{"fs_read_file", `{"path":"notes.txt"}`, `"content":"alpha\nneedle here\n"`},
		{"fs_read_file", `{"path":"out/new.txt"}`, `"content":"written"`},
		{"fs_list_dir", `{"path":"."}`, `"path":"notes.txt"`},
		{"fs_search", `{"query":"needle"}`, `"line":2`},
	} {
		r := e.call(c.tool, c.args)
		if !r.OK() || !strings.Contains(string(r.Output), c.want) {
			t.Errorf("%s %s = %s %v, want %s", c.tool, c.args, r.Output, r.Err, c.want)
		}
	}
	// The host's path guard refuses these before the tool runs (the tool
	// would refuse them too).
	for args, by := range map[string]string{
		`{"path":"/etc/passwd"}`: "floor:path-etc", `{"path":"../../etc/passwd"}`: "guard:path-outside",
		`{"path":"escape"}`: "floor:path-etc", `{"path":".env"}`: "floor:path-dotenv", `{"path":"sub/.git/config"}`: "floor:path-git",
	} {
		r := e.call("fs_read_file", args)
		wantCode(t, r, protocol.CodeDenied, by)
	}
	r = e.call("get_time", `{"timezone":"Mars/Olympus"}`)
	wantCode(t, r, "BAD_TIMEZONE")
}

// What a tool returns is what was validated and cleaned, and no secret of
// any tool gets out, whatever shape it comes in.
func TestHygieneEdges(t *testing.T) {
	const token = `tok"1234\\very-secret`
	e := newEnv(t, []string{
		helperTool("dup-keys", `"envPassthrough":["API_TOKEN"],"outputSchema":{"properties":{"text":{"const":"ok"}}}`),
		helperTool("bad-utf8", ""),
		helperTool("secret-not-json", `"envPassthrough":["API_TOKEN"]`),
		helperTool("echo", ""),
	}, Options{Environ: []string{"API_TOKEN=" + token}})
	r := e.call("dup-keys", `{}`)
	if !r.OK() || string(r.Output) != `{"secret":"x","text":"ok"}` {
		t.Errorf("duplicate keys: %s %v", r.Output, r.Err)
	}
	r = e.call("bad-utf8", `{}`)
	if !r.OK() || string(r.Output) != "{\"a\":\"\uFFFD\uFFFD\"}" {
		t.Errorf("invalid UTF-8: %q %v", r.Output, r.Err)
	}
	r = e.call("secret-not-json", `{}`)
	wantCode(t, r, protocol.CodeBadOutput, "the token is "+Redacted)
	// A tool never given the secret returns it: still redacted.
	args, _ := json.Marshal(map[string]string{"s": "see " + token})
	r = e.call("echo", string(args))
	if !r.OK() || strings.Contains(string(r.Output), "very-secret") || !strings.Contains(string(r.Output), Redacted) {
		t.Errorf("echoed secret: %s %v", r.Output, r.Err)
	}
	for _, part := range []string{"very-secret", "tok\"1234", `tok\"1234`} {
		if log := e.auditLog(); strings.Contains(log, part) {
			t.Errorf("the audit log holds %q", part)
		}
	}
}
