package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
)

// Host error codes. They are stable: frontends, scripts and models match on
// them, so a code is never renamed or reused for another meaning.
const (
	// CodeUnknownTool: the name is not in the vetted set.
	CodeUnknownTool = "UNKNOWN_TOOL"
	// CodeDenied: the policy or a guard refused the call.
	CodeDenied = "DENIED"
	// CodeNeedsApproval: the policy asks for approval and nobody can answer.
	CodeNeedsApproval = "NEEDS_APPROVAL"
	// CodeInvalidArgs: the arguments are not a JSON object matching the
	// tool's input schema.
	CodeInvalidArgs = "INVALID_ARGS"
	// CodeTimeout: the tool ran past its timeout and was killed.
	CodeTimeout = "TIMEOUT"
	// CodeCancelled: the caller cancelled the call; the tool was killed.
	CodeCancelled = "CANCELLED"
	// CodeOutputLimit: the tool wrote more than its output cap and was killed.
	CodeOutputLimit = "OUTPUT_LIMIT"
	// CodeMemoryLimit: the tool and the processes it started used more
	// memory together than its memoryMB, and were killed.
	CodeMemoryLimit = "MEMORY_LIMIT"
	// CodeBadOutput: exit 0, but standard output is not exactly one JSON value.
	CodeBadOutput = "BAD_OUTPUT"
	// CodeOutputSchema: the result does not match the declared output schema.
	CodeOutputSchema = "OUTPUT_SCHEMA"
	// CodeToolError: the tool failed (non-zero exit) without a code of its own.
	CodeToolError = "TOOL_ERROR"
	// CodeLaunchFailed: the host could not start or contain the tool.
	CodeLaunchFailed = "LAUNCH_FAILED"
	// CodeIntegrity: the binary no longer matches its pinned sha256.
	CodeIntegrity = "INTEGRITY"
	// CodeSandboxUnavailable: the tool's sandbox level cannot be had on
	// this machine, so the tool was not run.
	CodeSandboxUnavailable = "SANDBOX_UNAVAILABLE"
	// CodeRateLimited: the caller exceeded its rate limit.
	CodeRateLimited = "RATE_LIMITED"
	// CodeHostError: the host itself failed, for example its audit log
	// could not be written; the tool may have run, but its result is
	// withheld.
	CodeHostError = "HOST_ERROR"
)

var hostCodes = map[string]bool{
	CodeUnknownTool: true, CodeDenied: true, CodeNeedsApproval: true,
	CodeInvalidArgs: true, CodeTimeout: true, CodeCancelled: true,
	CodeOutputLimit: true, CodeMemoryLimit: true, CodeBadOutput: true, CodeOutputSchema: true,
	CodeToolError: true, CodeLaunchFailed: true, CodeIntegrity: true,
	CodeSandboxUnavailable: true, CodeRateLimited: true, CodeHostError: true,
}

// IsHostCode reports whether code is one of the host's reserved codes.
// A tool may not claim one of these for its own failures.
func IsHostCode(code string) bool { return hostCodes[code] }

// codePattern is the shape of a code a tool may report: upper-case words
// joined by underscores, at most 64 bytes.
var codePattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// ValidToolCode reports whether a tool may use code for its own failures:
// it has the shape of a code and is not reserved by the host.
func ValidToolCode(code string) bool {
	return codePattern.MatchString(code) && !IsHostCode(code)
}

// Error is the error envelope, on the wire {"error":"...","code":"..."}.
// It is both what a failing tool prints on standard error and what the host
// returns for a failed call. The zero value is an error with no message and
// no code.
type Error struct {
	Message string `json:"error"`
	Code    string `json:"code,omitempty"`
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e == nil {
		return "<nil protocol.Error>"
	}
	if e.Code == "" {
		return e.Message
	}
	return e.Code + ": " + e.Message
}

// JSON returns the envelope as one line of JSON without a trailing newline.
func (e *Error) JSON() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil { // cannot happen: two strings always encode
		panic(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
