package sandbox

import (
	"strings"
	"testing"
)

func TestTailKeeper(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		guard  int
		writes []string
		want   string
	}{
		{"short", 10, 0, []string{"abc", "de"}, "abcde"},
		{"exactly full", 4, 0, []string{"abcd"}, "abcd"},
		{"cut", 4, 0, []string{"abcdefgh"}, "ab\n... [4 bytes omitted] ...\ngh"},
		{"cut across writes", 4, 0, []string{"a", "b", "c", "d", "e", "f"}, "ab\n... [2 bytes omitted] ...\nef"},
		{"guard widens the cut", 8, 2, []string{"0123456789ABCDEF"}, "01\n... [12 bytes omitted] ...\nEF"},
		{"no guard without a cut", 8, 3, []string{"0123"}, "0123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newTailKeeper(tt.max, tt.guard)
			for _, w := range tt.writes {
				k.Write([]byte(w))
			}
			if got := string(k.Bytes()); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			total := 0
			for _, w := range tt.writes {
				total += len(w)
			}
			if k.Total() != int64(total) {
				t.Errorf("Total() = %d, want %d", k.Total(), total)
			}
		})
	}
}

// A secret split by the cut leaves no piece behind when the guard is its
// length.
func TestTailKeeperGuardDropsSplitSecret(t *testing.T) {
	const secret = "SECRETVALUE"
	for shift := 0; shift < 40; shift++ {
		k := newTailKeeper(64, len(secret))
		k.Write([]byte(strings.Repeat("x", shift) + strings.Repeat("y", 20) + secret + strings.Repeat("z", 200) + secret + strings.Repeat("w", 10)))
		// What redaction removes (whole secrets) aside, no piece remains.
		got := strings.ReplaceAll(string(k.Bytes()), secret, "[R]")
		for i := 3; i < len(secret); i++ {
			for _, piece := range []string{secret[:i], secret[len(secret)-i:]} {
				if strings.Contains(got, piece) {
					t.Fatalf("shift %d: piece %q of the secret survives in %q", shift, piece, got)
				}
			}
		}
	}
}
