package sandbox

import (
	"fmt"
	"io"
)

// readCapped reads r to the end, keeping at most limit bytes. over reports
// that r had more than limit bytes; reading stops as soon as that is known,
// so memory never exceeds limit plus one read.
func readCapped(r io.Reader, limit int64) (data []byte, total int64, over bool, err error) {
	buf := make([]byte, 0, min(limit+1, 4096))
	for {
		if len(buf) == cap(buf) {
			grown := min(int64(cap(buf))*2, limit+1)
			if grown <= int64(cap(buf)) {
				// buf holds limit+1 bytes: that is one too many.
				return buf[:limit], int64(len(buf)), true, nil
			}
			nb := make([]byte, len(buf), grown)
			copy(nb, buf)
			buf = nb
		}
		n, rerr := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf[:limit], int64(len(buf)), true, nil
		}
		if rerr == io.EOF {
			return buf, int64(len(buf)), false, nil
		}
		if rerr != nil {
			return buf, int64(len(buf)), false, rerr
		}
	}
}

// tailKeeper is an io.Writer that keeps the first and the last half of
// at most max bytes and counts the rest, as os/exec's ExitError does with
// standard error. When it cuts, guard more bytes go on each side of the
// cut.
type tailKeeper struct {
	max     int
	guard   int
	prefix  []byte
	suffix  []byte // ring buffer once full
	pos     int    // next write position in suffix when full
	skipped int64
}

func newTailKeeper(max, guard int) *tailKeeper { return &tailKeeper{max: max, guard: guard} }

func (k *tailKeeper) Write(p []byte) (int, error) {
	n := len(p)
	half := k.max / 2
	if room := half - len(k.prefix); room > 0 {
		take := min(room, len(p))
		k.prefix = append(k.prefix, p[:take]...)
		p = p[take:]
	}
	keep := k.max - half
	if len(p) > keep {
		k.skipped += int64(len(p) - keep)
		p = p[len(p)-keep:]
	}
	for len(p) > 0 {
		if len(k.suffix) < keep {
			take := min(keep-len(k.suffix), len(p))
			k.suffix = append(k.suffix, p[:take]...)
			p = p[take:]
			continue
		}
		m := copy(k.suffix[k.pos:], p)
		k.skipped += int64(m)
		k.pos = (k.pos + m) % keep
		p = p[m:]
	}
	return n, nil
}

// Bytes returns what was kept, with a marker where bytes were left out.
func (k *tailKeeper) Bytes() []byte {
	suffix := append(append([]byte(nil), k.suffix[k.pos:]...), k.suffix[:k.pos]...)
	if k.skipped == 0 {
		return append(append([]byte(nil), k.prefix...), suffix...)
	}
	g := min(k.guard, len(k.prefix), len(suffix))
	out := append([]byte(nil), k.prefix[:len(k.prefix)-g]...)
	out = fmt.Appendf(out, "\n... [%d bytes omitted] ...\n", k.skipped+int64(2*g))
	return append(out, suffix[g:]...)
}

// Total counts every byte written.
func (k *tailKeeper) Total() int64 {
	return int64(len(k.prefix)+len(k.suffix)) + k.skipped
}

// Cut reports whether anything was left out.
func (k *tailKeeper) Cut() bool { return k.skipped > 0 }
