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
	"github.com/toolhost/toolhost/internal/sandbox/confine"
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

// BenchmarkLevels measures a trivial tool's launch at each sandbox level,
// round-robin in one run, and reports limits and strict against none (the
// issue's target: strict at most 1.5x none).
func BenchmarkLevels(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	dir, err := os.MkdirTemp("", "toolhost-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "noop")
	if err := gobuild.Build("../..", bin, "./testdata/tools/noop"); err != nil {
		b.Fatal(err)
	}
	l, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	nobody := &confine.User{UID: 65534, GID: 65534}
	limits := &confine.Config{NoNewPrivs: true, User: nobody, Rlimits: []confine.Rlimit{
		{Resource: 0, Value: 60}, {Resource: 9, Value: 4 << 30}, {Resource: 7, Value: 1024}, {Resource: 1, Value: 1 << 30}, {Resource: 4, Value: 0},
	}}
	strict := *limits
	strict.Landlock = &confine.Landlock{Optional: []string{"/usr", "/lib", "/lib64", "/etc/ld.so.cache", "/dev/null"}, Read: []string{dir}}
	strict.Seccomp = &confine.Seccomp{}
	levels := []struct {
		name string
		c    *confine.Config
	}{{"none", nil}, {"limits", limits}, {"strict", &strict}}
	took := make([]time.Duration, len(levels))
	for b.Loop() {
		for i, lv := range levels {
			spec := &Spec{Path: bin, Args: []string{bin}, Stdin: []byte(`{"n":1}`), Timeout: time.Minute, MaxStdout: 1 << 20, Dir: dir, Confine: lv.c}
			t0 := time.Now()
			o, err := l.Launch(context.Background(), spec)
			if err != nil || o.ExitCode != 0 {
				b.Fatal(lv.name, err, o)
			}
			took[i] += time.Since(t0)
		}
	}
	for i, lv := range levels {
		b.ReportMetric(float64(took[i].Microseconds())/float64(b.N), lv.name+"-µs/call")
	}
	b.ReportMetric(took[1].Seconds()/took[0].Seconds(), "limits/none")
	b.ReportMetric(took[2].Seconds()/took[0].Seconds(), "strict/none")
	b.ReportMetric(0, "ns/op")
}
