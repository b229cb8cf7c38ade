package host

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
)

// nodeExample is the example tool in Node.js (examples/resident-node),
// its packages installed (make test does); without Node.js the test is
// skipped, unless TOOLHOST_REQUIRE_NODE=1 (make test, CI) makes that a
// failure.
func nodeExample(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("../../examples/resident-node")
	if err != nil {
		t.Fatal(err)
	}
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "@grpc", "grpc-js"))
	if nodeErr != nil || modErr != nil {
		msg := fmt.Sprintf("node or its packages missing (%v, %v): npm ci --prefix examples/resident-node, as \"make test\" does", nodeErr, modErr)
		if os.Getenv("TOOLHOST_REQUIRE_NODE") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

// textStats is the Node.js example's result.
type textStats struct{ Lines, Words, Chars int }

// A tool in another language runs resident: the Node.js example serves
// residentpb's Tool service over go-plugin's gRPC protocol, at level
// strict (Landlock grants its folder and the service definition, and
// nothing else), many calls at once in one process, its failures read as
// a one-shot tool's; the same program runs one-shot, with the same
// answers. Close stops the process.
func TestResidentNode(t *testing.T) {
	dir := nodeExample(t)
	proto, _ := filepath.Abs("../../protocol/resident/residentpb")
	entry := func(name, resident string) string {
		cmd, _ := json.Marshal([]string{filepath.Join(dir, "tool.mjs")})
		read, _ := json.Marshal([]string{dir, proto})
		return fmt.Sprintf(`{"name":%q,"command":%s%s,"timeoutSec":20,"maxArgsBytes":8388608,
			"schema":{"type":"object","properties":{"text":{"type":"string"}}},
			"outputSchema":{"type":"object","required":["lines","words","chars"]},
			"sandbox":{"level":"strict","read":%s}}`, name, cmd, resident, read)
	}
	e := newEnv(t, []string{entry("stats", `,"resident":{"concurrency":8}`), entry("stats_once", "")}, Options{})
	if _, err := e.h.Containment(); err != nil {
		t.Skip(err)
	}

	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			text := strings.Repeat("a b\n", i)
			r := e.call("stats", fmt.Sprintf(`{"text":%q}`, text))
			want := textStats{i + 1, 2 * i, 4 * i}
			if i == 0 {
				want = textStats{}
			}
			var got textStats
			if r.Err != nil || json.Unmarshal(r.Output, &got) != nil || got != want {
				t.Errorf("call %d: %s %v, want %+v", i, r.Output, r.Err, want)
			}
		})
	}
	wg.Wait()
	pids := map[int]bool{}
	for _, line := range strings.Split(e.auditLog(), "\n") {
		var rec struct {
			Tool     string
			PID      int
			Resident bool
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Tool == "stats" {
			if !rec.Resident {
				t.Errorf("a call not marked resident: %s", line)
			}
			pids[rec.PID] = true
		}
	}
	if len(pids) != 1 {
		t.Errorf("the calls ran in %d processes, want 1", len(pids))
	}

	for _, name := range []string{"stats", "stats_once"} {
		wantCode(t, e.call(name, `{}`), "NO_TEXT", "text is required")
		var got textStats
		if r := e.call(name, `{"text":"x y"}`); r.Err != nil || json.Unmarshal(r.Output, &got) != nil || got != (textStats{1, 2, 3}) {
			t.Errorf("%s: %s %v", name, r.Output, r.Err)
		}
	}
	// Arguments past gRPC's default limit of 4 MiB: the example raises it.
	var got textStats
	if r := e.call("stats", fmt.Sprintf(`{"text":%q}`, strings.Repeat("w ", 5<<19))); r.Err != nil || json.Unmarshal(r.Output, &got) != nil || got.Words != 5<<19 {
		t.Errorf("5 MiB of text: %s %v", r.Output, r.Err)
	}
	e.h.Close()
	for pid := range pids {
		waitGone(t, pid, "the Node.js process at Close")
	}
}

// BenchmarkResidentNode measures Host.Call of the Node.js example (level
// limits) served resident over gRPC against the same program one-shot, a
// Node.js process per call, taking turns in the same run.
func BenchmarkResidentNode(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	dir := nodeExample(b)
	ws := b.TempDir()
	cmd, _ := json.Marshal([]string{filepath.Join(dir, "tool.mjs")})
	entry := func(name, resident string) string {
		return fmt.Sprintf(`{"name":%q,"command":%s%s,"schema":{"type":"object","properties":{"text":{"type":"string"}}},
			"outputSchema":{"type":"object","required":["lines","words","chars"]}}`, name, cmd, resident)
	}
	h := benchHostOf(b, ws, Options{}, entry("oneshot", ""), entry("resident", `,"resident":{"concurrency":8}`))
	call := func(tool string) func(int) {
		return func(n int) {
			r, err := h.Call(context.Background(), Request{Tool: tool, Args: fmt.Appendf(nil, `{"text":"%d words"}`, n)})
			var got textStats
			if err != nil || !r.OK() || json.Unmarshal(r.Output, &got) != nil || got.Words != 2 {
				b.Fatalf("%s got %s %v %v", tool, r.Output, r.Err, err)
			}
		}
	}
	call("resident")(0) // its process started: calls are measured, not the start
	variants := []func(int){call("oneshot"), call("resident")}
	metrics := [2]string{"oneshot", "resident"}
	b.Run("seq", func(b *testing.B) { pairSeq(b, variants, metrics) })
	b.Run("par8", func(b *testing.B) { pairPar8(b, variants, metrics) })
}
