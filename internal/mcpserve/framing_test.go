package mcpserve

import (
	"bytes"
	"testing"
)

// FuzzReadMessages: the stdio framing hands over each non-blank line,
// trimmed, once, in order, and reports a line over MaxMessageBytes as too
// long instead; whatever the bytes, it never hands over a line end.
func FuzzReadMessages(f *testing.F) {
	f.Add([]byte("{\"jsonrpc\":\"2.0\"}\n\n  {}  \r\n"), 0)
	f.Add([]byte("no newline at the end"), 3)
	f.Add([]byte("\n\n\n"), 1)
	f.Fuzz(func(t *testing.T, data []byte, long int) {
		// Now and then one line past the cap, at the start.
		prefix := []byte{}
		if long%7 == 1 {
			prefix = append(bytes.Repeat([]byte("x"), MaxMessageBytes+1), '\n')
		}
		in := append(prefix, data...)
		var got [][]byte
		tooLong := 0
		err := readMessages(bytes.NewReader(in), func(msg []byte, over bool) {
			if over {
				tooLong++
				return
			}
			got = append(got, bytes.Clone(msg))
		})
		if err == nil {
			t.Fatal("no end of input reported")
		}
		var want [][]byte
		wantLong := 0
		for _, line := range bytes.Split(in, []byte("\n")) {
			if len(line) > MaxMessageBytes {
				wantLong++
				continue
			}
			if line = bytes.TrimSpace(line); len(line) > 0 {
				want = append(want, line)
			}
		}
		if tooLong != wantLong || len(got) != len(want) {
			t.Fatalf("%d messages and %d too long, want %d and %d", len(got), tooLong, len(want), wantLong)
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) || bytes.ContainsRune(got[i], '\n') {
				t.Fatalf("message %d: %q, want %q", i, got[i], want[i])
			}
		}
	})
}
