package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/toolhost/toolhost/internal/fakeoai"
)

// chatEnv clears the environment variables the agent loop reads, and
// gives it a configuration folder of the test's (the pre-stage cache's
// key goes there).
func chatEnv(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, k := range []string{"OAI_BASE_URL", "OAI_API_KEY", "OPENAI_API_KEY", "OAI_MODEL", "OAI_HTTP_TIMEOUT",
		"OAI_HTTP_RETRIES", "OAI_HTTP_RETRY_BACKOFF", "LLM_TEMPERATURE", "AGENTCLI_STATE_DIR"} {
		t.Setenv(k, "")
	}
}

// A goagent command line works unchanged, its pre-stage included: the
// first request has the seed messages and no tools, and the developer
// message its reply adds is in the loop's requests.
func TestGoagentCommandLine(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("the code word is heron"), 0o644)
	srv := fakeoai.New(t,
		fakeoai.Answer(`[{"role":"developer","content":"Quote files exactly."}]`),
		fakeoai.ToolCalls(fakeoai.Call{ID: "call_1", Name: "fs_read_file", Args: `{"path":"notes.txt"}`}),
		fakeoai.Answer("The code word is heron."),
	)
	code, out, errs := runIn(t, dir, "-prompt", "What is the code word in notes.txt?", "-tools", "./tools.json",
		"-base-url", srv.BaseURL(), "-api-key", "sk-compat-0000", "-model", "gpt-4o-mini", "-max-steps", "4",
		"-http-timeout", "30s", "-tool-timeout", "10", "-http-retries", "1", "-http-retry-backoff", "10ms", "-temp", "0.2",
		"--quiet")
	if code != 0 || out != "The code word is heron.\n" {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, out, errs)
	}
	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want the pre-stage's and two of the loop", len(reqs))
	}
	if b := reqs[0].Body(); b["tools"] != nil || len(reqs[0].Messages()) != 2 || b["temperature"] != 0.2 {
		t.Errorf("pre-stage request %s", reqs[0].Raw)
	}
	for _, r := range reqs {
		if r.Body()["model"] != "gpt-4o-mini" || r.Header.Get("Authorization") != "Bearer sk-compat-0000" {
			t.Errorf("request %s, Authorization %q", r.Raw, r.Header.Get("Authorization"))
		}
	}
	msgs := reqs[1].Messages()
	if len(msgs) != 3 || msgs[1]["role"] != "developer" || msgs[1]["content"] != "Quote files exactly." || msgs[2]["role"] != "user" {
		t.Errorf("the loop's first request %s", reqs[1].Raw)
	}
	tool := reqs[2].Messages()[4]
	if !strings.Contains(tool["content"].(string), "the code word is heron") {
		t.Errorf("tool message %v", tool)
	}
}

// Tools the policy asks about, with nobody to ask, are never a silent
// failure: a warning names them and the fixes before the first request
// (-quiet too), and a run in which such calls were refused says so and
// exits 3, whatever the model answered. With the fix applied the same
// command line runs the tool and exits 0.
func TestChatRefusedToolsAreLoud(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	script := func() *fakeoai.Server {
		return fakeoai.New(t,
			fakeoai.ToolCalls(fakeoai.Call{ID: "call_1", Name: "fs_write_file", Args: `{"path":"out.txt","content":"hi"}`}),
			fakeoai.Answer("I could not write the file."),
		)
	}
	srv := script()
	code, out, errs := runIn(t, dir, "-prep-enabled=false", "-prompt", "write hi to out.txt", "-tools", "tools.json", "-base-url", srv.BaseURL(), "-quiet")
	if code != exitNeedsApproval || out != "I could not write the file.\n" {
		t.Fatalf("exit %d (want %d), stdout %q\nstderr %s", code, exitNeedsApproval, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "warning: nobody can approve tool calls here (stdin is not a terminal), and the policy asks before running fs_write_file (rule writes asks: writing files changes the workspace)") ||
		!strings.Contains(lines[0], "-approve fs_write_file, add a policy rule that allows them, or use -mode bypass") ||
		!strings.HasPrefix(lines[1], "error: calls of fs_write_file were refused: they need approval and nobody could give it here") {
		t.Errorf("stderr:\n%s", errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.txt")); err == nil {
		t.Error("the refused call wrote the file")
	}

	srv = script()
	code, _, errs = runIn(t, dir, "-prep-enabled=false", "-prompt", "write hi to out.txt", "-tools", "tools.json", "-base-url", srv.BaseURL(), "-quiet", "-approve", "fs_write_file")
	if code != exitOK || strings.Contains(errs, "warning") || strings.Contains(errs, "refused") {
		t.Errorf("with -approve: exit %d, stderr %s", code, errs)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "out.txt")); string(data) != "hi" {
		t.Errorf("out.txt %q, want the approved call's write", data)
	}
}

// Environment variables fill what flags leave out; flags win.
func TestChatEnvironment(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	srv := fakeoai.New(t, fakeoai.Answer("one"), fakeoai.Answer("two"))
	t.Setenv("OAI_BASE_URL", srv.BaseURL()+"/")
	t.Setenv("OPENAI_API_KEY", "sk-from-openai-env")
	t.Setenv("OAI_MODEL", "env-model")
	t.Setenv("LLM_TEMPERATURE", "0.7")
	if code, out, errs := runIn(t, dir, "-prep-enabled=false", "-prompt", "hi", "-quiet"); code != 0 || out != "one\n" {
		t.Fatalf("exit %d %q %s", code, out, errs)
	}
	t.Setenv("OAI_API_KEY", "sk-from-oai-env")
	if code, _, errs := runIn(t, dir, "-prep-enabled=false", "-prompt", "hi", "-model", "flag-model", "-quiet"); code != 0 {
		t.Fatalf("exit %d %s", code, errs)
	}
	r := srv.Requests()
	if r[0].Body()["model"] != "env-model" || r[0].Body()["temperature"] != 0.7 || r[0].Header.Get("Authorization") != "Bearer sk-from-openai-env" {
		t.Errorf("first request: %s %v", r[0].Raw, r[0].Header)
	}
	if r[1].Body()["model"] != "flag-model" || r[1].Header.Get("Authorization") != "Bearer sk-from-oai-env" {
		t.Errorf("second request: %s %v", r[1].Raw, r[1].Header)
	}
}

func TestPrintConfig(t *testing.T) {
	chatEnv(t)
	t.Setenv("OAI_API_KEY", "sk-abcdefghijklmnop1234")
	t.Setenv("OAI_HTTP_TIMEOUT", "45")
	code, out, errs := runIn(t, t.TempDir(), "-print-config", "-top-p", "0.3", "-timeout", "20s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for k, want := range map[string]any{
		"apiKey": "****1234", "apiKeySource": "env", "model": "oss-gpt-20b", "modelSource": "default",
		"baseURL": "https://api.openai.com/v1", "httpTimeout": "45s", "httpTimeoutSource": "env",
		"toolTimeout": "20s", "toolTimeoutSource": "flag", "temperature": "(omitted: -top-p is set)", "topP": 0.3,
		"httpRetries": 2.0, "httpRetryBackoff": "500ms", "maxSteps": 8.0,
	} {
		if cfg[k] != want {
			t.Errorf("%s = %v, want %v", k, cfg[k], want)
		}
	}
	if strings.Contains(out, "abcdefgh") {
		t.Error("the key is printed")
	}
	// Where each value came from, exactly.
	var detail struct{ Sources map[string]string }
	json.Unmarshal([]byte(out), &detail)
	if detail.Sources["apiKey"] != "env OAI_API_KEY" || detail.Sources["httpTimeout"] != "env OAI_HTTP_TIMEOUT" || detail.Sources["toolTimeout"] != "flag -timeout" {
		t.Errorf("sources %v", detail.Sources)
	}
}

func TestChatUsage(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no prompt", []string{"-model", "m"}, 2, "-prompt is required"},
		{"both prompts", []string{"-prompt", "a", "-prompt-file", "f"}, 2, "mutually exclusive"},
		{"both pre-stage systems", []string{"-prompt", "a", "-prep-system", "x", "-prep-system-file", "f"}, 2, "-prep-system and -prep-system-file are mutually exclusive"},
		{"refinement without a state folder", []string{"-prompt", "a", "-state-refine"}, 2, "state refinement (-state-refine, -state-refine-text, -state-refine-file) needs -state-dir"},
		{"dry run without a prompt", []string{"-dry-run"}, 2, "-prompt is required"},
		{"pre-stage switch", []string{"-prompt", "a", "-prep-enabled=maybe"}, 2, `"maybe" is not true or false`},
		{"unknown flag", []string{"-prompt", "a", "-frobnicate"}, 2, "flag provided but not defined: -frobnicate"},
		{"positional", []string{"-prompt", "a", "extra"}, 2, `unexpected argument "extra"`},
		{"bad duration", []string{"-prompt", "a", "-http-timeout", "soon"}, 2, `"soon" is not a duration`},
		{"missing load file", []string{"-load-messages", "nope.json"}, 2, "-load-messages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runIn(t, dir, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d (want %d): %s", code, tt.code, errs)
			}
		})
	}
}

// Values goagent accepts, this loop accepts with goagent's outcome: sent
// as given, treated as unset, clamped or capped as goagent does, and said
// out loud where goagent is silent; manifests it cannot load end in exit
// 1, as goagent's do (a key it does not know stays refused, saying why).
func TestChatLenientLikeGoagent(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	run := func(replies []fakeoai.Reply, args ...string) (*fakeoai.Server, int, string) {
		t.Helper()
		srv := fakeoai.New(t, replies...)
		code, _, errs := runIn(t, dir, append([]string{"-prep-enabled=false", "-prompt", "a", "-base-url", srv.BaseURL(), "-http-retry-backoff", "1ms"}, args...)...)
		return srv, code, errs
	}
	ok := []fakeoai.Reply{fakeoai.Answer("fine")}

	if srv, code, errs := run(ok, "-temp", "3"); code != exitOK || srv.Requests()[0].Body()["temperature"] != 3.0 {
		t.Errorf("-temp 3: exit %d, %s\n%s", code, srv.Requests()[0].Raw, errs)
	}
	if srv, code, _ := run(ok, "-top-p", "1.5"); code != exitOK || srv.Requests()[0].Body()["top_p"] != 1.5 || srv.Requests()[0].Body()["temperature"] != nil {
		t.Errorf("-top-p 1.5: exit %d, %s", code, srv.Requests()[0].Raw)
	}
	if _, code, errs := run(ok, "-http-timeout", "0", "-tool-timeout", "-1"); code != exitOK {
		t.Errorf("timeouts of 0 count as unset: exit %d\n%s", code, errs)
	}
	if srv, code, _ := run([]fakeoai.Reply{{Status: 500, Body: `{"error":{"message":"boom"}}`}}, "-http-retries", "-1"); code != exitFailed || len(srv.Requests()) != 1 {
		t.Errorf("-http-retries -1 makes one attempt: exit %d, %d requests", code, len(srv.Requests()))
	}
	t.Setenv("OAI_HTTP_RETRIES", "many")
	if _, code, errs := run(ok); code != exitOK || !strings.Contains(errs, `warning: OAI_HTTP_RETRIES="many" is not a number; it is ignored, as goagent ignores it`) {
		t.Errorf("bad environment: exit %d\n%s", code, errs)
	}
	t.Setenv("OAI_HTTP_RETRIES", "")
	if srv, code, errs := run(nil, "-max-steps", "0"); code != exitFailed || len(srv.Requests()) != 0 || !strings.Contains(errs, "info: reached maximum steps (0); needs human review") {
		t.Errorf("-max-steps 0: exit %d, %d requests\n%s", code, len(srv.Requests()), errs)
	}
	code, out, errs := runIn(t, dir, "-print-config", "-max-steps", "40")
	if code != exitOK || !strings.Contains(out, `"maxSteps": 15`) || !strings.Contains(errs, "-max-steps 40 is more than goagent allows; using 15") {
		t.Errorf("-max-steps 40: exit %d\n%s%s", code, out, errs)
	}

	if _, code, errs := run(nil, "-tools", "missing.json"); code != exitFailed || !strings.Contains(errs, "error: tools manifest:") {
		t.Errorf("missing manifest: exit %d\n%s", code, errs)
	}
	os.WriteFile(filepath.Join(dir, "extra.json"), []byte(`{"tools":[{"name":"x","command":["/bin/true"],"sandbx":{"level":"strict"}}]}`), 0o644)
	if _, code, errs := run(nil, "-tools", "extra.json"); code != exitFailed || !strings.Contains(errs, `unknown key "sandbx": agentcli refuses keys it does not know (goagent ignores them)`) {
		t.Errorf("unknown key: exit %d\n%s", code, errs)
	}
}

func TestCapabilitiesAndVersion(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	code, out, _ := runIn(t, dir, "-capabilities", "-tools", "tools.json")
	if code != 0 || !strings.Contains(out, "Capabilities (enabled tools):\n- fs_list_dir: ") {
		t.Errorf("exit %d: %s", code, out)
	}
	code, out, _ = runIn(t, dir, "-capabilities")
	if code != 0 || out != "Capabilities (enabled tools):\nNo tools enabled\n" {
		t.Errorf("exit %d: %q", code, out)
	}
	code, out, _ = runIn(t, dir, "--version")
	if code != 0 || !strings.HasPrefix(out, "agentcli version v0.0.0-dev (commit ") {
		t.Errorf("exit %d: %s", code, out)
	}
}

func TestChatStepLimitAndTranscript(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	srv := fakeoai.New(t)
	loop := fakeoai.ToolCalls(fakeoai.Call{ID: "t", Name: "get_time", Args: `{}`})
	srv.Repeat = &loop
	save := filepath.Join(dir, "run", "messages.json")
	code, out, errs := runIn(t, dir, "-prep-enabled=false", "-prompt", "loop", "-tools", "tools.json", "-base-url", srv.BaseURL(), "-max-steps", "2", "-save-transcript", save, "-verbose")
	if code != 1 || out != "" || !strings.Contains(errs, "info: reached maximum steps (2); needs human review") {
		t.Fatalf("exit %d stdout %q: %s", code, out, errs)
	}
	// With -verbose, progress lines on stderr name the steps and the tool
	// calls (by default there are none, as in goagent).
	if !strings.Contains(errs, "step 1: 1 tool call(s)") || !strings.Contains(errs, "get_time (t): ok") {
		t.Errorf("progress: %s", errs)
	}
	fi, err := os.Stat(save)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("transcript: %v %v", fi, err)
	}
	// Resuming asks the model with the whole conversation.
	srv2 := fakeoai.New(t, fakeoai.Answer("done now"))
	code, out, errs = runIn(t, dir, "-prep-enabled=false", "-load-messages", save, "-prompt", "please finish", "-tools", "tools.json", "-base-url", srv2.BaseURL(), "-quiet")
	if code != 0 || out != "done now\n" {
		t.Fatalf("exit %d %q: %s", code, out, errs)
	}
	if n := len(srv2.Requests()[0].Messages()); n != 2+2*2+1 {
		t.Errorf("resumed with %d messages", n)
	}
}

func TestChatDebugRedacts(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	srv := fakeoai.New(t, fakeoai.Answer("not a plan"), fakeoai.Answer("ok"))
	code, _, errs := runIn(t, dir, "-prompt", "hi", "-base-url", srv.BaseURL(), "-api-key", "sk-very-secret-debug-key", "-debug")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// goagent's shape: the timeouts, then labelled, indented bodies.
	last := 0
	for _, want := range []string{"effective timeouts: http-timeout=30s source=default; prep-http-timeout=30s source=inherit; tool-timeout=30s source=default; timeout=30s source=default\n",
		"\n--- prep.request ---\n{\n", `"content": "hi"`, "\n--- prep.response ---\n", "\n--- chat.request step=1 ---\n", "\n--- chat.response step=1 ---\n"} {
		i := strings.Index(errs[last:], want)
		if i < 0 {
			t.Fatalf("no %q after byte %d of the debug output:\n%s", want, last, errs)
		}
		last += i
	}
	if strings.Contains(errs, "sk-very-secret") {
		t.Errorf("the key is in the debug output:\n%s", errs)
	}
}

// A tool that finds the API key (on agentcli's command line, in a file)
// cannot hand it to the model, or leave it in the audit log.
func TestChatToolResultsRedactTheKey(t *testing.T) {
	chatEnv(t)
	dir := project(t, `{"name":"echo","command":["/bin/sh","-c","cat"],"schema":{"type":"object"}}`)
	key := "sk-leaked-through-a-tool-0123"
	srv := fakeoai.New(t,
		fakeoai.ToolCalls(fakeoai.Call{ID: "c1", Name: "echo", Args: `{"found":"` + key + `"}`}),
		fakeoai.Answer("ok"),
	)
	code, _, errs := runIn(t, dir, "-prep-enabled=false", "-prompt", "hi", "-tools", "./tools.json", "-base-url", srv.BaseURL(), "-api-key", key, "-quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	tool := srv.Requests()[1].Messages()[3]
	if c, _ := tool["content"].(string); strings.Contains(c, key) || !strings.Contains(c, "[REDACTED]") {
		t.Errorf("the tool's result reached the model as %q", c)
	}
	if strings.Contains(string(auditOf(dir)), key) {
		t.Errorf("the key is in the audit log")
	}
}

func TestChatPromptFromStdin(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	srv := fakeoai.New(t, fakeoai.Answer("read it"))
	code, out, errs := runStdin(t, dir, "a prompt from stdin", "-prep-enabled=false", "-prompt-file", "-", "-base-url", srv.BaseURL(), "-quiet",
		"-system", "Be brief.", "-developer", "Prefer tools.")
	if code != 0 || out != "read it\n" {
		t.Fatalf("exit %d %q %s", code, out, errs)
	}
	msgs := srv.Requests()[0].Messages()
	if msgs[0]["content"] != "Be brief." || msgs[1]["role"] != "developer" || msgs[2]["content"] != "a prompt from stdin" {
		t.Errorf("messages %v", msgs)
	}
}

// Ctrl-C during a tool call stops the tool and exits with 130.
func TestChatInterrupt(t *testing.T) {
	chatEnv(t)
	dir := project(t, `{"name":"sleeper","command":["/bin/sleep","1234.5"]}`)
	srv := fakeoai.New(t, fakeoai.ToolCalls(fakeoai.Call{ID: "s", Name: "sleeper", Args: `{}`}))
	cmd := exec.Command(filepath.Join(built, "agentcli"), "-prep-enabled=false", "-prompt", "sleep", "-tools", "tools.json", "-base-url", srv.BaseURL())
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for the tool to run; the bound only keeps a broken build from
	// hanging the test.
	for deadline := time.Now().Add(30 * time.Second); !sleeperRunning(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the tool never started: %s", stderr.String())
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("exit %v: %s", err, stderr.String())
	}
	if sleeperRunning() {
		t.Error("the tool outlived the run")
	}
}

// Issue 12, item 9: the API key is not on agentcli's command line or in
// its environment as /proc shows them to a tool, given by flag or by
// environment variable. The tool here runs as root, so that it could read
// agentcli's environment too; it leaves what it read in a file, out of
// the redaction's reach.
func TestChatKeyHiddenFromProc(t *testing.T) {
	chatEnv(t)
	// agentcli is found by its command line: in a pid namespace of its
	// own, the tool's $PPID is 0. At level none, which has the host's
	// /proc (limits gives the tool its own namespace's, where agentcli is
	// not even listed), and as agentcli's user, it could read both.
	peek := `for f in /proc/[0-9]*/cmdline; do if grep -aq -- -prompt $f; then cat $f ${f%cmdline}environ; fi; done > seen-$$; cat >/dev/null; echo '{}'`
	dir := project(t, `{"name":"peek","command":["/bin/sh","-c",`+strconv.Quote(peek)+`],"sandbox":{"level":"none"}}`)
	out := dir
	key := "sk-hidden-from-proc-0123456789"
	for _, how := range []string{"flag", "env"} {
		t.Run(how, func(t *testing.T) {
			srv := fakeoai.New(t, fakeoai.ToolCalls(fakeoai.Call{ID: "p", Name: "peek", Args: `{}`}), fakeoai.Answer("ok"))
			args := []string{"-prep-enabled=false", "-prompt", "peek", "-tools", "tools.json", "-base-url", srv.BaseURL(), "-approve", "peek", "-quiet"}
			cmd := exec.Command(filepath.Join(built, "agentcli"), args...)
			cmd.Env = append(os.Environ(), "OAI_API_KEY=")
			if how == "flag" {
				cmd.Args = append(cmd.Args, "-api-key", key)
			} else {
				cmd.Env = append(os.Environ(), "OAI_API_KEY="+key)
			}
			cmd.Dir = dir
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			seen, _ := filepath.Glob(filepath.Join(out, "seen-*"))
			if len(seen) == 0 {
				t.Fatal("the tool did not run")
			}
			for _, f := range seen {
				b, _ := os.ReadFile(f)
				if !strings.Contains(string(b), "-prompt") {
					t.Fatalf("the tool did not read agentcli's command line: %q", b)
				}
				if strings.Contains(string(b), key) {
					t.Errorf("the tool read the key in /proc: %q", b)
				}
				os.Remove(f)
			}
			if r := srv.Requests(); len(r) == 0 || r[0].Header.Get("Authorization") != "Bearer "+key {
				t.Errorf("the key did not reach the endpoint")
			}
		})
	}
}

// -h or --help anywhere, even as a flag's value, prints the help on
// stdout and exits 0 without a request (goagent does the same).
func TestChatHelpAnywhere(t *testing.T) {
	chatEnv(t)
	srv := fakeoai.New(t, fakeoai.Answer("never"))
	for _, args := range [][]string{
		{"-prompt", "-h"},
		{"-prompt", "hi", "--help", "-base-url", srv.BaseURL()},
		{"-h", "-frobnicate"},
		{"-prompt", "hi", "-base-url", srv.BaseURL(), "-help"},
	} {
		code, out, errs := runIn(t, t.TempDir(), args...)
		if code != exitOK || !strings.HasPrefix(out, "Usage: agentcli -prompt TEXT [flags]") || !strings.Contains(out, "-max-steps") || errs != "" {
			t.Errorf("%q: exit %d, stdout %.80q, stderr %q", args, code, out, errs)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

// goagent's state and image flags are accepted with goagent's meaning:
// -dry-run prints the state plan, the state folder is made (and said to
// keep nothing), image settings show in -print-config (and a run says
// they change nothing), and GOAGENT_REDACT patterns are redacted.
func TestChatStateImagesRedact(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	st := filepath.Join(t.TempDir(), "st")
	code, out, errs := runIn(t, dir, "-prep-enabled=false", "-prompt", "a", "-dry-run", "-state-dir", st, "-tools", "tools.json")
	var plan struct {
		Hint struct {
			Sample string `json:"sample_short_sha"`
		}
		Plan struct {
			Action   string `json:"action"`
			StateDir string `json:"state_dir"`
			ScopeKey string `json:"scope_key"`
		}
	}
	json.Unmarshal([]byte(out), &plan)
	if code != exitOK || plan.Plan.Action != "restore_or_save" || plan.Plan.StateDir != st || len(plan.Plan.ScopeKey) != 64 || len(plan.Hint.Sample) != 8 {
		t.Errorf("dry run: exit %d, plan %+v\n%s%s", code, plan, out, errs)
	}
	if fi, err := os.Stat(st); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state folder: %v", err)
	}
	t.Setenv("AGENTCLI_STATE_DIR", "")
	if code, out, _ := runIn(t, dir, "-prep-enabled=false", "-prompt", "a", "-dry-run"); code != exitOK || !strings.Contains(out, `"action": "none"`) {
		t.Errorf("dry run without a folder: exit %d\n%s", code, out)
	}

	t.Setenv("OAI_IMAGE_MODEL", "img-from-env")
	code, out, _ = runIn(t, dir, "-print-config", "-image-size", "512x512")
	var cfg struct{ Image map[string]any }
	json.Unmarshal([]byte(out), &cfg)
	if code != exitOK || cfg.Image["size"] != "512x512" || cfg.Image["model"] != "img-from-env" || cfg.Image["baseURLSource"] != "inherit" || cfg.Image["n"] != 1.0 {
		t.Errorf("print-config image: exit %d %v", code, cfg.Image)
	}

	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("the code word is heron"), 0o644)
	srv := fakeoai.New(t,
		fakeoai.ToolCalls(fakeoai.Call{ID: "call_1", Name: "fs_read_file", Args: `{"path":"notes.txt"}`}),
		fakeoai.Answer("done"),
	)
	t.Setenv("GOAGENT_REDACT", "her[o]n;nothing-else")
	code, _, errs = runIn(t, dir, "-prep-enabled=false", "-prompt", "read notes.txt", "-tools", "tools.json", "-base-url", srv.BaseURL(),
		"-state-dir", st, "-image-size", "512x512")
	if code != exitOK || !strings.Contains(errs, "keeps no state between runs") || !strings.Contains(errs, "-image-* settings are shown by -print-config only") {
		t.Errorf("run: exit %d\n%s", code, errs)
	}
	if tool := srv.Requests()[1].Messages()[3]["content"].(string); strings.Contains(tool, "heron") || !strings.Contains(tool, "[REDACTED]") {
		t.Errorf("GOAGENT_REDACT: the tool message is %s", tool)
	}
}

// The agent loop's tools get the caller's PATH, as goagent gives it,
// without relative entries (a tool must not run what is in its folder).
func TestChatToolsGetCallersPath(t *testing.T) {
	chatEnv(t)
	script := `cat >/dev/null; printf '{"path":"%s"}' "$PATH"`
	entry, _ := json.Marshal(map[string]any{"name": "showpath", "command": []string{"/bin/sh", "-c", script}})
	dir := project(t, string(entry))
	t.Setenv("PATH", "/opt/custom/bin:.:/usr/bin:bin:/usr/bin:/bin")
	srv := fakeoai.New(t, fakeoai.ToolCalls(fakeoai.Call{ID: "call_1", Name: "showpath", Args: `{}`}), fakeoai.Answer("done"))
	code, _, errs := runIn(t, dir, "-prep-enabled=false", "-prompt", "path?", "-tools", "tools.json", "-base-url", srv.BaseURL())
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	if tool := srv.Requests()[1].Messages()[3]["content"]; tool != `{"path":"/opt/custom/bin:/usr/bin:/bin"}` {
		t.Errorf("the tool saw %v", tool)
	}
}

// -save-messages and -print-messages show the messages the loop starts
// with, before the first request, as goagent writes them (so a run that
// fails at once leaves them too); -save-transcript keeps the whole
// conversation, and -load-messages sends it again, as goagent does.
func TestChatSaveMessagesLikeGoagent(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	save := filepath.Join(dir, "opening.json")
	srv := fakeoai.New(t, fakeoai.Reply{Status: 400, Body: `{"error":{"message":"no"}}`})
	code, _, errs := runIn(t, dir, "-prep-enabled=false", "-prompt", "hello", "-developer", "be brief", "-base-url", srv.BaseURL(), "-save-messages", save, "-print-messages")
	if code != exitFailed {
		t.Fatalf("exit %d: %s", code, errs)
	}
	data, err := os.ReadFile(save)
	var doc struct {
		Messages []struct{ Role, Content string }
	}
	if err != nil || json.Unmarshal(data, &doc) != nil || len(doc.Messages) != 3 || doc.Messages[1].Role != "developer" || doc.Messages[2].Content != "hello" {
		t.Errorf("saved %s (%v)", data, err)
	}
	if !strings.Contains(errs, `"messages": [`) || !strings.Contains(errs, `"content": "be brief"`) {
		t.Errorf("-print-messages: %s", errs)
	}

	transcript := filepath.Join(dir, "whole.json")
	srv = fakeoai.New(t, fakeoai.Answer("first answer"))
	if code, _, errs := runIn(t, dir, "-prep-enabled=false", "-prompt", "hello", "-base-url", srv.BaseURL(), "-save-transcript", transcript); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	srv = fakeoai.New(t, fakeoai.Answer("second answer"))
	code, out, errs := runIn(t, dir, "-prep-enabled=false", "-load-messages", transcript, "-base-url", srv.BaseURL())
	if code != exitOK || out != "second answer\n" || len(srv.Requests()[0].Messages()) != 3 {
		t.Errorf("resumed: exit %d, %q\n%s", code, out, errs)
	}
}

// Harmony channels as goagent routes them: the loop asks on until the
// final channel; other channels show only with -verbose, critic and
// confidence where -channel-route says, the rest on stderr; the answer
// goes where final is routed.
func TestChatChannels(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	script := func() *fakeoai.Server {
		return fakeoai.New(t,
			fakeoai.ChannelAnswer("analysis", "thinking it over"),
			fakeoai.ChannelAnswer("critic", "looks right"),
			fakeoai.ChannelAnswer("final", "Forty-two."),
		)
	}
	for _, c := range []struct {
		args         []string
		stdout, errs string
	}{
		{nil, "Forty-two.\n", ""},
		{[]string{"-verbose"}, "Forty-two.\n", "thinking it over\n|looks right\n"},
		{[]string{"-verbose", "-channel-route", "critic=stdout"}, "looks right\nForty-two.\n", "thinking it over\n"},
		{[]string{"-channel-route", "final=stderr"}, "", "Forty-two.\n"},
		{[]string{"-channel-route", "final=omit"}, "", ""},
	} {
		srv := script()
		code, out, errs := runIn(t, dir, append([]string{"-prep-enabled=false", "-prompt", "number?", "-base-url", srv.BaseURL()}, c.args...)...)
		ok := code == exitOK && out == c.stdout
		for _, want := range strings.Split(c.errs, "|") {
			ok = ok && strings.Contains(errs, want) // among -verbose's progress lines
		}
		if !ok || (c.errs == "" && errs != "") || (c.stdout == "looks right\nForty-two.\n" && strings.Contains(errs, "looks right")) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %q and %q", c.args, code, out, errs, c.stdout, c.errs)
		}
		if n := len(srv.Requests()); n != 3 {
			t.Errorf("%q: %d requests, want 3 (until the final channel)", c.args, n)
		}
	}
	for _, bad := range []string{"analysis=stdout", "final", "final=printer"} {
		if code, _, errs := runIn(t, dir, "-prep-enabled=false", "-prompt", "x", "-channel-route", bad); code != exitUsage || !strings.Contains(errs, "invalid -channel-route") {
			t.Errorf("-channel-route %s: exit %d, %s", bad, code, errs)
		}
	}
}

// Every flag of goagent's agentcli (its 62, and -version) is accepted
// here: given with a value of its kind, -print-config resolves it without
// a complaint.
func TestChatAcceptsGoagentFlags(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	os.WriteFile(filepath.Join(dir, "text.txt"), []byte("some text"), 0o644)
	os.WriteFile(filepath.Join(dir, "msgs.json"), []byte(`{"messages":[{"role":"user","content":"hi"}]}`), 0o644)
	// Each flag with a value of its kind; where -print-config shows what
	// it means, the key (a dotted path) and the value it must have.
	accepted := []struct {
		args []string
		key  string
		want any
	}{
		{[]string{"-prompt", "x"}, "", nil}, {[]string{"-prompt-file", "text.txt"}, "", nil},
		{[]string{"-system", "s"}, "", nil}, {[]string{"-system-file", "text.txt"}, "", nil},
		{[]string{"-developer", "d"}, "", nil}, {[]string{"-developer-file", "text.txt"}, "", nil},
		{[]string{"-tools", "tools.json"}, "tools", "tools.json"},
		{[]string{"-base-url", "http://127.0.0.1:9/v1/"}, "baseURL", "http://127.0.0.1:9/v1"},
		{[]string{"-api-key", "sk-x"}, "apiKeySource", "flag"},
		{[]string{"-model", "m"}, "model", "m"},
		{[]string{"-max-steps", "3"}, "maxSteps", 3.0},
		{[]string{"-timeout", "20s"}, "toolTimeout", "20s"},
		{[]string{"-http-timeout", "10"}, "httpTimeout", "10s"},
		{[]string{"-tool-timeout", "5s"}, "toolTimeout", "5s"},
		{[]string{"-http-retries", "1"}, "httpRetries", 1.0},
		{[]string{"-http-retry-backoff", "100ms"}, "httpRetryBackoff", "100ms"},
		{[]string{"-temp", "0.5"}, "temperature", 0.5},
		{[]string{"-top-p", "0.9"}, "topP", 0.9},
		{[]string{"-prep-enabled=false"}, "prep.enabled", false},
		{[]string{"-print-messages"}, "", nil}, {[]string{"-save-messages", "out.json"}, "", nil},
		{[]string{"-load-messages", "msgs.json"}, "", nil},
		{[]string{"-stream-final"}, "stream", true},
		{[]string{"-channel-route", "critic=stdout"}, "", nil}, {[]string{"-debug"}, "", nil},
		{[]string{"-verbose"}, "", nil}, {[]string{"-quiet"}, "", nil},
		{[]string{"-state-dir", filepath.Join(dir, "state")}, "", nil}, {[]string{"-state-scope", "s1"}, "", nil},
		{[]string{"-state-dir", filepath.Join(dir, "state"), "-state-refine"}, "", nil},
		{[]string{"-state-dir", filepath.Join(dir, "state"), "-state-refine-text", "t"}, "", nil},
		{[]string{"-state-dir", filepath.Join(dir, "state"), "-state-refine-file", "text.txt"}, "", nil},
		{[]string{"-image-base-url", "http://127.0.0.1:9/v1"}, "image.baseURL", "http://127.0.0.1:9/v1"},
		{[]string{"-image-api-key", "k"}, "image.apiKeySource", "flag"},
		{[]string{"-image-model", "m"}, "image.model", "m"},
		{[]string{"-image-http-timeout", "30"}, "image.httpTimeout", "30s"},
		{[]string{"-image-http-retries", "1"}, "image.httpRetries", 1.0},
		{[]string{"-image-http-retry-backoff", "1s"}, "image.httpRetryBackoff", "1s"},
		{[]string{"-image-n", "2"}, "image.n", 2.0},
		{[]string{"-image-size", "512x512"}, "image.size", "512x512"},
		{[]string{"-image-quality", "hd"}, "image.quality", "hd"},
		{[]string{"-image-style", "vivid"}, "image.style", "vivid"},
		{[]string{"-image-response-format", "b64_json"}, "image.response_format", "b64_json"},
		{[]string{"-image-transparent-background=true"}, "image.transparent_background", true},
		{[]string{"-prep-enabled", "true"}, "prep.enabled", true},
		{[]string{"-prep-model", "m"}, "prep.model", "m"},
		{[]string{"-prep-base-url", "http://127.0.0.1:9/v1"}, "prep.baseURL", "http://127.0.0.1:9/v1"},
		{[]string{"-prep-api-key", "k"}, "prep.apiKeySource", "flag"},
		{[]string{"-prep-http-timeout", "30"}, "prep.httpTimeout", "30s"},
		{[]string{"-prep-http-retries", "1"}, "prep.httpRetries", 1.0},
		{[]string{"-prep-http-retry-backoff", "1s"}, "prep.httpRetryBackoff", "1s"},
		{[]string{"-prep-temp", "0.2"}, "prep.sampling.temperature", "0.2"},
		{[]string{"-prep-top-p", "0.5"}, "prep.sampling.top_p", "0.5"},
		{[]string{"-prep-profile", "creative"}, "prep.sampling.temperature", "1"},
		{[]string{"-prep-system", "s"}, "prep.system", "s"},
		{[]string{"-prep-system-file", "text.txt"}, "prep.systemFile", "text.txt"},
		{[]string{"-prep-tools", "tools.json", "-prep-tools-allow-external"}, "prep.tools", "tools.json (external)"},
		{[]string{"-prep-tools-allow-external"}, "prep.tools", "(none) (external)"},
		{[]string{"-prep-cache-bust"}, "prep.cacheBust", true},
		{[]string{"-prep-dry-run"}, "", nil},
	}
	for _, tt := range accepted {
		code, out, errs := runIn(t, dir, append([]string{"-print-config"}, tt.args...)...)
		var cfg map[string]any
		if code != exitOK || json.Unmarshal([]byte(out), &cfg) != nil {
			t.Errorf("%q: exit %d\n%s", tt.args, code, errs)
			continue
		}
		if tt.key == "" {
			continue
		}
		var got any = cfg
		for _, k := range strings.Split(tt.key, ".") {
			m, _ := got.(map[string]any)
			got = m[k]
		}
		if got != tt.want {
			t.Errorf("%q: %s = %v (%T), want %v", tt.args, tt.key, got, got, tt.want)
		}
	}
	// The pre-stage's flags and variables, each with what -print-config
	// says it means.
	prep := []struct {
		args []string
		env  map[string]string
		key  string // in "prep"; "sampling." for its sampling block
		want any
	}{
		{[]string{"-prep-enabled=false"}, nil, "enabled", false},
		{nil, nil, "enabled", true},
		{[]string{"-prep-model", "pm"}, nil, "model", "pm"},
		{nil, map[string]string{"OAI_PREP_MODEL": "em"}, "model", "em"},
		{[]string{"-model", "main"}, nil, "model", "main"},
		{[]string{"-prep-base-url", "http://127.0.0.1:9/p/"}, nil, "baseURL", "http://127.0.0.1:9/p"},
		{nil, map[string]string{"OAI_PREP_BASE_URL": "http://127.0.0.1:8/e"}, "baseURL", "http://127.0.0.1:8/e"},
		{[]string{"-prep-api-key", "sk-p"}, nil, "apiKeySource", "flag"},
		{[]string{"-api-key", "sk-main"}, map[string]string{"OAI_PREP_API_KEY": "sk-e"}, "apiKeySource", "env:OAI_PREP_API_KEY"},
		{[]string{"-api-key", "sk-main"}, nil, "apiKeySource", "inherit"},
		{[]string{"-prep-http-timeout", "7"}, nil, "httpTimeout", "7s"},
		{nil, map[string]string{"OAI_PREP_HTTP_TIMEOUT": "9s"}, "httpTimeout", "9s"},
		{[]string{"-http-timeout", "11s"}, nil, "httpTimeout", "11s"},
		{[]string{"-prep-http-retries", "4"}, nil, "httpRetries", 4.0},
		{[]string{"-http-retries", "3", "-prep-http-retries", "0"}, nil, "httpRetries", 3.0},
		{nil, map[string]string{"OAI_PREP_HTTP_RETRIES": "5"}, "httpRetries", 5.0},
		{[]string{"-prep-http-retry-backoff", "250ms"}, nil, "httpRetryBackoff", "250ms"},
		{nil, map[string]string{"OAI_PREP_HTTP_RETRY_BACKOFF": "2"}, "httpRetryBackoff", "2s"},
		{[]string{"-prep-temp", "0.3"}, nil, "sampling.temperature", "0.3"},
		{nil, map[string]string{"OAI_PREP_TEMP": "0.4"}, "sampling.temperature", "0.4"},
		{[]string{"-temp", "0.6"}, nil, "sampling.temperature", "0.6"},
		{[]string{"-prep-profile", "deterministic"}, nil, "sampling.temperature", "0.1"},
		{[]string{"-prep-top-p", "0.8"}, nil, "sampling.top_p", "0.8"},
		{[]string{"-prep-top-p", "0.8"}, nil, "sampling.temperature", "(omitted)"},
		{nil, map[string]string{"OAI_PREP_TOP_P": "0.7"}, "sampling.top_p", "0.7"},
		{[]string{"-prep-system", "be terse"}, nil, "system", "be terse"},
		{nil, map[string]string{"OAI_PREP_SYSTEM": "from env"}, "system", "from env"},
		{[]string{"-prep-system-file", "text.txt"}, nil, "systemFile", "text.txt"},
		{nil, map[string]string{"OAI_PREP_SYSTEM_FILE": "text.txt"}, "systemFile", "text.txt"},
		{[]string{"-prep-tools", "tools.json", "-prep-tools-allow-external"}, nil, "tools", "tools.json (external)"},
		{[]string{"-prep-tools-allow-external", "-tools", "tools.json"}, nil, "tools", "tools.json (external)"},
		{nil, nil, "tools", "builtin"},
		{[]string{"-prep-cache-bust"}, nil, "cacheBust", true},
		{nil, map[string]string{"GOAGENT_PREP_CACHE_TTL": "1h"}, "cacheTTL", "1h0m0s"},
		{nil, map[string]string{"GOAGENT_PREP_CACHE_TTL": "0s"}, "cacheTTL", "never expires"},
		{nil, map[string]string{"GOAGENT_PREP_CACHE_TTL": "30"}, "cacheTTL", "10m0s"},
	}
	for _, tt := range prep {
		t.Run(strings.Join(tt.args, " ")+fmt.Sprint(tt.env), func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, out, errs := runIn(t, dir, append([]string{"-print-config"}, tt.args...)...)
			var cfg struct {
				Prep map[string]any `json:"prep"`
			}
			if code != exitOK || json.Unmarshal([]byte(out), &cfg) != nil {
				t.Fatalf("exit %d\n%s%s", code, out, errs)
			}
			got := cfg.Prep[tt.key]
			if k, ok := strings.CutPrefix(tt.key, "sampling."); ok {
				got = cfg.Prep["sampling"].(map[string]any)[k]
			}
			if got != tt.want {
				t.Errorf("prep.%s = %v (%T), want %v", tt.key, got, got, tt.want)
			}
		})
	}
	if code, out, errs := runIn(t, dir, "-prep-dry-run", "-prompt", "x", "-developer", "d"); code != exitOK ||
		out != `[{"content":"`+defaultSystem+`","role":"system"},{"content":"d","role":"developer"},{"content":"x","role":"user"}]`+"\n" {
		t.Errorf("-prep-dry-run: exit %d\n%s%s", code, out, errs)
	}
}
