package host

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Redacted replaces every secret value in what callers see.
const Redacted = "[REDACTED]"

// ansiEscape matches terminal escape sequences: CSI (ESC [ ... final),
// OSC (ESC ] ... BEL or ST), other two-byte ESC sequences, and the 8-bit
// CSI.
var ansiEscape = regexp.MustCompile("\x1b\\[[0-?]*[ -/]*[@-~]|\x1b\\][^\x07\x1b]*(?:\x07|\x1b\\\\)?|\x1b[@-Z\\\\-_]|\u009b[0-?]*[ -/]*[@-~]")

// dropped reports characters never passed on: C0 controls other than tab,
// newline and carriage return, DEL, C1 controls, and the bidirectional
// overrides and isolates that make text read differently than it is
// (CVE-2021-42574, "Trojan Source").
func dropped(r rune) bool {
	switch {
	case r < 0x20:
		return r != '\t' && r != '\n' && r != '\r'
	case r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// sanitize strips escape sequences and dropped characters from s and makes
// it valid UTF-8.
func sanitize(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || dropped(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	s = ansiEscape.ReplaceAllString(strings.ToValidUTF8(s, "\uFFFD"), "")
	return strings.Map(func(r rune) rune {
		if dropped(r) {
			return -1
		}
		return r
	}, s)
}

// redactor removes secret values and configured patterns from text. The
// zero value redacts nothing.
type redactor struct {
	values   []string // literal secrets, longest first
	patterns []*regexp.Regexp
}

// guard is how far a secret may reach across a cut: the longest value, or
// a generous bound when patterns (of any length) are configured.
func (r *redactor) guard() int {
	g := 0
	if len(r.values) > 0 {
		g = len(r.values[0]) // longest first
	}
	if len(r.patterns) > 0 {
		g = max(g, 256)
	}
	return g
}

func (r *redactor) redact(s string) string {
	for _, v := range r.values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Redacted)
		}
	}
	for _, p := range r.patterns {
		s = p.ReplaceAllString(s, Redacted)
	}
	return s
}

// clean sanitizes and redacts one string.
func (r *redactor) clean(s string) string { return r.redact(sanitize(s)) }

// cleanValue applies clean to every string and object key of a decoded
// JSON value. changed reports whether anything was altered, so an
// unchanged output can be passed on byte for byte.
func (r *redactor) cleanValue(v any) (out any, changed bool) {
	switch x := v.(type) {
	case string:
		c := r.clean(x)
		return c, c != x
	case []any:
		for i, e := range x {
			c, ch := r.cleanValue(e)
			if ch {
				x[i], changed = c, true
			}
		}
		return x, changed
	case map[string]any:
		for k, e := range x {
			c, ch := r.cleanValue(e)
			ck := r.clean(k)
			if ck != k {
				delete(x, k)
				x[ck], changed = c, true
				continue
			}
			if ch {
				x[k], changed = c, true
			}
		}
		return x, changed
	}
	return v, false
}

// cut shortens s to at most max bytes on a rune boundary, saying so.
// cutMiddle cuts s to about max bytes by leaving out its middle: a
// quarter of max from its start and the rest from its end, where a
// failing program's last words (a traceback, the line that says why)
// are.
func cutMiddle(s string, max int) string {
	if len(s) <= max {
		return s
	}
	head := max / 4
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	tail := len(s) - (max - head)
	for tail < len(s) && !utf8.RuneStart(s[tail]) {
		tail++
	}
	return fmt.Sprintf("%s\n… [%d bytes cut] …\n%s", s[:head], tail-head, s[tail:])
}

func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "… [cut]"
}

// ForTerminal makes s safe to print on a terminal in one line: every
// character that is not printable (controls, C1 controls such as the 8-bit
// CSI U+009B, bidirectional overrides such as U+202E, line breaks) and
// every byte of invalid UTF-8 is shown escaped (\x1b, \u202e), so that
// text from a model or a tool can neither move the cursor, redraw what is
// on the screen, nor read differently than it is. Use it on everything
// model- or tool-controlled that is printed to a terminal.
func ForTerminal(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r):
			b.WriteString(s[i : i+size])
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}
