package audit

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendRecord appends rec as JSON, member for member what encoding/json
// writes for a Record (with HTML characters left as they are), without
// its reflection: this runs on every call, right after a fork and exec
// have left the caches cold.
func appendRecord(b []byte, rec *Record) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(rec.V), 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, rec.Seq, 10)
	b = append(b, `,"time":"`...)
	b = rec.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","call":`...)
	b = appendString(b, rec.Call)
	b = append(b, `,"frontend":`...)
	b = appendString(b, rec.Frontend)
	if rec.Caller != "" {
		b = append(b, `,"caller":`...)
		b = appendString(b, rec.Caller)
	}
	b = append(b, `,"tool":`...)
	b = appendString(b, rec.Tool)
	b = append(b, `,"argsSha256":`...)
	b = appendString(b, rec.ArgsSHA256)
	if len(rec.Argv) > 0 {
		b = append(b, `,"argv":`...)
		b = appendStrings(b, rec.Argv)
	}
	if len(rec.Env) > 0 {
		b = append(b, `,"env":`...)
		b = appendStrings(b, rec.Env)
	}
	if rec.PID != 0 {
		b = append(b, `,"pid":`...)
		b = strconv.AppendInt(b, int64(rec.PID), 10)
	}
	if rec.Resident {
		b = append(b, `,"resident":true`...)
	}
	if rec.Containment != "" {
		b = append(b, `,"containment":`...)
		b = appendString(b, rec.Containment)
	}
	if rec.Exit != nil {
		b = append(b, `,"exit":`...)
		b = strconv.AppendInt(b, int64(*rec.Exit), 10)
	}
	if rec.Signal != "" {
		b = append(b, `,"signal":`...)
		b = appendString(b, rec.Signal)
	}
	b = append(b, `,"durationMs":`...)
	b = appendFloat(b, rec.DurationMs)
	b = append(b, `,"bytesIn":`...)
	b = strconv.AppendInt(b, rec.BytesIn, 10)
	b = append(b, `,"bytesOut":`...)
	b = strconv.AppendInt(b, rec.BytesOut, 10)
	if rec.Leftovers != 0 {
		b = append(b, `,"leftovers":`...)
		b = strconv.AppendInt(b, int64(rec.Leftovers), 10)
	}
	if rec.Decision != "" {
		b = append(b, `,"decision":`...)
		b = appendString(b, string(rec.Decision))
	}
	if rec.Rule != "" {
		b = append(b, `,"rule":`...)
		b = appendString(b, rec.Rule)
	}
	if rec.Code != "" {
		b = append(b, `,"code":`...)
		b = appendString(b, rec.Code)
	}
	if rec.Message != "" {
		b = append(b, `,"message":`...)
		b = appendString(b, rec.Message)
	}
	b = append(b, `,"prev":`...)
	b = appendString(b, rec.Prev)
	if rec.Hash != "" {
		b = append(b, `,"hash":`...)
		b = appendString(b, rec.Hash)
	}
	return append(b, '}')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendFloat formats like encoding/json: plain decimals, exponents only
// for very small or very large values.
func appendFloat(b []byte, f float64) []byte {
	abs := f
	if abs < 0 {
		abs = -abs
	}
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json does
// with HTML escaping off: invalid UTF-8 becomes U+FFFD, and U+2028 and
// U+2029 are escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
