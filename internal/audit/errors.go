package audit

import (
	"errors"
	"fmt"
)

// ErrIncompleteTail means the log's last line has no newline: a write was
// cut short (a crash, a full disk) or the file was truncated. The host
// refuses to append after it; `agentcli audit verify` shows the damage.
var ErrIncompleteTail = errors.New("the last line is incomplete")

// VerifyError names the first line of a log that breaks the chain.
type VerifyError struct {
	Line   int // 1-based line number
	Reason string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}

// UnsafeError reports an audit file or folder that others could change.
type UnsafeError struct {
	Path   string
	Reason string
	Fix    string
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("audit log %s is %s; fix: %s", e.Path, e.Reason, e.Fix)
}
