package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/toolhost/toolhost/internal/gobuild"
	"github.com/toolhost/toolhost/internal/turns"
	"github.com/toolhost/toolhost/protocol/resident"
)

// BenchmarkResident measures Host.Call of a trivial tool served resident
// against Host.Call of the same binary one-shot (a process per call),
// both at level limits, and against a bare go-plugin client calling the
// same program as a plugin (no host, no sandbox: the library's floor).
// Each pair takes turns, sequentially call by call in rotating order, at
// 8 in flight in rounds of 8×20 calls.
func BenchmarkResident(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	dir, err := os.MkdirTemp("", "toolhost-bench-")
	if err != nil {
		b.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	b.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "tools", "bin", "noop_resident")
	if err := gobuild.Build("../..", bin, "./testdata/tools/noop_resident"); err != nil {
		b.Fatal(err)
	}
	entry := func(name, resident string) string {
		return `{"name":"` + name + `","command":["./tools/bin/noop_resident"]` + resident + `,
		"schema":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]},
		"outputSchema":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}}`
	}
	h := benchHostOf(b, dir, Options{}, entry("oneshot", ""), entry("resident", `,"resident":{"concurrency":8}`))

	cmd := exec.Command(bin)
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: resident.Handshake, Plugins: resident.Plugins(), Cmd: cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolNetRPC}, Logger: hclog.NewNullLogger(),
	})
	b.Cleanup(pc.Kill)
	rpc, err := pc.Client()
	if err != nil {
		b.Fatal(err)
	}
	raw, err := rpc.Dispense(resident.PluginName)
	if err != nil {
		b.Fatal(err)
	}
	bare := raw.(*resident.Client)
	var ids atomic.Uint64
	bareCall := func(n int) {
		r, err := bare.Call(context.Background(), ids.Add(1), fmt.Appendf(nil, `{"n":%d}`, n))
		if err != nil || r.Status != 0 || string(r.Stdout) != fmt.Sprintf("{\"n\":%d}\n", n) {
			b.Fatalf("bare got %q %v", r.Stdout, err)
		}
	}
	oneshot := func(n int) { hostCallTool(b, h, "oneshot", n) }
	res := func(n int) { hostCallTool(b, h, "resident", n) }
	// Its process started, as the bare client's is: calls are measured,
	// not the start.
	res(0)
	// Two by two: a call right after a one-shot one finds the machine
	// busy with that process's end, so the floor is measured apart.
	for _, pair := range []struct {
		name     string
		variants []func(int)
		metrics  [2]string
	}{
		{"oneshot", []func(int){oneshot, res}, [2]string{"oneshot", "resident"}},
		{"floor", []func(int){res, bareCall}, [2]string{"resident", "bare"}},
	} {
		b.Run(pair.name+"/seq", func(b *testing.B) { pairSeq(b, pair.variants, pair.metrics) })
		b.Run(pair.name+"/par8", func(b *testing.B) { pairPar8(b, pair.variants, pair.metrics) })
	}
}

// pairSeq times two ways to call taking turns call by call, in rotating
// order.
func pairSeq(b *testing.B, variants []func(int), metrics [2]string) {
	reportPair(b, b.N, metrics, turns.Seq(b, variants...))
}

// pairPar8 times two ways to call taking turns round by round, each
// round 8×20 calls at 8 in flight.
func pairPar8(b *testing.B, variants []func(int), metrics [2]string) {
	const workers, each = 8, 20
	reportPair(b, b.N*workers*each, metrics, turns.Rounds(b, workers, each, variants...))
}

// reportPair reports the time per call of two ways to call, and the
// first's over the second's: for oneshot/resident the speedup (higher is
// better), for resident/bare the floor ratio (1 means the host adds
// nothing to go-plugin).
func reportPair(b *testing.B, calls int, names [2]string, took []time.Duration) {
	n := float64(calls)
	for i, name := range names {
		b.ReportMetric(float64(took[i].Microseconds())/n, name+"-µs/call")
	}
	b.ReportMetric(took[0].Seconds()/took[1].Seconds(), names[0]+"/"+names[1])
	b.ReportMetric(0, "ns/op")
}
