package sandbox

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/toolhost/toolhost/internal/gobuild"
)

// BenchmarkLaunchVsRaw measures Launch alone against a raw fork/exec+wait
// of the same trivial tool, alternating call by call.
func BenchmarkLaunchVsRaw(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "noop")
	if err := gobuild.Build("../..", bin, "./testdata/tools/noop"); err != nil {
		b.Fatal(err)
	}
	for _, backend := range []string{"v1", "v2-nopids", "none"} {
		b.Run(backend, func(b *testing.B) {
			l, err := New(Options{backendOverride: backend, AllowUncontained: backend == "none"})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			spec := &Spec{Path: bin, Args: []string{bin}, Stdin: []byte(`{"n":1}`), Timeout: time.Minute, MaxStdout: 1 << 20, Dir: os.TempDir()}
			var raw, launch time.Duration
			for b.Loop() {
				t0 := time.Now()
				cmd := exec.Command(bin)
				cmd.Stdin = bytes.NewReader(spec.Stdin)
				var out bytes.Buffer
				cmd.Stdout = &out
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				o, err := l.Launch(context.Background(), spec)
				if err != nil || o.ExitCode != 0 {
					b.Fatal(err, o)
				}
				raw, launch = raw+t1.Sub(t0), launch+time.Since(t1)
			}
			b.ReportMetric(float64(raw.Microseconds())/float64(b.N), "raw-µs/call")
			b.ReportMetric(float64(launch.Microseconds())/float64(b.N), "launch-µs/call")
			b.ReportMetric(launch.Seconds()/raw.Seconds(), "ratio")
			b.ReportMetric(0, "ns/op")
		})
	}
}
