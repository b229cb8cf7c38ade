package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// OutputError describes standard output that is not exactly one JSON value.
// Seen holds the first bytes of what the tool wrote, for the error message.
type OutputError struct {
	Reason string // what is wrong, e.g. "not JSON" or "more than one JSON value"
	Seen   string // up to 64 bytes of the output, quoted when printed
	Offset int64  // byte offset of the problem in the output
}

func (e *OutputError) Error() string {
	if e.Seen == "" {
		return e.Reason
	}
	return fmt.Sprintf("%s at byte %d (output starts %q)", e.Reason, e.Offset, e.Seen)
}

// seenLen bounds how much of a bad output an error message quotes.
const seenLen = 64

// ParseOutput checks that out is exactly one JSON value, optionally
// surrounded by white space, and returns it decoded with numbers kept as
// json.Number (so no precision is lost and schemas see the real value).
// Any other shape is an *OutputError.
func ParseOutput(out []byte) (any, error) {
	if len(trimJSONSpace(out)) == 0 {
		return nil, &OutputError{Reason: "empty output, want one JSON value"}
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		off := int64(0)
		if se, ok := err.(*json.SyntaxError); ok {
			off = se.Offset
		}
		return nil, &OutputError{Reason: "not JSON: " + err.Error(), Seen: prefix(out), Offset: off}
	}
	end := dec.InputOffset()
	if rest := out[end:]; len(trimJSONSpace(rest)) != 0 {
		ws := len(rest) - len(bytes.TrimLeft(rest, jsonSpace))
		return nil, &OutputError{Reason: "more than one JSON value", Seen: prefix(out), Offset: end + int64(ws)}
	}
	return v, nil
}

// jsonSpace is white space as JSON defines it (RFC 8259, section 2); form
// feeds and Unicode spaces are not.
const jsonSpace = " \t\r\n"

func trimJSONSpace(b []byte) []byte { return bytes.Trim(b, jsonSpace) }

func prefix(b []byte) string {
	if len(b) > seenLen {
		b = b[:seenLen]
		// Do not cut a UTF-8 sequence in half.
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
	}
	return string(b)
}

// ParseFailure reads a failed tool's standard error. When its last non-blank
// line is an error envelope, that envelope is returned; otherwise the whole
// text, trimmed, becomes the message and the code is empty. Invalid UTF-8
// becomes U+FFFD; nothing else is cleaned: the host cuts and sanitizes the
// message before anyone sees it.
func ParseFailure(stderr []byte) *Error {
	text := strings.TrimRight(strings.ToValidUTF8(string(stderr), "\uFFFD"), " \t\r\n")
	last := text
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		last = text[i+1:]
	}
	if env, ok := parseEnvelope(strings.TrimSpace(last)); ok {
		return env
	}
	return &Error{Message: strings.TrimSpace(text)}
}

func parseEnvelope(line string) (*Error, bool) {
	if !strings.HasPrefix(line, "{") {
		return nil, false
	}
	var raw struct {
		Error *string `json:"error"`
		Code  *string `json:"code"`
	}
	if err := json.Unmarshal([]byte(line), &raw); err != nil || raw.Error == nil {
		return nil, false
	}
	e := &Error{Message: *raw.Error}
	if raw.Code != nil {
		e.Code = *raw.Code
	}
	return e, true
}
