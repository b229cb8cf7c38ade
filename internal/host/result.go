package host

import (
	"encoding/json"
	"time"

	"github.com/toolhost/toolhost/internal/sandbox"
	"github.com/toolhost/toolhost/protocol"
)

// Result is the outcome of one call: either Output or Err is set.
type Result struct {
	// CallID identifies the call in logs and the audit log.
	CallID string
	// Output is the tool's result: one JSON value, sanitized and redacted.
	Output json.RawMessage
	// Err is the failure, with a host code (protocol.Code...) or a code of
	// the tool's own.
	Err *protocol.Error
	// Duration is the wall time of the whole call.
	Duration time.Duration
	// Outcome, for a Request with a Probe, is what the tool did as it
	// did it: its output unread by the host, neither cleaned nor
	// redacted. Nil when the tool did not run, and for every other call.
	Outcome *sandbox.Outcome
}

// OK reports whether the call succeeded.
func (r *Result) OK() bool { return r.Err == nil }

// Caller says who makes a call, for the audit log. The zero value is an
// anonymous caller of frontend "api".
type Caller struct {
	// Frontend is "cli", "chat" or "mcp".
	Frontend string
	// Identity is the caller's identity when known (a token id, a JWT
	// subject), never a secret.
	Identity string
}
