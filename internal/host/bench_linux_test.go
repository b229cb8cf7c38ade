package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/toolhost/toolhost/internal/audit"
	"github.com/toolhost/toolhost/internal/gobuild"
	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/rawexec"
	"github.com/toolhost/toolhost/internal/sandbox"
	"github.com/toolhost/toolhost/internal/turns"
)

// benchHost builds the trivial tool and a host serving it.
func benchHost(b *testing.B) (*Host, string) { return benchHostIn(b, "") }

// benchHostIn is benchHost with the given containment ("" for the
// strongest), in a folder every user may enter: an ordinary user's
// benchmark (run by hand) reaches the program by path.
func benchHostIn(b *testing.B, containment string) (*Host, string) {
	b.Helper()
	dir, err := os.MkdirTemp("", "toolhost-bench-")
	if err != nil {
		b.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	b.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "tools", "bin", "noop")
	if err := gobuild.Build("../..", bin, "./testdata/tools/noop"); err != nil {
		b.Fatal(err)
	}
	entry := func(name, level string) string {
		return `{"name":"` + name + `","command":["./tools/bin/noop"],"sandbox":{"level":"` + level + `"},
		"schema":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]},
		"outputSchema":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}}`
	}
	// noop is at the default level, limits.
	h := benchHostOf(b, dir, Options{Sandbox: sandbox.Options{Containment: containment}},
		entry("noop", "limits"), entry("noop_none", "none"), entry("noop_strict", "strict"))
	return h, bin
}

// benchHostOf is a host serving the manifest entries (the gate bypassed)
// in the workspace dir, its manifest and audit log there too; the
// benchmark is skipped where tools cannot be contained.
func benchHostOf(b *testing.B, dir string, opts Options, entries ...string) *Host {
	b.Helper()
	os.WriteFile(filepath.Join(dir, "tools.json"), []byte(`{"policy":{"mode":"bypass"},"tools":[`+strings.Join(entries, ",")+`]}`), 0o644)
	m, err := manifest.Load(filepath.Join(dir, "tools.json"))
	if err != nil {
		b.Fatal(err)
	}
	log, err := audit.Open(filepath.Join(dir, "audit", "audit.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	opts.Audit, opts.Workspace = log, dir
	h, err := New(m, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(); log.Close() })
	if _, err := h.Containment(); err != nil {
		b.Skip(err)
	}
	return h
}

// BenchmarkContainment measures Host.Call of the trivial tool at the
// default level on each containment backend this machine offers, against
// raw fork/exec+wait of the same binary (and the same waiting in the
// poller), taking turns call by call. Run as an ordinary user (the test
// binary runs itself in a user namespace, as agentcli does) it measures
// the pid namespace backend as such a user gets it.
func BenchmarkContainment(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	for _, c := range []string{sandbox.ContainmentCgroupV2, sandbox.ContainmentCgroupV1, sandbox.ContainmentPidNamespace} {
		b.Run(c, func(b *testing.B) {
			h, bin := benchHostIn(b, c)
			var raw, rawPoll, host time.Duration
			variants := []func(i int) *time.Duration{
				func(i int) *time.Duration { rawCall(b, bin, i); return &raw },
				func(i int) *time.Duration { rawPollCall(b, bin, i); return &rawPoll },
				func(i int) *time.Duration { hostCall(b, h, i); return &host },
			}
			for i := 0; b.Loop(); i++ {
				for k := range variants {
					t0 := time.Now()
					d := variants[(i+k)%len(variants)](i)
					*d += time.Since(t0)
				}
			}
			b.ReportMetric(host.Seconds()/rawPoll.Seconds(), "poll-ratio")
			report(b, raw, host)
		})
	}
}

// rawCall is the baseline: fork/exec the same binary with the same
// arguments on stdin, read its stdout, wait.
func rawCall(b *testing.B, bin string, n int) { rawCallWait(b, bin, n, false) }

// rawPollCall is the same, waiting for the exit as Launch does, in the
// network poller (sandbox.AwaitExit), which makes it faster than a plain
// wait here: the tighter baseline.
func rawPollCall(b *testing.B, bin string, n int) { rawCallWait(b, bin, n, true) }

func rawCallWait(b *testing.B, bin string, n int, poll bool) {
	out, err := rawexec.Run(bin, fmt.Appendf(nil, `{"n":%d}`, n), poll)
	if err != nil {
		b.Fatal(err)
	}
	if got := string(out); got != fmt.Sprintf("{\"n\":%d}\n", n) {
		b.Fatalf("raw got %q", got)
	}
}

func hostCall(b *testing.B, h *Host, n int) { hostCallTool(b, h, "noop", n) }

func hostCallTool(b *testing.B, h *Host, tool string, n int) {
	r, err := h.Call(context.Background(), Request{Tool: tool, Args: fmt.Appendf(nil, `{"n":%d}`, n)})
	if err != nil {
		b.Fatal(err)
	}
	if !r.OK() || string(r.Output) != fmt.Sprintf(`{"n":%d}`, n) {
		b.Fatalf("host got %s %v", r.Output, r.Err)
	}
}

// BenchmarkCallVsRaw measures Host.Call on a trivial Go tool against a raw
// fork/exec+wait of the same binary, in the same run. Sequentially raw,
// raw waiting in the poller, Launch alone and Call take turns call by
// call, in rotating order, so the machine's drift hits all alike; at
// concurrency 8 they alternate in rounds of 8×20 calls. The ratio metric
// is host/raw time per call (lower is better; 1 means no overhead), and
// poll-ratio host/raw-in-the-poller.
func BenchmarkCallVsRaw(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(GCPercent)) // as agentcli runs
	h, bin := benchHost(b)
	b.Run("seq", func(b *testing.B) {
		// The sandbox alone, with the spec Call builds, splits the overhead
		// into containment and the rest of the host.
		p := h.tools.Load().byKey["noop"]
		spec := &sandbox.Spec{Path: p.tool.Program.Path, Args: p.tool.Command, Env: p.env, Dir: h.workspace,
			Stdin: []byte(`{"n":1}`), Timeout: time.Minute, MaxStdout: 1 << 20}
		var raw, rawPoll, launch, host time.Duration
		variants := []func(i int) *time.Duration{
			func(i int) *time.Duration { rawCall(b, bin, i); return &raw },
			func(i int) *time.Duration { rawPollCall(b, bin, i); return &rawPoll },
			func(int) *time.Duration {
				if _, err := h.launcher.Launch(context.Background(), spec); err != nil {
					b.Fatal(err)
				}
				return &launch
			},
			func(i int) *time.Duration { hostCall(b, h, i); return &host },
		}
		for i := 0; b.Loop(); i++ {
			// Rotate the order, so none always follows the same one.
			for k := range variants {
				t0 := time.Now()
				d := variants[(i+k)%len(variants)](i)
				*d += time.Since(t0)
			}
		}
		n := float64(b.N)
		b.ReportMetric(float64(launch.Microseconds())/n, "launch-µs/call")
		b.ReportMetric(launch.Seconds()/raw.Seconds(), "launch-ratio")
		b.ReportMetric(host.Seconds()/rawPoll.Seconds(), "poll-ratio")
		report(b, raw, host)
	})
	b.Run("par8", func(b *testing.B) {
		const workers, each = 8, 20
		round := func(call func(n int)) time.Duration { return turns.Round(workers, each, call) }
		var raw, rawPoll, host, rawCPU, hostCPU time.Duration
		for b.Loop() {
			c0 := selfCPU()
			raw += round(func(n int) { rawCall(b, bin, n) })
			c1 := selfCPU()
			host += round(func(n int) { hostCall(b, h, n) })
			rawCPU, hostCPU = rawCPU+c1-c0, hostCPU+selfCPU()-c1
			rawPoll += round(func(n int) { rawPollCall(b, bin, n) })
		}
		calls := float64(b.N * workers * each)
		b.ReportMetric(float64(rawCPU.Microseconds())/calls, "raw-parent-cpu-µs/call")
		b.ReportMetric(float64(hostCPU.Microseconds())/calls, "host-cpu-µs/call")
		b.ReportMetric(float64(b.N*workers*each)/raw.Seconds(), "raw-calls/s")
		b.ReportMetric(float64(b.N*workers*each)/host.Seconds(), "host-calls/s")
		b.ReportMetric(raw.Seconds()/host.Seconds(), "throughput-ratio")
		b.ReportMetric(rawPoll.Seconds()/host.Seconds(), "poll-throughput-ratio")
		b.ReportMetric(0, "ns/op")
	})
}

func report(b *testing.B, raw, host time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(raw.Microseconds())/n, "raw-µs/call")
	b.ReportMetric(float64(host.Microseconds())/n, "host-µs/call")
	b.ReportMetric(host.Seconds()/raw.Seconds(), "ratio")
	b.ReportMetric(0, "ns/op")
}

// selfCPU is the CPU time this process has used, user and system,
// children excluded.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLevels measures Host.Call of the trivial tool at each sandbox
// level, taking turns call by call in one run, and reports limits and
// strict against none (the target: strict at most 1.5x none).
func BenchmarkLevels(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: limits runs tools as another user")
	}
	h, _ := benchHost(b)
	tools := []string{"noop_none", "noop", "noop_strict"}
	took := make([]time.Duration, len(tools))
	i := 0
	for b.Loop() {
		for k := range tools {
			j := (i + k) % len(tools) // rotating order: drift hits all alike
			t0 := time.Now()
			hostCallTool(b, h, tools[j], i)
			took[j] += time.Since(t0)
		}
		i++
	}
	for j, name := range []string{"none", "limits", "strict"} {
		b.ReportMetric(float64(took[j].Microseconds())/float64(b.N), name+"-µs/call")
	}
	b.ReportMetric(took[1].Seconds()/took[0].Seconds(), "limits/none")
	b.ReportMetric(took[2].Seconds()/took[0].Seconds(), "strict/none")
	b.ReportMetric(0, "ns/op")
}
