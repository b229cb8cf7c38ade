package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"

	"github.com/toolhost/toolhost/internal/fakeoai"
)

// The recordings in testdata/goagent are goagent's agentcli
// (github.com/hyperifyio/goagent at d7689de7) run once against a scripted
// mock of the chat-completions API, each in a fresh folder. A recording is
// a txtar archive:
//
//	args       the command line, one argument per line
//	env        KEY=VALUE lines set for the run (optional)
//	in/NAME    a file placed in the run's folder first (optional)
//	responses  the scripted response bodies in order, each after a line
//	           ">>> STATUS json" or ">>> STATUS sse" (an event stream,
//	           its "data:" lines sent as they are)
//	requests   the requests goagent sent, each after ">>> request N": a
//	           few header lines, an empty line, the body as indented JSON
//	stdout, stderr, exit
//	out/NAME   a file goagent wrote, and stat/NAME its mode and whether
//	           it ends with a newline
//
// Volatile parts are placeholders: {{BASE}} the API base URL, {{HOST}}
// its scheme and host, {{DIR}} the run's folder, {{IDEMPOTENCY_KEY}} the
// random part of goagent's Idempotency-Key.
type goagentRecording struct {
	name      string
	args      []string
	env       []string
	in        map[string]string
	responses []fakeoai.Reply
	requests  []recordedRequest
	stdout    string
	stderr    string
	exit      int
	out       map[string]string
	stat      map[string]string
}

type recordedRequest struct {
	header map[string]string
	body   map[string]any
}

// goagentRun is what our agentcli did with a recording's command line.
type goagentRun struct {
	requests []recordedRequest
	stdout   string
	stderr   string
	exit     int
	out      map[string]string
	mode     map[string]os.FileMode
	newline  map[string]bool
	// listed holds the differences from goagentListed seen in this
	// run, with what each side did.
	listed map[string]string
}

// note records that a difference the table lists (a key of goagentListed)
// was seen.
func (r *goagentRun) note(t *testing.T, key, detail string) {
	t.Helper()
	if _, ok := goagentListed[key]; !ok {
		t.Fatalf("note(%q): not in goagentListed", key)
	}
	if _, seen := r.listed[key]; !seen {
		r.listed[key] = detail
	}
}

func loadGoagentRecording(t *testing.T, path string) *goagentRecording {
	t.Helper()
	ar, err := txtar.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rec := &goagentRecording{name: strings.TrimSuffix(filepath.Base(path), ".txtar"), in: map[string]string{}, out: map[string]string{}, stat: map[string]string{}}
	seen := map[string]bool{}
	for _, f := range ar.Files {
		data := string(f.Data)
		seen[f.Name] = true
		switch name := f.Name; {
		case name == "args":
			rec.args = strings.Split(strings.TrimSuffix(data, "\n"), "\n")
		case name == "env":
			rec.env = strings.Split(strings.TrimSuffix(data, "\n"), "\n")
		case name == "responses":
			rec.responses = parseScriptedResponses(t, data)
		case name == "requests":
			rec.requests = parseRecordedRequests(t, data)
		case name == "stdout":
			rec.stdout = data
		case name == "stderr":
			rec.stderr = data
		case name == "exit":
			if rec.exit, err = strconv.Atoi(strings.TrimSpace(data)); err != nil {
				t.Fatalf("%s: exit %q", path, data)
			}
		case strings.HasPrefix(name, "in/"):
			rec.in[strings.TrimPrefix(name, "in/")] = data
		case strings.HasPrefix(name, "out/"):
			rec.out[strings.TrimPrefix(name, "out/")] = data
		case strings.HasPrefix(name, "stat/"):
			rec.stat[strings.TrimPrefix(name, "stat/")] = data
		default:
			t.Fatalf("%s: unknown section %q", path, name)
		}
	}
	for _, want := range []string{"args", "responses", "requests", "stdout", "stderr", "exit"} {
		if !seen[want] {
			t.Fatalf("%s: no %s section", path, want)
		}
	}
	return rec
}

// splitBlocks splits text at lines starting with ">>> ", returning each
// block's header (the rest of that line) and its lines.
func splitBlocks(text string) (heads []string, blocks [][]string) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, ">>> "); ok {
			heads = append(heads, h)
			blocks = append(blocks, nil)
			continue
		}
		if len(blocks) > 0 {
			blocks[len(blocks)-1] = append(blocks[len(blocks)-1], line)
		}
	}
	return heads, blocks
}

func parseScriptedResponses(t *testing.T, text string) []fakeoai.Reply {
	t.Helper()
	var out []fakeoai.Reply
	heads, blocks := splitBlocks(text)
	for i, h := range heads {
		status, kind, _ := strings.Cut(h, " ")
		code, err := strconv.Atoi(status)
		if err != nil {
			t.Fatalf("response %d: header %q", i+1, h)
		}
		switch kind {
		case "json":
			out = append(out, fakeoai.Reply{Status: code, Body: strings.Join(blocks[i], "\n")})
		case "sse":
			// fakeoai sends each chunk as a data: event and ends the
			// stream with [DONE] itself.
			chunks := []string{}
			for _, l := range blocks[i] {
				if d, ok := strings.CutPrefix(l, "data:"); ok && strings.TrimSpace(d) != "[DONE]" {
					chunks = append(chunks, strings.TrimSpace(d))
				}
			}
			out = append(out, fakeoai.Reply{Chunks: chunks})
		default:
			t.Fatalf("response %d: kind %q", i+1, kind)
		}
	}
	return out
}

func parseRecordedRequests(t *testing.T, text string) []recordedRequest {
	t.Helper()
	var out []recordedRequest
	_, blocks := splitBlocks(text)
	for i, lines := range blocks {
		r := recordedRequest{header: map[string]string{}}
		j := 0
		for ; j < len(lines) && lines[j] != ""; j++ {
			k, v, _ := strings.Cut(lines[j], ": ")
			r.header[k] = v
		}
		if err := json.Unmarshal([]byte(strings.Join(lines[j:], "\n")), &r.body); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		out = append(out, r)
	}
	return out
}

// replay runs our agentcli in-process on a recording's command line, in a
// fresh folder, against fakeoai answering with the recording's script.
func (rec *goagentRecording) replay(t *testing.T) *goagentRun {
	t.Helper()
	chatEnv(t)
	for _, k := range []string{"OAI_PREP_MODEL", "OAI_PREP_BASE_URL", "OAI_PREP_API_KEY", "OAI_PREP_HTTP_TIMEOUT", "OAI_PREP_HTTP_RETRIES",
		"OAI_PREP_HTTP_RETRY_BACKOFF", "OAI_PREP_TOP_P", "OAI_PREP_TEMP", "OAI_PREP_SYSTEM", "OAI_PREP_SYSTEM_FILE", "GOAGENT_PREP_CACHE_TTL",
		"GOAGENT_REDACT", "AGENTCLI_STATE_SCOPE", "OAI_IMAGE_BASE_URL", "OAI_IMAGE_API_KEY", "OAI_IMAGE_MODEL"} {
		t.Setenv(k, "")
	}
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	for _, kv := range rec.env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	for name, data := range rec.in {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := fakeoai.New(t, rec.responses...)
	var args []string
	for _, a := range rec.args {
		args = append(args, strings.ReplaceAll(a, "{{BASE}}", srv.BaseURL()))
	}
	code, stdout, stderr := runIn(t, dir, args...)
	norm := strings.NewReplacer(srv.BaseURL(), "{{BASE}}", srv.URL, "{{HOST}}", dir, "{{DIR}}").Replace
	run := &goagentRun{stdout: norm(stdout), stderr: norm(stderr), exit: code, out: map[string]string{}, mode: map[string]os.FileMode{}, newline: map[string]bool{}, listed: map[string]string{}}
	for _, r := range srv.Requests() {
		rr := recordedRequest{header: map[string]string{}}
		if v := r.Header.Get("Authorization"); v != "" {
			rr.header["Authorization"] = v
		}
		if v := r.Header.Get("Content-Type"); v != "" {
			rr.header["Content-Type"] = v
		}
		if v := r.Header.Get("Idempotency-Key"); v != "" {
			rr.header["Idempotency-Key"] = v
		}
		if err := json.Unmarshal([]byte(norm(string(r.Raw))), &rr.body); err != nil {
			t.Fatalf("our request is not JSON: %v\n%s", err, r.Raw)
		}
		// The API's default is false, so the two mean the same.
		if rr.body["stream"] == false {
			delete(rr.body, "stream")
			run.note(t, "stream-false", `goagent leaves "stream" out, ours sends "stream": false`)
		}
		run.requests = append(run.requests, rr)
	}
	for name := range rec.out {
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: goagent wrote it, ours did not: %v", name, err)
			continue
		}
		fi, _ := os.Stat(p)
		run.out[name] = norm(string(data))
		run.mode[name] = fi.Mode().Perm()
		run.newline[name] = strings.HasSuffix(string(data), "\n")
	}
	return run
}

// goagentDifferences are the scenarios in which ours differs from goagent
// on purpose, by a row of the README's "Differences from goagent" table.
// Each asserts the documented difference on what the two did, then
// rewrites ours to goagent's shape so that the rest is compared as usual.
var goagentDifferences = map[string]func(t *testing.T, rec *goagentRecording, got *goagentRun){
	// Row "an answer cut at the length limit is asked again with
	// max_tokens 256 ...": ours asks with twice what was generated, at
	// least 4096.
	"length_once": func(t *testing.T, rec *goagentRecording, got *goagentRun) {
		wantLengthRetry(t, rec, got, 600)
	},
	// The same row: "... and printed silently if still cut" | "still cut,
	// a warning".
	"length_twice": func(t *testing.T, rec *goagentRecording, got *goagentRun) {
		wantLengthRetry(t, rec, got, 600)
		got.stderr = wantExtraLine(t, got.stderr, "warning: ", "cut")
	},
	// Row "-max-steps above 15 ... silently capped" | "the same outcome,
	// with a warning".
	"max_steps_40": func(t *testing.T, rec *goagentRecording, got *goagentRun) {
		got.stderr = wantExtraLine(t, got.stderr, "warning: ", "-max-steps 40")
	},
	// Row "-verbose prints an answer without a channel twice" | "once".
	"verbose_unchannelled": func(t *testing.T, rec *goagentRecording, got *goagentRun) {
		if rec.stdout != "4\n4\n" || got.stdout != "4\n" {
			t.Errorf("-verbose, an answer on no channel: goagent printed %q (want it twice), ours %q (want once)", rec.stdout, got.stdout)
		}
		got.stdout = rec.stdout
	},
	// Row "-stream-final ... asks a plain-JSON server twice at every step"
	// | "a plain-JSON server is asked again without streaming once, then
	// never streamed to": goagent's third request (step 2 streamed again)
	// is not sent by ours, which takes the scripted answer one reply
	// earlier (the script repeats each reply, so ours gets the same).
	"stream_final_json_two_steps": func(t *testing.T, rec *goagentRecording, got *goagentRun) {
		if len(rec.requests) != 4 || rec.requests[2].body["stream"] != true {
			t.Fatalf("goagent's recording: %d requests, the third %v", len(rec.requests), rec.requests[2].body)
		}
		if len(got.requests) != 3 {
			t.Fatalf("ours: %d requests, want 3 (streamed once, then never)", len(got.requests))
		}
		for i, r := range got.requests[1:] {
			if _, ok := r.body["stream"]; ok {
				t.Errorf("ours: request %d has stream after the server answered JSON: %v", i+2, r.body)
			}
		}
		// Compare the rest as if ours had also sent goagent's third.
		got.requests = append(got.requests[:2:2], rec.requests[2], got.requests[2])
	},
	// Row "-save-messages files are mode 0644" | "0600".
	"save_messages": func(t *testing.T, rec *goagentRecording, got *goagentRun) {
		for name := range rec.out {
			if !strings.Contains(rec.stat[name], "mode 0644") || got.mode[name] != 0o600 {
				t.Errorf("%s: goagent's %q, ours %#o; want 0644 and 0600", name, rec.stat[name], got.mode[name])
			}
		}
	},
	// Row "-load-messages with -prompt is refused" | "the prompt is added
	// as a new user message": goagent exits 2 with its usage and sends
	// nothing; ours sends the loaded messages plus the prompt.
	"load_messages_with_prompt": func(t *testing.T, rec *goagentRecording, got *goagentRun) {
		if rec.exit != 2 || len(rec.requests) != 0 || !strings.HasPrefix(rec.stderr, "error: -load-messages cannot be combined with -prompt or -prompt-file\n") {
			t.Errorf("goagent's recording: exit %d, %d requests, stderr %.80q", rec.exit, len(rec.requests), rec.stderr)
		}
		if got.exit != 0 || got.stdout != "6\n" || len(got.requests) != 1 {
			t.Fatalf("ours: exit %d, stdout %q, %d requests\n%s", got.exit, got.stdout, len(got.requests), got.stderr)
		}
		msgs, _ := got.requests[0].body["messages"].([]any)
		want := []any{
			map[string]any{"role": "system", "content": "sys"},
			map[string]any{"role": "user", "content": "What is 2+2?"},
			map[string]any{"role": "assistant", "content": "4"},
			map[string]any{"role": "user", "content": "And 3+3?"},
		}
		if d := cmp.Diff(want, msgs); d != "" {
			t.Errorf("ours: the loaded messages and the prompt (-want +got):\n%s", d)
		}
		// Nothing else to compare: goagent ran nothing.
		got.requests, got.stdout, got.stderr, got.exit = rec.requests, rec.stdout, rec.stderr, rec.exit
	},
}

// wantLengthRetry checks the length retry: goagent's second request has
// max_tokens 256, ours twice what the server generated, at least 4096.
// Ours is then given goagent's value.
func wantLengthRetry(t *testing.T, rec *goagentRecording, got *goagentRun, generated int) {
	t.Helper()
	if len(rec.requests) < 2 || len(got.requests) < 2 {
		t.Fatalf("%d and %d requests, want the length retry", len(rec.requests), len(got.requests))
	}
	if rec.requests[1].body["max_tokens"] != 256.0 {
		t.Errorf("goagent's retry: max_tokens %v, want 256", rec.requests[1].body["max_tokens"])
	}
	if want := float64(max(2*generated, 4096)); got.requests[1].body["max_tokens"] != want {
		t.Errorf("our retry: max_tokens %v, want %v", got.requests[1].body["max_tokens"], want)
	}
	got.requests[1].body["max_tokens"] = rec.requests[1].body["max_tokens"]
}

// wantExtraLine checks that stderr has exactly one line starting with
// prefix and containing text, and returns stderr without it.
func wantExtraLine(t *testing.T, stderr, prefix, text string) string {
	t.Helper()
	var keep []string
	n := 0
	for _, l := range strings.SplitAfter(stderr, "\n") {
		if l != "" && strings.HasPrefix(l, prefix) && strings.Contains(l, text) {
			n++
			continue
		}
		keep = append(keep, l)
	}
	if n != 1 {
		t.Errorf("want one line %q...%q on stderr, found %d:\n%s", prefix, text, n, stderr)
	}
	return strings.Join(keep, "")
}

// goagentListed are the differences these recordings show besides
// those asserted one by one: each is a row of the README's "Differences
// from goagent" table (the comment names it). A difference in neither
// fails, and so does an entry no recording shows any more (delete it).
var goagentListed = map[string]string{
	// Row: "-verbose prints only what the model says on non-final channels".
	"verbose-progress": "-verbose adds progress lines (step N: ...) on stderr; goagent prints none",
	// Row: "-capabilities lists the tools".
	"capabilities-note": "-capabilities adds a note line on stderr about containment; goagent prints nothing there",
	// Row: "an HTTP error is reported with the URL and the raw body".
	"prep-error-text": "the reason in the pre-stage's two failure lines: goagent's is " +
		"chat API <base>/chat/completions: <code>: <raw body>, ours chat API: <code> <status text>: <message>",
	// Row: "-print-config says image.baseURLSource flag for an inherited base URL".
	"print-config image.baseURLSource": "an inherited image base URL: goagent says flag (its known misreport), " +
		"ours inherit",
}

// The scenarios compared in their own way rather than as a whole.
var goagentSpecial = map[string]func(t *testing.T, rec *goagentRecording, got *goagentRun){
	// Help: the words are each program's own, so compare what goagent's
	// help promises: exit 0, stdout only, no request, and every flag it
	// lists is listed in ours too.
	"help_as_value": func(t *testing.T, rec *goagentRecording, got *goagentRun) {
		if rec.exit != 0 || rec.stderr != "" || len(rec.requests) != 0 || got.exit != 0 || got.stderr != "" || len(got.requests) != 0 {
			t.Errorf("goagent: exit %d, stderr %q, %d requests; ours: exit %d, stderr %q, %d requests",
				rec.exit, rec.stderr, len(rec.requests), got.exit, got.stderr, len(got.requests))
		}
		flags := regexp.MustCompile(`(?m)^  (-[a-z][a-z0-9-]*)`).FindAllStringSubmatch(rec.stdout, -1)
		if len(flags) < 50 {
			t.Fatalf("goagent's help lists %d flags", len(flags))
		}
		for _, f := range flags {
			if !regexp.MustCompile(regexp.QuoteMeta(f[1]) + `\b`).MatchString(got.stdout) {
				t.Errorf("goagent's help lists %s, ours does not", f[1])
			}
		}
	},
	// -print-config: every key goagent prints, at every level, with its
	// value; ours prints more (docs/agent-loop.md: "goagent's keys ...,
	// a few more ..., and sources").
	"print_config":         comparePrintConfig,
	"print_config_default": comparePrintConfig,
}

func comparePrintConfig(t *testing.T, rec *goagentRecording, got *goagentRun) {
	t.Helper()
	if got.exit != rec.exit || got.stderr != rec.stderr || len(got.requests) != 0 {
		t.Errorf("exit %d (goagent %d), stderr %q (goagent %q), %d requests", got.exit, rec.exit, got.stderr, rec.stderr, len(got.requests))
	}
	var want, have map[string]any
	if err := json.Unmarshal([]byte(rec.stdout), &want); err != nil {
		t.Fatalf("goagent's output: %v", err)
	}
	if err := json.Unmarshal([]byte(got.stdout), &have); err != nil {
		t.Fatalf("our output: %v\n%s", err, got.stdout)
	}
	var walk func(path string, want, have map[string]any)
	walk = func(path string, want, have map[string]any) {
		keys := make([]string, 0, len(want))
		for k := range want {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			w := want[k]
			h, ok := have[k]
			switch {
			case !ok:
				t.Errorf("%s%s: goagent prints %v, ours has no such key", path, k, w)
			case isObject(w) && isObject(h):
				walk(path+k+".", w.(map[string]any), h.(map[string]any))
			case cmp.Equal(w, h):
			default:
				key := "print-config " + path + k
				if _, ok := goagentListed[key]; ok {
					got.note(t, key, fmt.Sprintf("goagent %v, ours %v", w, h))
				} else {
					t.Errorf("%s%s: goagent %v, ours %v", path, k, w, h)
				}
			}
		}
	}
	walk("", want, have)
}

func isObject(v any) bool { _, ok := v.(map[string]any); return ok }

// TestGoagentRecordings replays goagent's recorded runs against ours: the
// same requests (bodies compared as JSON, the Authorization header), the
// same stdout, the same stderr lines and the same exit status, but where
// the README's differences table says ours differs, which is asserted,
// and where goagentListed says so, which is logged.
func TestGoagentRecordings(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "goagent", "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings: %v", err)
	}
	ran := 0
	seen := map[string]bool{}
	for _, path := range files {
		rec := loadGoagentRecording(t, path)
		t.Run(rec.name, func(t *testing.T) {
			ran++
			got := rec.replay(t)
			if special, ok := goagentSpecial[rec.name]; ok {
				special(t, rec, got)
			} else {
				if diff, ok := goagentDifferences[rec.name]; ok {
					diff(t, rec, got)
				}
				compareGoagentRun(t, rec, got)
			}
			for key, detail := range got.listed {
				seen[key] = true
				t.Logf("listed in the README's table: %s: %s", goagentListed[key], detail)
			}
		})
	}
	if ran == len(files) {
		for key, what := range goagentListed {
			if !seen[key] {
				t.Errorf("goagentListed[%q] (%s): no recording shows it any more; delete the entry", key, what)
			}
		}
	}
}

func compareGoagentRun(t *testing.T, rec *goagentRecording, got *goagentRun) {
	t.Helper()
	if slices.Contains(rec.args, "-verbose") {
		got.stderr = dropLines(got.stderr, func(l string) bool {
			if verboseProgress.MatchString(l) {
				got.note(t, "verbose-progress", strings.TrimSpace(l))
				return true
			}
			return false
		})
	}
	if slices.Contains(rec.args, "-capabilities") {
		got.stderr = dropLines(got.stderr, func(l string) bool {
			if strings.HasPrefix(l, "note: these tools run local programs") {
				got.note(t, "capabilities-note", strings.TrimSpace(l))
				return true
			}
			return false
		})
	}
	got.stderr = samePrepFailure(t, rec, got)
	if got.exit != rec.exit {
		t.Errorf("exit %d, goagent %d", got.exit, rec.exit)
	}
	if got.stdout != rec.stdout {
		t.Errorf("stdout (-goagent +ours):\n%s", cmp.Diff(rec.stdout, got.stdout))
	}
	if got.stderr != rec.stderr {
		t.Errorf("stderr (-goagent +ours):\n%s", cmp.Diff(rec.stderr, got.stderr))
	}
	if len(got.requests) != len(rec.requests) {
		t.Errorf("%d requests, goagent %d", len(got.requests), len(rec.requests))
	}
	for i := range min(len(got.requests), len(rec.requests)) {
		w, g := rec.requests[i], got.requests[i]
		if d := cmp.Diff(w.body, g.body); d != "" {
			t.Errorf("request %d body (-goagent +ours):\n%s", i+1, d)
		}
		if w.header["Authorization"] != g.header["Authorization"] {
			t.Errorf("request %d: Authorization %q, goagent %q", i+1, g.header["Authorization"], w.header["Authorization"])
		}
		if strings.HasPrefix(w.header["Content-Type"], "application/json") != strings.HasPrefix(g.header["Content-Type"], "application/json") {
			t.Errorf("request %d: Content-Type %q, goagent %q", i+1, g.header["Content-Type"], w.header["Content-Type"])
		}
		switch wk, gk := w.header["Idempotency-Key"], g.header["Idempotency-Key"]; {
		case (wk != "") == (gk != ""):
		case wk != "" && gk == "":
			got.note(t, "idempotency-key", "goagent "+wk+", ours none")
		default:
			t.Errorf("request %d: Idempotency-Key %q, goagent %q", i+1, gk, wk)
		}
	}
	for name, want := range rec.out {
		have, ok := got.out[name]
		if !ok {
			continue // reported by replay
		}
		var wj, hj any
		if json.Unmarshal([]byte(want), &wj) == nil && json.Unmarshal([]byte(have), &hj) == nil {
			if w, ok := wj.(map[string]any); ok && w["prestage"] != nil {
				if h, _ := hj.(map[string]any); h != nil && h["prestage"] == nil {
					got.note(t, "save-messages-prestage", fmt.Sprintf("goagent %v, ours none", w["prestage"]))
					delete(w, "prestage")
				}
			}
			if d := cmp.Diff(wj, hj); d != "" {
				t.Errorf("%s (-goagent +ours):\n%s", name, d)
			}
		} else if strings.TrimSuffix(want, "\n") != strings.TrimSuffix(have, "\n") {
			t.Errorf("%s (-goagent +ours):\n%s", name, cmp.Diff(want, have))
		}
		// txtar ends every section with a newline; stat says whether
		// goagent's file did.
		switch wantNL := strings.Contains(rec.stat[name], "newline-at-end true"); {
		case got.newline[name] == wantNL:
		case !wantNL && strings.HasPrefix(name, "saved/"):
			got.note(t, "save-messages-newline", name)
		default:
			t.Errorf("%s: ends with a newline: ours %v, goagent %v", name, got.newline[name], wantNL)
		}
	}
}

// samePrepFailure compares the pre-stage's two failure lines, when
// goagent printed them: ours prints the same two lines, each with the
// same reason, naming the same HTTP status; the reason's words differ
// (goagentListed "prep-error-text"). It returns our stderr with its two
// lines replaced by goagent's.
func samePrepFailure(t *testing.T, rec *goagentRecording, got *goagentRun) string {
	t.Helper()
	const errPrefix, warnPrefix = "error: prep call failed: ", "WARN: pre-stage failed; skipping (reason: "
	find := func(stderr string) (lines []string, at int, reason string) {
		lines = strings.SplitAfter(stderr, "\n")
		for i := 0; i+1 < len(lines); i++ {
			r, ok := strings.CutPrefix(strings.TrimSuffix(lines[i], "\n"), errPrefix)
			if ok && lines[i+1] == warnPrefix+r+")\n" {
				return lines, i, r
			}
		}
		return lines, -1, ""
	}
	_, gi, greason := find(rec.stderr)
	if gi < 0 {
		return got.stderr
	}
	glines := strings.SplitAfter(rec.stderr, "\n")
	lines, oi, reason := find(got.stderr)
	if oi < 0 {
		t.Errorf("goagent's pre-stage failure lines are not in ours (the same reason in both):\n%s", got.stderr)
		return got.stderr
	}
	status := regexp.MustCompile(`: (\d{3})\b`).FindStringSubmatch(greason)
	if status == nil || !strings.Contains(reason, status[1]) {
		t.Errorf("the pre-stage's failure: goagent's reason %q, ours %q does not name the same status", greason, reason)
	}
	if reason != greason {
		got.note(t, "prep-error-text", fmt.Sprintf("goagent %q, ours %q", greason, reason))
	}
	lines[oi], lines[oi+1] = glines[gi], glines[gi+1]
	return strings.Join(lines, "")
}

// dropLines returns text without the lines drop says to drop.
func dropLines(text string, drop func(line string) bool) string {
	var keep []string
	for _, l := range strings.SplitAfter(text, "\n") {
		if l == "" || !drop(l) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

// verboseProgress matches our -verbose progress lines (docs/agent-loop.md:
// "with -verbose a line per step and per tool call goes to stderr").
var verboseProgress = regexp.MustCompile(`^step \d+: `)
