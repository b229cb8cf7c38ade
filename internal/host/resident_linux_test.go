package host

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/policy"
	"github.com/toolhost/toolhost/internal/sandbox"
	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

// residentEntry is a manifest entry of a resident helper; resident is
// its "resident" object.
func residentEntry(name, helper, resident, extra string) string {
	cmd, _ := json.Marshal([]string{mustExe(), "host-helper", helper, "tool=" + name})
	if resident == "" {
		resident = "{}"
	}
	if extra != "" {
		extra = "," + extra
	}
	return fmt.Sprintf(`{"name":%q,"command":%s,"resident":%s%s}`, name, cmd, resident, extra)
}

// echoed is the result of the helper's "echo" and "sleep": PID is the
// process's token (see processToken).
type echoed struct{ N, PID int }

// callPID is the token of the process that served r.
func callPID(t *testing.T, r *Result) int {
	t.Helper()
	var out echoed
	if r.Err != nil || json.Unmarshal(r.Output, &out) != nil {
		t.Fatalf("%s %v", r.Output, r.Err)
	}
	return out.PID
}

// audited is r's audit record: PID is the pid, as the host sees it, of
// the process that served r; Exit its exit status, if one is recorded.
func (e *env) audited(r *Result) auditedCall {
	e.t.Helper()
	for _, line := range strings.Split(e.auditLog(), "\n") {
		var rec auditedCall
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Call == r.CallID {
			return rec
		}
	}
	e.t.Fatalf("no audit record of %s", r.CallID)
	return auditedCall{}
}

type auditedCall struct {
	Call   string
	PID    int
	Exit   *int
	Signal string
}

func fmtExit(exit *int) string {
	if exit == nil {
		return "none"
	}
	return strconv.Itoa(*exit)
}

// hostPID is the pid, as the host sees it, of the process that served r.
func (e *env) hostPID(r *Result) int { e.t.Helper(); return e.audited(r).PID }

// alive reports whether pid is a live process (not a zombie).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// waitGone waits (a minute at most) until pid has ended.
func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	for start := time.Now(); alive(pid); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > time.Minute {
			t.Fatalf("%s (pid %d) still runs", what, pid)
		}
	}
}

// residentsOf lists the live processes of the resident tool name.
func residentsOf(name string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, en := range entries {
		var pid int
		if _, err := fmt.Sscan(en.Name(), &pid); err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + en.Name() + "/cmdline")
		// This test binary's, not another's running the same tests.
		if strings.HasPrefix(string(cmdline), mustExe()+"\x00") && strings.Contains(string(cmdline), "\x00tool="+name+"\x00") && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Many calls, one process: each validated, run and audited as a one-shot
// call is, with the process's pid and the resident marker; the
// environment is the tool's, with go-plugin's settings and no more.
func TestResidentManyCalls(t *testing.T) {
	e := newEnv(t, []string{residentEntry("res", "resident", "", `"schema":{"type":"object","properties":{"n":{"type":"integer","maximum":1000}}}`)}, Options{})
	pid := 0
	var first *Result
	for i := range 50 {
		r := e.call("res", fmt.Sprintf(`{"do":"echo","n":%d}`, i))
		p := callPID(t, r)
		if pid == 0 {
			pid, first = p, r
		} else if p != pid {
			t.Fatalf("call %d ran in process %d, the first in %d", i, p, pid)
		}
	}
	hpid := e.hostPID(first)
	if !alive(hpid) {
		t.Errorf("the audit log names pid %d, which is not running", hpid)
	}
	log := e.auditLog()
	if n := strings.Count(log, fmt.Sprintf(`"pid":%d,"resident":true`, hpid)); n != 50 {
		t.Errorf("%d audit records name the resident process %d, want 50:\n%s", n, hpid, log)
	}
	// The host validates before the process sees anything.
	wantCode(t, e.call("res", `{"do":"echo","n":1001}`), "INVALID_ARGS")
	// The tool's own failure is its envelope, as one-shot.
	wantCode(t, e.call("res", `{"do":"echo","n":"x"}`), "INVALID_ARGS")
	wantCode(t, e.call("res", `{"do":"nothing"}`), "TOOL_ERROR", "unknown do")
	r := e.call("res", `{"do":"env"}`)
	var env []string
	if r.Err != nil || json.Unmarshal(r.Output, &env) != nil {
		t.Fatalf("%s %v", r.Output, r.Err)
	}
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "PATH" || name == "HOME" || name == "TMPDIR" || name == "TOOLHOST_RESIDENT_TOOL" || strings.HasPrefix(name, "PLUGIN_"):
		default:
			t.Errorf("the resident process has %s in its environment", kv)
		}
	}
	if callPID(t, e.call("res", `{"do":"echo"}`)) != pid {
		t.Error("a failed call replaced the process")
	}
}

// 10,000 calls, 32 at a time, on one process: none lost, none crossed.
func TestResidentConcurrent(t *testing.T) {
	e := newEnv(t, []string{residentEntry("res", "resident", `{"concurrency":32}`, "")}, Options{})
	const calls, inFlight = 10000, 32
	if testing.Short() {
		t.Skip("10,000 calls")
	}
	var wg sync.WaitGroup
	next := make(chan int)
	var mu sync.Mutex
	pids := map[int]int{}
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				r, err := e.h.Call(context.Background(), Request{Tool: "res", Args: json.RawMessage(fmt.Sprintf(`{"do":"echo","n":%d}`, n))})
				var out echoed
				if err != nil || r.Err != nil || json.Unmarshal(r.Output, &out) != nil || out.N != n {
					t.Errorf("call %d: %v %v %s", n, err, r.Err, r.Output)
					continue
				}
				mu.Lock()
				pids[out.PID]++
				mu.Unlock()
			}
		}()
	}
	for n := range calls {
		next <- n
	}
	close(next)
	wg.Wait()
	if len(pids) != 1 {
		t.Errorf("calls ran in %d processes, want 1: %v", len(pids), pids)
	}
	if got := strings.Count(e.auditLog(), `"resident":true`); got != calls {
		t.Errorf("%d audit records, want %d", got, calls)
	}
}

// A call that ignores its timeout: TIMEOUT, and the process (with its
// whole tree) is killed after the grace; the calls it was serving get an
// answer that says why; the next call gets a fresh process. A call that
// stops when cancelled leaves the process as it is.
func TestResidentHang(t *testing.T) {
	e := newEnv(t, []string{residentEntry("res", "resident", "", `"timeoutSec":1`)}, Options{})
	r := e.call("res", `{"do":"echo"}`)
	pid, hpid := callPID(t, r), e.hostPID(r)
	wantCode(t, e.call("res", `{"do":"wait"}`), "TIMEOUT", "cancelled in its resident process")
	if callPID(t, e.call("res", `{"do":"echo"}`)) != pid {
		t.Fatal("a call that stopped at its timeout replaced the process")
	}
	// A call that comes in while another hangs is answered too: when the
	// process is killed (or at its own timeout, on a slow machine).
	var other *Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(500 * time.Millisecond)
		other = e.call("res", `{"do":"sleep","n":60000}`)
	}()
	wantCode(t, e.call("res", `{"do":"hang"}`), "TIMEOUT", "did not finish within 1s", "its resident process was killed")
	<-done
	if other.Err == nil || other.Err.Code != "TOOL_ERROR" && other.Err.Code != "TIMEOUT" {
		t.Errorf("the call in flight on the killed process: %s %v", other.Output, other.Err)
	}
	waitGone(t, hpid, "the process of a call that hung")
	if p := callPID(t, e.call("res", `{"do":"echo"}`)); p == pid {
		t.Error("the next call ran in the killed process")
	}
}

// A crash mid-call fails that call with TOOL_ERROR naming the crash, and
// every call in flight gets an answer; the next call gets a fresh
// process (after a backoff).
func TestResidentCrash(t *testing.T) {
	e := newEnv(t, []string{residentEntry("res", "resident", "", "")}, Options{})
	r := e.call("res", `{"do":"echo"}`)
	pid, hpid := callPID(t, r), e.hostPID(r)
	var wg sync.WaitGroup
	results := make([]*Result, 5)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.call("res", `{"do":"sleep","n":60000}`)
		}()
	}
	time.Sleep(200 * time.Millisecond)
	crash := e.call("res", `{"do":"crash","n":42}`)
	wantCode(t, crash, "TOOL_ERROR", "crashed during the call", "exit status 2", "resident helper crashes on purpose (42)")
	// Audited with the process's exit, not the 0 of a call that ended.
	if exit := e.audited(crash).Exit; exit == nil || *exit != 2 {
		t.Errorf("the crashed call is audited with exit %s, want 2", fmtExit(exit))
	}
	wg.Wait()
	for i, r := range results {
		if r.Err == nil || r.Err.Code != "TOOL_ERROR" || !strings.Contains(r.Err.Message, "crashed") {
			t.Errorf("call %d in flight: %s %v", i, r.Output, r.Err)
		}
	}
	waitGone(t, hpid, "the crashed process")
	if p := callPID(t, e.call("res", `{"do":"echo"}`)); p == pid {
		t.Error("the next call ran in the crashed process")
	}
	// A process that dies between calls is replaced too.
	wantCode(t, e.call("res", `{"do":"slow-crash","n":0}`), "TOOL_ERROR", "exit status 7")
	callPID(t, e.call("res", `{"do":"echo"}`))
}

// What a resident tool returns is read as a one-shot tool's output: over
// the cap, not one JSON value, against its output schema. A reply past
// what any call may return is cut off and its process killed, before the
// host holds it.
func TestResidentOutput(t *testing.T) {
	e := newEnv(t, []string{
		residentEntry("res", "resident", "", `"maxOutputBytes":4096`),
		residentEntry("raw", "resident-raw", "", `"outputSchema":{"type":"object","required":["must"]}`),
	}, Options{})
	r := e.call("res", `{"do":"echo"}`)
	pid, hpid := callPID(t, r), e.hostPID(r)
	wantCode(t, e.call("res", `{"do":"big","bytes":4096}`), "OUTPUT_LIMIT", "more than 4096 bytes")
	if callPID(t, e.call("res", `{"do":"echo"}`)) != pid {
		t.Error("a reply over the cap (within what a call may send) replaced the process")
	}
	flood := e.call("res", `{"do":"flood","bytes":8388608}`)
	wantCode(t, flood, "OUTPUT_LIMIT", "sent more than its calls may return")
	if rec := e.audited(flood); rec.Signal != "killed" || rec.Exit != nil {
		t.Errorf("the call whose process was killed is audited with signal %q, exit %s", rec.Signal, fmtExit(rec.Exit))
	}
	waitGone(t, hpid, "the process that flooded its reply")
	callPID(t, e.call("res", `{"do":"echo"}`))
	// What it writes to os.Stderr (go-plugin carries it) is not a reply:
	// 8 MiB of it does not count against the calls.
	if r := e.call("res", `{"do":"print","n":8192}`); r.Err != nil {
		t.Errorf("a process that logs: %v", r.Err)
	}

	wantCode(t, e.call("raw", `{"stdout":"{\"must\":1} {}"}`), "BAD_OUTPUT", "not one JSON value")
	wantCode(t, e.call("raw", `{"stdout":"not json"}`), "BAD_OUTPUT")
	wantCode(t, e.call("raw", `{"stdout":"{}"}`), "OUTPUT_SCHEMA")
	if r := e.call("raw", `{"stdout":"{\"must\":1}"}`); r.Err != nil || string(r.Output) != `{"must":1}` {
		t.Errorf("%s %v", r.Output, r.Err)
	}
}

// A process that never says go-plugin's handshake fails the call once
// its start time is out (the tool's timeout, 10 s at least), and is
// killed.
func TestResidentNoHandshake(t *testing.T) {
	e := newEnv(t, []string{residentEntry("silent", "resident-silent", "", `"timeoutSec":1`)}, Options{})
	wantCode(t, e.call("silent", `{}`), "LAUNCH_FAILED", "handshake")
	for start := time.Now(); len(residentsOf("silent")) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > time.Minute {
			t.Fatal("the silent process still runs")
		}
	}
	// The next call tries again (and fails again).
	wantCode(t, e.call("silent", `{}`), "LAUNCH_FAILED", "handshake")

	// A one-shot tool under "resident": what it said, how it ended, once.
	e = newEnv(t, []string{residentEntry("once", "resident-oneshot", "", "")}, Options{})
	r := e.call("once", `{}`)
	wantCode(t, r, "LAUNCH_FAILED", "no go-plugin handshake", `{"n":1}`, "build it on resident.Main")
	// On a machine too busy for it to end within a second, it is killed.
	if n := strings.Count(r.Err.Message, "(exit status") + strings.Count(r.Err.Message, "(killed by signal"); n != 1 {
		t.Errorf("how it ended is in the message %d times: %s", n, r.Err.Message)
	}
	if strings.Contains(r.Err.Message, "(exit status 0)") && !strings.Contains(r.Err.Message, "one-shot, not resident") {
		t.Errorf("its standard error is not in the message: %s", r.Err.Message)
	}
}

// What a resident process leaves running lives as long as it, not
// longer: Close ends both.
func TestResidentLeavesChild(t *testing.T) {
	e := newEnv(t, []string{residentEntry("res", "resident", "", "")}, Options{})
	r := e.call("res", `{"do":"child"}`)
	var out struct{ Child, PID int }
	if r.Err != nil || json.Unmarshal(r.Output, &out) != nil {
		t.Fatalf("%s %v", r.Output, r.Err)
	}
	// The pids are the process's own namespace's: find them by name.
	if len(residentsOf("res")) != 1 {
		t.Fatalf("resident processes: %v", residentsOf("res"))
	}
	if err := e.h.Close(); err != nil {
		t.Fatal(err)
	}
	if pids := residentsOf("res"); len(pids) > 0 {
		t.Errorf("resident processes outlived Close: %v", pids)
	}
	entries, _ := os.ReadDir("/proc")
	for _, en := range entries {
		cmdline, _ := os.ReadFile("/proc/" + en.Name() + "/cmdline")
		if string(cmdline) == "/bin/sleep\x003600\x00" {
			t.Errorf("the resident process's child %s outlived Close", en.Name())
		}
	}
}

// maxCalls recycles the process; idleSec stops it; eager starts it with
// the host.
func TestResidentLifecycle(t *testing.T) {
	e := newEnv(t, []string{
		residentEntry("recycled", "resident", `{"maxCalls":3}`, ""),
		residentEntry("idle", "resident", `{"idleSec":1}`, ""),
		residentEntry("eager", "resident", `{"eager":true}`, ""),
	}, Options{})
	var pids []int
	var first *Result
	for i := range 7 {
		r := e.call("recycled", `{"do":"echo"}`)
		if i == 0 {
			first = r
		}
		pids = append(pids, callPID(t, r))
	}
	if pids[0] != pids[2] || pids[2] == pids[3] || pids[3] != pids[5] || pids[5] == pids[6] {
		t.Errorf("with maxCalls 3, the calls ran in %v", pids)
	}
	waitGone(t, e.hostPID(first), "a recycled process")
	r := e.call("idle", `{"do":"echo"}`)
	pid := callPID(t, r)
	waitGone(t, e.hostPID(r), "an idle process")
	if p := callPID(t, e.call("idle", `{"do":"echo"}`)); p == pid {
		t.Error("a call after idleSec ran in the stopped process")
	}
	for start := time.Now(); len(residentsOf("eager")) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > time.Minute {
			t.Fatal("the eager tool's process did not start with the host")
		}
	}
	if len(residentsOf("recycled")) != 1 {
		t.Errorf("recycled processes running: %v", residentsOf("recycled"))
	}
}

// A reload that changes a resident tool drains its process (the calls in
// flight finish in it) and stops it; the next calls get a new one. An
// unchanged tool keeps its process.
func TestResidentReload(t *testing.T) {
	entries := []string{residentEntry("res", "resident", "", ""), residentEntry("same", "resident", "", "")}
	e := newEnv(t, entries, Options{})
	r := e.call("res", `{"do":"echo"}`)
	pid, hpid := callPID(t, r), e.hostPID(r)
	same := callPID(t, e.call("same", `{"do":"echo"}`))
	var wg sync.WaitGroup
	results := make([]*Result, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.call("res", `{"do":"sleep","n":500}`)
		}()
	}
	time.Sleep(150 * time.Millisecond)
	path := filepath.Join(t.TempDir(), "tools.json")
	body := `{"tools":[` + residentEntry("res", "resident", "", `"timeoutSec":7`) + "," + entries[1] + `]}`
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	m2, err := manifest.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e.h.Swap(m2)
	if p := callPID(t, e.call("res", `{"do":"echo"}`)); p == pid {
		t.Error("a call after the reload ran in the old process")
	}
	wg.Wait()
	for i, r := range results {
		if callPID(t, r) != pid {
			t.Errorf("call %d in flight at the reload ran elsewhere", i)
		}
	}
	waitGone(t, hpid, "the process of the tool before the reload")
	if callPID(t, e.call("same", `{"do":"echo"}`)) != same {
		t.Error("the unchanged tool's process was replaced")
	}
}

// Close drains: the calls in flight finish, then the processes stop.
// Shutdown does not: they end CANCELLED at once.
func TestResidentShutdown(t *testing.T) {
	for _, now := range []bool{false, true} {
		t.Run(fmt.Sprintf("now=%v", now), func(t *testing.T) {
			e := newEnv(t, []string{residentEntry("res", "resident", "", "")}, Options{})
			hpid := e.hostPID(e.call("res", `{"do":"echo"}`))
			var wg sync.WaitGroup
			results := make([]*Result, 4)
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = e.call("res", `{"do":"sleep","n":700}`)
				}()
			}
			time.Sleep(200 * time.Millisecond)
			if now {
				e.h.Shutdown()
			}
			if err := e.h.Close(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			for i, r := range results {
				switch {
				case now && (r.Err == nil || r.Err.Code != "CANCELLED"):
					t.Errorf("call %d at Shutdown: %s %v", i, r.Output, r.Err)
				case !now && r.Err != nil:
					t.Errorf("call %d at Close: %v", i, r.Err)
				}
			}
			if alive(hpid) {
				t.Errorf("the resident process outlived Close")
			}
			r, err := e.h.Call(context.Background(), Request{Tool: "res", Args: json.RawMessage(`{"do":"echo"}`)})
			if err == nil && r.Err == nil {
				t.Error("a call after Close ran")
			}
		})
	}
}

// The strict level holds for the whole life of a resident process: what
// the level refuses a one-shot tool, it refuses a resident one (and at
// level none the same attempts get through, so the test proves
// something).
func TestResidentStrictEscapes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CI runs as root)")
	}
	if err := confine.Check(); err != nil {
		t.Skip(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	pol, err := policy.Parse([]byte(`{"mode":"bypass"}`), "test")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, []string{
		residentEntry("strict", "resident", "", `"sandbox":{"level":"strict","user":"root"}`),
		residentEntry("none", "resident", "", `"sandbox":{"level":"none"}`),
	}, Options{Policy: pol})
	os.WriteFile(filepath.Join(e.workspace, ".env"), []byte("TOKEN=x"), 0o644)
	args, _ := json.Marshal(map[string]any{"do": "escape", "addr": ln.Addr().String()})
	for _, tool := range []string{"strict", "none"} {
		calls := 2 // the second in the same process
		if tool == "none" {
			// Once: at level none the first call's unshare takes the
			// network from the thread it ran on, for the calls after.
			calls = 1
		}
		for range calls {
			r := e.call(tool, string(args))
			var res map[string]string
			if r.Err != nil || json.Unmarshal(r.Output, &res) != nil {
				t.Fatalf("%s: %s %v", tool, r.Output, r.Err)
			}
			if len(res) < 8 {
				t.Fatalf("%s: %v", tool, res)
			}
			for op, e := range res {
				if tool == "strict" && e == "" {
					t.Errorf("strict resident: %s worked", op)
				}
			}
			if tool == "none" && (res["read:/etc/shadow"] != "" || res["dial"] != "" || res["raw"] != "") {
				t.Errorf("level none (as root) could not do what strict refuses; the test proves nothing: %v", res)
			}
		}
	}
}

// A plugin that offers a link to another socket is refused, and the host
// never connects to that socket (go-plugin's own Kill would have: the
// host ends plugins without it).
func TestResidentSymlinkAddress(t *testing.T) {
	victim := filepath.Join(t.TempDir(), "victim.sock")
	ln, err := net.Listen("unix", victim)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	reached := make(chan struct{}, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			reached <- struct{}{}
			c.Close()
		}
	}()
	cmd, _ := json.Marshal([]string{mustExe(), "host-helper", "resident-symlink", "tool=sym", victim})
	e := newEnv(t, []string{fmt.Sprintf(`{"name":"sym","command":%s,"resident":{},"timeoutSec":2}`, cmd)}, Options{})
	wantCode(t, e.call("sym", `{}`), "LAUNCH_FAILED", "is not a socket")
	e.h.Close()
	select {
	case <-reached:
		t.Error("the host connected to the socket the plugin's link points to")
	case <-time.After(500 * time.Millisecond):
	}
}

// A plugin that completes the handshake but never answers go-plugin's
// dispense, or never answers its request to quit, cannot hang a call or
// Close.
func TestResidentUnanswering(t *testing.T) {
	e := newEnv(t, []string{
		residentEntry("nodispense", "resident-nodispense", "", `"timeoutSec":1`),
		residentEntry("noquit", "resident-noquit", "", `"timeoutSec":5`),
	}, Options{})
	wantCode(t, e.call("nodispense", `{}`), "LAUNCH_FAILED", "dispense")
	if r := e.call("noquit", `{}`); r.Err != nil || string(r.Output) != `{"ok":true}` {
		t.Fatalf("%s %v", r.Output, r.Err)
	}
	closed := make(chan struct{})
	go func() { e.h.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("Close did not return")
	}
	if pids := append(residentsOf("nodispense"), residentsOf("noquit")...); len(pids) > 0 {
		t.Errorf("processes left: %v", pids)
	}
}

// Close drains the process of a tool a reload replaced too: its call in
// flight finishes.
func TestResidentReloadThenClose(t *testing.T) {
	e := newEnv(t, []string{residentEntry("res", "resident", "", `"timeoutSec":10`)}, Options{})
	callPID(t, e.call("res", `{"do":"echo"}`))
	var r *Result
	done := make(chan struct{})
	go func() { defer close(done); r = e.call("res", `{"do":"sleep","n":1500}`) }()
	time.Sleep(300 * time.Millisecond)
	path := filepath.Join(t.TempDir(), "tools.json")
	os.WriteFile(path, []byte(`{"tools":[`+residentEntry("res", "resident", "", `"timeoutSec":9`)+`]}`), 0o644)
	m2, err := manifest.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e.h.Swap(m2)
	e.h.Close()
	<-done
	if r.Err != nil {
		t.Errorf("the call in flight on the replaced process at Close: %v", r.Err)
	}
}

// When every slot of long-lived processes is taken, a resident tool's
// start fails saying so.
func TestResidentSlotsTaken(t *testing.T) {
	e := newEnv(t, []string{
		residentEntry("a", "resident", "", `"timeoutSec":1`),
		residentEntry("b", "resident", "", `"timeoutSec":1`),
	}, Options{Sandbox: sandbox.Options{MaxResident: 1}})
	callPID(t, e.call("a", `{"do":"echo"}`))
	wantCode(t, e.call("b", `{"do":"echo"}`), "LAUNCH_FAILED", "slots of long-lived processes are taken")
}

// A call that came before a reload, waiting for one of the concurrent
// slots, runs in the process that drains the old tool's calls.
func TestResidentReloadWaiting(t *testing.T) {
	e := newEnv(t, []string{residentEntry("res", "resident", `{"concurrency":1}`, `"timeoutSec":10`)}, Options{})
	pid := callPID(t, e.call("res", `{"do":"echo"}`))
	var wg sync.WaitGroup
	results := make([]*Result, 3)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = e.call("res", `{"do":"sleep","n":400}`) }()
	}
	time.Sleep(200 * time.Millisecond)
	path := filepath.Join(t.TempDir(), "tools.json")
	os.WriteFile(path, []byte(`{"tools":[`+residentEntry("res", "resident", `{"concurrency":1}`, `"timeoutSec":9`)+`]}`), 0o644)
	m2, err := manifest.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e.h.Swap(m2)
	if callPID(t, e.call("res", `{"do":"echo"}`)) == pid {
		t.Error("a call after the reload ran in the old process")
	}
	wg.Wait()
	for i, r := range results {
		if callPID(t, r) != pid {
			t.Errorf("call %d, waiting at the reload, ran elsewhere", i)
		}
	}
}

// A tool on go-plugin's gRPC protocol (residentpb's Tool service, as a
// tool in another language serves it) gets what a net/rpc one does: one
// process for its calls, none lost or crossed; the plugin's own error,
// a reply over the cap or past what a call may return fail the call and
// keep the process; the timeout cancels the call in the plugin, and
// kills the plugin that does not stop; a crash names itself; Close stops
// the process.
func TestResidentGRPC(t *testing.T) {
	e := newEnv(t, []string{residentEntry("res", "resident-grpc", `{"concurrency":16}`, `"timeoutSec":2,"maxOutputBytes":4096,"maxArgsBytes":8388608`)}, Options{})
	r := e.call("res", `{"do":"echo"}`)
	pid, hpid := callPID(t, r), e.hostPID(r)
	if !strings.Contains(e.auditLog(), fmt.Sprintf(`"pid":%d,"resident":true`, hpid)) {
		t.Errorf("no audit record of the resident call:\n%s", e.auditLog())
	}
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Go(func() {
			r := e.call("res", fmt.Sprintf(`{"do":"echo","n":%d}`, i))
			var out echoed
			if r.Err != nil || json.Unmarshal(r.Output, &out) != nil || out.N != i || out.PID != pid {
				t.Errorf("call %d: %s %v", i, r.Output, r.Err)
			}
		})
	}
	wg.Wait()

	wantCode(t, e.call("res", `{"do":"refuse"}`), "TOOL_ERROR", "answered with an error", "refused on purpose")
	wantCode(t, e.call("res", `{"do":"nothing"}`), "TOOL_ERROR", `unknown do "nothing"`)
	wantCode(t, e.call("res", `{"do":"big","bytes":5000}`), "OUTPUT_LIMIT", "more than 4096 bytes")
	wantCode(t, e.call("res", `{"do":"big","bytes":1048576}`), "OUTPUT_LIMIT", "more than 4096 bytes")
	wantCode(t, e.call("res", `{"do":"wait"}`), "TIMEOUT", "cancelled in its resident process")
	// Statuses that could be taken for a broken connection are the
	// plugin's answers while the connection holds.
	wantCode(t, e.call("res", `{"do":"unavailable"}`), "TOOL_ERROR", "answered with an error", "Unavailable: upstream unavailable")
	wantCode(t, e.call("res", `{"do":"wait-status"}`), "TIMEOUT", "cancelled in its resident process")
	// Arguments over the plugin's own limit (gRPC's 4 MiB) are refused by
	// it, not taken for output over the cap.
	wantCode(t, e.call("res", fmt.Sprintf(`{"do":"echo","stdout":%q}`, strings.Repeat("a", 5<<20))), "TOOL_ERROR", "answered with an error", "ResourceExhausted")
	if callPID(t, e.call("res", `{"do":"echo"}`)) != pid {
		t.Fatal("a failed call replaced the process")
	}

	wantCode(t, e.call("res", `{"do":"hang"}`), "TIMEOUT", "its resident process was killed")
	waitGone(t, hpid, "the process of a call that hung")
	r = e.call("res", `{"do":"echo"}`)
	if callPID(t, r) == pid {
		t.Error("the next call ran in the killed process")
	}
	wantCode(t, e.call("res", `{"do":"crash"}`), "TOOL_ERROR", "crashed during the call", "exit status 9")
	r = e.call("res", `{"do":"echo"}`)
	hpid = e.hostPID(r)
	e.h.Close()
	waitGone(t, hpid, "the process at Close")
}

// A call whose caller is gone (cancelled with ErrStopNow: the MCP
// client went away) ends without the caller, but keeps its slot until
// the process has ended it: the next call never runs beside it, past
// resident.concurrency.
func TestResidentStopNowKeepsSlot(t *testing.T) {
	e := newEnv(t, []string{residentEntry("res", "resident", `{"concurrency":1}`, `"timeoutSec":30`)}, Options{})
	pid := callPID(t, e.call("res", `{"do":"echo"}`))
	ctx, cancel := context.WithCancelCause(context.Background())
	gone := make(chan *Result)
	go func() {
		r, _ := e.h.Call(ctx, Request{Tool: "res", Args: json.RawMessage(`{"do":"hang"}`)})
		gone <- r
	}()
	// Once in flight on the process, the hang runs there: a Cancel that
	// comes first leaves it hanging all the same.
	r := e.h.tools.Load().byKey["res"].resident
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		r.mu.Lock()
		inflight := r.cur != nil && r.cur.inflight == 1
		r.mu.Unlock()
		if inflight {
			break
		}
		if time.Since(start) > time.Minute {
			t.Fatal("the hang never got in flight")
		}
	}
	cancel(ErrStopNow)
	wantCode(t, <-gone, "CANCELLED")
	// The hang ignores its cancellation: the process is killed at the
	// kill grace, and only then is the slot free.
	next := callPID(t, e.call("res", `{"do":"echo"}`))
	if next == pid {
		t.Fatal("a call ran in the process beside the abandoned call it was still running")
	}
}

// A secret split by the cut of a reply's standard error (the host's own,
// of a gRPC plugin's reply) leaves no piece in what the host logs: guard
// bytes go on each side of the cut, as with a one-shot tool's.
func TestResidentStderrCutGuard(t *testing.T) {
	var log bytes.Buffer
	e := newEnv(t, []string{residentEntry("res", "resident-grpc", "", `"envPassthrough":["API_TOKEN"]`)},
		Options{Logger: zerolog.New(&log).Level(zerolog.DebugLevel)})
	if r := e.call("res", `{"do":"stderr-secret"}`); !r.OK() {
		t.Fatalf("%s %v", r.Output, r.Err)
	}
	got := log.String()
	cut := strings.Index(got, "…")
	if cut < 16 || !strings.Contains(got, "xxxx") || !strings.Contains(got, "yyyy") {
		t.Fatalf("the tool's cut stderr is not logged: %.300s", got)
	}
	for _, piece := range []string{"tok-", "ery-secret"} {
		if strings.Contains(got, piece) {
			t.Errorf("a piece of the secret (%q) is logged: …%s…", piece, got[cut-16:cut+32])
		}
	}
}
