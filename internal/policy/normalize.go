package policy

// The normal form commands are matched in: NormalizeCommand.

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// NormalizeCommand returns the form of s that patterns are matched against,
// so that spelling tricks cannot dodge them:
//
//   - ANSI-C quoted strings ($'\x72\x6d') are decoded;
//   - format characters (zero-width spaces and joiners, bidirectional
//     controls, soft hyphens) and control characters other than tab and
//     newline are removed;
//   - the text is put in Unicode NFKC form (full-width letters become ASCII)
//     and lower-cased;
//   - every single and double quote is removed ('r'm, r""m, "rm" and $"rm"
//     become rm), so quoted words count as much as unquoted ones;
//   - a backslash is removed before a character with no special meaning to
//     the shell (r\m becomes rm), with the newline or quote after it, and
//     turns into a space before white space; before a shell operator, $ or
//     another backslash it stays (an escaped operator is no operator);
//   - a newline becomes ";", tabs and other white space become a space, runs
//     of spaces become one, and the ends are trimmed;
//   - unless escaped, $IFS, ${IFS} and ${IFS...} become a space, and $@,
//     $*, ${@} and ${*} (empty outside a function) are removed.
//
// Shell operators ($( ` | ; & > < and parentheses) are kept.
func NormalizeCommand(s string) string {
	s = decodeANSIC(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 || c >= 0x7f) && c != '\n' {
			s = strings.ToLower(norm.NFKC.String(strings.Map(visible, s)))
			break
		}
	}
	return expand(tidy(s))
}

// expand replaces $IFS and the like with a space and removes $@ and $*
// (empty outside a function), unless escaped, until none is left.
func expand(s string) string {
	for strings.IndexByte(s, '$') >= 0 {
		var b strings.Builder
		last := 0
		for _, m := range emptyExpansion.FindAllStringIndex(s, -1) {
			if m[0] > 0 && s[m[0]-1] == '\\' {
				continue
			}
			b.WriteString(s[last:m[0]])
			if strings.Contains(s[m[0]:m[1]], "ifs") {
				b.WriteByte(' ')
			}
			last = m[1]
		}
		if last == 0 {
			break
		}
		b.WriteString(s[last:])
		s = strings.Join(strings.Fields(b.String()), " ")
	}
	return s
}

// emptyExpansion matches the expansions expand replaces.
var emptyExpansion = regexp.MustCompile(`\$(?:\{(?:ifs[^}]*|[@*])\}|ifs|[@*])`)

// visible maps tab to a space and drops format characters and control
// characters other than newline.
func visible(r rune) rune {
	switch {
	case r >= 0x20 && r < 0x7f:
		return r
	case r == '\t':
		return ' '
	case r == '\n':
		return r
	case r < 0x20, r >= 0x7f && r <= 0x9f, unicode.Is(unicode.Cf, r):
		return -1
	}
	return r
}

// decodeANSIC replaces each $'...' string of s by the text it stands for.
func decodeANSIC(s string) string {
	i := strings.Index(s, "$'")
	if i < 0 {
		return s
	}
	var b strings.Builder
	for i >= 0 {
		b.WriteString(s[:i])
		s = s[i+2:]
		for len(s) > 0 && s[0] != '\'' {
			if s[0] != '\\' || len(s) == 1 {
				b.WriteByte(s[0])
				s = s[1:]
				continue
			}
			n := ansiCEscape(&b, s[1:])
			s = s[1+n:]
		}
		if len(s) > 0 {
			s = s[1:] // the closing quote
		}
		i = strings.Index(s, "$'")
	}
	b.WriteString(s)
	return b.String()
}

// ansiCEscape writes what the escape sequence at the start of t (the text
// after a backslash inside $'...') stands for and returns its length.
func ansiCEscape(b *strings.Builder, t string) int {
	switch c := t[0]; c {
	case 'a':
		b.WriteByte('\a')
	case 'b':
		b.WriteByte('\b')
	case 'e', 'E':
		b.WriteByte(0x1b)
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'v':
		b.WriteByte('\v')
	case '\\', '\'', '"', '?':
		b.WriteByte(c)
	case 'c':
		if len(t) > 1 {
			b.WriteByte(t[1] & 0x1f)
			return 2
		}
		b.WriteString(`\c`)
	case 'x', 'u', 'U':
		width := 2
		switch c {
		case 'u':
			width = 4
		case 'U':
			width = 8
		}
		v, n := digits(t[1:], 16, width)
		switch {
		case n == 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == 'x':
			b.WriteByte(byte(v))
		default:
			b.WriteRune(rune(v))
		}
		return 1 + n
	default:
		if c >= '0' && c <= '7' {
			v, n := digits(t, 8, 3)
			b.WriteByte(byte(v))
			return n
		}
		b.WriteByte('\\')
		b.WriteByte(c)
	}
	return 1
}

// digits reads up to width digits of the given base from the start of t.
func digits(t string, base, width int) (v, n int) {
	for ; n < width && n < len(t); n++ {
		d := digitValue(t[n])
		if d < 0 || d >= base {
			break
		}
		v = v*base + d
	}
	return v, n
}

// digitValue returns the value of the hexadecimal digit c, or -1.
func digitValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// tidy lower-cases ASCII letters, removes quotes, handles backslashes as
// NormalizeCommand says, turns newlines into ";" and runs of white space
// into one space, and trims the ends.
func tidy(s string) string {
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain[c] {
			if space {
				b = append(b, ' ')
				space = false
			}
			b = append(b, lower[c])
			continue
		}
		switch {
		case c == '\'' || c == '"':
			continue
		case c == '$' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\''):
			continue // $"..." is a quoted string too
		case c == '\\' && i+1 < len(s):
			i++
			switch n := s[i]; {
			case n == '\n', n == '\'', n == '"':
				continue // a line continuation; an escaped quote goes like quotes
			case n == ' ':
				space = len(b) > 0 // an escaped space counts as a space
				continue
			case special[n]:
				if space {
					b = append(b, ' ')
					space = false
				}
				b = append(b, '\\', n) // the escaped byte is no operator
				continue
			default:
				c = lower[n]
			}
		case c == '\n':
			b = append(b, ';')
			space = false
			continue
		case c == ' ':
			space = len(b) > 0
			continue
		case c >= utf8.RuneSelf:
			if r, n := utf8.DecodeRuneInString(s[i:]); unicode.IsSpace(r) {
				space = len(b) > 0
				i += n - 1
				continue
			}
		}
		if space {
			b = append(b, ' ')
			space = false
		}
		b = append(b, c)
	}
	return string(b)
}

// special holds the bytes a backslash is kept before; plain
// the ASCII bytes tidy has nothing to do with but lower-casing; lower maps
// bytes to lower case.
var (
	special = byteSet(";&|<>()$`\\")
	plain   = byteSet("!#%()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~&")
	lower   = func() (m [256]byte) {
		for i := range m {
			m[i] = byte(i)
			if i >= 'A' && i <= 'Z' {
				m[i] += 'a' - 'A'
			}
		}
		return m
	}()
)
