package mcpserve

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	stdlog "log"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"

	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/policy"
)

// answerer is a client's user: it approves or declines, and counts the
// questions.
type answerer struct {
	approve bool
	asked   atomic.Int32
}

func (a *answerer) Elicit(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	a.asked.Add(1)
	if !strings.Contains(req.Params.Message, "approve a call of the tool touch with no arguments?") {
		return nil, io.ErrUnexpectedEOF
	}
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{
		Action: mcp.ElicitationResponseActionAccept, Content: map[string]any{"approve": a.approve}}}, nil
}

// A client that can ask its user approves a gated call on every revision
// and transport: by elicitation/create up to 2025-11-25, by an input
// request (SEP-2322) on 2026-07-28, where a server may not send requests.
// A declined call is DENIED; a client that cannot ask gets NEEDS_APPROVAL
// in our words, never the library's.
func TestApprovalEveryRevision(t *testing.T) {
	for _, rev := range mcp.ValidProtocolVersions {
		for _, over := range []string{"stdio", "http"} {
			t.Run(rev+"/"+over, func(t *testing.T) {
				f := newHostMode(t, Options{ApprovalTimeout: time.Minute}, policy.ModeDefault)
				// connect starts a client; one at a time, as stdio has one
				// session: done ends it.
				connect := func(user *answerer) (c *client.Client, done func()) {
					var opts []client.ClientOption
					if user != nil {
						opts = append(opts, client.WithElicitationHandler(user))
					}
					opts = append(opts, client.WithProtocolVersion(rev))
					var tr transport.Interface
					stop := func() {}
					if over == "stdio" {
						tr, stop = f.stdioTransport()
					} else {
						if f.ts == nil {
							f.serveHTTP(HTTPOptions{Tokens: []Token{alice}})
						}
						var err error
						tr, err = transport.NewStreamableHTTP(f.url, transport.WithHTTPHeaders(bearer(alice.Secret)))
						if err != nil {
							t.Fatal(err)
						}
					}
					c = client.NewClient(tr, opts...)
					done = func() { c.Close(); stop() }
					// Start's context serves the server's requests.
					if err := c.Start(context.Background()); err != nil {
						t.Fatal(err)
					}
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					init := mcp.InitializeRequest{}
					init.Params.ProtocolVersion = rev
					init.Params.ClientInfo = mcp.Implementation{Name: "approver", Version: "1"}
					if _, err := c.Initialize(ctx, init); err != nil {
						t.Fatal(err)
					}
					if got := c.ProtocolVersion(); got != rev {
						t.Fatalf("speaking %s, want %s", got, rev)
					}
					return c, done
				}
				call := func(c *client.Client, done func()) string {
					defer done()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					req := mcp.CallToolRequest{}
					req.Params.Name = "touch"
					req.Params.Arguments = map[string]any{}
					res, err := c.CallTool(ctx, req)
					if err != nil {
						t.Fatalf("call: %v", err)
					}
					return resultText(res)
				}

				yes := &answerer{approve: true}
				if got := call(connect(yes)); got != `{"ok":true}` || yes.asked.Load() != 1 {
					t.Errorf("approved: %s, asked %d times", got, yes.asked.Load())
				}
				if mcp.IsModernProtocol(rev) {
					// The first round is audited as what it is.
					f.audit.Flush()
					log, _ := os.ReadFile(f.auditPath)
					if !strings.Contains(string(log), "the MCP client is asked by an input request") || strings.Contains(string(log), "nobody can approve") {
						t.Errorf("audit log:\n%s", log)
					}
				}
				no := &answerer{}
				if got := call(connect(no)); !strings.Contains(got, `"code":"DENIED"`) || !strings.Contains(got, "declined") || no.asked.Load() != 1 {
					t.Errorf("declined: %s, asked %d times", got, no.asked.Load())
				}
				got := call(connect(nil))
				if !strings.Contains(got, `"code":"NEEDS_APPROVAL"`) || !strings.Contains(got, "did not declare that it can ask its user") ||
					strings.Contains(got, "InputRequests") || strings.Contains(got, "SEP-") {
					t.Errorf("no elicitation: %s", got)
				}
			})
		}
	}
}

// stdioTransport serves f over stdio to an mcp-go client transport,
// until stop.
func (f *fixture) stdioTransport() (tr transport.Interface, stop func()) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- f.srv.ServeStdio(context.Background(), inR, outW)
		outW.Close()
	}()
	return transport.NewIO(outR, inW, io.NopCloser(strings.NewReader(""))), func() {
		inW.Close()
		go io.Copy(io.Discard, outR)
		if err := <-served; err != nil {
			f.t.Errorf("ServeStdio: %v", err)
		}
	}
}

// A request state answers one question of one client, once, in time; a
// forged one answers nothing.
func TestApprovalStates(t *testing.T) {
	a := newApprovals()
	alice := withIdentity(context.Background(), "token:alice")
	bob := withIdentity(context.Background(), "token:bob")
	q := host.ApprovalRequest{Tool: "touch", Args: []byte(`{"path":"a"}`)}
	other := host.ApprovalRequest{Tool: "touch", Args: []byte(`{"path":"b"}`)}

	state := a.issue(alice, q, time.Minute)
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		state string
		req   host.ApprovalRequest
		want  string
	}{
		{"another client", bob, state, q, "another call"},
		{"other arguments", alice, state, other, "another call"},
		{"forged", alice, state[:len(state)-2] + "AA", q, "not one this server issued"},
		{"not ours", alice, "e30.AAAA", q, "not one this server issued"},
		{"empty", alice, "", q, "not one this server issued"},
		{"answered", alice, state, q, ""},
		{"again", alice, state, q, "used already"},
		{"again, spelt otherwise", alice, state[:10] + "\n" + state[10:], q, "not one this server issued"},
		{"expired", alice, a.issue(alice, q, -time.Second), q, "expired"},
	} {
		err := a.redeem(tc.ctx, tc.state, tc.req)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// notifications/cancelled ends a call the same way on every revision and
// transport, as the spec asks: its tool is killed at once (the kill grace
// is an hour here) and no response is sent; over HTTP the call's POST
// ends without a JSON-RPC message.
func TestCancelSameEverywhere(t *testing.T) {
	for _, rev := range mcp.ValidProtocolVersions {
		modern := mcp.IsModernProtocol(rev)
		meta := ""
		if modern {
			meta = `,"_meta":{"io.modelcontextprotocol/protocolVersion":"` + rev + `","io.modelcontextprotocol/clientInfo":{"name":"c","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`
		}
		handshake := []string{
			`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + rev + `","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`,
			`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		}
		if modern {
			handshake = nil
		}
		cancel := `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c1"` + meta + `}}`
		killGrace := func(o *host.Options) { o.Sandbox.KillGrace = time.Hour }

		t.Run(rev+"/stdio", func(t *testing.T) {
			p := newStdioPeerRaw(t, newHostMode(t, Options{}, policy.ModeBypass, killGrace))
			for _, m := range handshake {
				p.send(m)
				if strings.Contains(m, `"id"`) {
					p.recv()
				}
			}
			b := newBlockCall(t)
			p.send(b.request(`"c1"`, meta))
			b.started(t)
			p.send(cancel)
			if !b.killed(10 * time.Second) {
				t.Fatal("the cancelled call still runs")
			}
			// The next message is the answer to a later request: nothing
			// came for the cancelled one.
			p.send(`{"jsonrpc":"2.0","id":"after","method":"ping","params":{` + strings.TrimPrefix(meta, ",") + `}}`)
			if r := p.recv(); string(r.ID) != `"after"` {
				t.Errorf("after the cancellation: %s", r.line)
			}
		})

		t.Run(rev+"/http", func(t *testing.T) {
			f := newHostMode(t, Options{}, policy.ModeBypass, killGrace)
			f.serveHTTP(HTTPOptions{Tokens: []Token{alice}})
			hdr := http.Header{"Authorization": {"Bearer " + alice.Secret}, "Content-Type": {"application/json"},
				"Accept": {"application/json, text/event-stream"}}
			if modern {
				hdr.Set("Mcp-Protocol-Version", rev)
			}
			for _, m := range handshake {
				r := f.post(hdr, m, false)
				if id := r.header.Get("Mcp-Session-Id"); id != "" {
					hdr.Set("Mcp-Session-Id", id)
					hdr.Set("Mcp-Protocol-Version", rev)
				}
			}
			b := newBlockCall(t)
			call := b.request(`"c1"`, meta)
			callHdr := hdr.Clone()
			if modern {
				mirrorHeaders(callHdr, call)
			}
			done := make(chan reply, 1)
			go func() { done <- f.post(callHdr, call, false) }()
			b.started(t)
			if modern {
				mirrorHeaders(hdr, cancel)
			}
			if r := f.post(hdr, cancel, false); r.status != http.StatusAccepted {
				t.Errorf("the cancellation: %d %s", r.status, r.body)
			}
			if !b.killed(10 * time.Second) {
				t.Fatal("the cancelled call still runs")
			}
			select {
			case r := <-done:
				if r.status != http.StatusAccepted || bytes.Contains(r.body, []byte(`"jsonrpc"`)) {
					t.Errorf("the cancelled call was answered: %d %s", r.status, r.body)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the cancelled call's POST never ended")
			}
		})
	}
}

// A standard library logger's lines (the log package's, as mcp-go and
// net/http use) come out as JSON error records of the server's logger.
func TestLogWriter(t *testing.T) {
	var buf bytes.Buffer
	l := stdlog.New(LogWriter(zerolog.New(&buf)), "", 0)
	l.Printf("mcp-go: panic in OnError hook (session %s): %v", "s1", "boom")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["level"] != "error" || rec["from"] != "library" ||
		rec["message"] != "mcp-go: panic in OnError hook (session s1): boom" {
		t.Errorf("%q: %v", buf.String(), err)
	}
}
