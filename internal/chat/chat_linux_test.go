package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/toolhost/toolhost/internal/audit"
	"github.com/toolhost/toolhost/internal/fakeoai"
	"github.com/toolhost/toolhost/internal/gobuild"
	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/policy"
	"github.com/toolhost/toolhost/protocol"
)

// noopBin is the trivial tool, built once per test run.
var noopBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chat-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	noopBin = filepath.Join(dir, "noop")
	if err := gobuild.Build("../..", noopBin, "./testdata/tools/noop"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type env struct {
	h     *host.Host
	audit *audit.Log
	dir   string
}

// newEnv starts a host with the noop tool and a sleeper.
func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	man := fmt.Sprintf(`{"tools":[
		{"name":"noop","description":"Returns n.","command":[%q],"schema":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"],"additionalProperties":false}},
		{"name":"sleeper","command":["/bin/sleep","4321.5"],"timeoutSec":60}]}`, noopBin)
	os.WriteFile(filepath.Join(dir, "tools.json"), []byte(man), 0o644)
	m, err := manifest.Load(filepath.Join(dir, "tools.json"))
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(m, host.Options{Audit: log, Workspace: dir, Mode: policy.ModeBypass})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); log.Close() })
	return &env{h: h, audit: log, dir: dir}
}

func client(srv *fakeoai.Server, tr *Transport) *openai.Client {
	if tr == nil {
		tr = &Transport{}
	}
	if tr.Sleep == nil {
		tr.Sleep = func(context.Context, time.Duration) error { return nil }
	}
	cfg := openai.DefaultConfig("sk-test-key-0123456789")
	cfg.BaseURL = srv.BaseURL()
	cfg.HTTPClient = tr
	return openai.NewClientWithConfig(cfg)
}

func prompt(text string) []openai.ChatCompletionMessage {
	return []openai.ChatCompletionMessage{
		{Role: openai.ChatMessageRoleSystem, Content: "You are terse."},
		{Role: openai.ChatMessageRoleUser, Content: text},
	}
}

func (e *env) run(t *testing.T, srv *fakeoai.Server, opts Options, msgs []openai.ChatCompletionMessage) (string, []openai.ChatCompletionMessage, error) {
	t.Helper()
	if opts.Client == nil {
		opts.Client = client(srv, nil)
	}
	opts.Host, opts.Model = e.h, "gpt-4o"
	res, err := Run(context.Background(), opts, msgs)
	return res.Answer, res.Messages, err
}

// toolMessages returns the tool messages of a recorded request.
func toolMessages(r fakeoai.Request) []map[string]any {
	var out []map[string]any
	for _, m := range r.Messages() {
		if m["role"] == "tool" {
			out = append(out, m)
		}
	}
	return out
}

func TestMultiStepParallel(t *testing.T) {
	e := newEnv(t)
	srv := fakeoai.New(t,
		fakeoai.ToolCalls(fakeoai.Call{ID: "call_a", Name: "noop", Args: `{"n":1}`}, fakeoai.Call{ID: "call_b", Name: "noop", Args: `{"n":2}`}, fakeoai.Call{ID: "call_c", Name: "noop", Args: `{"n":3}`}),
		fakeoai.ToolCalls(fakeoai.Call{ID: "call_d", Name: "noop", Args: `{"n":4}`}),
		fakeoai.Answer("The answers are 1, 2, 3 and 4."),
	)
	answer, msgs, err := e.run(t, srv, Options{}, prompt("add things"))
	if err != nil {
		t.Fatal(err)
	}
	if answer != "The answers are 1, 2, 3 and 4." {
		t.Errorf("answer %q", answer)
	}
	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	// Each call answered once, in the order asked, with its own result.
	got := toolMessages(reqs[1])
	for i, want := range []struct{ id, content string }{{"call_a", `{"n":1}`}, {"call_b", `{"n":2}`}, {"call_c", `{"n":3}`}} {
		if got[i]["tool_call_id"] != want.id || got[i]["content"] != want.content {
			t.Errorf("tool message %d: %v, want %s %s", i, got[i], want.id, want.content)
		}
	}
	// The tools are offered with their schemas.
	tools, _ := reqs[0].Body()["tools"].([]any)
	if len(tools) != 2 || reqs[0].Body()["tool_choice"] != "auto" {
		t.Errorf("tools %v tool_choice %v", tools, reqs[0].Body()["tool_choice"])
	}
	if len(msgs) != 2+1+3+1+1+1 {
		t.Errorf("transcript of %d messages", len(msgs))
	}
	if err := e.audit.Flush(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(e.dir, "audit.jsonl"))
	if n := strings.Count(string(data), `"frontend":"chat"`); n != 4 {
		t.Errorf("%d audit records from the chat frontend, want 4", n)
	}
}

// Bad calls become tool messages with the envelope, and the run goes on.
func TestBadToolCalls(t *testing.T) {
	e := newEnv(t)
	srv := fakeoai.New(t,
		fakeoai.ToolCalls(
			fakeoai.Call{ID: "c1", Name: "invented_tool", Args: `{}`},
			fakeoai.Call{ID: "c2", Name: "noop", Args: `{"n":"two"}`},
			fakeoai.Call{ID: "c3", Name: "noop", Args: `{"n":`},
			fakeoai.Call{ID: "c4", Name: "noop", Args: ``},
		),
		fakeoai.Answer("I could not do it."),
	)
	if _, _, err := e.run(t, srv, Options{}, prompt("try")); err != nil {
		t.Fatal(err)
	}
	got := toolMessages(srv.Requests()[1])
	for i, want := range []struct{ code, text string }{
		{protocol.CodeUnknownTool, `unknown tool \"invented_tool\"`},
		{protocol.CodeInvalidArgs, "/n: expected integer, but got string"},
		{protocol.CodeInvalidArgs, "arguments are not JSON"},
		{protocol.CodeInvalidArgs, "missing properties: 'n'"},
	} {
		c, _ := got[i]["content"].(string)
		var env protocol.Error
		if json.Unmarshal([]byte(c), &env) != nil || env.Code != want.code || !strings.Contains(c, want.text) {
			t.Errorf("tool message %d: %s, want %s mentioning %s", i, c, want.code, want.text)
		}
	}
}

// Progress lines carry the model's ids, names and words escaped: nothing
// the model sends can move the cursor, redraw the screen or reverse text.
func TestProgressEscapesModelText(t *testing.T) {
	e := newEnv(t)
	hostile := "x\x1b[2J\x1b[H\u202eevil\u009b31m\r\nagentcli: approved"
	srv := fakeoai.New(t,
		fakeoai.ToolCalls(fakeoai.Call{ID: "id" + hostile, Name: "no" + hostile, Args: `{}`}),
		fakeoai.Answer("done"+hostile),
	)
	var progress bytes.Buffer
	if _, _, err := e.run(t, srv, Options{Progress: &progress, Verbose: true}, prompt("try")); err != nil {
		t.Fatal(err)
	}
	out := progress.String()
	for _, bad := range []string{"\x1b", "\u202e", "\u009b", "\r", "\nagentcli: approved"} {
		if strings.Contains(out, bad) {
			t.Errorf("progress holds %q raw:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, `\x1b[2J`) || !strings.Contains(out, `\u202eevil`) {
		t.Errorf("progress does not show the hostile text escaped:\n%s", out)
	}
}

func TestRetries(t *testing.T) {
	e := newEnv(t)
	srv := fakeoai.New(t,
		fakeoai.Reply{Status: 429, Header: map[string]string{"Retry-After": "0"}, Body: fakeoai.Error(429, "Rate limit reached", "requests").Body},
		fakeoai.Error(500, "The server had an error", "server_error"),
		fakeoai.Error(503, "overloaded", "server_error"),
		fakeoai.Answer("ok"),
	)
	var waits []time.Duration
	tr := &Transport{Retries: 3, Backoff: 100 * time.Millisecond, Sleep: func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}}
	answer, _, err := e.run(t, srv, Options{Client: client(srv, tr)}, prompt("hi"))
	if err != nil || answer != "ok" {
		t.Fatalf("answer %q err %v", answer, err)
	}
	if len(srv.Requests()) != 4 || len(waits) != 3 {
		t.Fatalf("%d requests, %d waits", len(srv.Requests()), len(waits))
	}
	// Retry-After: 0 is honoured; then jittered exponential backoff: after
	// attempt n, between half and all of Backoff·2^n.
	if waits[0] != 0 || waits[1] < 100*time.Millisecond || waits[1] > 200*time.Millisecond || waits[2] < 200*time.Millisecond || waits[2] > 400*time.Millisecond {
		t.Errorf("waits %v", waits)
	}

	t.Run("retries run out", func(t *testing.T) {
		srv := fakeoai.New(t, fakeoai.Error(500, "down", "server_error"), fakeoai.Error(502, "still down", "server_error"))
		_, _, err := e.run(t, srv, Options{Client: client(srv, &Transport{Retries: 1})}, prompt("hi"))
		if err == nil || !strings.Contains(err.Error(), "502 Bad Gateway: still down") {
			t.Errorf("err %v", err)
		}
	})
}

func TestClientErrorsFailFast(t *testing.T) {
	e := newEnv(t)
	srv := fakeoai.New(t, fakeoai.Error(401, "Incorrect API key provided: sk-test***6789.", "invalid_request_error"))
	_, _, err := e.run(t, srv, Options{Client: client(srv, &Transport{Retries: 5})}, prompt("hi"))
	if err == nil || !strings.Contains(err.Error(), "401 Unauthorized: Incorrect API key provided") {
		t.Errorf("err %v", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests for a 401, want 1", n)
	}
	if auth := srv.Requests()[0].Header.Get("Authorization"); auth != "Bearer sk-test-key-0123456789" {
		t.Errorf("Authorization %q", auth)
	}
}

func TestHangingServer(t *testing.T) {
	e := newEnv(t)
	srv := fakeoai.New(t, fakeoai.Reply{Hang: true}, fakeoai.Reply{Hang: true})
	_, _, err := e.run(t, srv, Options{Client: client(srv, &Transport{Timeout: 150 * time.Millisecond, Retries: 1})}, prompt("hi"))
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("err %v, want a *TimeoutError", err)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("%d requests, want 2 (one retry)", n)
	}
}

func TestStepLimit(t *testing.T) {
	e := newEnv(t)
	srv := fakeoai.New(t)
	loop := fakeoai.ToolCalls(fakeoai.Call{ID: "again", Name: "noop", Args: `{"n":0}`})
	srv.Repeat = &loop
	_, msgs, err := e.run(t, srv, Options{MaxSteps: 3}, prompt("loop"))
	var se *StepLimitError
	if !errors.As(err, &se) || err.Error() != "reached maximum steps (3); needs human review" {
		t.Fatalf("err %v", err)
	}
	if len(srv.Requests()) != 3 || msgs[len(msgs)-1].Role != openai.ChatMessageRoleTool {
		t.Errorf("%d requests; transcript ends with %s", len(srv.Requests()), msgs[len(msgs)-1].Role)
	}
}

// Cancelling the run kills the running tool at once.
func TestCancelMidTool(t *testing.T) {
	e := newEnv(t)
	srv := fakeoai.New(t, fakeoai.ToolCalls(fakeoai.Call{ID: "s1", Name: "sleeper", Args: `{}`}))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for !sleeperRunning() {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	res, err := Run(ctx, Options{Client: client(srv, nil), Host: e.h, Model: "m"}, prompt("sleep"))
	msgs := res.Messages
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if sleeperRunning() {
		t.Error("the tool outlived the cancelled run")
	}
	last := msgs[len(msgs)-1]
	if last.Role != openai.ChatMessageRoleTool || !strings.Contains(last.Content, protocol.CodeCancelled) {
		t.Errorf("last message %+v", last)
	}
}

func sleeperRunning() bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if c, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.Contains(string(c), "4321.5") {
			if s, _ := os.ReadFile("/proc/" + e.Name() + "/stat"); !strings.Contains(string(s), ") Z ") {
				return true
			}
		}
	}
	return false
}

func TestStreaming(t *testing.T) {
	e := newEnv(t)
	srv := fakeoai.New(t,
		fakeoai.StreamToolCalls(3, fakeoai.Call{ID: "call_s1", Name: "noop", Args: `{"n":41}`}, fakeoai.Call{ID: "call_s2", Name: "noop", Args: `{"n":42}`}),
		fakeoai.StreamAnswer("The ", "answer ", "is 41 and 42."),
	)
	answer, _, err := e.run(t, srv, Options{Stream: true}, prompt("stream"))
	if err != nil {
		t.Fatal(err)
	}
	if answer != "The answer is 41 and 42." {
		t.Errorf("answer %q", answer)
	}
	reqs := srv.Requests()
	if reqs[0].Body()["stream"] != true {
		t.Errorf("stream not asked for: %v", reqs[0].Body()["stream"])
	}
	// The assembled calls went back to the model as one assistant message.
	msgs := reqs[1].Messages()
	calls, _ := msgs[2]["tool_calls"].([]any)
	if len(calls) != 2 {
		t.Fatalf("assistant message %v", msgs[2])
	}
	got := toolMessages(reqs[1])
	if got[0]["content"] != `{"n":41}` || got[1]["content"] != `{"n":42}` {
		t.Errorf("tool messages %v", got)
	}
}

func TestSamplingKnobs(t *testing.T) {
	e := newEnv(t)
	zero, half := 0.0, 0.5
	srv := fakeoai.New(t, fakeoai.Answer("a"), fakeoai.Answer("b"))
	e.run(t, srv, Options{Temperature: &zero}, prompt("x"))
	e.run(t, srv, Options{TopP: &half}, prompt("x"))
	reqs := srv.Requests()
	if temp, ok := reqs[0].Body()["temperature"].(float64); !ok || temp > 1e-6 {
		t.Errorf("temperature 0 sent as %v (present %v)", reqs[0].Body()["temperature"], ok)
	}
	if _, ok := reqs[1].Body()["temperature"]; ok || reqs[1].Body()["top_p"] != 0.5 {
		t.Errorf("one knob: %s", reqs[1].Raw)
	}

	t.Run("a model that takes no temperature", func(t *testing.T) {
		one := 1.0
		srv := fakeoai.New(t, fakeoai.Error(400, "Unsupported value: 'temperature' does not support 1 with this model.", "invalid_request_error"), fakeoai.Answer("fine"))
		answer, _, err := e.run(t, srv, Options{Temperature: &one}, prompt("x"))
		if err != nil || answer != "fine" {
			t.Fatalf("answer %q err %v", answer, err)
		}
		if _, ok := srv.Requests()[1].Body()["temperature"]; ok {
			t.Error("asked again with the temperature")
		}
	})
}

func TestResume(t *testing.T) {
	e := newEnv(t)
	srv := fakeoai.New(t, fakeoai.Answer("resumed"))
	// Saved mid-step: the assistant asked for two calls, one has a result.
	msgs := append(prompt("p"),
		openai.ChatCompletionMessage{Role: openai.ChatMessageRoleAssistant, ToolCalls: []openai.ToolCall{
			{ID: "k1", Type: "function", Function: openai.FunctionCall{Name: "noop", Arguments: `{"n":1}`}},
			{ID: "k2", Type: "function", Function: openai.FunctionCall{Name: "noop", Arguments: `{"n":2}`}},
		}},
		openai.ChatCompletionMessage{Role: openai.ChatMessageRoleTool, ToolCallID: "k1", Content: `{"n":1}`},
	)
	path := filepath.Join(t.TempDir(), "m.json")
	if err := SaveMessages(path, msgs, nil); err != nil {
		t.Fatal(err)
	}
	loaded, _, err := LoadMessages(path)
	if err != nil {
		t.Fatal(err)
	}
	answer, out, err := e.run(t, srv, Options{}, loaded)
	if err != nil || answer != "resumed" {
		t.Fatalf("answer %q err %v", answer, err)
	}
	if got := toolMessages(srv.Requests()[0]); len(got) != 2 || got[1]["tool_call_id"] != "k2" || got[1]["content"] != `{"n":2}` {
		t.Errorf("tool messages sent %v", got)
	}
	// A finished conversation is sent all the same, as goagent sends it.
	srv2 := fakeoai.New(t, fakeoai.Answer("again"))
	answer, _, err = e.run(t, srv2, Options{}, out)
	if err != nil || answer != "again" || len(srv2.Requests()[0].Messages()) != len(out) {
		t.Errorf("answer %q err %v", answer, err)
	}
}

func TestValidate(t *testing.T) {
	call := func(id string) openai.ToolCall {
		return openai.ToolCall{ID: id, Type: "function", Function: openai.FunctionCall{Name: "noop"}}
	}
	asst := func(ids ...string) openai.ChatCompletionMessage {
		m := openai.ChatCompletionMessage{Role: "assistant"}
		for _, id := range ids {
			m.ToolCalls = append(m.ToolCalls, call(id))
		}
		return m
	}
	tool := func(id string) openai.ChatCompletionMessage {
		return openai.ChatCompletionMessage{Role: "tool", ToolCallID: id, Content: "{}"}
	}
	user := openai.ChatCompletionMessage{Role: "user", Content: "hi"}
	tests := []struct {
		name string
		msgs []openai.ChatCompletionMessage
		want string
	}{
		{"ok", []openai.ChatCompletionMessage{user, asst("a", "b"), tool("b"), tool("a"), user}, ""},
		{"pending calls at the end are fine", []openai.ChatCompletionMessage{user, asst("a")}, ""},
		{"unknown role", []openai.ChatCompletionMessage{{Role: "wizard"}}, "unknown role"},
		{"no role", []openai.ChatCompletionMessage{{Content: "x"}}, "no role"},
		{"tool without a call", []openai.ChatCompletionMessage{user, tool("x")}, `answers tool call "x"`},
		{"answered twice", []openai.ChatCompletionMessage{user, asst("a"), tool("a"), tool("a")}, "answered twice"},
		{"unanswered then user", []openai.ChatCompletionMessage{user, asst("a"), user}, "follows tool calls that have no results"},
		{"call without an id", []openai.ChatCompletionMessage{user, {Role: "assistant", ToolCalls: []openai.ToolCall{{Function: openai.FunctionCall{Name: "n"}}}}}, "no id"},
		{"duplicate call ids", []openai.ChatCompletionMessage{user, asst("a", "a")}, "used twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.msgs)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestLoadMessagesFormats(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"wrapper.json": `{"messages":[{"role":"user","content":"hi"}],"prestage":{"source":"default","bytes":0}}`,
		"bare.json":    `[{"role":"user","content":"hi"}]`,
	} {
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600)
		msgs, _, err := LoadMessages(filepath.Join(dir, name))
		if err != nil || len(msgs) != 1 || msgs[0].Content != "hi" {
			t.Errorf("%s: %v %v", name, msgs, err)
		}
	}
	for name, body := range map[string]string{"empty.json": `{"messages":[]}`, "bad.json": `{"messages":`, "invalid.json": `[{"role":"tool","tool_call_id":"x","content":"{}"}]`} {
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600)
		if _, _, err := LoadMessages(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s loaded", name)
		}
	}
}

// An answer cut at the length limit is asked for once more with a larger
// max_tokens; one still cut is used, with a warning that is never quiet.
func TestLengthRetry(t *testing.T) {
	e := newEnv(t)
	srv := fakeoai.New(t, fakeoai.CutAnswer("The answer is cu", 3000), fakeoai.Answer("The answer is complete."))
	var warn bytes.Buffer
	answer, _, err := e.run(t, srv, Options{Warn: &warn}, prompt("long"))
	if err != nil || answer != "The answer is complete." || warn.Len() != 0 {
		t.Fatalf("answer %q, err %v, warnings %q", answer, err, warn.String())
	}
	reqs := srv.Requests()
	if _, ok := reqs[0].Body()["max_tokens"]; ok || reqs[1].Body()["max_tokens"] != 6000.0 {
		t.Errorf("max_tokens: first %v, retry %v; want none, then twice the 3000 generated", reqs[0].Body()["max_tokens"], reqs[1].Body()["max_tokens"])
	}
	if len(reqs[1].Messages()) != len(reqs[0].Messages()) {
		t.Error("the retry is not the same request")
	}

	srv = fakeoai.New(t, fakeoai.CutAnswer("short and cu", 10), fakeoai.CutAnswer("still cu", 4096))
	warn.Reset()
	answer, _, err = e.run(t, srv, Options{Warn: &warn}, prompt("long"))
	if err != nil || answer != "still cu" || !strings.Contains(warn.String(), "warning: step 1: the answer is cut at the model's length limit even with max_tokens 4096") {
		t.Errorf("answer %q, err %v, warnings %q", answer, err, warn.String())
	}
	if got := srv.Requests()[1].Body()["max_tokens"]; got != 4096.0 {
		t.Errorf("retry max_tokens %v, want at least 4096", got)
	}
}

// An empty reply (no content, no tool calls) is kept and the model asked
// again, within the step limit, as goagent does.
func TestEmptyReplyAsksAgain(t *testing.T) {
	e := newEnv(t)
	srv := fakeoai.New(t, fakeoai.Answer(""), fakeoai.Answer("  "), fakeoai.Answer("There."))
	answer, msgs, err := e.run(t, srv, Options{}, prompt("hello?"))
	if err != nil || answer != "There." || len(srv.Requests()) != 3 || len(msgs) != 5 {
		t.Fatalf("answer %q, err %v, %d requests, %d messages", answer, err, len(srv.Requests()), len(msgs))
	}
	srv = fakeoai.New(t, fakeoai.Answer(""), fakeoai.Answer(""))
	var limit *StepLimitError
	if _, _, err := e.run(t, srv, Options{MaxSteps: 2}, prompt("hello?")); !errors.As(err, &limit) {
		t.Errorf("err %v, want the step limit", err)
	}
}

// A server that answers streamed requests with one JSON document gets the
// request again without streaming, and no more streamed requests.
func TestStreamFallback(t *testing.T) {
	e := newEnv(t)
	srv := fakeoai.New(t,
		fakeoai.ToolCalls(fakeoai.Call{ID: "call_1", Name: "noop", Args: `{"n":7}`}), // to the streamed request: thrown away
		fakeoai.ToolCalls(fakeoai.Call{ID: "call_1", Name: "noop", Args: `{"n":7}`}),
		fakeoai.Answer("Seven."),
	)
	var progress bytes.Buffer
	answer, _, err := e.run(t, srv, Options{Stream: true, Progress: &progress}, prompt("seven"))
	if err != nil || answer != "Seven." {
		t.Fatalf("answer %q, err %v\n%s", answer, err, progress.String())
	}
	reqs := srv.Requests()
	if len(reqs) != 3 || reqs[0].Body()["stream"] != true || reqs[1].Body()["stream"] == true || reqs[2].Body()["stream"] == true {
		t.Errorf("%d requests; stream: %v %v", len(reqs), reqs[0].Body()["stream"], reqs[1].Body()["stream"])
	}
	if !strings.Contains(progress.String(), "the server does not stream its answers; asking again without streaming") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

// Harmony channels: a reply on a channel other than final is kept, sent
// back with its channel, shown through OnChannel, and the model asked on
// until it answers on the final channel (or none), streamed or not; the
// channels survive a save and a load.
func TestChannels(t *testing.T) {
	e := newEnv(t)
	for _, stream := range []bool{false, true} {
		srv := fakeoai.New(t,
			fakeoai.ChannelAnswer("analysis", "The user wants a number. Think."),
			fakeoai.ChannelAnswer("commentary", "About to answer."),
			fakeoai.ChannelAnswer("final", "Forty-two."),
		)
		if stream {
			srv = fakeoai.New(t,
				fakeoai.StreamChannelAnswer("analysis", "The user wants ", "a number."),
				fakeoai.StreamChannelAnswer("final", "Forty-", "two."),
			)
		}
		var seen []string
		res, err := Run(context.Background(), Options{Client: client(srv, nil), Host: e.h, Model: "gpt-oss", Stream: stream,
			OnChannel: func(ch, text string) { seen = append(seen, ch+": "+text) }}, prompt("number?"))
		if err != nil || res.Answer != "Forty-two." {
			t.Fatalf("stream %v: answer %q, err %v", stream, res.Answer, err)
		}
		if len(seen) == 0 || !strings.HasPrefix(seen[0], "analysis: The user wants") {
			t.Errorf("stream %v: channels seen %q", stream, seen)
		}
		reqs := srv.Requests()
		last := reqs[len(reqs)-1].Messages()
		if last[2]["role"] != "assistant" || last[2]["channel"] != "analysis" {
			t.Errorf("stream %v: the analysis message went back as %v", stream, last[2])
		}
		if res.Channels[2] != "analysis" || res.Channels[len(res.Messages)-1] != "final" {
			t.Errorf("stream %v: channels %v", stream, res.Channels)
		}

		path := filepath.Join(t.TempDir(), "m.json")
		if err := SaveMessages(path, res.Messages, res.Channels); err != nil {
			t.Fatal(err)
		}
		_, loaded, err := LoadMessages(path)
		if err != nil || loaded[2] != "analysis" || len(loaded) != len(res.Channels) {
			t.Errorf("stream %v: loaded channels %v (%v)", stream, loaded, err)
		}
	}
}
