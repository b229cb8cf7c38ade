package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseOutput(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    any
		wantErr string
	}{
		{"object", `{"a":1}`, map[string]any{"a": json.Number("1")}, ""},
		{"trailing white space", " [true, null] \n\t\r\n", []any{true, nil}, ""},
		{"scalar", `"hi"`, "hi", ""},
		{"big number keeps precision", `12345678901234567890`, json.Number("12345678901234567890"), ""},
		{"empty", "", nil, "empty output"},
		{"only white space", " \n ", nil, "empty output"},
		{"not JSON", "hello world", nil, `not JSON: invalid character 'h' looking for beginning of value at byte 1 (output starts "hello world")`},
		{"two values", `{"a":1} {"b":2}`, nil, `more than one JSON value at byte 8`},
		{"log line after", "{}\nDONE\n", nil, "more than one JSON value at byte 3"},
		{"truncated", `{"a":`, nil, "not JSON: unexpected EOF"},
		{"long output quoted short", strings.Repeat("x", 500), nil, `output starts "` + strings.Repeat("x", 64) + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOutput([]byte(tt.out))
			if tt.wantErr != "" {
				var oe *OutputError
				if !errors.As(err, &oe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want *OutputError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestParseFailure(t *testing.T) {
	tests := []struct {
		name   string
		stderr string
		want   *Error
	}{
		{"envelope", `{"error":"no such file","code":"NOT_FOUND"}` + "\n", &Error{Message: "no such file", Code: "NOT_FOUND"}},
		{"envelope without code", `{"error":"boom"}`, &Error{Message: "boom"}},
		{"log lines before the envelope", "starting\nworking\n{\"error\":\"bad\",\"code\":\"X\"}\n\n", &Error{Message: "bad", Code: "X"}},
		{"plain text", "panic: oh no\n\tgoroutine 1\n", &Error{Message: "panic: oh no\n\tgoroutine 1"}},
		{"JSON that is not an envelope", `{"message":"x"}`, &Error{Message: `{"message":"x"}`}},
		{"error not a string", `{"error":5}`, &Error{Message: `{"error":5}`}},
		{"empty", "", &Error{}},
		{"envelope not last", "{\"error\":\"first\"}\ntrailing words", &Error{Message: "{\"error\":\"first\"}\ntrailing words"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ParseFailure([]byte(tt.stderr))); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestToolCodes(t *testing.T) {
	for code, want := range map[string]bool{
		"NOT_FOUND": true, "E2BIG": true, "TIMEOUT": false, "INVALID_ARGS": false,
		"lower": false, "": false, "_X": false, strings.Repeat("A", 65): false, "A B": false,
	} {
		if got := ValidToolCode(code); got != want {
			t.Errorf("ValidToolCode(%q) = %v, want %v", code, got, want)
		}
	}
}

type greetIn struct {
	Name string `json:"name"`
}

func greet(_ context.Context, in greetIn) (map[string]string, error) {
	switch in.Name {
	case "":
		return nil, Errorf("NO_NAME", "name is required")
	case "plain":
		return nil, errors.New("plain failure")
	case "panic":
		panic("kaboom")
	case "typed nil":
		var e *Error
		return nil, e
	case "<html>":
		return map[string]string{"greeting": "a<b>&c"}, nil
	}
	return map[string]string{"greeting": "hello, " + in.Name}, nil
}

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		stdin      string
		wantStatus int
		wantOut    string
		wantErr    *Error // the last line of stderr
	}{
		{"success", `{"name":"ada"}`, 0, `{"greeting":"hello, ada"}` + "\n", nil},
		{"coded error", `{"name":""}`, 1, "", &Error{Message: "name is required", Code: "NO_NAME"}},
		{"empty stdin is {}", ``, 1, "", &Error{Message: "name is required", Code: "NO_NAME"}},
		{"plain error has no code", `{"name":"plain"}`, 1, "", &Error{Message: "plain failure"}},
		{"panic becomes an envelope", `{"name":"panic"}`, 1, "", &Error{Message: "internal error: panic: kaboom", Code: "PANIC"}},
		{"typed nil error", `{"name":"typed nil"}`, 1, "", &Error{Message: "internal error: the tool returned a nil *protocol.Error", Code: "PANIC"}},
		{"no HTML escaping", `{"name":"<html>"}`, 0, `{"greeting":"a<b>&c"}` + "\n", nil},
		{"not JSON", `{name}`, 1, "", &Error{Message: "decode arguments: invalid character 'n' looking for beginning of object key string", Code: "BAD_INPUT"}},
		{"two values", `{} {}`, 1, "", &Error{Message: "decode arguments: more than one JSON value", Code: "BAD_INPUT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			status := Run(context.Background(), strings.NewReader(tt.stdin), &stdout, &stderr, greet)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d (stderr %q)", status, tt.wantStatus, stderr.String())
			}
			if stdout.String() != tt.wantOut {
				t.Errorf("stdout = %q, want %q", stdout.String(), tt.wantOut)
			}
			if tt.wantErr == nil {
				if stderr.Len() != 0 {
					t.Errorf("stderr = %q, want nothing", stderr.String())
				}
				return
			}
			if diff := cmp.Diff(tt.wantErr, ParseFailure(stderr.Bytes())); diff != "" {
				t.Errorf("envelope (-want +got)\n%s", diff)
			}
		})
	}
}

func FuzzParseOutput(f *testing.F) {
	for _, s := range []string{`{"a":1}`, " [1] \n", `{"a":1} {}`, "", "x", `"\u001b[31m"`, `{"a":` + strings.Repeat("[", 100)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		v, err := ParseOutput(out)
		if err != nil {
			if json.Valid(out) {
				t.Fatalf("valid JSON %q refused: %v", out, err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("accepted invalid JSON %q as %v", out, v)
		}
	})
}

func FuzzParseFailure(f *testing.F) {
	for _, s := range []string{`{"error":"x","code":"Y"}`, "text\n{\"error\":\"e\"}\n", "", "\n\n", `{"error":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, stderr []byte) {
		e := ParseFailure(stderr)
		if e == nil {
			t.Fatal("nil envelope")
		}
		// An envelope round-trips through its own wire form.
		if back := ParseFailure(e.JSON()); back.Message != e.Message || back.Code != e.Code {
			t.Fatalf("round trip: %+v became %+v", e, back)
		}
	})
}
