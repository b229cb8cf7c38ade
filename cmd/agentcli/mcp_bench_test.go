package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/toolhost/toolhost/internal/gobuild"
	"github.com/toolhost/toolhost/internal/rawexec"
	"github.com/toolhost/toolhost/internal/turns"
)

// BenchmarkMCPVsRaw measures tools/call round trips to "agentcli mcp"
// over stdio (the server a real process, the client a lean one in this
// process) on a trivial one-shot Go tool, against raw fork/exec+wait of
// the same binary from this process, in the same run, and against the
// same waiting for the exit in the network poller as the host does.
// Sequentially the three take turns call by call; at concurrency 8 in
// rounds of 8×20 calls. rate-ratio is raw/MCP throughput (higher is
// better; 1 means MCP costs nothing over running the tool by hand),
// poll-rate-ratio the same against the poller baseline.
func BenchmarkMCPVsRaw(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "noop")
	if err := gobuild.Build("../..", bin, "./testdata/tools/noop"); err != nil {
		b.Fatal(err)
	}
	dir := project(b, fmt.Sprintf(`{"name":"noop","command":[%q],
		"schema":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]},
		"outputSchema":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}}`, bin))
	c := startLeanClient(b, dir)
	// rawWait runs the tool by hand; with poll it waits for the exit as
	// the host does, in the network poller (the tighter baseline).
	rawWait := func(n int, poll bool) {
		out, err := rawexec.Run(bin, fmt.Appendf(nil, `{"n":%d}`, n), poll)
		if err != nil {
			b.Fatal(err)
		}
		if got := string(out); got != fmt.Sprintf("{\"n\":%d}\n", n) {
			b.Fatalf("raw got %q", got)
		}
	}
	raw := func(n int) { rawWait(n, false) }
	rawPoll := func(n int) { rawWait(n, true) }
	viaMCP := func(n int) {
		res := c.call(b, fmt.Sprintf(`"name":"noop","arguments":{"n":%d}`, n))
		var r struct {
			Result struct {
				IsError           bool
				StructuredContent struct{ N int }
			}
		}
		if json.Unmarshal(res, &r) != nil || r.Result.IsError || r.Result.StructuredContent.N != n {
			b.Fatalf("MCP got %s", res)
		}
	}
	b.Run("seq", func(b *testing.B) {
		// The three take turns call by call, in rotating order.
		took := turns.Seq(b, raw, viaMCP, rawPoll)
		reportRates(b, b.N, took[0], took[1], took[2])
	})
	b.Run("par8", func(b *testing.B) {
		const workers, each = 8, 20
		took := turns.Rounds(b, workers, each, raw, viaMCP, rawPoll)
		reportRates(b, b.N*workers*each, took[0], took[1], took[2])
	})
	c.close(b)
	if data, err := os.ReadFile(filepath.Join(dir, "state", "toolhost", "audit.jsonl")); err != nil || len(data) == 0 {
		b.Errorf("no audit records: %v", err)
	}
}

func reportRates(b *testing.B, calls int, raw, viaMCP, rawPoll time.Duration) {
	n := float64(calls)
	b.ReportMetric(n/raw.Seconds(), "raw-calls/s")
	b.ReportMetric(n/viaMCP.Seconds(), "mcp-calls/s")
	b.ReportMetric(raw.Seconds()/viaMCP.Seconds(), "rate-ratio")
	b.ReportMetric(rawPoll.Seconds()/viaMCP.Seconds(), "poll-rate-ratio")
	b.ReportMetric(0, "ns/op")
}

// leanClient speaks JSON-RPC to "agentcli mcp" over its stdio with as
// little work of its own as it can, so that the benchmark measures the
// server: requests are formatted, responses matched to callers by id and
// handed over undecoded.
type leanClient struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	mu      sync.Mutex
	nextID  int
	waiting map[int]chan []byte
	done    chan struct{}
}

func startLeanClient(b *testing.B, dir string) *leanClient {
	cmd := exec.Command(filepath.Join(built, "agentcli"), "mcp", "-tools", "tools.json", "-watch=false")
	cmd.Dir = dir
	cmd.Stderr = io.Discard
	stdin, err1 := cmd.StdinPipe()
	stdout, err2 := cmd.StdoutPipe()
	if err := errors.Join(err1, err2, cmd.Start()); err != nil {
		b.Fatal(err)
	}
	c := &leanClient{cmd: cmd, stdin: stdin, waiting: map[int]chan []byte{}, done: make(chan struct{})}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			var msg struct{ ID *int }
			if json.Unmarshal(sc.Bytes(), &msg) != nil || msg.ID == nil {
				continue // a notification
			}
			c.mu.Lock()
			ch := c.waiting[*msg.ID]
			delete(c.waiting, *msg.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- bytes.Clone(sc.Bytes())
			}
		}
	}()
	c.request(b, "initialize", `"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}`)
	if _, err := io.WriteString(stdin, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n"); err != nil {
		b.Fatal(err)
	}
	return c
}

// request sends a request with params (the inside of the object) and
// returns the response line.
func (c *leanClient) request(b *testing.B, method, params string) []byte {
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.waiting[id] = ch
	_, err := fmt.Fprintf(c.stdin, `{"jsonrpc":"2.0","id":%d,"method":%q,"params":{%s}}`+"\n", id, method, params)
	c.mu.Unlock()
	if err != nil {
		b.Fatal(err)
	}
	select {
	case res := <-ch:
		return res
	case <-c.done:
		b.Fatal("the server ended")
		return nil
	}
}

func (c *leanClient) call(b *testing.B, params string) []byte {
	return c.request(b, "tools/call", params)
}

// close ends the server by closing its stdin, as a client does.
func (c *leanClient) close(b *testing.B) {
	c.stdin.Close()
	<-c.done
	if err := c.cmd.Wait(); err != nil {
		b.Errorf("server exit: %v", err)
	}
}

// BenchmarkMCPResident measures tools/call round trips to "agentcli mcp"
// over stdio (a real process; the lean client) of the same trivial Go
// tool (testdata/tools/noop_resident) served one-shot and resident, in
// the same run: sequentially call by call in rotating order, at 8 in
// flight in rounds of 8×20 calls. speedup is the resident rate over the
// one-shot rate.
func BenchmarkMCPResident(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "noop_resident")
	if err := gobuild.Build("../..", bin, "./testdata/tools/noop_resident"); err != nil {
		b.Fatal(err)
	}
	entry := func(name, resident string) string {
		return fmt.Sprintf(`{"name":%q,"command":[%q]%s,
		"schema":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]},
		"outputSchema":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}}`, name, bin, resident)
	}
	dir := project(b, entry("oneshot", ""), entry("resident", `,"resident":{"concurrency":8}`))
	c := startLeanClient(b, dir)
	call := func(tool string) func(int) {
		return func(n int) {
			res := c.call(b, fmt.Sprintf(`"name":%q,"arguments":{"n":%d}`, tool, n))
			var r struct {
				Result struct {
					IsError           bool
					StructuredContent struct{ N int }
				}
			}
			if json.Unmarshal(res, &r) != nil || r.Result.IsError || r.Result.StructuredContent.N != n {
				b.Fatalf("MCP got %s", res)
			}
		}
	}
	variants := []func(int){call("oneshot"), call("resident")}
	report := func(b *testing.B, calls int, took []time.Duration) {
		n := float64(calls)
		b.ReportMetric(n/took[0].Seconds(), "oneshot-calls/s")
		b.ReportMetric(n/took[1].Seconds(), "resident-calls/s")
		b.ReportMetric(took[0].Seconds()/took[1].Seconds(), "speedup")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("seq", func(b *testing.B) { report(b, b.N, turns.Seq(b, variants...)) })
	b.Run("par8", func(b *testing.B) {
		const workers, each = 8, 20
		report(b, b.N*workers*each, turns.Rounds(b, workers, each, variants...))
	})
	c.close(b)
}
