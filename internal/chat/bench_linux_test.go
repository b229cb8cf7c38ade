package chat

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/toolhost/toolhost/internal/fakeoai"
	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/rawexec"
)

// BenchmarkRun100 measures the agent loop end to end: a run of 10 steps of
// 10 parallel calls of a trivial tool against a local endpoint, side by
// side with raw fork/exec of the same 100 calls in the same 10 batches,
// alternating round by round. Every tool result of every run is checked;
// "lost" counts results missing or not the call's own (must be 0).
func BenchmarkRun100(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(host.GCPercent)) // as agentcli runs
	const steps, width = 10, 10
	e := newEnv(b)
	srv := fakeoai.New(b)
	srv.SkipChecks = true // the tests check requests; here the endpoint should cost little
	timed := &timedDoer{inner: &Transport{}}
	cfg := openai.DefaultConfig("")
	cfg.BaseURL = srv.BaseURL()
	cfg.HTTPClient = timed
	c := openai.NewClientWithConfig(cfg)
	script := func(round int) {
		for s := range steps {
			var calls []fakeoai.Call
			for i := range width {
				n := round*1000 + s*width + i
				calls = append(calls, fakeoai.Call{ID: fmt.Sprintf("call_%d", n), Name: "noop", Args: fmt.Sprintf(`{"n":%d}`, n)})
			}
			srv.Script(fakeoai.ToolCalls(calls...))
		}
		srv.Script(fakeoai.Answer("done"))
	}
	// raw runs the batches by hand; with poll it waits for each exit as
	// the host does, in the network poller (the tighter baseline).
	raw := func(round int, poll bool) int {
		lost := 0
		var mu sync.Mutex
		for s := range steps {
			var wg sync.WaitGroup
			for i := range width {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := round*1000 + s*width + i
					out, err := rawexec.Run(noopBin, fmt.Appendf(nil, `{"n":%d}`, n), poll)
					if err != nil || string(out) != fmt.Sprintf("{\"n\":%d}\n", n) {
						mu.Lock()
						lost++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
		}
		return lost
	}
	var rawTime, pollTime, loopTime time.Duration
	lost := 0
	for round := 0; b.Loop(); round++ {
		t0 := time.Now()
		lost += raw(round, false)
		t1 := time.Now()
		script(round)
		res, err := Run(context.Background(), Options{Client: c, Host: e.h, Model: "m", MaxSteps: steps + 1, Parallel: width},
			prompt("go"))
		loopTime += time.Since(t1)
		rawTime += t1.Sub(t0)
		if err != nil || res.Answer != "done" {
			b.Fatalf("run: %q %v", res.Answer, err)
		}
		lost += lostResults(res.Messages, round)
		t2 := time.Now()
		lost += raw(round, true)
		pollTime += time.Since(t2)
	}
	calls := float64(b.N * steps * width)
	b.ReportMetric(float64(rawTime.Microseconds())/calls, "raw-µs/call")
	b.ReportMetric(float64(loopTime.Microseconds())/calls, "loop-µs/call")
	b.ReportMetric(loopTime.Seconds()/rawTime.Seconds(), "ratio")
	b.ReportMetric(loopTime.Seconds()/pollTime.Seconds(), "poll-ratio")
	b.ReportMetric(float64(lost), "lost")
	// The model's share: each request from send to the end of its answer.
	b.ReportMetric(float64(time.Duration(timed.total.Load()).Microseconds())/float64(b.N), "http-µs/run")
	b.ReportMetric(0, "ns/op")
	if lost > 0 {
		b.Errorf("%d tool results lost or swapped", lost)
	}
}

// lostResults counts tool messages that are missing or not their call's
// own result.
func lostResults(msgs []openai.ChatCompletionMessage, round int) int {
	seen := 0
	lost := 0
	for _, m := range msgs {
		if m.Role != openai.ChatMessageRoleTool {
			continue
		}
		seen++
		var n int
		if _, err := fmt.Sscanf(m.ToolCallID, "call_%d", &n); err != nil || m.Content != fmt.Sprintf(`{"n":%d}`, n) || n/1000 != round {
			lost++
		}
	}
	return lost + (100 - seen)
}

// timedDoer adds up the time of each request, from sending it to closing
// its answer.
type timedDoer struct {
	inner *Transport
	total atomic.Int64
}

func (d *timedDoer) Do(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := d.inner.Do(req)
	if err != nil {
		d.total.Add(int64(time.Since(start)))
		return nil, err
	}
	resp.Body = &timedBody{ReadCloser: resp.Body, done: func() { d.total.Add(int64(time.Since(start))) }}
	return resp, nil
}

type timedBody struct {
	io.ReadCloser
	done func()
}

func (b *timedBody) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}
