package main

import (
	"bytes"
	"unicode/utf8"
)

// contentBudget bounds the bytes "content" may take in the JSON result, so
// that the whole result stays under the host's 1 MiB output cap. Base64 of
// maxMaxBytes (699,052 bytes) always fits; text that JSON escapes heavily
// (control characters, <, >, & become six bytes each) is cut to fit.
const contentBudget = 896 << 10

// isText reports whether b is valid UTF-8 without NUL bytes. A NUL is valid
// UTF-8 but marks binary data, which base64 carries far more compactly.
func isText(b []byte) bool {
	return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0
}

// trimPartialRune drops a UTF-8 sequence cut in half at the end of b, the
// rest of which lies past the read, so that a text file read in pieces stays
// text. It never returns an empty slice for a non-empty b: a read must make
// progress even when the piece holds nothing but part of one character.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if !utf8.RuneStart(b[i]) {
			continue
		}
		if !utf8.FullRune(b[i:]) && i > 0 {
			return b[:i]
		}
		break
	}
	return b
}

// fitJSON returns how many leading bytes of the UTF-8 text b fit in budget
// bytes once encoded as a JSON string, cut on a character boundary. It
// counts each character at its worst case under encoding/json (which also
// escapes <, > and &, and U+2028 and U+2029).
func fitJSON(b []byte, budget int) int {
	used := 0
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		n := size
		switch {
		case r < 0x20, r == '<', r == '>', r == '&', r == '\u2028', r == '\u2029', r == utf8.RuneError:
			n = 6
		case r == '"', r == '\\':
			n = 2
		}
		if used+n > budget {
			return i
		}
		used += n
		i += size
	}
	return len(b)
}
