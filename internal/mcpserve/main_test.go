package mcpserve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/toolhost/toolhost/internal/audit"
	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/policy"
)

// The test binary doubles as every tool: run as
// "<test binary> mcpserve-helper <name>", it acts as the named helper.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "mcpserve-helper" {
		os.Exit(helper(os.Args[2]))
	}
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "goroutines left running after the tests:\n\n%s\n", strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// ranLog is the file, in the workspace, where every helper notes that it
// ran: a refused request must leave it as it was.
const ranLog = "ran.log"

func helper(name string) int {
	f, err := os.OpenFile(ranLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintln(f, name)
	f.Close()
	switch name {
	case "touch":
		// Succeeds at once.
	case "block":
		// Tells the test at args.addr that it runs, then holds its call
		// until the test closes the connection: no timing involved.
		var args struct{ Addr string }
		if err := json.NewDecoder(os.Stdin).Decode(&args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		conn, err := net.Dial("tcp", args.Addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// Only SIGKILL ends it: a cancellation that gave it the kill
		// grace would show.
		signal.Ignore(syscall.SIGTERM)
		fmt.Fprintln(conn, "started")
		io.Copy(io.Discard, conn)
		conn.Close()
	default:
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
		return 2
	}
	fmt.Println(`{"ok":true}`)
	return 0
}

// leakedGoroutines lists the goroutines of HTTP servers and clients, of
// mcp-go and of this project still running, after giving those that are
// ending up to five seconds to end.
func leakedGoroutines() []string {
	for attempt := 0; ; attempt++ {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for i, g := range strings.Split(string(buf), "\n\n") {
			if i == 0 {
				continue // this goroutine
			}
			for _, mark := range []string{"net/http.(*Server).Serve", "net/http.(*conn).serve", "net/http.(*persistConn)",
				"net/http/httptest", "github.com/mark3labs/mcp-go", "github.com/toolhost/toolhost"} {
				if strings.Contains(g, mark) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 || attempt == 100 {
			return leaked
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testTools are the tools every fixture serves.
func testTools(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tool := func(name, extra string) string {
		cmd, _ := json.Marshal([]string{exe, "mcpserve-helper", name})
		return fmt.Sprintf(`{"name":%q,"description":"Test helper %s.","command":%s,"envPassthrough":["GORACE"]%s}`, name, name, cmd, extra)
	}
	return `{"tools":[` +
		tool("touch", `,"sandbox":{"user":"root"}`) + "," + // it writes the workspace
		tool("block", `,"sandbox":{"user":"root"},"timeoutSec":600,"schema":{"type":"object","properties":{"addr":{"type":"string"}},"required":["addr"]}`) +
		`]}`
}

// fixture is a host served over real HTTP by HTTPHandler.
type fixture struct {
	t         *testing.T
	srv       *Server
	host      *host.Host
	audit     *audit.Log
	auditPath string
	workspace string
	ts        *httptest.Server
	url       string // of /mcp
}

// newHost starts a host serving testTools, with its audit log and
// workspace in a temporary folder; the server is not started.
func newHost(t *testing.T, opts Options) *fixture {
	t.Helper()
	return newHostMode(t, opts, policy.ModeBypass)
}

// newHostMode is newHost with the gate in the given mode, and the host's
// options as set changes them.
func newHostMode(t *testing.T, opts Options, mode policy.Mode, set ...func(*host.Options)) *fixture {
	t.Helper()
	dir := t.TempDir()
	mpath := filepath.Join(dir, "tools.json")
	if err := os.WriteFile(mpath, []byte(testTools(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Load(mpath)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, auditPath: filepath.Join(dir, "audit", "audit.jsonl"), workspace: filepath.Join(dir, "ws")}
	if err := os.Mkdir(f.workspace, 0o755); err != nil {
		t.Fatal(err)
	}
	if f.audit, err = audit.Open(f.auditPath); err != nil {
		t.Fatal(err)
	}
	// A helper built with -race would otherwise sleep a second as it exits.
	env := []string{"GORACE=atexit_sleep_ms=0"}
	hopts := host.Options{Audit: f.audit, Workspace: f.workspace, Environ: env, Mode: mode}
	for _, s := range set {
		s(&hopts)
	}
	f.host, err = host.New(m, hopts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.host.Close()
		f.audit.Close()
	})
	opts.Host = f.host
	f.srv = New(opts)
	return f
}

// newFixture serves a new host with HTTPHandler(o) on a loopback
// httptest server.
func newFixture(t *testing.T, o HTTPOptions) *fixture {
	t.Helper()
	f := newHost(t, Options{})
	f.serveHTTP(o)
	return f
}

// serveHTTP serves f over real HTTP with o (FailedAuthBurst 1000 unless
// set: tests fail auth on purpose, many times, from one address).
func (f *fixture) serveHTTP(o HTTPOptions) {
	f.t.Helper()
	if o.FailedAuthBurst == 0 {
		o.FailedAuthBurst = 1000
	}
	h, err := f.srv.HTTPHandler(o)
	if err != nil {
		f.t.Fatal(err)
	}
	f.ts = httptest.NewServer(h)
	f.t.Cleanup(f.ts.Close) // after every client registered later is closed
	f.url = f.ts.URL + "/mcp"
}

// client returns an initialized mcp-go client of f sending headers.
func (f *fixture) client(headers map[string]string) *client.Client {
	f.t.Helper()
	c, err := f.startClient(headers)
	if err != nil {
		f.t.Fatalf("initialize: %v", err)
	}
	return c
}

// startClient starts an mcp-go client of f and initializes it.
func (f *fixture) startClient(headers map[string]string) (*client.Client, error) {
	f.t.Helper()
	return startClient(f.t, f.url, f.ts.Client(), headers)
}

func startClient(t *testing.T, url string, hc *http.Client, headers map[string]string) (*client.Client, error) {
	t.Helper()
	c, err := client.NewStreamableHttpClient(url, transport.WithHTTPHeaders(headers), transport.WithHTTPBasicClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "mcpserve-test", Version: "1"}
	_, err = c.Initialize(ctx, init)
	return c, err
}

// callTool calls name through c and wants the helper's {"ok":true}.
func callTool(t *testing.T, c *client.Client, name string, args any) {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := c.CallTool(context.Background(), req)
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	if res.IsError || resultText(res) != `{"ok":true}` {
		t.Fatalf("call %s: result %+v", name, res)
	}
}

func resultText(r *mcp.CallToolResult) string {
	var parts []string
	for _, c := range r.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "")
}

// session returns the headers that put a raw request in c's session.
func session(c *client.Client) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json, text/event-stream")
	h.Set(transport.HeaderKeySessionID, c.GetSessionId())
	h.Set(transport.HeaderKeyProtocolVersion, c.ProtocolVersion())
	return h
}

// callBody is a JSON-RPC tools/call request.
func callBody(tool string, args any) string {
	b, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": "tools/call",
		"params": map[string]any{"name": tool, "arguments": args}})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// reply is an HTTP response, read.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// post sends body to f's /mcp with header; chunked sends it without a
// Content-Length.
func (f *fixture) post(header http.Header, body string, chunked bool) reply {
	f.t.Helper()
	var r io.Reader = strings.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // of unknown length
	}
	req, err := http.NewRequest(http.MethodPost, f.url, r)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header = header.Clone()
	if chunked && req.ContentLength != 0 {
		f.t.Fatalf("request has length %d, want it unknown", req.ContentLength)
	}
	return do(f.t, f.ts.Client(), req)
}

func do(t *testing.T, hc *http.Client, req *http.Request) reply {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}

// wantRefusal checks that r is the error envelope with status and code,
// and nothing else.
func wantRefusal(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var env struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("body %s is not the error envelope: %v", r.body, err)
	}
	if env.Code != code || env.Error == "" {
		t.Errorf("envelope %s, want code %s and a message", r.body, code)
	}
}

// wantOK checks that r answers a tools/call with the helper's result.
func wantOK(t *testing.T, r reply) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.status, r.body)
	}
	var resp struct {
		Result *mcp.CallToolResult
		Error  any
	}
	body := r.body
	if strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
		for line := range strings.Lines(string(body)) {
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				body = []byte(data)
			}
		}
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.Result == nil || resp.Result.IsError || resultText(resp.Result) != `{"ok":true}` {
		t.Fatalf("response %s (%v), want the helper's result", r.body, err)
	}
}

// ran lists the helpers that ran, in order.
func (f *fixture) ran() []string {
	f.t.Helper()
	data, err := os.ReadFile(filepath.Join(f.workspace, ranLog))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.Fields(string(data))
}

// records returns the audit log's records, once everything appended is
// written, and the file's raw text.
func (f *fixture) records() ([]audit.Record, string) {
	f.t.Helper()
	if err := f.audit.Flush(); err != nil {
		f.t.Fatal(err)
	}
	data, err := os.ReadFile(f.auditPath)
	if err != nil {
		f.t.Fatal(err)
	}
	var recs []audit.Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, audit.MaxLine)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			f.t.Fatalf("audit line %s: %v", sc.Bytes(), err)
		}
		recs = append(recs, r)
	}
	return recs, string(data)
}

// state is what a refused request must leave unchanged.
type state struct {
	ran     int
	records int
}

func (f *fixture) state() state {
	f.t.Helper()
	recs, _ := f.records()
	return state{ran: len(f.ran()), records: len(recs)}
}

// wantNothingRan checks that no tool ran and nothing was audited since
// before was taken.
func (f *fixture) wantNothingRan(before state) {
	f.t.Helper()
	if now := f.state(); now != before {
		f.t.Errorf("a refused request ran something: %d runs and %d audit records, want %d and %d (ran %v)",
			now.ran, now.records, before.ran, before.records, f.ran())
	}
}

// wantCaller checks the audit log's last record: the tool, frontend "mcp"
// and caller, and that none of secrets is in the log.
func (f *fixture) wantCaller(tool, caller string, secrets ...string) {
	f.t.Helper()
	recs, raw := f.records()
	if len(recs) == 0 {
		f.t.Fatal("audit log is empty")
	}
	r := recs[len(recs)-1]
	if r.Tool != tool || r.Frontend != "mcp" || r.Caller != caller || r.Code != "" {
		f.t.Errorf("audit record of tool %s, frontend %q, caller %q, code %q; want %s, mcp, %q and success",
			r.Tool, r.Frontend, r.Caller, r.Code, tool, caller)
	}
	for _, s := range secrets {
		if strings.Contains(raw, s) {
			f.t.Errorf("audit log holds the secret %q", s)
		}
	}
}
