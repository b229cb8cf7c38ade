//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/toolhost/toolhost/internal/gobuild"
	"github.com/toolhost/toolhost/internal/toolcheck"
	"github.com/toolhost/toolhost/schemas"
)

// brokenTools maps each tool of testdata/brokentools, one bug each, to the
// check that must find it.
var brokenTools = map[string]string{
	"empty_stdout":        toolcheck.StdoutEmpty,
	"not_json":            toolcheck.StdoutNotJSON,
	"two_values":          toolcheck.StdoutTwoValues,
	"trailing_text":       toolcheck.StdoutTrailing,
	"bad_utf8":            toolcheck.StdoutInvalidUTF8,
	"schema_mismatch":     toolcheck.OutputSchema,
	"envelope_on_stdout":  toolcheck.EnvelopeOnStdout,
	"envelope_exit_zero":  toolcheck.EnvelopeExitZero,
	"silent_failure":      toolcheck.FailureSilent,
	"no_envelope":         toolcheck.FailureNoEnvelope,
	"reserved_code":       toolcheck.FailureBadCode,
	"crash_signal":        toolcheck.CrashSignal,
	"slow":                toolcheck.Timeout,
	"ignores_sigterm":     toolcheck.SigtermIgnored,
	"leaves_child":        toolcheck.ProcessLeftover,
	"over_cap":            toolcheck.OutputOverCap,
	"near_cap":            toolcheck.OutputNearCap,
	"stderr_flood":        toolcheck.StderrFlood,
	"escapes":             toolcheck.OutputEscapes,
	"writes_readonly":     toolcheck.ReadOnlyChanged,
	"needs_env":           toolcheck.EnvMissing,
	"no_description":      toolcheck.NoDescription,
	"arg_no_description":  toolcheck.ArgNoDescription,
	"arg_no_type":         toolcheck.SchemaNoType,
	"contradictory_hints": toolcheck.Annotations,
	"accepts_invalid":     toolcheck.InvalidAccepted,
	"flaky":               toolcheck.Flaky,
	"stdout_on_failure":   toolcheck.FailureStdout,
	"resident_oneshot":    toolcheck.ResidentMode,
	"memory_hog":          toolcheck.MemoryLimit,
	"bad_interpreter":     toolcheck.LaunchFailed,
	"denied":              toolcheck.RunRefused,
	"no_valid_input":      toolcheck.NoValidInput,
}

// toolTestReport parses and validates a -json report against its
// published schema.
func toolTestReport(t *testing.T, out string) *toolcheck.Report {
	t.Helper()
	c := jsonschema.NewCompiler()
	const url = "https://toolhost.dev/schemas/tooltest-report.schema.json"
	if err := c.AddResource(url, bytes.NewReader(schemas.ToolTestReport)); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out)
	}
	if err := schema.Validate(v); err != nil {
		t.Fatalf("report does not match its schema: %#v", err)
	}
	var rep toolcheck.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	return &rep
}

// Every tool of the corpus is found out by its check, and by no other;
// the report is valid against its schema, and the exit status says an
// error was found.
func TestToolTestFindsEveryBug(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("API_TOKEN", "") // needs_env must not find it either way
	os.Unsetenv("API_TOKEN")
	code, out, errs := runIn(t, "../..", "tool", "test", "-tools", "testdata/brokentools/tools.json",
		"-json", "-runs", "2", "-audit", filepath.Join(dir, "audit.jsonl"))
	if code != exitFailed {
		t.Fatalf("exit %d, want %d (errors found)\n%s", code, exitFailed, errs)
	}
	rep := toolTestReport(t, out)
	if got := len(rep.Tools); got != len(brokenTools) {
		t.Errorf("report has %d tools, want %d", got, len(brokenTools))
	}
	for _, tr := range rep.Tools {
		want, ok := brokenTools[tr.Name]
		if !ok {
			t.Errorf("%s: not in the test's table", tr.Name)
			continue
		}
		var ids []string
		for _, f := range tr.Findings {
			ids = append(ids, f.ID)
			if f.ID == want && f.Input == nil && !strings.HasPrefix(want, "manifest.") && want != toolcheck.LaunchFailed && want != toolcheck.RunRefused && want != toolcheck.NoValidInput && want != toolcheck.ResidentMode {
				t.Errorf("%s: finding %s names no input", tr.Name, f.ID)
			}
		}
		if want == toolcheck.ProcessLeftover && os.Geteuid() != 0 {
			want = "" // not counted in a pid namespace: listed as skipped
			if !slices.ContainsFunc(tr.Skipped, func(s toolcheck.Skipped) bool { return s.Check == toolcheck.ProcessLeftover }) {
				t.Errorf("%s: process.leftover neither found nor listed as skipped", tr.Name)
			}
		}
		if want == "" && len(ids) == 0 {
			continue
		}
		if len(ids) != 1 || ids[0] != want {
			t.Errorf("%s: found %v, want exactly [%s]", tr.Name, ids, want)
		}
	}
	if rep.Errors == 0 || rep.Warnings == 0 || rep.Errors+rep.Warnings != countFindings(rep) {
		t.Errorf("errors %d, warnings %d: want both counted", rep.Errors, rep.Warnings)
	}
}

func countFindings(rep *toolcheck.Report) int {
	n := 0
	for _, t := range rep.Tools {
		n += len(t.Findings)
	}
	return n
}

// The bundled toolbelt passes with no error and no warning, the same seed
// makes the same inputs, and the text report says so.
func TestToolTestToolbelt(t *testing.T) {
	dir := project(t)
	code, out, errs := runIn(t, dir, "tool", "test", "-json")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	rep := toolTestReport(t, out)
	if len(rep.Tools) != 5 || rep.Errors != 0 || rep.Warnings != 0 {
		t.Errorf("%d tools, %d errors, %d warnings; want 5, 0, 0\n%s", len(rep.Tools), rep.Errors, rep.Warnings, out)
	}
	_, again, _ := runIn(t, dir, "tool", "test", "-json", "fs_search")
	if inputs := toolTestReport(t, again).Tools[0].Inputs; inputs != rep.Tools[3].Inputs {
		t.Errorf("fs_search: %d inputs, then %d with the same seed", rep.Tools[3].Inputs, inputs)
	}
	code, text, _ := runIn(t, dir, "tool", "test", "get_time")
	if code != exitOK || !strings.Contains(text, "get_time: ok (") || !strings.Contains(text, "1 tool(s)") {
		t.Errorf("text report: exit %d\n%s", code, text)
	}
}

// Bad usage and a broken manifest exit 2 with a message naming the problem.
func TestToolTestUsage(t *testing.T) {
	dir := project(t)
	os.WriteFile(filepath.Join(dir, "broken.json"), []byte(`{"tools":[{"name":"x"}]}`), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"tool", "test", "no_such_tool"}, `no tool "no_such_tool"`},
		{[]string{"tool", "test", "-runs", "0"}, "-runs must be at least 1"},
		{[]string{"tool", "test", "-tools", "broken.json"}, "broken.json"},
		{[]string{"tool", "test", "-workspace-from", "missing"}, "-workspace-from missing: not a folder"},
		{[]string{"tool", "frobnicate"}, `unknown tool command "frobnicate"`},
		{[]string{"tool"}, "agentcli tool test"},
	} {
		code, out, errs := runIn(t, dir, tt.args...)
		if code != exitUsage || out != "" || !strings.Contains(errs, tt.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", tt.args, code, out, errs, tt.want)
		}
	}
}

// The schema's list of check ids is the checker's.
func TestToolTestSchemaListsEveryCheck(t *testing.T) {
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
	if err := json.Unmarshal(schemas.ToolTestReport, &doc); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(doc.Defs.Finding.Properties.ID.Enum))
	want := slices.Sorted(slices.Values(toolcheck.Checks))
	if !slices.Equal(got, want) {
		t.Errorf("schema lists %v\nchecker has %v", got, want)
	}
	covered := slices.Collect(maps.Values(brokenTools))
	for _, id := range toolcheck.Checks {
		if !slices.Contains(covered, id) {
			t.Errorf("check %s has no broken tool in testdata/brokentools", id)
		}
	}
}

// An ordinary user without a cgroup checks tools the same way: the
// toolbelt passes, bugs are found by their checks, and process.leftover,
// which a pid namespace hides, is listed as not checked rather than
// passed.
func TestUnprivilegedToolTest(t *testing.T) {
	dir, ws, env := unprivilegedProject(t)
	broken := filepath.Join(dir, "broken")
	os.MkdirAll(filepath.Join(broken, "tools", "bin"), 0o755)
	progs, err := os.ReadDir("../../testdata/brokentools/tools/bin")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range progs {
		if p.IsDir() {
			continue // __pycache__
		}
		copyExec(t, filepath.Join("../../testdata/brokentools/tools/bin", p.Name()), filepath.Join(broken, "tools", "bin", p.Name()))
	}
	data, err := os.ReadFile("../../testdata/brokentools/tools.json")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(broken, "tools.json"), data, 0o644)
	want := map[string]string{"crash_signal": toolcheck.CrashSignal, "ignores_sigterm": toolcheck.SigtermIgnored,
		"leaves_child": "", "memory_hog": toolcheck.MemoryLimit, "bad_interpreter": toolcheck.LaunchFailed}

	for _, c := range []struct {
		manifest string
		names    []string
		exit     int
	}{
		{filepath.Join(dir, "tools.json"), nil, exitOK},
		{filepath.Join(broken, "tools.json"), slices.Sorted(maps.Keys(want)), exitFailed},
	} {
		cmd := asUser(dir, env, append([]string{"tool", "test", "-json", "-tools", c.manifest}, c.names...)...)
		cmd.Dir = ws
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != c.exit {
			t.Fatalf("%s: exit %d, want %d\n%s%s", c.manifest, code, c.exit, out.String(), errb.String())
		}
		rep := toolTestReport(t, out.String())
		for _, tr := range rep.Tools {
			skipped := slices.ContainsFunc(tr.Skipped, func(s toolcheck.Skipped) bool { return s.Check == toolcheck.ProcessLeftover })
			if !skipped && tr.Name != "bad_interpreter" {
				t.Errorf("%s: process.leftover not listed as skipped in a pid namespace", tr.Name)
			}
			if c.names == nil {
				if len(tr.Findings) > 0 {
					t.Errorf("toolbelt %s: %+v", tr.Name, tr.Findings)
				}
				continue
			}
			var ids []string
			for _, f := range tr.Findings {
				ids = append(ids, f.ID)
			}
			if w := want[tr.Name]; (w == "" && len(ids) > 0) || (w != "" && !slices.Equal(ids, []string{w})) {
				t.Errorf("%s: found %v, want [%s]", tr.Name, ids, w)
			}
		}
	}
}

// A resident tool is checked both ways: one whose resident answers
// differ from its one-shot ones, twice each way, is found (resident.mode,
// a warning: a flaky tool could do the same), one that answers alike
// passes, and one that does not start resident is an error (in the
// broken-tool corpus).
func TestToolTestResident(t *testing.T) {
	bin := t.TempDir()
	os.Chmod(bin, 0o755)
	for _, prog := range []string{"resident_differs", "noop_resident"} {
		if err := gobuild.Build("../..", filepath.Join(bin, prog), "./testdata/tools/"+prog); err != nil {
			t.Fatal(err)
		}
	}
	entry := func(name, prog string, args ...string) string {
		cmd, _ := json.Marshal(append([]string{filepath.Join(bin, prog)}, args...))
		return fmt.Sprintf(`{"name":%q,"command":%s,"resident":{},"description":"A test tool.",
			"schema":{"type":"object","properties":{"n":{"type":"integer","description":"A number."}},"additionalProperties":false}}`, name, cmd)
	}
	dir := project(t, entry("differs", "resident_differs"), entry("alike", "noop_resident"), entry("crashes", "resident_differs", "crash"),
		entry("garbage", "resident_differs", "garbage"))
	// A process that crashes: an error, and the rest of the resident runs
	// are not made (each would wait out the restart's backoff).
	code, out, errs := runIn(t, dir, "tool", "test", "-json", "crashes")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFailed, out, errs)
	}
	crashed := toolTestReport(t, out).Tools[0]
	if len(crashed.Findings) != 1 || crashed.Findings[0].ID != toolcheck.ResidentMode || crashed.Findings[0].Severity != toolcheck.Error ||
		!strings.Contains(crashed.Findings[0].Message, "crashed served resident") ||
		!slices.ContainsFunc(crashed.Skipped, func(s toolcheck.Skipped) bool { return strings.HasPrefix(s.Check, "resident runs") }) {
		t.Errorf("crashes: %+v", crashed)
	}
	// What it returns served resident is read as a one-shot run's is.
	code, out, errs = runIn(t, dir, "tool", "test", "-json", "garbage")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFailed, out, errs)
	}
	garbage := toolTestReport(t, out).Tools[0]
	if !slices.ContainsFunc(garbage.Findings, func(f toolcheck.Finding) bool {
		return f.ID == toolcheck.StdoutNotJSON && strings.HasSuffix(f.Why, ", served resident") && f.Did != nil
	}) {
		t.Errorf("garbage: %+v", garbage.Findings)
	}
	code, out, errs = runIn(t, dir, "tool", "test", "-json", "differs", "alike")
	if code != exitOK {
		t.Fatalf("exit %d, want %d (warnings only)\n%s%s", code, exitOK, out, errs)
	}
	for _, tr := range toolTestReport(t, out).Tools {
		var ids []string
		for _, f := range tr.Findings {
			ids = append(ids, f.ID)
			if f.ID == toolcheck.ResidentMode && (!strings.Contains(f.Message, "twice each way (success one-shot, failure ONE_SHOT_ONLY resident") ||
				f.Severity != toolcheck.Warning || f.Input == nil || !strings.HasSuffix(f.Why, ", served resident") || f.Did == nil) {
				t.Errorf("%s: %+v", tr.Name, f)
			}
		}
		want := map[string][]string{"differs": {toolcheck.ResidentMode}, "alike": nil}[tr.Name]
		if !slices.Equal(ids, want) {
			t.Errorf("%s: found %v, want %v", tr.Name, ids, want)
		}
	}
}

// What the report shows of a tool is redacted as any result is; a
// failure without a code is within the contract; and a tool annotated as
// acting on the outside world is run only when named.
func TestToolTestRedactsAndSpares(t *testing.T) {
	t.Setenv("API_TOKEN", "supersecretvalue123")
	schema := `"schema":{"type":"object","properties":{}},"description":"A test tool."`
	dir := project(t,
		`{"name":"leaky","command":["/bin/sh","-c","cat >/dev/null; echo \"auth failed for $API_TOKEN\" >&2; exit 1"],"envPassthrough":["API_TOKEN"],`+schema+`}`,
		`{"name":"codeless","command":["/bin/sh","-c","cat >/dev/null; echo '{\"error\":\"boom\"}' >&2; exit 1"],`+schema+`}`,
		`{"name":"mailer","command":["/bin/sh","-c","cat >/dev/null; echo '{}'"],"annotations":{"openWorldHint":true},`+schema+`}`,
	)
	code, out, errs := runIn(t, dir, "tool", "test", "-json", "leaky", "codeless")
	if code != exitFailed || strings.Contains(out, "supersecretvalue123") || !strings.Contains(out, "[REDACTED]") {
		t.Errorf("exit %d; the secret must be redacted:\n%s%s", code, out, errs)
	}
	for _, tr := range toolTestReport(t, out).Tools {
		if tr.Name == "codeless" && len(tr.Findings) != 0 {
			t.Errorf("a failure without a code is within the contract: %+v", tr.Findings)
		}
	}

	_, out, _ = runIn(t, dir, "tool", "test", "-json")
	for _, tr := range toolTestReport(t, out).Tools {
		if tr.Name == "mailer" && (tr.Runs != 0 || len(tr.Skipped) != 1 || !strings.Contains(tr.Skipped[0].Reason, "openWorldHint")) {
			t.Errorf("unnamed, an open-world tool is not run: %+v", tr)
		}
	}
	if _, out, _ = runIn(t, dir, "tool", "test", "-json", "mailer"); toolTestReport(t, out).Tools[0].Runs == 0 {
		t.Errorf("named, it is run:\n%s", out)
	}
}
