package sandbox

import (
	"time"
)

// memSource measures the memory the processes of one call use together,
// where no memory cgroup bounds it (see jail.memory).
type memSource interface {
	// usage is what the call's processes use now, in bytes: a cheap
	// figure that never says less than the truth, refined to their
	// proportional share (shared pages counted once) when the cheap one
	// is over limit.
	usage(limit int64) int64
	close()
}

// Sampling the call's memory: every memEvery while it uses less than
// half its bound, every memEveryNear above that; and never more often
// than memCostShare of one core, whatever a sample costs (a sample that
// lists every process of the machine is slow where there are many).
const (
	memEvery     = 50 * time.Millisecond
	memEveryNear = 10 * time.Millisecond
	memCostShare = 20 // a sample's cost times this is the least pause
)

// watchMemory samples src until done is closed, and calls over once, and
// stops, when the call uses more than limit bytes. It owns src.
func watchMemory(src memSource, limit int64, done <-chan struct{}, over func()) {
	defer src.close()
	// Most calls end before the first sample.
	t := time.NewTimer(memEveryNear)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		began := time.Now()
		used := src.usage(limit)
		if used > limit {
			over()
			return
		}
		pause := memEvery
		if used > limit/2 {
			pause = memEveryNear
		}
		t.Reset(max(pause, memCostShare*time.Since(began)))
	}
}
