// Package turns times ways of making the same call against each other in
// one benchmark run: they take turns, in rotating order, so that the
// machine's drift hits all alike.
package turns

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Seq makes one call of each variant per iteration of b's loop, call(i)
// in the i-th, in rotating order, and returns the time each variant took
// in all.
func Seq(b *testing.B, variants ...func(n int)) []time.Duration {
	took := make([]time.Duration, len(variants))
	for i := 0; b.Loop(); i++ {
		for k := range variants {
			j := (i + k) % len(variants)
			t0 := time.Now()
			variants[j](i)
			took[j] += time.Since(t0)
		}
	}
	return took
}

// Rounds makes one Round of each variant per iteration of b's loop, in
// rotating order, and returns the time each variant took in all: b.N ×
// workers × each calls.
func Rounds(b *testing.B, workers, each int, variants ...func(n int)) []time.Duration {
	took := make([]time.Duration, len(variants))
	for i := 0; b.Loop(); i++ {
		for k := range variants {
			j := (i + k) % len(variants)
			took[j] += Round(workers, each, variants[j])
		}
	}
	return took
}

// Round makes workers×each calls, call(1) to call(workers×each), at
// workers in flight, and returns how long they took.
func Round(workers, each int, call func(n int)) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range workers {
		wg.Go(func() {
			for n := next.Add(1); n <= int64(workers*each); n = next.Add(1) {
				call(int(n))
			}
		})
	}
	wg.Wait()
	return time.Since(t0)
}
