package secaudit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/toolhost/toolhost/schemas"
)

// write creates a file with exactly mode (whatever the umask).
func write(t *testing.T, path, data string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	setMode(t, path, mode)
}

func setMode(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func manifestJSON(t *testing.T, doc map[string]any) string {
	t.Helper()
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const script = "#!/bin/sh\necho '{}'\n"

// bad is a setup with every footgun the checks know, but strict-unavailable.
type bad struct {
	opts                                 Options
	dir, manifest, bin, program, outside string
	sh                                   string // /bin/sh resolved
	policy, auditDir, auditLog           string
}

func badSetup(t *testing.T) *bad {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Folders the tools' user (nobody, as root) may enter: a finding
	// about them would hide the ones under test.
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	b := &bad{dir: dir}
	b.bin = filepath.Join(dir, "tools", "bin")
	for _, name := range []string{"fs_read_file", "raw", "openai", "forever", "notimeout"} {
		write(t, filepath.Join(b.bin, name), script, 0o755)
	}
	b.program = filepath.Join(b.bin, "fs_read_file")
	setMode(t, b.program, 0o777) // world-writable program
	setMode(t, b.bin, 0o777)     // world-writable folder
	outsideDir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b.outside = filepath.Join(outsideDir, "mytool")
	write(t, b.outside, script, 0o755)
	if b.sh, err = filepath.EvalSymlinks("/bin/sh"); err != nil {
		t.Fatal(err)
	}
	// Every program but fs_read_file and those outside tools/bin is pinned.
	sum, err := digest(filepath.Join(b.bin, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	tools := []any{
		map[string]any{"name": "fs_read_file", "command": []string{"./tools/bin/fs_read_file"}, "timeoutSec": 10},
		map[string]any{"name": "raw", "command": []string{"./tools/bin/raw"}, "sha256": sum, "timeoutSec": 10, "sandbox": map[string]any{"level": "none"}},
		map[string]any{"name": "openai", "command": []string{"./tools/bin/openai"}, "sha256": sum, "timeoutSec": 10, "envPassthrough": []string{"OPENAI_API_KEY", "LANG"}},
		map[string]any{"name": "shell", "command": []string{"/bin/sh", "-c", "cat"}, "timeoutSec": 10},
		map[string]any{"name": "forever", "command": []string{"./tools/bin/forever"}, "sha256": sum, "timeoutSec": 3600},
		map[string]any{"name": "notimeout", "command": []string{"./tools/bin/notimeout"}, "sha256": sum},
		map[string]any{"name": "outside", "command": []string{b.outside}, "timeoutSec": 10},
	}
	b.manifest = filepath.Join(dir, "tools.json")
	write(t, b.manifest, manifestJSON(t, map[string]any{"tools": tools}), 0o664) // group-writable
	b.policy = filepath.Join(dir, "policy.json")
	write(t, b.policy, `{"mode":"bypass"}`, 0o664)
	b.auditDir = filepath.Join(dir, "state")
	b.auditLog = filepath.Join(b.auditDir, "audit.jsonl")
	write(t, b.auditLog, "", 0o644) // readable by others
	setMode(t, b.auditDir, 0o777)   // open audit folder
	b.opts = Options{
		Manifest: b.manifest, Policy: b.policy, Audit: b.auditLog, HTTP: "0.0.0.0:8080",
		Getenv:      func(string) string { return "" },
		StrictCheck: func() error { return nil },
		Euid:        func() int { return 0 },
	}
	return b
}

type want struct {
	id      string
	sev     Severity
	subject string
}

func (b *bad) permFindings() []want {
	return []want{
		{PermToolBinary, Critical, "fs_read_file: " + b.program},
		{PermToolsFolder, Critical, b.bin},
		{PermManifest, Critical, b.manifest},
		{PermPolicy, Critical, b.policy},
		{PermAudit, Critical, b.auditDir},
		{PermAudit, Critical, b.auditLog},
	}
}

func (b *bad) otherFindings() []want {
	return []want{
		{ModeBypass, Critical, b.policy},
		{LevelNone, Warn, "raw"},
		{TerminalReachable, Warn, "raw"},
		{SecretsWithNetwork, Critical, "openai"},
		{CommandUnguarded, Warn, "shell"},
		{TimeoutMissing, Info, "notimeout"},
		{TimeoutLong, Warn, "forever"},
		{BinaryOutsideToolbin, Info, "outside: " + b.outside},
		{BinaryOutsideToolbin, Info, "shell: " + b.sh},
		{BinaryUnpinned, Info, "fs_read_file: " + b.program},
		{BinaryUnpinned, Info, "outside: " + b.outside},
		{BinaryUnpinned, Info, "shell: " + b.sh},
		{MCPHTTPNoAuth, Critical, "-http 0.0.0.0:8080"},
	}
}

// find returns the findings of r with id and subject.
func find(r *Report, id, subject string) []*Finding {
	var out []*Finding
	for _, f := range r.Findings {
		if f.ID == id && f.Subject == subject {
			out = append(out, f)
		}
	}
	return out
}

func dump(r *Report) string {
	var sb strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&sb, "  %s %s fixed=%v [%s] %s (fix: %s)\n", f.Severity, f.ID, f.Fixed, f.Subject, f.Found, f.Fix)
	}
	return sb.String()
}

func TestBadSetup(t *testing.T) {
	b := badSetup(t)
	r, err := Run(b.opts)
	if err != nil {
		t.Fatal(err)
	}
	ws := append(b.permFindings(), b.otherFindings()...)
	ws = append(ws, want{ManifestInvalid, Critical, b.manifest})
	for _, w := range ws {
		fs := find(r, w.id, w.subject)
		if len(fs) != 1 || fs[0].Severity != w.sev || fs[0].Found == "" || fs[0].Fix == "" || fs[0].Fixed {
			t.Errorf("want one %s %s [%s], got %d:\n%s", w.sev, w.id, w.subject, len(fs), dump(r))
		}
	}
	if len(r.Findings) != len(ws) {
		t.Errorf("%d findings, want %d:\n%s", len(r.Findings), len(ws), dump(r))
	}
	// Worst first, counted.
	if !slices.IsSortedFunc(r.Findings, func(a, b *Finding) int { return a.Severity.rank() - b.Severity.rank() }) {
		t.Errorf("not sorted by severity:\n%s", dump(r))
	}
	if r.Summary != (Summary{Critical: 10, Warn: 4, Info: 6}) || !r.Critical() {
		t.Errorf("summary %+v", r.Summary)
	}
	// Texts that matter.
	for _, c := range []struct{ id, subject, found, fix string }{
		{PermToolBinary, "fs_read_file: " + b.program, "mode 0777: writable by group and others", "chmod go-w " + b.program},
		{PermManifest, b.manifest, "mode 0664: the manifest is writable by group", "chmod go-w " + b.manifest},
		{PermAudit, b.auditDir, "mode 0777", "chmod 700 " + b.auditDir},
		{PermAudit, b.auditLog, "readable by group and others (it must be 0600: agentcli refuses to open it)", "chmod 600 " + b.auditLog},
		{ManifestInvalid, b.manifest, "writable by group or others", "correct each problem"},
		{SecretsWithNetwork, "openai", "passes OPENAI_API_KEY and can reach the network (level limits)", `"level": "strict"`},
		{CommandUnguarded, "shell", "its program sh is a shell or interpreter", `"x-command": true`},
		{TimeoutLong, "forever", "timeoutSec 3600", "600"},
	} {
		fs := find(r, c.id, c.subject)
		if len(fs) != 1 || !strings.Contains(fs[0].Found, c.found) || !strings.Contains(fs[0].Fix, c.fix) {
			t.Errorf("%s [%s]: want found %q and fix %q:\n%s", c.id, c.subject, c.found, c.fix, dump(r))
		}
	}
	if strings.Contains(find(r, ManifestInvalid, b.manifest)[0].Found, "\n") {
		t.Error("manifest-invalid is not one line")
	}
	// Exactly the permission findings are fixable.
	for _, f := range r.Findings {
		if f.Fixable != strings.HasPrefix(f.ID, "perm-") {
			t.Errorf("%s [%s]: fixable %v", f.ID, f.Subject, f.Fixable)
		}
	}
}

func TestRunFix(t *testing.T) {
	b := badSetup(t)
	r, err := RunFix(b.opts)
	if err != nil {
		t.Fatal(err)
	}
	// The modes after.
	for path, m := range map[string]fs.FileMode{
		b.program: 0o755, b.bin: 0o755, b.manifest: 0o644, b.policy: 0o644, b.auditDir: 0o700, b.auditLog: 0o600,
	} {
		if got := mode(t, path); got != m {
			t.Errorf("%s: mode %04o after -fix, want %04o", path, got, m)
		}
	}
	// Nothing else changed.
	for _, p := range []string{filepath.Join(b.bin, "raw"), b.outside, b.dir} {
		if got := mode(t, p); got != 0o755 && !(p == b.dir && got == 0o700) {
			t.Errorf("%s: mode %04o changed", p, got)
		}
	}
	// The changes reported.
	wantChanges := []Change{
		{PermToolBinary, b.program, "0777", "0755"},
		{PermToolsFolder, b.bin, "0777", "0755"},
		{PermManifest, b.manifest, "0664", "0644"},
		{PermPolicy, b.policy, "0664", "0644"},
		{PermAudit, b.auditDir, "0777", "0700"},
		{PermAudit, b.auditLog, "0644", "0600"},
	}
	for _, c := range wantChanges {
		if !slices.Contains(r.Fixed, c) {
			t.Errorf("change %+v not reported in %+v", c, r.Fixed)
		}
	}
	if len(r.Fixed) != len(wantChanges) {
		t.Errorf("changes %+v", r.Fixed)
	}
	// The permission findings are there, fixed; the re-run shows the
	// others, and manifest-invalid is gone (permissions were its only
	// causes: the manifest loads now).
	for _, w := range b.permFindings() {
		fs := find(r, w.id, w.subject)
		if len(fs) != 1 || !fs[0].Fixed {
			t.Errorf("want %s [%s] fixed:\n%s", w.id, w.subject, dump(r))
		}
	}
	for _, w := range b.otherFindings() {
		fs := find(r, w.id, w.subject)
		if len(fs) != 1 || fs[0].Fixed || fs[0].Severity != w.sev {
			t.Errorf("want %s %s [%s] to remain:\n%s", w.sev, w.id, w.subject, dump(r))
		}
	}
	if fs := find(r, ManifestInvalid, b.manifest); len(fs) != 0 {
		t.Errorf("manifest-invalid remains:\n%s", dump(r))
	}
	if n := len(b.permFindings()) + len(b.otherFindings()); len(r.Findings) != n {
		t.Errorf("%d findings, want %d:\n%s", len(r.Findings), n, dump(r))
	}
	// Fixed ones come last and are not counted.
	if !slices.IsSortedFunc(r.Findings, func(a, b *Finding) int {
		if a.Fixed != b.Fixed {
			if a.Fixed {
				return 1
			}
			return -1
		}
		return a.Severity.rank() - b.Severity.rank()
	}) {
		t.Errorf("order:\n%s", dump(r))
	}
	if r.Summary != (Summary{Critical: 3, Warn: 4, Info: 6}) {
		t.Errorf("summary %+v", r.Summary)
	}
	// A second -fix has nothing left to do.
	r2, err := RunFix(b.opts)
	if err != nil || len(r2.Fixed) != 0 || r2.Summary != r.Summary {
		t.Errorf("second -fix: %v, %+v, %+v", err, r2.Fixed, r2.Summary)
	}
}

// clean writes a setup that should pass without a critical or warn
// finding: its tools folder is a symbolic link, as in a checkout whose
// programs are built elsewhere.
func cleanSetup(t *testing.T, tool map[string]any, pol any) Options {
	t.Helper()
	dir := t.TempDir()
	built := t.TempDir()
	write(t, filepath.Join(built, "bin", "get_time"), script, 0o755)
	if err := os.Symlink(built, filepath.Join(dir, "tools")); err != nil {
		t.Fatal(err)
	}
	sum, err := digest(filepath.Join(built, "bin", "get_time"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := map[string]any{
		"name": "get_time", "command": []string{"./tools/bin/get_time"}, "timeoutSec": 5, "sha256": sum,
		"sandbox": map[string]any{"level": "limits"},
	}
	for k, v := range tool {
		if v == nil {
			delete(t0, k)
		} else {
			t0[k] = v
		}
	}
	doc := map[string]any{"tools": []any{t0}}
	if pol != nil {
		doc["policy"] = pol
	}
	write(t, filepath.Join(dir, "tools.json"), manifestJSON(t, doc), 0o644)
	write(t, filepath.Join(dir, "state", "audit.jsonl"), "", 0o600)
	setMode(t, filepath.Join(dir, "state"), 0o700)
	return Options{
		Manifest: filepath.Join(dir, "tools.json"), Audit: filepath.Join(dir, "state", "audit.jsonl"),
		HTTP: "127.0.0.1:8080", TokenFile: "tokens", Getenv: func(string) string { return "" }, StrictCheck: func() error { return nil },
		Euid: func() int { return 0 },
	}
}

var defaultPolicy = map[string]any{"mode": "default", "rules": []any{map[string]any{"tool": "get_time", "decision": "allow"}}}

func TestCleanSetup(t *testing.T) {
	opts := cleanSetup(t, nil, defaultPolicy)
	r, err := Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 0 || r.Summary != (Summary{}) || r.Critical() {
		t.Errorf("findings in a clean setup:\n%s", dump(r))
	}
	if r.Version != 1 || r.Manifest != opts.Manifest || r.Fixed == nil {
		t.Errorf("report %+v", r)
	}
	// -fix changes nothing.
	r, err = RunFix(opts)
	if err != nil || len(r.Fixed) != 0 || len(r.Findings) != 0 {
		t.Errorf("-fix on a clean setup: %v\n%+v\n%s", err, r.Fixed, dump(r))
	}
}

// A machine where tools cannot be contained is critical; an ordinary
// user's pid namespace backend, with one process bound for all calls, is
// worth knowing; a cgroup is nothing to report. The report names it.
func TestContainment(t *testing.T) {
	for _, c := range []struct {
		id, how     string
		err, mounts error
		want        string
	}{
		{"cgroup-v1", "cgroup v1 pids (/sys/fs/cgroup/pids/x)", nil, nil, ""},
		{"none", "", errors.New("no cgroup, no user namespace"), nil, "critical " + Uncontained},
		{"pid-namespace", "pid namespace per call", nil, nil, "info " + ContainmentShared},
		{"cgroup-v1", "cgroup v1 pids (/sys/fs/cgroup/pids/x)", nil, errors.New("a mount namespace: operation not permitted"), "warn " + MountsUnavailable},
	} {
		opts := cleanSetup(t, nil, defaultPolicy)
		opts.ContainmentID, opts.Containment, opts.ContainmentErr, opts.MountsErr = c.id, c.how, c.err, c.mounts
		r, err := Run(opts)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(ids(r), "\n")
		if c.id == "pid-namespace" && os.Geteuid() == 0 {
			c.want = "" // root's tools run as users of their own
		}
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("%s: findings %q, want %q", c.id, got, c.want)
		}
		if c.err == nil && r.Containment != c.how || c.err != nil && !strings.Contains(r.Containment, c.err.Error()) {
			t.Errorf("%s: report names the containment %q", c.id, r.Containment)
		}
	}
}

// A program the tool's user cannot run is critical, with the loader's fix.
func TestProgramUnrunnable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the tool runs as nobody")
	}
	opts := cleanSetup(t, nil, defaultPolicy)
	prog, err := filepath.EvalSymlinks(filepath.Join(filepath.Dir(opts.Manifest), "tools", "bin", "get_time"))
	if err != nil {
		t.Fatal(err)
	}
	setMode(t, prog, 0o700)
	r, err := Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	fs := find(r, ProgramUnrunnable, "get_time: "+prog)
	if len(fs) != 1 || fs[0].Severity != Critical || !strings.Contains(fs[0].Found, "a user of its own") || !strings.Contains(fs[0].Fix, "chmod a+rx "+prog) {
		t.Errorf("want one critical %s naming nobody and the fix:\n%s", ProgramUnrunnable, dump(r))
	}
}

func ids(r *Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, string(f.Severity)+" "+f.ID+" ["+f.Subject+"]")
	}
	return out
}

func TestToolSettings(t *testing.T) {
	unavailable := errors.New("Landlock is not available (kernel 5.4)")
	tests := []struct {
		name   string
		tool   map[string]any
		pol    any
		strict error
		auth   map[string]string
		want   []string // "severity id [subject]"
	}{
		{"no policy", nil, nil, nil, nil, []string{"warn no-policy [MANIFEST]"}},
		{"bypass in the manifest", nil, map[string]any{"mode": "bypass"}, nil, nil, []string{`critical mode-bypass [MANIFEST ("policy")]`}},
		{"strict and the machine can", map[string]any{"sandbox": map[string]any{"level": "strict"}}, defaultPolicy, nil, nil, nil},
		{"strict and the machine cannot", map[string]any{"sandbox": map[string]any{"level": "strict"}}, defaultPolicy, unavailable, nil,
			[]string{"critical strict-unavailable [get_time]"}},
		{"a secret under strict without network", map[string]any{"sandbox": map[string]any{"level": "strict"}, "envPassthrough": []string{"GITHUB_TOKEN"}}, defaultPolicy, nil, nil, nil},
		{"a secret under strict with network", map[string]any{"sandbox": map[string]any{"level": "strict", "network": true}, "envPassthrough": []string{"github_token"}}, defaultPolicy, nil, nil,
			[]string{"critical secrets-with-network [get_time]"}},
		{"a secret at level none", map[string]any{"sandbox": map[string]any{"level": "none"}, "envPassthrough": []string{"DB_PASSWORD"}}, defaultPolicy, nil, nil,
			[]string{"critical secrets-with-network [get_time]", "warn level-none [get_time]", "warn terminal-reachable [get_time]"}},
		{"limits as an ordinary user", map[string]any{"sandbox": map[string]any{"level": "limits"}}, defaultPolicy, nil, map[string]string{"euid": "1000"},
			[]string{"warn terminal-reachable [get_time]"}},
		{"user root as an ordinary user", map[string]any{"sandbox": map[string]any{"level": "limits", "user": "root"}}, defaultPolicy, nil, map[string]string{"euid": "1000"},
			[]string{"warn terminal-reachable [get_time]"}},
		{"no secret", map[string]any{"envPassthrough": []string{"LANG", "TZ"}}, defaultPolicy, nil, nil, nil},
		{"a command property", map[string]any{"schema": map[string]any{"type": "object", "properties": map[string]any{"Cmd": map[string]any{"type": "string"}}}}, defaultPolicy, nil, nil,
			[]string{"warn command-unguarded [get_time]"}},
		{"a guarded command property", map[string]any{"schema": map[string]any{"type": "object", "properties": map[string]any{"command": map[string]any{"type": "string", "x-command": true}}}}, defaultPolicy, nil, nil, nil},
		{"a nested command property is not top-level", map[string]any{"schema": map[string]any{"type": "object", "properties": map[string]any{"opts": map[string]any{"type": "object", "properties": map[string]any{"script": map[string]any{"type": "string"}}}}}}, defaultPolicy, nil, nil, nil},
		{"timeout at the limit", map[string]any{"timeoutSec": 600}, defaultPolicy, nil, nil, nil},
		{"timeout over the limit", map[string]any{"timeoutSec": 601}, defaultPolicy, nil, nil, []string{"warn timeout-long [get_time]"}},
		{"no timeout", map[string]any{"timeoutSec": 0}, defaultPolicy, nil, nil, []string{"info timeout-missing [get_time]"}},
		{"auth by token file", nil, defaultPolicy, nil, map[string]string{"http": "0.0.0.0:8080", "token": "tokens.txt"}, nil},
		{"auth by the environment", nil, defaultPolicy, nil, map[string]string{"http": "[::]:8080", "AGENTCLI_MCP_JWT_SECRET": "s"}, nil},
		{"no auth on all interfaces", nil, defaultPolicy, nil, map[string]string{"http": ":8080"}, []string{"critical mcp-http-no-auth [-http :8080]"}},
		{"a blank environment variable is no auth", nil, defaultPolicy, nil, map[string]string{"http": "10.0.0.1:80", "AGENTCLI_MCP_TOKEN": " "}, []string{"critical mcp-http-no-auth [-http 10.0.0.1:80]"}},
		{"no auth configured on loopback (agentcli makes a token)", nil, defaultPolicy, nil, map[string]string{"http": "[::1]:8080"}, nil},
		{"-no-auth on loopback", nil, defaultPolicy, nil, map[string]string{"http": "[::1]:8080", "noauth": "1"}, []string{"warn mcp-http-loopback-no-auth [-http [::1]:8080]"}},
		{"a token on loopback", nil, defaultPolicy, nil, map[string]string{"http": "127.0.0.1:8080", "token": "tokens"}, nil},
		{"strict as root", map[string]any{"sandbox": map[string]any{"level": "strict", "user": "root"}}, defaultPolicy, nil, nil,
			[]string{"warn strict-root [get_time]"}},
		{"resident, strict, no secret", map[string]any{"resident": map[string]any{}, "sandbox": map[string]any{"level": "strict"}}, defaultPolicy, nil, nil, nil},
		{"resident with a secret", map[string]any{"resident": map[string]any{"maxCalls": 100}, "sandbox": map[string]any{"level": "strict"}, "envPassthrough": []string{"GITHUB_TOKEN"}}, defaultPolicy, nil, nil,
			[]string{"warn resident-secrets [get_time]"}},
		{"resident at level none", map[string]any{"resident": map[string]any{}, "sandbox": map[string]any{"level": "none"}}, defaultPolicy, nil, nil,
			[]string{"critical resident-level-none [get_time]", "warn level-none [get_time]", "warn terminal-reachable [get_time]"}},
		{"limits as root", map[string]any{"sandbox": map[string]any{"level": "limits", "user": "root"}}, defaultPolicy, nil, nil,
			[]string{"warn terminal-reachable [get_time]"}},
		{"limits as a named user", map[string]any{"sandbox": map[string]any{"level": "limits", "user": "nobody"}}, defaultPolicy, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := cleanSetup(t, tt.tool, tt.pol)
			opts.StrictCheck = func() error { return tt.strict }
			if tt.auth["euid"] != "" {
				opts.Euid = func() int { return 1000 }
			} else if tt.auth != nil {
				opts.HTTP = tt.auth["http"]
				opts.TokenFile = tt.auth["token"]
				opts.NoAuth = tt.auth["noauth"] != ""
				opts.Getenv = func(k string) string { return tt.auth[k] }
			}
			r, err := Run(opts)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, strings.ReplaceAll(w, "MANIFEST", opts.Manifest))
			}
			if got := ids(r); !slices.Equal(got, want) {
				t.Errorf("got %q, want %q\n%s", got, want, dump(r))
			}
			if tt.strict != nil && !strings.Contains(r.Findings[0].Found, tt.strict.Error()) {
				t.Errorf("strict-unavailable does not say what is missing: %s", r.Findings[0].Found)
			}
		})
	}
}

func TestInterpreters(t *testing.T) {
	for _, tt := range []struct {
		command []string
		want    bool
	}{
		{[]string{"/usr/bin/env", "-i", "LANG=C", "python3", "x.py"}, true},
		{[]string{"/usr/bin/bash", "-c"}, true},
		{[]string{"/usr/local/bin/node", "x.js"}, true},
		{[]string{"/usr/bin/cat"}, false},
		{[]string{"/usr/bin/env", "cat"}, false},
	} {
		got := commandTaking(&tool{command: tt.command, real: tt.command[0]}) != ""
		if got != tt.want {
			t.Errorf("%q: command-taking %v, want %v", tt.command, got, tt.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	got := oneLine("2 problems:\n  tools[0] \"a\": bad\n  tools[1] \"b\": worse\n")
	if want := `2 problems: tools[0] "a": bad; tools[1] "b": worse`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestStickyFolders(t *testing.T) {
	// A sticky, world-writable tools folder is excepted, as manifest.Load
	// excepts it; a sticky audit folder is reported but never chmod-ed.
	opts := cleanSetup(t, nil, defaultPolicy)
	dir := filepath.Dir(opts.Manifest)
	bin, err := filepath.EvalSymlinks(filepath.Join(dir, "tools", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	setMode(t, bin, 0o777|fs.ModeSticky)
	state := filepath.Join(dir, "state")
	setMode(t, state, 0o777|fs.ModeSticky)
	r, err := RunFix(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(r); !slices.Equal(got, []string{"critical perm-audit [" + state + "]"}) || r.Findings[0].Fixable || !strings.Contains(r.Findings[0].Fix, "-audit") {
		t.Errorf("got %q\n%s", got, dump(r))
	}
	if fi, _ := os.Stat(state); fi.Mode() != fs.ModeDir|fs.ModeSticky|0o777 {
		t.Errorf("sticky audit folder changed: %v", fi.Mode())
	}
}

func TestManifestFolder(t *testing.T) {
	// A manifest folder holding no tool program is perm-manifest's.
	opts := cleanSetup(t, map[string]any{"command": []string{"/bin/true"}, "sha256": nil}, defaultPolicy)
	dir := filepath.Dir(opts.Manifest)
	setMode(t, dir, 0o775)
	r, err := Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	if fs := find(r, PermManifest, dir); len(fs) != 1 || !strings.Contains(fs[0].Found, "replace the manifest") {
		t.Errorf("manifest folder:\n%s", dump(r))
	}
	// Beneath it, it is perm-tools-folder's, once.
	opts = cleanSetup(t, nil, defaultPolicy)
	dir = filepath.Dir(opts.Manifest)
	setMode(t, dir, 0o775)
	r, err = Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(r); !slices.Equal(got, []string{"critical manifest-invalid [" + opts.Manifest + "]", "critical perm-tools-folder [" + dir + "]"}) {
		t.Errorf("got %q", got)
	}
}

func TestRunErrors(t *testing.T) {
	if _, err := Run(Options{Manifest: filepath.Join(t.TempDir(), "missing.json")}); err == nil {
		t.Error("a missing manifest is no error")
	}
	opts := cleanSetup(t, nil, defaultPolicy)
	opts.Policy = filepath.Join(t.TempDir(), "missing.json")
	if _, err := Run(opts); err == nil {
		t.Error("a missing policy file is no error")
	}
	// A manifest that is not JSON is a finding, and the rest still runs.
	write(t, opts.Manifest, "{nope", 0o666)
	opts.Policy = ""
	r, err := Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(r); len(got) != 3 || got[0] != "critical manifest-invalid ["+opts.Manifest+"]" || got[1] != "critical perm-manifest ["+opts.Manifest+"]" {
		t.Errorf("got %q", got)
	}
}

// TestSchemaIDs keeps the schema's list of check ids and the package's
// the same.
func TestSchemaIDs(t *testing.T) {
	var doc struct {
		Defs struct {
			Finding struct {
				Properties struct {
					ID struct {
						Enum []string `json:"enum"`
					} `json:"id"`
				} `json:"properties"`
			} `json:"finding"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(schemas.SecurityAudit, &doc); err != nil {
		t.Fatal(err)
	}
	all := []string{ManifestInvalid, PermToolBinary, PermToolsFolder, PermManifest, PermPolicy, PermAudit, ModeBypass,
		NoPolicy, LevelNone, SecretsWithNetwork, CommandUnguarded, TimeoutMissing, TimeoutLong, BinaryOutsideToolbin,
		BinaryUnpinned, StrictUnavailable, MCPHTTPNoAuth, Uncontained, ContainmentShared, ProgramUnrunnable,
		MCPHTTPLoopbackNoAuth, StrictRoot, TerminalReachable, MountsUnavailable, ResidentSecrets, ResidentLevelNone}
	if got := doc.Defs.Finding.Properties.ID.Enum; !slices.Equal(got, all) {
		t.Errorf("schema ids %q, want %q", got, all)
	}
}

func TestSameUserAsHost(t *testing.T) {
	for _, c := range []struct {
		level, user string
		euid        int
		want        string
	}{
		{"limits", "root", 1000, "your own user"}, // an ordinary user cannot switch
		{"limits", "", 1000, "your own user"},
		{"limits", "root", 0, "root"},
		{"limits", "0:0", 0, "root"},
		{"limits", "", 0, ""}, // a user of the call's own
		{"limits", "nobody", 0, ""},
		{"none", "", 0, "root"},
	} {
		if got := sameUserAsHost(c.level, c.user, c.euid); got != c.want {
			t.Errorf("sameUserAsHost(%q, %q, %d) = %q, want %q", c.level, c.user, c.euid, got, c.want)
		}
	}
}
