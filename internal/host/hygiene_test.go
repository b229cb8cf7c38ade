package host

import "testing"

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
