package mcpserve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/toolhost/toolhost/internal/host"
)

// Limits of the stdio transport.
const (
	// MaxMessageBytes is the largest message read from a client; a longer
	// line is skipped and answered with a parse error.
	MaxMessageBytes = 16 << 20
	// MaxPendingRequests bounds the requests being served at once; past it
	// a request is answered at once with an error, so that the reader never
	// stops reading (it must see cancellations).
	MaxPendingRequests = 4096
)

// ServeStdio serves one client over in and out (a process's stdin and
// stdout) until in ends or ctx is cancelled. Nothing but protocol messages
// is written to out.
//
// At the end of in, no message is read, and the requests read before it
// are served: those still running after the host's kill grace are
// cancelled, their tools killed at once, and answered CANCELLED. When ctx
// is cancelled, or out cannot be written (the client went away), they are
// cancelled at once. ServeStdio returns when every request has been
// answered (or its answer failed to write). The host stays its owner's,
// to use again or shut down.
//
// The transport is this package's own rather than the library's
// StdioServer, which decodes every message about seven times and hands it
// through three goroutines before a handler sees it, has no bound on a
// message's size, and waits for running calls before it lets the caller
// kill them. Here a message is decoded once to route it and once by the
// library's HandleMessage, every request runs on its own goroutine, and
// notifications (cancellation among them) are handled as they are read.
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sess := &stdioSession{notes: make(chan mcp.JSONRPCNotification, 64)}
	if err := s.mcp.RegisterSession(ctx, sess); err != nil {
		return fmt.Errorf("register session: %w", err)
	}
	defer s.mcp.UnregisterSession(context.WithoutCancel(ctx), sess.SessionID())
	ctx = s.mcp.WithContext(withIdentity(ctx, "stdio"), sess)
	// The requests' context, cancelled only by the end below: not when
	// ctx is, which would give their tools the kill grace.
	calls, stopCalls := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopCalls(nil)
	// A failed write means the client cannot hear us: the session ends,
	// and its requests at once.
	w := &messageWriter{w: out, onFail: func() { stopCalls(host.ErrStopNow); cancel() }}
	sess.w = w

	var bg sync.WaitGroup
	bg.Go(func() {
		for {
			select {
			case n := <-sess.notes:
				w.write(n)
			case <-ctx.Done():
				return
			}
		}
	})
	c := &stdioConn{s: s, ctx: ctx, calls: calls, w: w}
	readDone := make(chan error, 1)
	go func() {
		readDone <- readMessages(in, func(msg []byte, tooLong bool) {
			if tooLong {
				w.write(mcp.NewJSONRPCError(mcp.NewRequestId(nil), mcp.PARSE_ERROR,
					fmt.Sprintf("message longer than %d bytes", MaxMessageBytes), nil))
				return
			}
			c.dispatch(msg)
		})
	}()
	var err error
	now := false
	select {
	case err = <-readDone:
		now = err != nil && !errors.Is(err, io.EOF)
	case <-ctx.Done():
		// A read may still be blocked; whatever it brings is dropped.
		now = true
	}
	// No message is taken any more. At the end of input the requests
	// have the kill grace to finish; then, or at once, they are
	// cancelled, their tools killed (each call audited), and answered.
	c.stopReading()
	c.endListens()
	if !now {
		c.waitRequests(ctx, s.opts.Host.KillGrace())
	}
	stopCalls(host.ErrStopNow)
	c.requests.Wait()
	cancel()
	bg.Wait()
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := w.err(); err != nil && !errors.Is(err, syscall.EPIPE) {
		return err // a broken pipe is a client that went away
	}
	return nil
}

// stdioConn is the state of one stdio client's requests.
type stdioConn struct {
	s   *Server
	ctx context.Context
	// calls is the requests' parent context (see ServeStdio).
	calls    context.Context
	w        *messageWriter
	mu       sync.Mutex // guards stopped, requests.Add and running
	stopped  bool
	requests sync.WaitGroup
	pending  atomic.Int64
	// running holds the requests being served, by id.
	running map[string]*stdioRequest
}

// stdioRequest is a request being served.
type stdioRequest struct {
	// cancel ends the request, wherever it is served: the library notes a
	// request as in flight only once its goroutine runs, so a cancellation
	// that comes first would miss it.
	cancel context.CancelCauseFunc
	// cancelled: the client cancelled it, so its response is not sent,
	// as the spec asks.
	cancelled bool
	// listen: a subscriptions/listen, open until the client leaves; the
	// end of input ends it at once, with no grace.
	listen bool
}

// idKey is a request id's map key, of its JSON text (a string or a
// number; ok is false for anything else). A number is kept as written:
// decoded to a float64, distinct large integers would collide.
func idKey(raw json.RawMessage) (key string, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return "s:" + s, true
	case c == '-' || ('0' <= c && c <= '9'):
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		return "n:" + n.String(), true
	}
	return "", false
}

// rawID is a request id for a response, exactly as the request gave it.
func rawID(raw json.RawMessage) mcp.RequestId {
	if len(raw) == 0 {
		return mcp.NewRequestId(nil)
	}
	return mcp.NewRequestId(raw)
}

// withID gives a response of the library the request's id as sent: the
// library decodes ids to float64, which changes large integers. Its
// HandleMessage returns responses and errors as values.
func withID(resp mcp.JSONRPCMessage, raw json.RawMessage) mcp.JSONRPCMessage {
	switch r := resp.(type) {
	case mcp.JSONRPCResponse:
		if !r.ID.IsNil() {
			r.ID = rawID(raw)
		}
		return r
	case mcp.JSONRPCError:
		if !r.ID.IsNil() {
			r.ID = rawID(raw)
		}
		return r
	}
	return resp
}

// stopReading takes no more messages.
func (c *stdioConn) stopReading() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
}

// endListens ends the open subscriptions/listen requests: a listen
// lasts as long as its client, so nothing is worth waiting for.
func (c *stdioConn) endListens() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.running {
		if r.listen {
			r.cancel(nil)
		}
	}
}

// waitRequests waits up to grace for the requests being served to end;
// it gives up when ctx ends.
func (c *stdioConn) waitRequests(ctx context.Context, grace time.Duration) {
	done := make(chan struct{})
	go func() {
		c.requests.Wait()
		close(done)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
}

// message is what dispatch reads of a message to route it.
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Result  json.RawMessage `json:"result"` // a response to our request
	Error   json.RawMessage `json:"error"`  // a response to our request
	Params  struct {
		RequestID json.RawMessage            `json:"requestId"` // notifications/cancelled
		Name      string                     `json:"name"`      // tools/call
		Arguments json.RawMessage            `json:"arguments"` // tools/call
		Meta      map[string]json.RawMessage `json:"_meta"`
		Task      json.RawMessage            `json:"task"`
	} `json:"params"`
}

// direct reports whether a tools/call is served here rather than by the
// library: a call of an offered tool, of the initialize-handshake
// revisions (the stateless one carries protocol metadata the library
// checks), not task-augmented. It returns whether the tool offers
// structured content.
func (c *stdioConn) direct(m *message) (ok, structured bool) {
	// Not of JSON-RPC 2.0: the library refuses it.
	if m.JSONRPC != mcp.JSONRPC_VERSION || m.Method != string(mcp.MethodToolsCall) || len(m.Params.Task) > 0 {
		return false, false
	}
	for k := range m.Params.Meta {
		if strings.HasPrefix(k, "io.modelcontextprotocol/") {
			return false, false
		}
	}
	structured, ok = (*c.s.offered.Load())[m.Params.Name]
	return ok, structured
}

// dispatch routes one message: a request is served on a goroutine of its
// own; a notification (cancellation, initialized) is handled at once; a
// response (the server sends no requests) is dropped.
//
// A tools/call is served here, straight to the host, and its response
// encoded directly: the library's handling of a message (its repeated
// decoding, tracing and logging hooks) cost as much as a tenth of a
// trivial tool's run. Everything else, and any call out of the ordinary,
// goes to the library.
func (c *stdioConn) dispatch(msg []byte) {
	var m message
	if err := json.Unmarshal(msg, &m); err != nil {
		if json.Valid(msg) {
			// A batch, or a value that is not an object.
			c.w.write(mcp.NewJSONRPCError(mcp.NewRequestId(nil), mcp.INVALID_REQUEST,
				"invalid request: want one JSON-RPC message, an object (batches are not supported)", nil))
			return
		}
		c.w.write(mcp.NewJSONRPCError(mcp.NewRequestId(nil), mcp.PARSE_ERROR, "parse error: "+err.Error(), nil))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	hasID := len(m.ID) > 0
	key, validID := idKey(m.ID)
	switch {
	case m.Method == "" && hasID:
		// A response to one of our requests (an elicitation).
		if !c.s.sess(c.ctx).deliver(key, m.Result, m.Error) {
			c.s.log.Debug().RawJSON("id", m.ID).Msg("dropped a response to no request of ours")
		}
		return
	case hasID && !validID:
		// JSON-RPC answers a request with id null; MCP allows only string
		// and number ids. Nothing is served.
		c.w.write(mcp.NewJSONRPCError(mcp.NewRequestId(nil), mcp.INVALID_REQUEST,
			"invalid request: the id must be a string or a number", nil))
		return
	case !hasID:
		if m.Method == string(mcp.MethodNotificationCancelled) {
			k, _ := idKey(m.Params.RequestID)
			if r := c.running[k]; r != nil {
				r.cancelled = true
				r.cancel(host.ErrStopNow) // its tool killed at once
			}
		}
		c.s.handle(c.ctx, msg) // notifications have no response
		return
	case c.pending.Add(1) > MaxPendingRequests:
		c.pending.Add(-1)
		c.w.write(mcp.NewJSONRPCError(rawID(m.ID), mcp.INTERNAL_ERROR,
			fmt.Sprintf("more than %d requests pending; retry later", MaxPendingRequests), nil))
		return
	}
	if m.JSONRPC == mcp.JSONRPC_VERSION && m.Method == string(mcp.MethodToolsCall) && !c.s.offers(m.Params.Name) {
		defer c.pending.Add(-1)
		msg := c.s.unknownTool(c.ctx, m.Params.Name, m.Params.Arguments)
		c.w.write(mcp.NewJSONRPCError(rawID(m.ID), mcp.INVALID_PARAMS, msg, nil))
		return
	}
	ctx, cancelCause := context.WithCancelCause(c.calls)
	cancel := func() { cancelCause(nil) }
	r := &stdioRequest{cancel: cancelCause, listen: m.Method == string(mcp.MethodSubscriptionsListen)}
	if c.running == nil {
		c.running = map[string]*stdioRequest{}
	}
	c.running[key] = r
	// finish sends a response unless the request was cancelled.
	finish := func(resp []byte) {
		c.mu.Lock()
		cancelled := r.cancelled
		if c.running[key] == r {
			delete(c.running, key)
		}
		c.mu.Unlock()
		if !cancelled && resp != nil {
			c.w.writeLine(resp)
		}
	}
	if ok, structured := c.direct(&m); ok {
		var token mcp.ProgressToken
		if raw, ok := m.Params.Meta["progressToken"]; ok {
			json.Unmarshal(raw, &token)
		}
		c.requests.Go(func() {
			defer c.pending.Add(-1)
			defer cancel()
			res, err := c.s.call(ctx, m.Params.Name, m.Params.Arguments, token)
			if err != nil {
				// A fault of the host (its audit log failed).
				b, _ := json.Marshal(mcp.NewJSONRPCError(rawID(m.ID), mcp.INTERNAL_ERROR, err.Error(), nil))
				finish(append(b, '\n'))
				return
			}
			finish(c.w.encode(mcp.NewJSONRPCResultResponse(rawID(m.ID), callResult(res, structured))))
		})
		return
	}
	msg = bytes.Clone(msg) // the reader reuses its buffer
	c.requests.Go(func() {
		defer c.pending.Add(-1)
		defer cancel()
		var line []byte
		if resp := c.s.handle(ctx, msg); resp != nil {
			line = c.w.encode(withID(resp, m.ID))
		}
		finish(line)
	})
}

// handle runs the library's message handler; a panic becomes an internal
// error response rather than the end of the server.
func (s *Server) handle(ctx context.Context, msg []byte) (resp mcp.JSONRPCMessage) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error().Interface("panic", r).Msg("message handler panicked")
			var head struct{ ID json.RawMessage }
			if json.Unmarshal(msg, &head) == nil {
				if _, ok := idKey(head.ID); ok {
					resp = mcp.NewJSONRPCError(rawID(head.ID), mcp.INTERNAL_ERROR, fmt.Sprintf("internal error: %v", r), nil)
				}
			}
		}
	}()
	return s.mcp.HandleMessage(ctx, msg)
}

// readMessages calls handle with each line of in, without its line end,
// until in ends. A line longer than MaxMessageBytes is skipped and reported
// with tooLong.
func readMessages(in io.Reader, handle func(msg []byte, tooLong bool)) error {
	br := bufio.NewReaderSize(in, 64<<10)
	var long []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !tooLong && len(long)+len(chunk) <= MaxMessageBytes {
				long = append(long, chunk...)
			} else {
				tooLong, long = true, long[:0]
			}
			continue
		}
		line := chunk
		if len(long) > 0 {
			// The cap is on the message, not its line end.
			if len(long)+len(bytes.TrimSuffix(chunk, []byte("\n"))) > MaxMessageBytes {
				tooLong = true
			}
			long = append(long, chunk...)
			line = long
		}
		if tooLong {
			handle(nil, true)
		} else if line = bytes.TrimSpace(line); len(line) > 0 {
			handle(line, false)
		}
		long, tooLong = long[:0], false
		if err != nil {
			return err
		}
	}
}
