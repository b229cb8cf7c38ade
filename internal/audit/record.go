package audit

import "time"

// Version is the record format version, the "v" member of every line.
const Version = 1

// Record is one call. The JSON form is schemas/audit-record.schema.json;
// members are written in field order.
type Record struct {
	V    int       `json:"v"`
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Call is the call id, unique per host process.
	Call string `json:"call"`
	// Frontend is who made the call: "cli", "chat" or "mcp".
	Frontend string `json:"frontend"`
	// Caller is the caller's identity when known, never a secret.
	Caller string `json:"caller,omitempty"`
	Tool   string `json:"tool"`
	// ArgsSHA256 is the SHA-256 of the argument bytes, in hex.
	ArgsSHA256 string `json:"argsSha256"`
	// Argv is what ran, redacted; nil when nothing ran.
	Argv []string `json:"argv,omitempty"`
	// Env are the names of the variables passed, never their values.
	Env []string `json:"env,omitempty"`
	PID int      `json:"pid,omitempty"`
	// Resident says the call ran in a resident tool's long-lived process
	// (PID is that process's), not in a process of its own.
	Resident bool `json:"resident,omitempty"`
	// Containment is how the tool was contained: "cgroup-v2",
	// "cgroup-v1", "pid-namespace" or "none"; empty when nothing ran.
	Containment string `json:"containment,omitempty"`
	// Exit is the exit status; nil when the tool did not run or a signal
	// ended it.
	Exit   *int   `json:"exit,omitempty"`
	Signal string `json:"signal,omitempty"`
	// DurationMs is the wall time of the whole call in milliseconds.
	DurationMs float64 `json:"durationMs"`
	BytesIn    int64   `json:"bytesIn"`
	BytesOut   int64   `json:"bytesOut"`
	// Leftovers counts processes of the call that outlived it and were
	// killed by the host.
	Leftovers int `json:"leftovers,omitempty"`
	// Decision is the gate's; Rule is what decided (floor:ID, guard:ID,
	// rule:ID or mode:MODE). Both are empty when the call never reached
	// the gate.
	Decision Decision `json:"decision,omitempty"`
	Rule     string   `json:"rule,omitempty"`
	Code     string   `json:"code,omitempty"`
	Message  string   `json:"message,omitempty"`
	Prev     string   `json:"prev"`
	// Hash is set by Append; it is never part of the hashed bytes.
	Hash string `json:"hash,omitempty"`
}

// Decision is the gate's verdict on a call.
type Decision string

const (
	Allowed Decision = "allow" // a rule or the mode allowed it
	Denied  Decision = "deny"  // the floor, a guard, a rule or the mode denied it
	// Asked about: approved (or pre-approved with -approve), declined,
	// or nobody could answer.
	Approved      Decision = "approved"
	Declined      Decision = "declined"
	NeedsApproval Decision = "needs-approval"
)
