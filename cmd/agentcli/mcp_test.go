package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/toolhost/toolhost/internal/mcpserve"
)

// mcpServer is a running "agentcli mcp" with an mcp-go client on its
// stdio.
type mcpServer struct {
	c      *client.Client
	cmd    *exec.Cmd
	stderr *syncBuffer
	dir    string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startMCP(t testing.TB, dir string, args ...string) *mcpServer {
	t.Helper()
	return startMCPVersion(t, mcp.LATEST_LEGACY_PROTOCOL_VERSION, dir, args...)
}

// startMCPVersion starts a server and a client that asks for protocol
// version (the newest, stateless one is negotiated with server/discover
// instead of initialize).
func startMCPVersion(t testing.TB, version, dir string, args ...string) *mcpServer {
	t.Helper()
	s := &mcpServer{stderr: &syncBuffer{}, dir: dir}
	args = append([]string{"mcp", "-tools", filepath.Join(dir, "tools.json"), "-workspace", dir}, args...)
	tr := transport.NewStdioWithOptions(filepath.Join(built, "agentcli"), nil, args,
		transport.WithCommandFunc(func(ctx context.Context, command string, env, args []string) (*exec.Cmd, error) {
			cmd := exec.Command(command, args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), env...)
			cmd.Stderr = s.stderr
			s.cmd = cmd
			return cmd, nil
		}))
	s.c = client.NewClient(tr)
	if err := s.c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.c.Close()
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = version
	init.Params.ClientInfo = mcp.Implementation{Name: "toolhost-test", Version: "1"}
	if _, err := s.c.Initialize(ctx, init); err != nil {
		t.Fatalf("initialize: %v\nstderr: %s", err, s.stderr.String())
	}
	if got := s.c.ProtocolVersion(); got != version {
		t.Fatalf("protocol version %s negotiated, want %s", got, version)
	}
	return s
}

func (s *mcpServer) call(t *testing.T, ctx context.Context, name string, args any) *mcp.CallToolResult {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := s.c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("call %s: %v\nstderr: %s", name, err, s.stderr.String())
	}
	return res
}

func text(r *mcp.CallToolResult) string {
	var parts []string
	for _, c := range r.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "")
}

// Every protocol revision the library speaks: the stateless one
// (2026-07-28, negotiated with server/discover) and those negotiated with
// initialize.
func TestMCPStdio(t *testing.T) {
	for _, v := range mcp.ValidProtocolVersions {
		t.Run(v, func(t *testing.T) { testMCPStdio(t, v) })
	}
}

func testMCPStdio(t *testing.T, version string) {
	dir := project(t, `{"name":"sleeper","command":["/bin/sleep","1234.5"],"timeoutSec":120}`)
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello mcp"), 0o644)
	s := startMCPVersion(t, version, dir)
	ctx := context.Background()

	tools, err := s.c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]mcp.Tool{}
	for _, tl := range tools.Tools {
		byName[tl.Name] = tl
	}
	if len(byName) != 6 {
		t.Errorf("%d tools listed", len(byName))
	}
	rf := byName["fs_read_file"]
	if rf.Annotations.ReadOnlyHint == nil || !*rf.Annotations.ReadOnlyHint || rf.Title == "" || rf.OutputSchema.Type != "object" {
		t.Errorf("fs_read_file listed as %+v", rf)
	}
	if _, ok := rf.InputSchema.Properties["path"]; !ok {
		t.Errorf("input schema %+v", rf.InputSchema)
	}
	// Resident tools say so in _meta, with their settings; others not.
	if gt := byName["get_time"]; gt.Meta == nil || gt.Meta.AdditionalFields[mcpserve.ResidentMeta] == nil || rf.Meta != nil {
		t.Errorf("get_time's _meta %+v, fs_read_file's %+v", gt.Meta, rf.Meta)
	} else if b, _ := json.Marshal(gt.Meta.AdditionalFields[mcpserve.ResidentMeta]); !strings.Contains(string(b), `"idleSec":120`) {
		t.Errorf("get_time's resident settings: %s", b)
	}
	// A resident tool's call, twice: the same process serves both.
	for range 2 {
		if res := s.call(t, ctx, "get_time", map[string]any{"timezone": "Europe/Paris"}); res.IsError || !strings.Contains(text(res), "Europe/Paris") {
			t.Errorf("get_time: %s", text(res))
		}
	}

	if !mcp.IsModernProtocol(version) {
		//lint:ignore SA1019 ping is part of every revision before 2026-07-28, which clients still speak
		if err := s.c.Ping(ctx); err != nil {
			t.Errorf("ping: %v", err)
		}
	}

	res := s.call(t, ctx, "fs_read_file", map[string]any{"path": "hello.txt"})
	var sc struct{ Content string }
	b, _ := json.Marshal(res.StructuredContent)
	if res.IsError || json.Unmarshal(b, &sc) != nil || sc.Content != "hello mcp" || !strings.Contains(text(res), "hello mcp") {
		t.Errorf("result %+v", res)
	}
	for _, c := range []struct {
		name string
		args any
		want string
	}{
		{"fs_read_file", map[string]any{"path": "/etc/passwd"}, `"code":"DENIED"`},
		{"fs_read_file", map[string]any{"path": "missing.txt"}, `"code":"NOT_FOUND"`},
		{"fs_write_file", map[string]any{"path": "x.txt", "content": "x"}, `"code":"NEEDS_APPROVAL"`},
		// Advice the client's user can act on: a model cannot pass flags.
		{"fs_write_file", map[string]any{"path": "x.txt", "content": "x"}, `the operator of this MCP server can start it with -approve fs_write_file`},
		{"fs_read_file", map[string]any{"path": 5}, `"code":"INVALID_ARGS"`},
		{"fs_read_file", map[string]any{"path": 5}, `/path: expected string, but got number`},
	} {
		res := s.call(t, ctx, c.name, c.args)
		if !res.IsError || !strings.Contains(text(res), c.want) {
			t.Errorf("%s %v: isError %v %s, want %s", c.name, c.args, res.IsError, text(res), c.want)
		}
	}

	// An unknown tool is a protocol error, as the MCP spec has it.
	unknown := mcp.CallToolRequest{}
	unknown.Params.Name = "invented"
	if _, err := s.c.CallTool(ctx, unknown); err == nil || !strings.Contains(err.Error(), "invented") {
		t.Errorf("unknown tool: %v", err)
	}

	// Cancelling a call kills its tool at once.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		req := mcp.CallToolRequest{}
		req.Params.Name = "sleeper"
		_, err := s.c.CallTool(cctx, req)
		done <- err
	}()
	waitFor(t, sleeperRunning)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v", err)
	}
	waitFor(t, func() bool { return !sleeperRunning() })

	s.c.Close()
	if s.cmd.ProcessState == nil || !s.cmd.ProcessState.Success() {
		t.Errorf("server exit: %v\n%s", s.cmd.ProcessState, s.stderr.String())
	}
	if !strings.Contains(s.stderr.String(), "serving 6 tools from") {
		t.Errorf("no banner: %s", s.stderr.String())
	}
	// Every call is audited with frontend mcp, refusals by the gate too.
	if !strings.Contains(string(auditOf(dir)), `"decision":"needs-approval","rule":"rule:writes","code":"NEEDS_APPROVAL"`) {
		t.Errorf("the refused write is not audited with its decision:\n%s", auditOf(dir))
	}
	data, _ := os.ReadFile(filepath.Join(dir, "state", "toolhost", "audit.jsonl"))
	if n := strings.Count(string(data), `"resident":true`); n != 2 {
		t.Errorf("%d audit records of resident calls, want 2:\n%s", n, data)
	}
	if n := strings.Count(string(data), `"frontend":"mcp","caller":"stdio"`); n != 11 || !strings.Contains(string(data), `"tool":"invented"`) || !strings.Contains(string(data), `"code":"UNKNOWN_TOOL","message":"unknown tool \"invented\"`) {
		t.Errorf("%d audit records from mcp, want 11 with the unknown tool's:\n%s", n, data)
	}
}

// At the end of stdin the server answers what it read before it: a call
// that ends within the kill grace with its result, one that does not
// (its tool ignores SIGTERM) CANCELLED, its tool killed; then it exits.
// The client here is raw JSON-RPC on pipes, as "echo REQUEST | agentcli
// mcp" is, so that nothing but the end of input tells the server to go.
func TestMCPStdinEOF(t *testing.T) {
	srv := startStubborn(t, "1s")
	io.WriteString(srv.stdin, handshakeAndCall("stubborn")+
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_time","arguments":{"timezone":"UTC"}}}`+"\n")
	waitFor(t, sleeperRunning)
	answers := srv.endInput(t)
	if a := answers["3"]; strings.Contains(a, `"isError":true`) || !strings.Contains(a, "UTC") {
		t.Errorf("get_time, read before the end of input, answered %q", a)
	}
	if a := answers["2"]; !strings.Contains(a, `"isError":true`) || !strings.Contains(a, "CANCELLED") || strings.Contains(a, "LAUNCH_FAILED") {
		t.Errorf("the stubborn call answered %q, want CANCELLED", a)
	}
}

// stubbornServer is "agentcli mcp" on raw pipes.
type stubbornServer struct {
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr *syncBuffer
}

// startStubborn starts "agentcli mcp" on raw pipes, with the kill grace
// given, serving the toolbelt and "stubborn", a tool that ignores SIGTERM
// (its process has 1234.5 in its command line). It is killed when the
// test ends.
func startStubborn(t *testing.T, grace string) *stubbornServer {
	dir := project(t, `{"name":"stubborn","command":["/bin/sh","-c","trap '' TERM; exec /bin/sleep 1234.5"],"timeoutSec":120}`)
	s := &stubbornServer{cmd: exec.Command(filepath.Join(built, "agentcli"), "mcp", "-tools", "tools.json", "-kill-grace", grace),
		stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	s.cmd.Dir = dir
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill() })
	return s
}

// endInput closes the server's stdin and wants it to exit with no tool
// left running and nothing but JSON-RPC messages on stdout, which it
// returns by id.
func (s *stubbornServer) endInput(t *testing.T) map[string]string {
	t.Helper()
	s.stdin.Close()
	if err := waitExit(t, s.cmd); err != nil {
		t.Errorf("server exit: %v\n%s", err, s.stderr.String())
	}
	if sleeperRunning() {
		t.Error("the tool outlived the server")
	}
	answers := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(s.stdout.String()), "\n") {
		var msg struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
		}
		if json.Unmarshal([]byte(line), &msg) != nil || msg.JSONRPC != "2.0" {
			t.Errorf("stdout line %q is not a JSON-RPC message", line)
		}
		answers[string(msg.ID)] = line
	}
	return answers
}

// The end of input ends the server on every revision, whatever is open:
// a subscriptions/listen (of the stateless revision) at once, even with a
// kill grace of an hour; a running call once the grace is over, its tool
// killed and the call answered CANCELLED.
func TestMCPStdinEOFEveryRevision(t *testing.T) {
	for _, rev := range mcp.ValidProtocolVersions {
		t.Run(rev, func(t *testing.T) {
			stateless := rev >= mcp.ProtocolVersion20260728
			// Each request of the stateless revision carries its metadata;
			// the others shake hands once.
			params, opening := "{}", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+rev+`","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}
{"jsonrpc":"2.0","method":"notifications/initialized"}
`
			if stateless {
				params = `{"_meta":{"io.modelcontextprotocol/protocolVersion":"` + rev + `","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}`
				opening = `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":` + params + "}\n"
			}
			withParams := func(req string) string { return strings.Replace(req, "{}}", params+"}", 1) + "\n" }
			// A listen for nothing is answered at once; one for the tool
			// list stays open.
			listen := strings.Replace(withParams(`{"jsonrpc":"2.0","id":"listen","method":"subscriptions/listen","params":{}}`),
				`"params":{`, `"params":{"notifications":{"toolsListChanged":true},`, 1)
			call := `{"jsonrpc":"2.0","id":"call","method":"tools/call","params":{"name":"stubborn","arguments":{}}}` + "\n"
			if stateless {
				call = strings.Replace(call, `"arguments":{}`, `"arguments":{},"_meta":`+strings.TrimSuffix(strings.TrimPrefix(params, `{"_meta":`), "}"), 1)
			}
			// run sends requests, waits until open says they are under
			// way, closes stdin and returns the answers by id.
			run := func(t *testing.T, grace, requests string, open func(stdout string) bool) map[string]string {
				srv := startStubborn(t, grace)
				io.WriteString(srv.stdin, opening+requests)
				waitFor(t, func() bool { return open(srv.stdout.String()) })
				return srv.endInput(t)
			}
			if stateless {
				t.Run("listen", func(t *testing.T) {
					answers := run(t, "1h", listen, func(stdout string) bool {
						return strings.Contains(stdout, "notifications/subscriptions/acknowledged")
					})
					if a := answers[`"listen"`]; !strings.Contains(a, `"result"`) {
						t.Errorf("the listen answered %q, want its result", a)
					}
				})
			}
			t.Run("call", func(t *testing.T) {
				answers := run(t, "1s", call, func(string) bool { return sleeperRunning() })
				if a := answers[`"call"`]; !strings.Contains(a, "CANCELLED") {
					t.Errorf("the running call answered %q, want CANCELLED", a)
				}
			})
		})
	}
}

// SIGTERM ends the server and every running tool, even one that ignores
// SIGTERM itself: no grace period is waited for.
func TestMCPSigterm(t *testing.T) {
	dir := project(t, `{"name":"stubborn","command":["/bin/sh","-c","trap '' TERM; exec /bin/sleep 1234.5"],"timeoutSec":120}`)
	s := startMCP(t, dir, "-kill-grace", "1h")
	go func() {
		req := mcp.CallToolRequest{}
		req.Params.Name = "stubborn"
		s.c.CallTool(context.Background(), req)
	}()
	waitFor(t, sleeperRunning)
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(t, s.cmd); err != nil {
		t.Errorf("server exit: %v\n%s", err, s.stderr.String())
	}
	if sleeperRunning() {
		t.Error("the tool outlived the server")
	}
}

// Progress notifications flow while a call with a progress token runs.
func TestMCPProgress(t *testing.T) {
	for _, v := range []string{mcp.LATEST_PROTOCOL_VERSION, mcp.LATEST_LEGACY_PROTOCOL_VERSION} {
		t.Run(v, func(t *testing.T) { testMCPProgress(t, v) })
	}
}

func testMCPProgress(t *testing.T, version string) {
	dir := project(t, `{"name":"slow","command":["/bin/sh","-c","sleep 2.2; echo '{}'"],"timeoutSec":60}`)
	s := startMCPVersion(t, version, dir)
	var mu sync.Mutex
	var got []map[string]any
	s.c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/progress" {
			mu.Lock()
			got = append(got, n.Params.AdditionalFields)
			mu.Unlock()
		}
	})
	req := mcp.CallToolRequest{}
	req.Params.Name = "slow"
	req.Params.Meta = &mcp.Meta{ProgressToken: "tok-1"}
	if res, err := s.c.CallTool(context.Background(), req); err != nil || res.IsError {
		t.Fatalf("%v %+v", err, res)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 2 || got[0]["progressToken"] != "tok-1" {
		t.Errorf("progress notifications %v", got)
	}
}

// A changed manifest is re-vetted: a good one replaces the tools and
// clients hear of it; a broken one is refused and the old tools stay.
func TestMCPReload(t *testing.T) {
	dir := project(t)
	s := startMCP(t, dir)
	changed := make(chan struct{}, 10)
	s.c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/tools/list_changed" {
			changed <- struct{}{}
		}
	})
	path := filepath.Join(dir, "tools.json")
	data, _ := os.ReadFile(path)
	i := bytes.Index(data, []byte(`"tools": [`)) + len(`"tools": [`)
	grown := string(data[:i]) + `{"name":"extra","command":["/bin/true"]},` + string(data[i:])
	os.WriteFile(path, []byte(grown), 0o644)
	select {
	case <-changed:
	case <-time.After(30 * time.Second):
		t.Fatalf("no list_changed notification\n%s", s.stderr.String())
	}
	tools, _ := s.c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if len(tools.Tools) != 6 {
		t.Errorf("%d tools after reload, want 6", len(tools.Tools))
	}
	os.WriteFile(path, []byte(`{"tools":[{"name":"broken"`), 0o644)
	waitFor(t, func() bool { return strings.Contains(s.stderr.String(), "reload refused") })
	tools, _ = s.c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if len(tools.Tools) != 6 {
		t.Errorf("%d tools after a broken manifest, want the previous 6", len(tools.Tools))
	}
}

func TestMCPConfig(t *testing.T) {
	dir := project(t)
	code, out, errs := runIn(t, dir, "mcp", "config", "-tools", "tools.json")
	if code != 0 || !strings.Contains(out, `"mcpServers"`) || !strings.Contains(out, `"type": "stdio"`) || !strings.Contains(out, filepath.Join(dir, "tools.json")) {
		t.Errorf("exit %d: %s %s", code, out, errs)
	}
	code, out, _ = runIn(t, dir, "mcp", "config", "-http", "127.0.0.1:8080")
	if code != 0 || !strings.Contains(out, `"url": "http://127.0.0.1:8080/mcp"`) {
		t.Errorf("exit %d: %s", code, out)
	}
	code, out, _ = runIn(t, dir, "mcp", "config", "-http", "127.0.0.1:8080", "-bearer")
	if code != 0 || !strings.Contains(out, `"Authorization": "Bearer ${input:toolhost-token}"`) || !strings.Contains(out, `"password": true`) ||
		!strings.Contains(out, `"Authorization": "Bearer REPLACE_WITH_TOKEN"`) {
		t.Errorf("exit %d: %s", code, out)
	}
	if code, _, errs := runIn(t, dir, "mcp", "config", "-bearer"); code != 2 || !strings.Contains(errs, "-bearer needs -http") {
		t.Errorf("exit %d: %s", code, errs)
	}
	// Refused before anything is opened or announced.
	if code, _, errs := runIn(t, dir, "mcp", "-http", "0.0.0.0:0"); code != 2 || !strings.Contains(errs, "refusing to listen on 0.0.0.0:0 without auth") || strings.Contains(errs, "serving") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

// handshakeAndCall is what a raw client writes to call tool: the
// initialize handshake, then the call (id 2).
func handshakeAndCall(tool string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}
{"jsonrpc":"2.0","method":"notifications/initialized"}
{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}
`
}

// waitExit waits for cmd to exit, which the server must do within 2
// seconds; the bound here is far looser, so that a slow machine does not
// fail the test, and only keeps a broken server from hanging it.
func waitExit(t *testing.T, cmd *exec.Cmd) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		cmd.Process.Signal(syscall.SIGQUIT)
		<-done
		t.Fatal("the server did not exit")
		return nil
	}
}

// waitFor polls cond; the bound only keeps a broken build from hanging.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition never met")
		}
	}
}

// A client that closes both pipes while a call runs: the server's answer
// meets a broken pipe, which must not kill it before the call's audit
// record is written.
func TestMCPClientGone(t *testing.T) {
	dir := project(t, `{"name":"sleeper","command":["/bin/sleep","1234.5"],"timeoutSec":120}`)
	cmd := exec.Command(filepath.Join(built, "agentcli"), "mcp", "-tools", "tools.json")
	cmd.Dir = dir
	stdin, err1 := cmd.StdinPipe()
	stdout, err2 := cmd.StdoutPipe()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := errors.Join(err1, err2, cmd.Start()); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	io.WriteString(stdin, handshakeAndCall("sleeper"))
	waitFor(t, sleeperRunning)
	stdout.Close()
	stdin.Close()
	err := waitExit(t, cmd)
	if sleeperRunning() {
		t.Error("the tool outlived the server")
	}
	if status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && status.Signaled() {
		t.Fatalf("the server died of %v\n%s", status.Signal(), stderr.String())
	}
	if err != nil {
		t.Errorf("server exit: %v\n%s", err, stderr.String())
	}
	data, _ := os.ReadFile(filepath.Join(dir, "state", "toolhost", "audit.jsonl"))
	if !strings.Contains(string(data), `"tool":"sleeper"`) {
		t.Errorf("the call is not in the audit log:\n%s", data)
	}
}

func auditOf(dir string) []byte {
	data, _ := os.ReadFile(filepath.Join(dir, "state", "toolhost", "audit.jsonl"))
	return data
}

// MCP over HTTP requires a bearer token even on loopback: without one
// configured, agentcli makes one (0600, in its configuration folder, kept
// from tools by the floor), names the file, and refuses requests without
// it; -no-auth serves loopback without a token, loudly.
func TestMCPHTTPTokenByDefault(t *testing.T) {
	dir := project(t)
	config := filepath.Join(dir, "config")
	freePort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	start := func(args ...string) (addr string, stderr *syncBuffer) {
		addr = freePort()
		stderr = &syncBuffer{}
		cmd := exec.Command(filepath.Join(built, "agentcli"), append([]string{"mcp", "-tools", filepath.Join(dir, "tools.json"), "-http", addr}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+config, "XDG_STATE_HOME="+filepath.Join(dir, "state"))
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
		waitFor(t, func() bool {
			r, err := http.Get("http://" + addr + "/healthz")
			if err == nil {
				r.Body.Close()
			}
			return err == nil
		})
		return addr, stderr
	}
	post := func(addr, token string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}

	addr, stderr := start()
	file := filepath.Join(config, "toolhost", "mcp-token")
	if !strings.Contains(stderr.String(), "clients send the bearer token in "+file+" (made now)") {
		t.Errorf("the banner does not name the token file:\n%s", stderr.String())
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	data, _ := os.ReadFile(file)
	var token string
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "local" {
			token = f[1]
		}
	}
	if code := post(addr, ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", code)
	}
	if code := post(addr, token); code != http.StatusOK {
		t.Errorf("with the token: %d, want 200", code)
	}
	// The next start uses the same token.
	addr2, stderr2 := start()
	if strings.Contains(stderr2.String(), "(made now)") || post(addr2, token) != http.StatusOK {
		t.Errorf("the second start did not reuse the token:\n%s", stderr2.String())
	}
	// -no-auth: loopback only, and loud.
	addr3, stderr3 := start("-no-auth")
	if code := post(addr3, ""); code != http.StatusOK || !strings.Contains(stderr3.String(), "WARNING: -no-auth") {
		t.Errorf("-no-auth: %d\n%s", code, stderr3.String())
	}
	if code, _, errs := runIn(t, dir, "mcp", "-http", "0.0.0.0:0", "-no-auth"); code != 2 || !strings.Contains(errs, "-no-auth is for -http on a loopback address only") {
		t.Errorf("-no-auth off loopback: exit %d %s", code, errs)
	}
}

// The banner says the server is up only once it listens, with the
// address bound (port 0 resolved); an address in use is an error and no
// banner.
func TestMCPHTTPBanner(t *testing.T) {
	dir := project(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	code, _, errs := runIn(t, dir, "mcp", "-no-auth", "-http", taken.Addr().String())
	if code != exitFailed || !strings.Contains(errs, "address already in use") || strings.Contains(errs, "serving") {
		t.Errorf("address in use: exit %d\n%s", code, errs)
	}

	var stderr syncBuffer
	cmd := exec.Command(filepath.Join(built, "agentcli"), "mcp", "-no-auth", "-http", "127.0.0.1:0")
	cmd.Dir = dir
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	banner := regexp.MustCompile(`serving \d+ tools from .* over MCP http://(127\.0\.0\.1:\d+)/mcp `)
	var m []string
	waitFor(t, func() bool { m = banner.FindStringSubmatch(stderr.String()); return m != nil })
	r, err := http.Get("http://" + m[1] + "/healthz")
	if err != nil {
		t.Fatalf("the bound address of the banner: %v", err)
	}
	r.Body.Close()
}
