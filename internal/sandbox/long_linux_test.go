package sandbox

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// A long-lived process (StartLong) streams its output as it comes,
// lives until stopped (SIGTERM, then SIGKILL after the grace), is killed
// past its total output cap or its lifetime, and is stopped by Close.
func TestStartLong(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			f := newFixture(t, b)
			ctx := context.Background()
			wait := func(p *Process) *Outcome {
				t.Helper()
				wctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				go io.Copy(io.Discard, p.Stderr())
				out, err := p.Wait(wctx)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}

			// Streamed: the first line arrives while the process runs.
			spec := f.spec("ignore-term")
			spec.Timeout = 0
			p, err := f.l.StartLong(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(p.Stdout())
			if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
				t.Fatalf("first line %q %v", line, err)
			}
			select {
			case <-p.Done():
				t.Fatal("the process ended by itself")
			case <-time.After(200 * time.Millisecond):
			}
			p.Stop(false) // it ignores SIGTERM: SIGKILL after the grace
			go io.Copy(io.Discard, r)
			if out := wait(p); !out.Cancelled || !out.GraceExpired || out.PID != p.PID() {
				t.Errorf("stopped: %+v", out)
			}

			// Past its total output cap.
			spec = f.spec("flood-stdout")
			spec.Timeout, spec.MaxStdout = 0, 1<<20
			p, err = f.l.StartLong(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, p.Stdout())
			if out := wait(p); !out.OutputLimit || n > 1<<20+1 {
				t.Errorf("flood: %+v, %d bytes passed on", out, n)
			}

			// Past its lifetime.
			spec = f.spec("sleep")
			spec.Timeout = 300 * time.Millisecond
			if p, err = f.l.StartLong(ctx, spec); err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, p.Stdout())
			if out := wait(p); !out.TimedOut {
				t.Errorf("lifetime: %+v", out)
			}

			// Close stops what still runs.
			spec = f.spec("graceful")
			spec.Timeout = 0
			if p, err = f.l.StartLong(ctx, spec); err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, p.Stdout())
			var stderr strings.Builder
			go io.Copy(&stderr, p.Stderr())
			time.Sleep(100 * time.Millisecond) // its handler in place
			if err := f.l.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.Done():
			default:
				t.Fatal("Close returned with the process running")
			}
			if _, err := f.l.StartLong(ctx, spec); err != ErrClosed {
				t.Errorf("a start after Close: %v", err)
			}
		})
	}
}
