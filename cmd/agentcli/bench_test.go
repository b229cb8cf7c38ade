//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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

// BenchmarkMCPHTTPPeakMemory serves the bundled toolbelt over streamable
// HTTP from a real "agentcli mcp" process and reports its peak resident
// memory (VmHWM) after rounds of 4 concurrent tools/call requests: small
// ones (the baseline), 4 MiB bodies of empty arrays (which the library
// would decode into over 300 MiB each), and bodies of 300,000 numbers
// (under the per-request bound, so the decoding budget decides).
func BenchmarkMCPHTTPPeakMemory(b *testing.B) {
	dir := project(b)
	for _, c := range []struct {
		name string
		n    int
		item string
	}{{"small", 1, "1"}, {"4MiB-arrays", (4<<20)/3 - 100, "[]"}, {"300k-numbers", 300000, "1"}} {
		b.Run(c.name, func(b *testing.B) {
			var peak int64
			for b.Loop() {
				peak = max(peak, httpPeak(b, dir, c.n, c.item))
			}
			b.ReportMetric(float64(peak)/1024, "peak-MiB")
		})
	}
}

// httpPeak starts agentcli mcp -http -no-auth, opens a session, sends 4
// concurrent calls whose path argument is an array of n items, and
// returns the server's peak resident memory in KiB.
func httpPeak(b *testing.B, dir string, n int, item string) int64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(filepath.Join(built, "agentcli"), "mcp", "-tools", filepath.Join(dir, "tools.json"), "-http", addr, "-no-auth")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	url := "http://" + addr + "/mcp"
	post := func(session, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
			req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		return r
	}
	var r *http.Response
	for range 200 {
		if r = post("", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`); r != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r == nil || r.StatusCode != http.StatusOK {
		b.Fatalf("initialize: %v", r)
	}
	session := r.Header.Get("Mcp-Session-Id")
	post(session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	items := strings.Repeat(item+",", n)
	body := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fs_read_file","arguments":{"path":[` + items[:len(items)-1] + `]}}}`
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { post(session, body) })
	}
	wg.Wait()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb
		}
	}
	b.Fatal("no VmHWM")
	return 0
}

// BenchmarkToolTest runs "agentcli tool test" on the bundled toolbelt, as
// a process, and reports how many runs of the tools it made: a tool
// author waits this long for the whole check.
func BenchmarkToolTest(b *testing.B) {
	dir := project(b)
	runs := 0
	for b.Loop() {
		cmd := exec.Command(filepath.Join(built, "agentcli"), "tool", "test", "-json", "-audit", filepath.Join(dir, "audit.jsonl"))
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("tool test: %v\n%s", err, out)
		}
		var rep struct{ Tools []struct{ Runs int } }
		if err := json.Unmarshal(out, &rep); err != nil {
			b.Fatal(err)
		}
		runs = 0
		for _, t := range rep.Tools {
			runs += t.Runs
		}
	}
	b.ReportMetric(float64(runs), "runs/op")
}
