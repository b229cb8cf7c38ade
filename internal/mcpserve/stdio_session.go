package mcpserve

// The stdio client's session, as the library sees it, and the requests
// the server sends it (elicitations).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// clientReply is a client's response to a request of ours.
type clientReply struct{ result, err json.RawMessage }

var (
	_ server.ClientSession          = (*stdioSession)(nil)
	_ server.SessionWithClientInfo  = (*stdioSession)(nil)
	_ server.SessionWithElicitation = (*stdioSession)(nil)
)

// sess returns the stdio session of ctx.
func (s *Server) sess(ctx context.Context) *stdioSession {
	sess, _ := server.ClientSessionFromContext(ctx).(*stdioSession)
	return sess
}

// RequestElicitation asks the client, which must have declared the
// capability, and waits for its answer or the end of ctx.
func (s *stdioSession) RequestElicitation(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	if s.GetClientCapabilities().Elicitation == nil {
		return nil, server.ErrElicitationNotSupported
	}
	id := "toolhost-elicit-" + strconv.FormatInt(s.seq.Add(1), 10)
	key, _ := idKey(json.RawMessage(strconv.Quote(id)))
	ch := make(chan clientReply, 1)
	s.mu.Lock()
	if s.waiting == nil {
		s.waiting = map[string]chan clientReply{}
	}
	s.waiting[key] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiting, key)
		s.mu.Unlock()
	}()
	s.w.write(struct {
		JSONRPC string                `json:"jsonrpc"`
		ID      string                `json:"id"`
		Method  string                `json:"method"`
		Params  mcp.ElicitationParams `json:"params"`
	}{mcp.JSONRPC_VERSION, id, string(mcp.MethodElicitationCreate), req.Params})
	select {
	case r := <-ch:
		if len(r.err) > 0 && string(r.err) != "null" {
			return nil, fmt.Errorf("the client refused the elicitation: %s", r.err)
		}
		var res mcp.ElicitationResult
		if err := json.Unmarshal(r.result, &res); err != nil {
			return nil, fmt.Errorf("elicitation result: %w", err)
		}
		return &res, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// deliver hands a client's response to the request of ours with that id
// key, and reports whether there was one.
func (s *stdioSession) deliver(key string, result, errv json.RawMessage) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	ch := s.waiting[key]
	delete(s.waiting, key)
	s.mu.Unlock()
	if ch == nil {
		return false
	}
	ch <- clientReply{bytes.Clone(result), bytes.Clone(errv)}
	return true
}

func (s *stdioSession) SessionID() string                                   { return "stdio" }
func (s *stdioSession) NotificationChannel() chan<- mcp.JSONRPCNotification { return s.notes }
func (s *stdioSession) Initialize()                                         { s.initialized.Store(true) }
func (s *stdioSession) Initialized() bool                                   { return s.initialized.Load() }

func (s *stdioSession) GetClientInfo() mcp.Implementation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

func (s *stdioSession) SetClientInfo(info mcp.Implementation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.info = info
}

func (s *stdioSession) GetClientCapabilities() mcp.ClientCapabilities {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.caps
}

func (s *stdioSession) SetClientCapabilities(caps mcp.ClientCapabilities) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.caps = caps
}
