package host

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestForTerminal(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text, ünïcödé", "plain text, ünïcödé"},
		{"a\x1b[2Jb", `a\x1b[2Jb`},
		{"line\r\nnext", `line\x0d\x0anext`},
		{"csi\u009b31m", `csi\u009b31m`},
		{"bidi \u202eevil\u202c", `bidi \u202eevil\u202c`},
		{"isolate\u2066x\u2069", `isolate\u2066x\u2069`},
		{"bad \xff utf8", `bad \xff utf8`},
		{"del\x7f", `del\x7f`},
	} {
		if got := ForTerminal(c.in); got != c.want {
			t.Errorf("ForTerminal(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A long failure text keeps its start and, mostly, its end, whole
// characters only.
func TestCutMiddle(t *testing.T) {
	s := strings.Repeat("é", 3000) + "Traceback: the last words"
	got := cutMiddle(s, 1000)
	if !strings.HasSuffix(got, "the last words") || !strings.HasPrefix(got, "éé") || !strings.Contains(got, "bytes cut] …") {
		t.Errorf("cutMiddle: %q", got)
	}
	if len(got) > 1100 || !utf8.ValidString(got) {
		t.Errorf("cutMiddle: %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
	if short := "short"; cutMiddle(short, 1000) != short {
		t.Error("cutMiddle changed a short text")
	}
}
