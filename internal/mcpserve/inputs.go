package mcpserve

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/toolhost/toolhost/internal/host"
)

// Approval on the stateless revision (2026-07-28 and later), where a
// server may not send requests of its own: a call the gate asks about is
// answered with an input request (SEP-2322) holding the same question an
// elicitation would ask, and a request state; the client asks its user
// and sends the call again with the answer and the state. The state is
// signed by this server and binds the answer to one question: the
// client's identity, the tool and its exact arguments. It is good for
// the approval timeout, once.

// approvalInput is the key of the approval question among a call's input
// requests and responses.
const approvalInput = "approve"

// errAskedByInput ends the first round of a call the client is asked
// about by an input request.
var errAskedByInput = fmt.Errorf("the MCP client is asked by an input request; %w", host.ErrAskedLater)

// approvals issues and checks request states.
type approvals struct {
	key []byte
	mu  sync.Mutex
	// used holds the states answered, until they expire: each answers
	// one call.
	used map[string]time.Time
}

func newApprovals() *approvals {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand)
	return &approvals{key: key, used: map[string]time.Time{}}
}

// subject is what a state binds an answer to, hashed: the state is
// signed, not encrypted, and the client need not read its own identity
// as the server knows it.
func subject(ctx context.Context, req host.ApprovalRequest) string {
	sum := sha256.Sum256(req.Args)
	all := sha256.Sum256([]byte(identity(ctx) + "\n" + req.Tool + "\n" + hex.EncodeToString(sum[:])))
	return hex.EncodeToString(all[:])
}

func (a *approvals) sign(payload string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// issue returns a state for the question req, good until ttl from now.
func (a *approvals) issue(ctx context.Context, req host.ApprovalRequest, ttl time.Duration) string {
	nonce := make([]byte, 12)
	rand.Read(nonce)
	payload := strconv.FormatInt(time.Now().Add(ttl).Unix(), 10) + "\n" + base64.RawURLEncoding.EncodeToString(nonce) + "\n" + subject(ctx, req)
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + a.sign(payload)
}

// redeem checks that state is one of ours, for the question req, not
// expired and not used before; it is then used up. The error says why
// not.
func (a *approvals) redeem(ctx context.Context, state string, req host.ApprovalRequest) error {
	enc, sig, ok := strings.Cut(state, ".")
	raw, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	// One spelling only: the decoder would take others (line breaks,
	// other trailing bits) for the same payload, each a fresh key of
	// used.
	if !ok || err != nil || base64.RawURLEncoding.EncodeToString(raw) != enc || !hmac.Equal([]byte(sig), []byte(a.sign(string(raw)))) {
		return errors.New("the request state is not one this server issued")
	}
	exp, rest, _ := strings.Cut(string(raw), "\n")
	_, subj, _ := strings.Cut(rest, "\n")
	if subj != subject(ctx, req) {
		return errors.New("the request state was issued for another call")
	}
	unix, _ := strconv.ParseInt(exp, 10, 64)
	now := time.Now()
	if now.Unix() > unix {
		return errors.New("the request state has expired")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for s, t := range a.used {
		if now.After(t) {
			delete(a.used, s)
		}
	}
	if _, dup := a.used[string(raw)]; dup {
		return errors.New("the request state was used already")
	}
	a.used[string(raw)] = time.Unix(unix+1, 0)
	return nil
}

// declaresElicitation reports whether the client of a stateless request
// said it can ask its user (per request, as that revision has it).
func declaresElicitation(ctx context.Context) bool {
	info := server.RequestProtocolInfoFromContext(ctx)
	return info != nil && info.ClientCapabilities != nil && info.ClientCapabilities.Elicitation != nil
}

// callStateless runs a call of the stateless revision. When the gate asks
// and the request holds no valid answer, the result asks the client for
// one (input_required).
func (s *Server) callStateless(ctx context.Context, name string, args json.RawMessage, token mcp.ProgressToken, structured bool, mrt mcp.MultiRoundTripParams) (*mcp.CallToolResult, error) {
	if token != nil {
		stop := s.progress(ctx, token, name)
		defer stop()
	}
	var asked *host.ApprovalRequest
	approver := func(ctx context.Context, req host.ApprovalRequest) (bool, error) {
		if answer := server.ElicitationResponse(mrt.InputResponses, approvalInput); answer != nil {
			err := s.approvals.redeem(ctx, mrt.RequestState, req)
			if err == nil {
				return approved(answer), nil
			}
			// Asked again, as if it had not been answered.
			s.log.Debug().Err(err).Str("tool", req.Tool).Msg("approval answer not taken")
		}
		if !declaresElicitation(ctx) {
			return false, errNoElicitation
		}
		asked = &req
		return false, errAskedByInput
	}
	res, err := s.opts.Host.Call(ctx, host.Request{Tool: name, Args: args, Caller: s.caller(ctx), Approver: approver})
	if err != nil {
		return nil, err
	}
	if asked != nil {
		state := s.approvals.issue(ctx, *asked, s.approvalTimeout())
		return server.NewInputRequestBuilder(state).Elicit(approvalInput, approvalQuestion(*asked)).ToolResult(), nil
	}
	return callResult(res, structured), nil
}

// approvalQuestion is what the client's user is asked, by an elicitation
// or an input request.
func approvalQuestion(req host.ApprovalRequest) mcp.ElicitationParams {
	return mcp.ElicitationParams{
		Message: fmt.Sprintf("agentcli: approve a call of the tool %s with %s? (%s)", req.Tool, req.Summary(), req.Reason),
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"approve": map[string]any{"type": "boolean", "title": "Run " + req.Tool, "description": "Let this one call run."},
			},
			"required": []string{"approve"},
		},
	}
}

// approved reads the user's answer: accepted, with approve true.
func approved(res *mcp.ElicitationResult) bool {
	if res.Action != mcp.ElicitationResponseActionAccept {
		return false
	}
	content, _ := res.Content.(map[string]any)
	yes, _ := content["approve"].(bool)
	return yes
}

func (s *Server) approvalTimeout() time.Duration {
	if s.opts.ApprovalTimeout > 0 {
		return s.opts.ApprovalTimeout
	}
	return DefaultApprovalTimeout
}
