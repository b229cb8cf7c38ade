package mcpserve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/rs/zerolog"

	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/manifest"
)

// Defaults for the zero Options fields.
const (
	DefaultProgressEvery = time.Second
	DefaultPageSize      = 100
)

// Options configure a Server. Host is required.
type Options struct {
	Host *host.Host
	// Name and Version identify the server to clients.
	Name, Version string
	// Logger receives diagnostics; the zero value logs nothing.
	Logger zerolog.Logger
	// ProgressEvery is how often a call with a progress token reports;
	// 0 means DefaultProgressEvery.
	ProgressEvery time.Duration
	// PageSize is the number of tools per tools/list page; 0 means
	// DefaultPageSize.
	PageSize int
	// ApprovalTimeout bounds the wait for a client's answer to an
	// approval request; past it the call fails NEEDS_APPROVAL. 0 means
	// DefaultApprovalTimeout.
	ApprovalTimeout time.Duration
}

// DefaultApprovalTimeout is how long a client's user has to answer an
// approval request: a client that never answers must not hold a call
// forever.
const DefaultApprovalTimeout = 5 * time.Minute

// Server is an MCP server for a Host. It is safe for concurrent use.
type Server struct {
	opts Options
	mcp  *server.MCPServer
	log  zerolog.Logger
	// offered maps the names of the tools offered to whether each offers
	// structured content (an output schema).
	offered atomic.Pointer[map[string]bool]
	// approvals signs the request states of input requests.
	approvals *approvals
}

// New returns a server offering the host's current tools.
func New(opts Options) *Server {
	if opts.Name == "" {
		opts.Name = "toolhost"
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = DefaultProgressEvery
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	s := &Server{opts: opts, log: opts.Logger, approvals: newApprovals()}
	hooks := &server.Hooks{}
	hooks.AddOnError(s.auditUnknownTool)
	s.mcp = server.NewMCPServer(opts.Name, opts.Version,
		server.WithHooks(hooks),
		server.WithToolCapabilities(true),
		server.WithPaginationLimit(opts.PageSize),
		server.WithRecovery(),
		server.WithInstructions("Tools run contained by toolhost: argv only, a minimal environment, timeouts, "+
			"output caps, a process limit and each tool's sandbox level; a permission gate may deny a call "+
			"(DENIED, naming the rule) or ask the user first (NEEDS_APPROVAL when nobody can answer); every call "+
			`is audited. A failed call returns the envelope {"error":"...","code":"..."} with isError set.`),
	)
	s.setTools(opts.Host.Manifest())
	return s
}

// setTools offers m's tools; the library sends
// notifications/tools/list_changed to initialized clients.
func (s *Server) setTools(m *manifest.Manifest) {
	tools := s.tools(m)
	offered := make(map[string]bool, len(tools))
	for _, t := range tools {
		offered[t.Tool.Name] = t.Tool.RawOutputSchema != nil
	}
	s.offered.Store(&offered)
	s.mcp.SetTools(tools...)
}

// MCP returns the underlying mcp-go server.
func (s *Server) MCP() *server.MCPServer { return s.mcp }

// Reload makes the host serve m and tells clients the tool list changed.
func (s *Server) Reload(m *manifest.Manifest) {
	s.opts.Host.Swap(m)
	s.setTools(m)
}

// ResidentMeta is the key, in a tool's _meta, of its resident settings
// (manifest "resident", defaults filled in): present only for a tool
// that serves its calls from one long-lived process.
const ResidentMeta = "toolhost/resident"

// tools converts the manifest's tools to MCP tools.
func (s *Server) tools(m *manifest.Manifest) []server.ServerTool {
	var out []server.ServerTool
	for _, t := range m.Tools {
		tool := mcp.Tool{
			Name:           t.Name,
			Description:    t.Description,
			RawInputSchema: objectSchema(t.InputSchema),
		}
		if isObjectSchema(t.OutputSchema) {
			tool.RawOutputSchema = t.OutputSchema
		}
		if a := t.Annotations; a != nil {
			tool.Title = a.Title
			tool.Annotations = mcp.ToolAnnotation{Title: a.Title, ReadOnlyHint: a.ReadOnlyHint,
				DestructiveHint: a.DestructiveHint, IdempotentHint: a.IdempotentHint, OpenWorldHint: a.OpenWorldHint}
		}
		if r := t.Resident; r != nil {
			// Which tools serve their calls from one long-lived process,
			// whose calls are less isolated from each other.
			tool.Meta = &mcp.Meta{AdditionalFields: map[string]any{ResidentMeta: r}}
		}
		structured := tool.RawOutputSchema != nil
		out = append(out, server.ServerTool{Tool: tool, Handler: s.handler(t.Name, structured)})
	}
	return out
}

// objectSchema makes sure an input schema says "type":"object", which MCP
// requires; arguments always are an object, so nothing changes in meaning.
func objectSchema(raw json.RawMessage) json.RawMessage {
	var root map[string]json.RawMessage
	if json.Unmarshal(raw, &root) != nil {
		return raw
	}
	if _, ok := root["type"]; ok {
		return raw
	}
	root["type"] = json.RawMessage(`"object"`)
	b, err := json.Marshal(root)
	if err != nil {
		return raw
	}
	return b
}

// isObjectSchema reports whether an output schema describes objects: MCP's
// structuredContent is an object, so only such schemas are offered.
func isObjectSchema(raw json.RawMessage) bool {
	var root struct {
		Type any `json:"type"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &root) != nil {
		return false
	}
	return root.Type == "object"
}

// handler runs a call through the host, for the library's transports
// (streamable HTTP, and requests of the stateless protocol revision).
func (s *Server) handler(name string, structured bool) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args, err := rawArguments(&req)
		if err != nil {
			return nil, err
		}
		var token mcp.ProgressToken
		if req.Params.Meta != nil {
			token = req.Params.Meta.ProgressToken
		}
		if server.IsModernRequest(ctx) {
			return s.callStateless(ctx, name, args, token, structured, req.Params.MultiRoundTripParams)
		}
		res, err := s.call(ctx, name, args, token)
		if err != nil {
			// A fault of the host (its audit log failed): a protocol error.
			return nil, err
		}
		return callResult(res, structured), nil
	}
}

// rawArguments are a call's arguments as JSON.
func rawArguments(req *mcp.CallToolRequest) (json.RawMessage, error) {
	if len(req.Params.RawArguments) > 0 || req.Params.Arguments == nil {
		return req.Params.RawArguments, nil
	}
	b, err := json.Marshal(req.Params.Arguments)
	if err != nil {
		return nil, fmt.Errorf("arguments: %w", err)
	}
	return b, nil
}

// auditUnknownTool records a tools/call of a tool never offered, which
// the library answers itself (-32602, as the spec has it), so that the
// audit log holds every call asked for, including those of tools a model
// made up.
func (s *Server) auditUnknownTool(ctx context.Context, _ any, method mcp.MCPMethod, message any, err error) {
	req, ok := message.(*mcp.CallToolRequest)
	if method != mcp.MethodToolsCall || !ok || !errors.Is(err, server.ErrToolNotFound) {
		return
	}
	args, _ := rawArguments(req) // unencodable arguments are recorded as none
	s.unknownTool(ctx, req.Params.Name, args)
}

// unknownTool records a call of a tool never offered, refused, and
// returns the JSON-RPC error message for it: -32602, as the spec has it,
// with the tools there are, as "agentcli call" names them. Both
// transports answer such calls with it before the library would answer
// with its own words.
func (s *Server) unknownTool(ctx context.Context, name string, args json.RawMessage) string {
	refusal := s.opts.Host.UnknownTool(name)
	if _, err := s.opts.Host.Call(ctx, host.Request{Tool: name, Args: args, Caller: s.caller(ctx), Refusal: refusal}); err != nil {
		s.log.Error().Err(err).Msg("recording a call of an unknown tool")
	}
	return refusal.Message
}

// offers reports whether the tool name is offered.
func (s *Server) offers(name string) bool {
	_, ok := (*s.offered.Load())[name]
	return ok
}

// call runs one tools/call through the host, with progress notifications
// while it runs when the client sent a progress token.
func (s *Server) call(ctx context.Context, name string, args json.RawMessage, token mcp.ProgressToken) (*host.Result, error) {
	if token != nil {
		stop := s.progress(ctx, token, name)
		defer stop()
	}
	return s.opts.Host.Call(ctx, host.Request{Tool: name, Args: args, Caller: s.caller(ctx), Approver: s.approve})
}

// caller is the client of ctx, for the audit log.
func (s *Server) caller(ctx context.Context) host.Caller {
	return host.Caller{Frontend: "mcp", Identity: identity(ctx)}
}

// errNoElicitation: the client cannot be asked.
var errNoElicitation = errors.New("the MCP client did not declare that it can ask its user (elicitation)")

// approve asks the client's user, by an MCP elicitation, whether a call
// the gate asks about may run. A client that has not declared the
// capability (or a transport that cannot carry the request) gets an
// error, and the call fails NEEDS_APPROVAL: on every transport, since the
// library would send the request over streamable HTTP all the same.
func (s *Server) approve(ctx context.Context, req host.ApprovalRequest) (bool, error) {
	if cs, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); !ok || cs.GetClientCapabilities().Elicitation == nil {
		return false, errNoElicitation
	}
	wait := s.approvalTimeout()
	ctx, cancel := context.WithTimeoutCause(ctx, wait, fmt.Errorf("no answer to the approval request within %v", wait))
	defer cancel()
	res, err := s.mcp.RequestElicitation(ctx, mcp.ElicitationRequest{Params: approvalQuestion(req)})
	if err != nil {
		return false, err
	}
	return approved(res), nil
}

// callResult is the MCP result of a call, whichever transport carries
// it: the result (or the error envelope, with isError) as text, and the
// result as structuredContent when the tool offers an output schema (the
// host checked it against that schema: an object).
func callResult(res *host.Result, structured bool) *mcp.CallToolResult {
	if !res.OK() {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{mcp.NewTextContent(string(res.Err.JSON()))}}
	}
	out := &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent(string(res.Output))}}
	if structured {
		out.StructuredContent = json.RawMessage(res.Output)
	}
	return out
}

// progress sends notifications/progress for a running call until stopped:
// elapsed seconds as progress, with a message naming the tool.
func (s *Server) progress(ctx context.Context, token mcp.ProgressToken, name string) (stop func()) {
	start := time.Now()
	done := make(chan struct{})
	send := func() {
		elapsed := time.Since(start).Seconds()
		err := s.mcp.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress), map[string]any{
			"progressToken": token,
			"progress":      elapsed,
			"message":       fmt.Sprintf("%s running for %.0fs", name, elapsed),
		})
		if err != nil {
			s.log.Debug().Err(err).Msg("progress notification")
		}
	}
	go func() {
		send()
		tick := time.NewTicker(s.opts.ProgressEvery)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				send()
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { close(done) }
}
