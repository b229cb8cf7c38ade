package mcpserve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/policy"
)

// stdioPeer is a client of ServeStdio over pipes.
type stdioPeer struct {
	t      *testing.T
	f      *fixture
	in     *io.PipeWriter
	out    *bufio.Reader
	served chan error
	cancel context.CancelFunc
}

// newStdioPeer serves a new host over stdio and initializes the session.
func newStdioPeer(t *testing.T) *stdioPeer {
	t.Helper()
	return newStdioPeerOn(t, newHost(t, Options{}), `{}`)
}

// newStdioPeerOn serves f over stdio to a client declaring caps.
func newStdioPeerOn(t *testing.T, f *fixture, caps string) *stdioPeer {
	t.Helper()
	p := newStdioPeerRaw(t, f)
	p.send(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":` + caps + `,"clientInfo":{"name":"review","version":"0"}}}`)
	p.recv()
	p.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return p
}

// newStdioPeerRaw serves f over stdio to a client that has sent nothing.
func newStdioPeerRaw(t *testing.T, f *fixture) *stdioPeer {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	p := &stdioPeer{t: t, f: f, in: inW, out: bufio.NewReaderSize(outR, 64<<10), served: make(chan error, 1), cancel: cancel}
	go func() {
		err := f.srv.ServeStdio(ctx, inR, outW)
		outW.Close()
		p.served <- err
	}()
	t.Cleanup(func() {
		inW.Close()
		cancel()
		go io.Copy(io.Discard, outR)
		select {
		case <-p.served:
		case <-time.After(10 * time.Second):
			t.Error("ServeStdio did not return")
		}
	})
	return p
}

func (p *stdioPeer) send(lines ...string) {
	p.t.Helper()
	if _, err := io.WriteString(p.in, strings.Join(lines, "\n")+"\n"); err != nil {
		p.t.Fatal(err)
	}
}

// reply is a response as read: its id as sent, and the rest.
type stdioReply struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	line string
}

// recv returns the next response, skipping notifications.
func (p *stdioPeer) recv() stdioReply {
	p.t.Helper()
	type got struct {
		line string
		err  error
	}
	for {
		c := make(chan got, 1)
		go func() {
			l, err := p.out.ReadString('\n')
			c <- got{l, err}
		}()
		var g got
		select {
		case g = <-c:
		case <-time.After(20 * time.Second):
			p.t.Fatal("no response within 20s")
		}
		if g.err != nil {
			p.t.Fatalf("read: %v (read %q)", g.err, g.line)
		}
		var r stdioReply
		if err := json.Unmarshal([]byte(g.line), &r); err != nil {
			p.t.Fatalf("response %q: %v", g.line, err)
		}
		r.line = g.line
		if r.Method != "" {
			continue
		}
		return r
	}
}

// TestReviewIDEchoedExactly checks that the id of a response is the id of
// its request, whatever the route: served here, by the library, or refused.
func TestReviewIDEchoedExactly(t *testing.T) {
	p := newStdioPeer(t)
	ids := []string{`"abc"`, `""`, `1`, `-1`, `0`, `1.5`, `-2.25`, `9007199254740993`, `12345678901234567890`, `-9223372036854775809`}
	for _, id := range ids {
		for _, body := range []string{
			`"method":"tools/call","params":{"name":"touch","arguments":{}}`,
			`"method":"ping"`,
			`"method":"tools/list"`,
			`"method":"no/such/method"`,
			`"method":"tools/call","params":{"name":"touch","arguments":{},"_meta":{"io.modelcontextprotocol/x":1}}`,
		} {
			p.send(`{"jsonrpc":"2.0","id":` + id + `,` + body + `}`)
			r := p.recv()
			if string(r.ID) != id {
				t.Errorf("request id %s, %s: response id %s (%s)", id, body, r.ID, strings.TrimSpace(r.line))
			}
		}
	}
}

// TestReviewJSONRPCVersion checks that a tools/call not of JSON-RPC 2.0 is
// refused, as the library refuses every other request, and runs nothing.
func TestReviewJSONRPCVersion(t *testing.T) {
	p := newStdioPeer(t)
	for _, v := range []string{``, `"jsonrpc":"1.0",`} {
		p.send(`{` + v + `"id":7,"method":"tools/call","params":{"name":"touch","arguments":{}}}`)
		r := p.recv()
		if r.Error == nil || r.Error.Code != -32600 {
			t.Errorf("tools/call with %q: %s, want an invalid request error", v, strings.TrimSpace(r.line))
		}
	}
	if ran := p.f.ran(); len(ran) > 0 {
		t.Errorf("a refused call ran: %v", ran)
	}
}

// TestReviewNullID checks that a request with id null (which MCP forbids)
// is answered, as JSON-RPC requires of a request, with an error and
// nothing run.
func TestReviewNullID(t *testing.T) {
	p := newStdioPeer(t)
	p.send(`{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"touch","arguments":{}}}`)
	r := p.recv()
	if string(r.ID) != "null" || r.Error == nil || r.Error.Code != -32600 {
		t.Errorf("request with id null: %s, want an invalid request error with id null", strings.TrimSpace(r.line))
	}
	if ran := p.f.ran(); len(ran) > 0 {
		t.Errorf("a refused call ran: %v", ran)
	}
}

// TestReviewBatch checks that a batch, valid JSON, is refused as an invalid
// request rather than as a parse error.
func TestReviewBatch(t *testing.T) {
	p := newStdioPeer(t)
	p.send(`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`)
	r := p.recv()
	if r.Error == nil || r.Error.Code != -32600 {
		t.Errorf("batch: %s, want an invalid request error", strings.TrimSpace(r.line))
	}
	p.send(`{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	if r := p.recv(); string(r.ID) != "2" || r.Error != nil {
		t.Errorf("ping after a batch: %s", strings.TrimSpace(r.line))
	}
}

// TestReviewMaxMessage checks the cap: a message of exactly MaxMessageBytes
// ending in a newline is served; one byte more is refused.
func TestReviewMaxMessage(t *testing.T) {
	p := newStdioPeer(t)
	msg := func(id, size int) string {
		head := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"`, id)
		return head + strings.Repeat(" ", size-len(head)-1) + "}"
	}
	p.send(msg(1, MaxMessageBytes))
	if r := p.recv(); string(r.ID) != "1" || r.Error != nil {
		t.Errorf("message of MaxMessageBytes: %.200s, want served", r.line)
	}
	p.send(msg(2, MaxMessageBytes+1))
	if r := p.recv(); r.Error == nil || r.Error.Code != -32700 {
		t.Errorf("message of MaxMessageBytes+1: %.200s, want refused", r.line)
	}
	p.send(`{"jsonrpc":"2.0","id":3,"method":"ping"}`)
	if r := p.recv(); string(r.ID) != "3" || r.Error != nil {
		t.Errorf("ping after a long message: %s", r.line)
	}
}

// blockCall is a tools/call of the block helper, held by a listener.
type blockCall struct {
	ln   net.Listener
	conn net.Conn
}

func newBlockCall(t *testing.T) *blockCall {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &blockCall{ln: ln}
}

func (b *blockCall) request(id, meta string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"block","arguments":{"addr":"` + b.ln.Addr().String() + `"}` + meta + `}}`
}

// started waits for the tool to run.
func (b *blockCall) started(t *testing.T) {
	t.Helper()
	b.ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
	conn, err := b.ln.Accept()
	if err != nil {
		t.Fatalf("block tool did not start: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	b.conn = conn
	if l, err := readLine(conn); err != nil || l != "started" {
		t.Fatalf("block tool: %q, %v", l, err)
	}
}

// killed reports whether the tool ended (its connection closed) within d.
func (b *blockCall) killed(d time.Duration) bool {
	b.conn.SetReadDeadline(time.Now().Add(d))
	_, err := b.conn.Read(make([]byte, 1))
	return err == io.EOF
}

// TestReviewCancelDistinctLargeIDs checks that cancelling a request whose
// id is a large integer cancels that request, not another whose id differs
// beyond float64 precision; and that it kills the tool at once, without
// the kill grace (an hour here).
func TestReviewCancelDistinctLargeIDs(t *testing.T) {
	p := newStdioPeerOn(t, newHostMode(t, Options{}, policy.ModeBypass, func(o *host.Options) { o.Sandbox.KillGrace = time.Hour }), `{}`)
	a, b := newBlockCall(t), newBlockCall(t)
	p.send(a.request("9007199254740993", ""))
	a.started(t)
	p.send(b.request("9007199254740992", ""))
	b.started(t)
	p.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9007199254740993}}`)
	if !a.killed(10 * time.Second) {
		t.Error("the cancelled call still runs")
	}
	if b.killed(200 * time.Millisecond) {
		t.Error("cancelling one call killed another")
	}
	b.conn.Close()
	if r := p.recv(); string(r.ID) != "9007199254740992" || r.Error != nil {
		t.Errorf("the call not cancelled: %s", strings.TrimSpace(r.line))
	}
}

// TestReviewCancelLibraryRoute checks that a tools/call served by the
// library is cancelled by a cancellation that follows it at once, before
// the library had a chance to note the request as in flight.
func TestReviewCancelLibraryRoute(t *testing.T) {
	for i := range 5 {
		p := newStdioPeer(t)
		b := newBlockCall(t)
		id := fmt.Sprint(100 + i)
		p.send(b.request(id, `,"_meta":{"io.modelcontextprotocol/x":1}`),
			`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":`+id+`}}`)
		// The tool may never start (cancelled first); if it does, it must
		// be killed.
		b.ln.(*net.TCPListener).SetDeadline(time.Now().Add(3 * time.Second))
		conn, err := b.ln.Accept()
		if err != nil {
			continue
		}
		b.conn = conn
		if !b.killed(10 * time.Second) {
			t.Fatalf("round %d: a cancelled call served by the library still runs", i)
		}
		conn.Close()
	}
}

// TestReviewCallResponseShape checks that a response encoded here decodes
// to what the library sends for the same call.
func TestReviewCallResponseShape(t *testing.T) {
	p := newStdioPeer(t)
	var got [2]any
	for i, meta := range []string{``, `,"_meta":{"io.modelcontextprotocol/x":1}`} {
		p.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"touch","arguments":{}` + meta + `}}`)
		r := p.recv()
		d := json.NewDecoder(bytes.NewReader([]byte(r.line)))
		d.UseNumber()
		if err := d.Decode(&got[i]); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := json.Marshal(got[0])
	b, _ := json.Marshal(got[1])
	if !bytes.Equal(a, b) {
		t.Errorf("served here:\n%s\nby the library:\n%s", a, b)
	}
}

// A call the gate asks about becomes an elicitation; an answer approves
// it, and a client that never answers gets NEEDS_APPROVAL once the wait is
// over rather than a call that hangs.
func TestElicitationApprovesAndTimesOut(t *testing.T) {
	f := newHostMode(t, Options{ApprovalTimeout: 300 * time.Millisecond}, policy.ModeDefault)
	p := newStdioPeerOn(t, f, `{"elicitation":{}}`)
	// raw reads the next line, request or response.
	raw := func() stdioReply {
		l, err := p.out.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		var r stdioReply
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		r.line = l
		return r
	}
	next := func(method string) stdioReply {
		for {
			if r := raw(); r.Method == method {
				return r
			}
		}
	}

	p.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"touch","arguments":{}}}`)
	ask := next("elicitation/create")
	if !strings.Contains(ask.line, "touch") || !strings.Contains(ask.line, "mode default asks") {
		t.Errorf("elicitation %s", ask.line)
	}
	// Not answered: the call ends NEEDS_APPROVAL, saying why.
	r := p.recv()
	if !strings.Contains(r.line, `NEEDS_APPROVAL`) || !strings.Contains(r.line, "no answer to the approval request within 300ms") {
		t.Errorf("unanswered: %s", r.line)
	}
	// The late answer is dropped, not taken for another question.
	p.send(`{"jsonrpc":"2.0","id":` + string(ask.ID) + `,"result":{"action":"accept","content":{"approve":true}}}`)

	p.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"touch","arguments":{}}}`)
	ask = next("elicitation/create")
	p.send(`{"jsonrpc":"2.0","id":` + string(ask.ID) + `,"result":{"action":"accept","content":{"approve":true}}}`)
	r = p.recv()
	if string(r.ID) != "2" || strings.Contains(r.line, `"isError":true`) {
		t.Errorf("approved call: %s", r.line)
	}
}
