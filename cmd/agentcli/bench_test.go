//go:build linux

package main

import (
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkPeakMemory runs "agentcli call" as a process and reports its
// peak resident memory (from wait4's rusage: the larger of agentcli's and
// its tool's) for a trivial call, the baseline, and for tools that write
// 4 GiB: to stdout (killed at the 1 MiB cap) and to stderr (drained to the
// end, 64 KiB kept).
func BenchmarkPeakMemory(b *testing.B) {
	dir := project(b,
		`{"name":"flood_stdout","command":["/bin/sh","-c","head -c 4294967296 /dev/zero"]}`,
		`{"name":"flood_stderr","command":["/bin/sh","-c","head -c 4294967296 /dev/zero >&2; echo '{}'"],"timeoutSec":600}`)
	for _, tool := range []string{"get_time", "flood_stdout", "flood_stderr"} {
		b.Run(tool, func(b *testing.B) {
			var peak int64
			for b.Loop() {
				cmd := exec.Command(filepath.Join(built, "agentcli"), "call", "-audit", filepath.Join(dir, "audit.jsonl"), tool)
				cmd.Dir = dir
				cmd.Run() // flood_stdout fails with OUTPUT_LIMIT, as it should
				if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
					peak = max(peak, ru.Maxrss) // KiB on Linux
				}
			}
			b.ReportMetric(float64(peak)/1024, "peak-MiB")
		})
	}
}
