package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

// backends are the containments this machine offers the tests.
func backends(t *testing.T) []string {
	var out []string
	for _, b := range []string{"v1", "v2-nopids", "pidns"} {
		l, err := New(Options{backendOverride: b})
		if err == nil {
			if _, err := l.Containment(); err == nil {
				out = append(out, b)
			}
			l.Close()
		}
	}
	if len(out) == 0 {
		t.Fatal("no backend works on this machine: the tests need a cgroup (as root) or a pid namespace")
	}
	return append(out, "none")
}

type fixture struct {
	t      *testing.T
	l      *Launcher
	marker string
}

func newFixture(t *testing.T, backend string) *fixture {
	t.Helper()
	return newFixtureWith(t, Options{KillGrace: 300 * time.Millisecond, MaxProcs: 64, backendOverride: backend})
}

func newFixtureWith(t *testing.T, opts Options) *fixture {
	t.Helper()
	backend := opts.backendOverride
	if backend == "none" {
		opts.AllowUncontained = true
	}
	l, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, l: l, marker: fmt.Sprintf("marker-%d-%s", os.Getpid(), strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()))}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if s := survivors(f.marker); len(s) > 0 {
			t.Errorf("processes left behind:\n%s", strings.Join(s, "\n"))
		}
	})
	return f
}

// pidNamespace reports whether the fixture's tools each get a pid
// namespace: there the kernel ends leftovers, uncounted, and the tool is
// its namespace's first process.
func (f *fixture) pidNamespace() bool {
	switch b := f.l.backend.(type) {
	case *pidns:
		return true
	case *v1:
		return b.clone != 0
	case *v2:
		return b.clone != 0
	}
	return false
}

func (f *fixture) spec(name string, args ...string) *Spec {
	exe, err := os.Executable()
	if err != nil {
		f.t.Fatal(err)
	}
	return &Spec{
		Path:      exe,
		Args:      append([]string{"helper", "sandbox-helper", f.marker, name}, args...),
		Env:       []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"},
		Dir:       f.t.TempDir(),
		Timeout:   10 * time.Second,
		MaxStdout: 1 << 20,
	}
}

func (f *fixture) launch(ctx context.Context, s *Spec) *Outcome {
	f.t.Helper()
	out, err := f.l.Launch(ctx, s)
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// anyBackend is the first backend the machine offers: a cgroup as root,
// a pid namespace otherwise.
func anyBackend(t *testing.T) string { return backends(t)[0] }

func forEachBackend(t *testing.T, test func(t *testing.T, f *fixture)) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) { test(t, newFixture(t, b)) })
	}
}

// forEachBackendAndCgroupAlone is forEachBackend, plus cgroup v1 without
// a pid namespace per call, where the cgroup finds leftovers itself.
func forEachBackendAndCgroupAlone(t *testing.T, test func(t *testing.T, f *fixture)) {
	forEachBackend(t, test)
	if os.Geteuid() == 0 {
		t.Run("v1-alone", func(t *testing.T) {
			test(t, newFixtureWith(t, Options{KillGrace: 300 * time.Millisecond, MaxProcs: 64, backendOverride: "v1", CountLeftovers: true}))
		})
	}
}

// Each call has a temporary folder of its own in TMPDIR: private (0700,
// its tool's user's), another for every call, and removed with
// everything in it when the call ends, also what the tool made unreadable
// to itself. At strict, Landlock lets the tool use it.
func TestCallTmp(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		for _, level := range []string{"none", "strict", "own-user"} {
			s := f.spec("tmpdir")
			switch {
			case level == "strict" && confine.Check() == nil:
				s.Confine = strictConfig(nil, nil, false)
			case level == "own-user" && os.Geteuid() == 0:
				s.Confine, s.OwnUser = &confine.Config{NoNewPrivs: true}, true
			case level != "none":
				continue
			}
			var dirs []string
			for range 2 {
				out := f.launch(context.Background(), s)
				var got struct {
					Dir     string
					Mode    uint32
					UID, Me int
				}
				if err := json.Unmarshal(out.Stdout, &got); err != nil || out.ExitCode != 0 {
					t.Fatalf("%s: %s %s (%v)", level, out.Stdout, out.Stderr, err)
				}
				if got.Mode != 0o700 || got.UID != got.Me || !strings.Contains(got.Dir, "toolhost-calls-") || level == "own-user" && got.Me < OwnUserBase {
					t.Errorf("%s: TMPDIR %+v, want a folder of mode 0700 owned by the tool's user", level, got)
				}
				if _, err := os.Lstat(got.Dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s: %s is left after the call (%v)", level, got.Dir, err)
				}
				dirs = append(dirs, got.Dir)
			}
			if dirs[0] == dirs[1] {
				t.Errorf("%s: two calls shared %s", level, dirs[0])
			}
		}
	})
}

// A tool that runs as a user of its own leaves nothing in /tmp or
// /dev/shm past its call; what others made there stays.
func TestOwnUserLeavesNoTmp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("users of a call's own need root")
	}
	f := newFixture(t, anyBackend(t))
	name := fmt.Sprintf("toolhost-litter-%d", os.Getpid())
	theirs := "/tmp/" + name + "-theirs"
	os.WriteFile(theirs, []byte("x"), 0o644)
	t.Cleanup(func() { os.Remove(theirs) })
	s := f.spec("litter", name)
	s.Confine, s.OwnUser = &confine.Config{NoNewPrivs: true}, true
	if out := f.launch(context.Background(), s); out.ExitCode != 0 {
		t.Fatalf("litter: %s", out.Stderr)
	}
	for _, p := range []string{"/tmp/" + name, "/dev/shm/" + name} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			os.Remove(p)
			t.Errorf("%s outlived its call (%v)", p, err)
		}
	}
	if _, err := os.Lstat(theirs); err != nil {
		t.Errorf("another user's file went too: %v", err)
	}
}

// A tool with mounts of its own (the limits level) has a private /tmp and
// finds hidden files empty; what it needs stays where it was.
func TestPrivateMounts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		if err := f.l.PrivateMounts(); err != nil {
			t.Skip(err)
		}
		ws := publicDir(t)
		for name, content := range map[string]string{"notes.txt": "notes", ".env": "SECRET=1", "keys/id_rsa": "KEY"} {
			os.MkdirAll(filepath.Dir(filepath.Join(ws, name)), 0o755)
			os.WriteFile(filepath.Join(ws, name), []byte(content), 0o644)
		}
		// Calls in a row share their slot's namespace (the slots take
		// turns): each finds /tmp empty of the one before, and a
		// replaced file hidden still.
		n := f.l.opts.MaxConcurrent
		for call := range n + 2 {
			if call == n {
				os.Remove(filepath.Join(ws, ".env"))
				os.WriteFile(filepath.Join(ws, ".env"), []byte("NEW=1"), 0o644)
			}
			marker := fmt.Sprintf("toolhost-private-%d-%d", os.Getpid(), call)
			s := f.spec("mounts", marker, filepath.Join(ws, "notes.txt"), filepath.Join(ws, ".env"), filepath.Join(ws, "keys"))
			s.Dir = ws
			s.Confine = &confine.Config{NoNewPrivs: true, Mounts: &confine.Mounts{
				Tmp: []string{"/tmp", "/dev/shm"}, TmpBytes: 1 << 20,
				Hide: []string{filepath.Join(ws, ".env"), filepath.Join(ws, "keys")},
			}}
			out := f.launch(context.Background(), s)
			var got struct {
				Write, Tmpdir, Self string
				Tmp                 []string
				Read                map[string]string
				Procs               int
			}
			if err := json.Unmarshal(out.Stdout, &got); err != nil || out.ExitCode != 0 {
				t.Fatalf("call %d: %s %s (%v)", call, out.Stdout, out.Stderr, err)
			}
			// In a pid namespace of its own, its /proc is that
			// namespace's: it is pid 1 there, and alone.
			if f.l.backend.id() != ContainmentNone && checkProc() == nil && (got.Self != "1" || got.Procs != 1) {
				t.Errorf("call %d: /proc/self is %q among %d processes, want 1 alone", call, got.Self, got.Procs)
			}
			if got.Write != "<nil>" || got.Tmpdir != "<nil>" {
				t.Errorf("call %d: writes to /tmp and TMPDIR: %q, %q", call, got.Write, got.Tmpdir)
			}
			if _, err := os.Lstat("/tmp/" + marker); !errors.Is(err, os.ErrNotExist) {
				os.Remove("/tmp/" + marker)
				t.Errorf("call %d: the tool's /tmp/%s is in the host's /tmp (%v)", call, marker, err)
			}
			// The host's /tmp holds this test's files; the tool's only
			// what it made and the folders kept for it.
			for _, n := range got.Tmp {
				if n != marker && !strings.HasPrefix(ws+"/", "/tmp/"+n+"/") && !strings.HasPrefix(s.Path, "/tmp/"+n+"/") {
					t.Errorf("call %d: the tool's /tmp shows %q, not its own", call, n)
				}
			}
			if r := got.Read; r[filepath.Join(ws, "notes.txt")] != "notes" || r[filepath.Join(ws, ".env")] != "" || !strings.Contains(r[filepath.Join(ws, "keys")], "permission denied") && r[filepath.Join(ws, "keys")] != "folder of 0 entries" {
				t.Errorf("call %d: reads %q", call, r)
			}
		}
	})
}

// MemoryBytes bounds the whole call: two processes of 40 MiB each (and
// their parent) fit without it, not within 64 MiB. (Few processes: the
// race detector's have many threads, which the slot's 64 pids count.) On cgroup v1 with the memory controller
// the kernel kills one of them (the helper, or a child it reports); elsewhere the host
// sees their sum past the bound and kills the call. Either way the call
// fails with MemoryLimit.
func TestCallMemoryBound(t *testing.T) {
	forEachBackendAndCgroupAlone(t, func(t *testing.T, f *fixture) {
		if err := f.l.CallMemory(); err != nil {
			if f.l.backend.id() != ContainmentNone {
				t.Fatalf("contained by %s, but: %v", f.l.backend.id(), err)
			}
			t.Skip(err)
		}
		kernel := f.l.kernelBoundsMemory()
		// (At strict the bound is set by the same code, from adopt; the
		// helper cannot start copies of itself there, as it runs by
		// descriptor.)
		// The last also with mounts of its own, where the limiter's /proc
		// of the call's pid namespace serves the watch.
		for i, bound := range []int64{0, 64 << 20, 1 << 30, 0, 64 << 20} {
			s := f.spec("hog", "2")
			s.Confine = &confine.Config{NoNewPrivs: true, MemoryBytes: bound}
			if i == 4 {
				if f.l.mountsErr() != nil {
					continue
				}
				s.Confine.Mounts = &confine.Mounts{Tmp: []string{"/dev/shm"}}
			}
			out := f.launch(context.Background(), s)
			var got struct{ Died int }
			json.Unmarshal(out.Stdout, &got)
			switch {
			case bound != 64<<20 && (out.ExitCode != 0 || got.Died != 0 || out.MemoryLimit):
				t.Errorf("bound %d: %s %s (exit %d, memory limit %v), want all alive", bound, out.Stdout, out.Stderr, out.ExitCode, out.MemoryLimit)
			case bound == 64<<20 && kernel && !out.MemoryLimit:
				t.Errorf("bound %d: %s (exit %d), want the kernel to kill one of the call's processes past it", bound, out.Stdout, out.ExitCode)
			case bound == 64<<20 && !kernel && (!out.MemoryLimit || out.Signal != syscall.SIGKILL || out.TimedOut):
				t.Errorf("bound %d: %+v, want the call killed for its memory", bound, out)
			}
		}
	})
}

// Memory that the call's processes share counts once: three processes
// mapping the same 256 MiB are within 512 MiB (with room for what each
// has of its own, more under the race detector).
func TestCallMemorySharedOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		if f.l.CallMemory() != nil || f.l.kernelBoundsMemory() {
			t.Skip("no watch here")
		}
		s := f.spec("share")
		s.Confine = &confine.Config{NoNewPrivs: true, MemoryBytes: 512 << 20}
		out := f.launch(context.Background(), s)
		if string(out.Stdout) != `{"died":0}`+"\n" || out.ExitCode != 0 || out.MemoryLimit {
			t.Errorf("%+v, want all alive within the bound", out)
		}
	})
}

func TestEcho(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		s := f.spec("echo")
		s.Stdin = []byte(`{"hello":"world"}`)
		out := f.launch(context.Background(), s)
		if string(out.Stdout) != `{"hello":"world"}` || out.ExitCode != 0 || out.Leftovers != 0 {
			t.Errorf("outcome %+v", out)
		}
	})
}

// The child sees exactly the environment, argv and folder given.
func TestEnvironmentArgvDir(t *testing.T) {
	f := newFixture(t, anyBackend(t))
	t.Setenv("TOOLHOST_SECRET_IN_HOST", "must-not-leak")
	out := f.launch(context.Background(), f.spec("env"))
	var env []string
	if err := json.Unmarshal(out.Stdout, &env); err != nil {
		t.Fatal(err)
	}
	// And TMPDIR, the call's own (see TestCallTmp).
	if want := []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "TMPDIR="}; len(env) != 3 || strings.Join(env[:2], "|") != strings.Join(want[:2], "|") || !strings.HasPrefix(env[2], want[2]) {
		t.Errorf("env = %q, want %q and a folder", env, want)
	}
	s := f.spec("env")
	s.Env = nil
	out = f.launch(context.Background(), s)
	json.Unmarshal(out.Stdout, &env)
	if len(env) != 1 || !strings.HasPrefix(env[0], "TMPDIR=") {
		t.Errorf("nil Env gave %s, want an empty environment but TMPDIR", out.Stdout)
	}
	s = f.spec("env")
	s.Env = []string{"TMPDIR=/tmp", "TMP=/tmp", "TEMP=/tmp", "X=1"}
	out = f.launch(context.Background(), s)
	json.Unmarshal(out.Stdout, &env)
	if len(env) != 2 || env[0] != "X=1" || !strings.Contains(env[1], "toolhost-calls-") {
		t.Errorf("an Env with temporary folders gave %q, want X=1 and the call's own TMPDIR", env)
	}
	out = f.launch(context.Background(), f.spec("argv"))
	var argv []string
	json.Unmarshal(out.Stdout, &argv)
	if len(argv) == 0 || argv[0] != "helper" {
		t.Errorf("argv = %q, want argv[0] \"helper\"", argv)
	}
}

func TestFailureKeepsStderr(t *testing.T) {
	f := newFixture(t, anyBackend(t))
	out := f.launch(context.Background(), f.spec("fail"))
	if out.ExitCode != 3 || !bytes.Contains(out.Stderr, []byte(`{"error":"it broke","code":"BROKEN"}`)) {
		t.Errorf("outcome %+v stderr %q", out, out.Stderr)
	}
}

func TestTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		t.Run("sleeping tool", func(t *testing.T) {
			s := f.spec("sleep")
			s.Timeout = 100 * time.Millisecond
			out := f.launch(context.Background(), s)
			// As the first process of a pid namespace a tool does not die
			// of a signal it has no handler for: it is sent SIGKILL
			// instead. A Go program's runtime handles SIGTERM, cannot die
			// of it there, and exits with status 2.
			termed := out.Signal == syscall.SIGTERM ||
				f.pidNamespace() && (out.ExitCode == 2 || out.Signal == syscall.SIGKILL)
			if !out.TimedOut || !termed {
				t.Errorf("outcome %+v, want timed out by SIGTERM", out)
			}
		})
		// The next two must have set up their signal handling when the
		// timeout strikes: a second is far more than a start-up takes,
		// even of a race-built binary on a busy machine.
		t.Run("tool that ignores SIGTERM", func(t *testing.T) {
			s := f.spec("ignore-term")
			s.Timeout = time.Second
			out := f.launch(context.Background(), s)
			if !out.TimedOut || out.Signal != syscall.SIGKILL {
				t.Errorf("outcome %+v, want timed out and killed by SIGKILL", out)
			}
		})
		t.Run("tool that ends cleanly on SIGTERM", func(t *testing.T) {
			s := f.spec("graceful")
			s.Timeout = time.Second
			out := f.launch(context.Background(), s)
			if !out.TimedOut || out.ExitCode != 143 || !bytes.Contains(out.Stderr, []byte("terminated cleanly")) {
				t.Errorf("outcome %+v stderr %q", out, out.Stderr)
			}
		})
	})
}

func TestCancel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		out := f.launch(ctx, f.spec("ignore-term"))
		if !out.Cancelled || out.TimedOut {
			t.Errorf("outcome %+v, want cancelled", out)
		}
	})
}

// A tool that exits but leaves a process holding its stdout returns at
// once with its output, and the process is killed.
func TestLeftovers(t *testing.T) {
	forEachBackendAndCgroupAlone(t, func(t *testing.T, f *fixture) {
		out := f.launch(context.Background(), f.spec("grandchild"))
		if strings.TrimSpace(string(out.Stdout)) != "{}" || out.ExitCode != 0 || out.TimedOut {
			t.Errorf("outcome %+v", out)
		}
		// A pid namespace's processes die with its first one, uncounted.
		if out.Leftovers < 1 && !f.pidNamespace() {
			t.Errorf("leftovers = %d, want the grandchild counted", out.Leftovers)
		}
		if s := survivors(f.marker); len(s) > 0 {
			t.Errorf("the grandchild outlived the call: %v", s)
		}
		out = f.launch(context.Background(), f.spec("orphan-zombie"))
		if out.ExitCode != 0 {
			t.Errorf("outcome %+v", out)
		}
		// The orphan exits after its parent; give it time to become a
		// zombie of ours, then check it is reaped by the next call.
		time.Sleep(200 * time.Millisecond)
		f.launch(context.Background(), f.spec("grandchild"))
		out = f.launch(context.Background(), f.spec("setsid-zombie"))
		if out.ExitCode != 0 || strings.TrimSpace(string(out.Stdout)) != "{}" {
			t.Errorf("outcome %+v", out)
		}
	})
}

// A grandchild in a session of its own escapes the process group; only
// the cgroup finds it.
func TestEscapedSession(t *testing.T) {
	bs := backends(t)
	if os.Geteuid() == 0 {
		bs = append(bs, "v1-alone") // the cgroup finds the escaped process itself
	}
	for _, b := range bs {
		if b == "none" {
			continue
		}
		t.Run(b, func(t *testing.T) {
			var f *fixture
			if b == "v1-alone" {
				f = newFixtureWith(t, Options{KillGrace: 300 * time.Millisecond, MaxProcs: 64, backendOverride: "v1", CountLeftovers: true})
			} else {
				f = newFixture(t, b)
			}
			for _, name := range []string{"escape", "daemon"} {
				out := f.launch(context.Background(), f.spec(name))
				if strings.TrimSpace(string(out.Stdout)) != "{}" || out.Leftovers < 1 && !f.pidNamespace() {
					t.Errorf("%s: outcome %+v", name, out)
				}
				if s := survivors(f.marker); len(s) > 0 {
					t.Errorf("%s: the escaped process outlived the call: %v", name, s)
				}
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		// Without a cgroup the escaped process keeps the pipe open: the
		// call still returns, after a grace period, with the output.
		f := newFixture(t, "none")
		out := f.launch(context.Background(), f.spec("escape"))
		if strings.TrimSpace(string(out.Stdout)) != "{}" {
			t.Errorf("outcome %+v", out)
		}
		// This one really escaped; the test cleans up after it.
		killMarked(f.marker)
	})
}

func killMarked(marker string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		if cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.Contains(string(cmdline), marker) {
			syscall.Kill(pid, syscall.SIGKILL)
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil) // an orphan of ours: we are a subreaper
		}
	}
}

func TestOutputCap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		s := f.spec("flood-stdout")
		s.MaxStdout = 100 << 10
		out := f.launch(context.Background(), s)
		if !out.OutputLimit || int64(len(out.Stdout)) != s.MaxStdout || out.StdoutBytes != s.MaxStdout+1 {
			t.Errorf("OutputLimit %v, kept %d, read %d", out.OutputLimit, len(out.Stdout), out.StdoutBytes)
		}
	})
}

func TestStderrFlood(t *testing.T) {
	f := newFixture(t, anyBackend(t))
	s := f.spec("flood-stderr")
	s.Timeout = 300 * time.Millisecond
	s.MaxStderr = 1000
	out := f.launch(context.Background(), s)
	if !out.TimedOut {
		t.Errorf("outcome %+v", out)
	}
	if len(out.Stderr) > 1100 || !bytes.Contains(out.Stderr, []byte("bytes omitted")) {
		t.Errorf("stderr kept %d bytes: %.200q", len(out.Stderr), out.Stderr)
	}
}

// A fork bomb stops at the cgroup's limit and is gone after the call.
func TestForkBomb(t *testing.T) {
	if os.Geteuid() != 0 {
		// Without root the bomb runs as the host's user, bounded by
		// RLIMIT_NPROC in the host's user namespace.
		f := newFixtureWith(t, Options{KillGrace: 300 * time.Millisecond, MaxProcs: 64, MaxConcurrent: 2, backendOverride: "pidns"})
		s := f.spec("forkbomb")
		s.Timeout = 2 * time.Second
		if out := f.launch(context.Background(), s); !out.TimedOut {
			t.Errorf("outcome %+v", out)
		}
		return
	}
	f := newFixture(t, "v1")
	s := f.spec("forkbomb")
	s.Timeout = time.Second
	out := f.launch(context.Background(), s)
	if !out.TimedOut {
		t.Errorf("outcome %+v", out)
	}
	if out.Leftovers == 0 && !f.pidNamespace() {
		t.Error("no leftovers counted after a fork bomb")
	}
	slots := f.l.backend.(*v1).dir
	events, _ := filepath.Glob(filepath.Join(slots, "slot-*", "pids.events"))
	hit := false
	for _, e := range events {
		data, _ := os.ReadFile(e)
		hit = hit || !strings.Contains(string(data), "max 0")
	}
	if !hit {
		t.Error("the pids limit was never reached: the fork bomb did not run or was not bounded by the cgroup")
	}
}

// The process limit is a hard limit per call: the cgroup's as root; in a
// pid namespace without root, RLIMIT_NPROC, which counts the host's
// threads and every call's processes, one call's share when one may run.
func TestProcessLimit(t *testing.T) {
	b := "v1"
	if os.Geteuid() != 0 {
		b = "pidns"
	}
	f := newFixtureWith(t, Options{KillGrace: 300 * time.Millisecond, MaxProcs: 64, MaxConcurrent: 1, backendOverride: b})
	s := f.spec("spawn", "100")
	s.Timeout = 5 * time.Second
	out := f.launch(context.Background(), s)
	if out.ExitCode != 9 || !bytes.Contains(out.Stderr, []byte("resource temporarily unavailable")) {
		t.Errorf("outcome %+v stderr %q", out, out.Stderr)
	}
}

func TestConcurrentCallsGetTheirOwnOutput(t *testing.T) {
	f := newFixture(t, anyBackend(t))
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := f.spec("echo")
			payload := bytes.Repeat([]byte{'a' + byte(i)}, 200<<10+i)
			s.Stdin = payload
			out, err := f.l.Launch(context.Background(), s)
			if err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(out.Stdout, payload) {
				t.Errorf("call %d got %d bytes of %q, want its own %d bytes", i, len(out.Stdout), out.Stdout[:1], len(payload))
			}
		}()
	}
	wg.Wait()
}

func TestExecByDescriptor(t *testing.T) {
	f := newFixture(t, anyBackend(t))
	s := f.spec("argv")
	exe, err := os.Open(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	s.Exec = exe
	s.Path = "/nonexistent/so-the-descriptor-must-be-used"
	out := f.launch(context.Background(), s)
	if out.ExitCode != 0 || !bytes.Contains(out.Stdout, []byte(`"helper"`)) {
		t.Errorf("outcome %+v stderr %q", out, out.Stderr)
	}

	// A script runs by descriptor too.
	script := filepath.Join(t.TempDir(), "tool.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho '{\"script\":true}'\n"), 0o755)
	sf, err := os.Open(script)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	s = f.spec("unused")
	s.Path, s.Exec, s.Args = "/nonexistent", sf, []string{"tool.sh"}
	out = f.launch(context.Background(), s)
	if strings.TrimSpace(string(out.Stdout)) != `{"script":true}` {
		t.Errorf("script outcome %+v stderr %q", out, out.Stderr)
	}
}

func TestLaunchErrors(t *testing.T) {
	f := newFixture(t, anyBackend(t))
	s := f.spec("echo")
	s.Path = "/nonexistent/tool"
	_, err := f.l.Launch(context.Background(), s)
	var le *LaunchError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "/nonexistent/tool") {
		t.Errorf("err = %v, want a *LaunchError naming the program", err)
	}
	s = f.spec("echo")
	s.Timeout = 0
	if _, err := f.l.Launch(context.Background(), s); err == nil {
		t.Error("a Spec without a timeout was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A call cancelled before it starts runs nothing.
	if out, err := f.l.Launch(ctx, f.spec("echo")); !errors.Is(err, context.Canceled) {
		t.Errorf("Launch with a cancelled context = %+v, %v; want context.Canceled", out, err)
	}
}

func TestUncontainedRefused(t *testing.T) {
	l, err := New(Options{backendOverride: "none"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = l.Launch(context.Background(), &Spec{Path: "/bin/true", Args: []string{"true"}, Timeout: time.Second, MaxStdout: 1})
	var ue *UncontainedError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want *UncontainedError", err)
	}
}

func TestClosed(t *testing.T) {
	rootOnly(t)
	f := newFixture(t, "v1")
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.Launch(context.Background(), f.spec("echo")); !errors.Is(err, ErrClosed) {
		t.Errorf("err = %v, want ErrClosed", err)
	}
	if _, err := os.Stat(f.l.backend.(*v1).dir); !os.IsNotExist(err) {
		t.Errorf("cgroup folder left after Close: %v", err)
	}
}

// A cgroup folder left by a host that died is swept at the next start.
func TestStaleCgroupSwept(t *testing.T) {
	rootOnly(t)
	f := newFixture(t, "v1")
	parent := filepath.Dir(f.l.backend.(*v1).dir)
	stale := filepath.Join(parent, "toolhost-999999999")
	// With a cgroup below a slot, as a host started by a tool leaves.
	if err := os.MkdirAll(filepath.Join(stale, "slot-1", "toolhost-999999999-ab", "slot-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	l2, err := New(Options{backendOverride: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	l2.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		removeCgroup(stale, time.Second)
		t.Errorf("stale cgroup not swept: %v", err)
	}
}

// Launchers made one after another in a process, with calls between, all
// put their folders beside each other, never inside another's slot (where
// a resident slot thread lives on cgroup v1).
func TestLaunchersAreSiblings(t *testing.T) {
	rootOnly(t)
	var parents []string
	for range 8 {
		f := newFixture(t, "v1")
		for range 4 {
			f.launch(context.Background(), f.spec("echo"))
		}
		parents = append(parents, filepath.Dir(f.l.backend.(*v1).dir))
	}
	for _, p := range parents[1:] {
		if p != parents[0] {
			t.Fatalf("launcher folders under %q", parents)
		}
	}
}

// Shutdown kills running calls at once, even a tool that ignores SIGTERM,
// without waiting for the grace period.
func TestShutdown(t *testing.T) {
	f := newFixture(t, anyBackend(t))
	f.l.opts.KillGrace = time.Hour // Shutdown must not wait for it
	done := make(chan *Outcome)
	go func() {
		out, _ := f.l.Launch(context.Background(), f.spec("ignore-term"))
		done <- out
	}()
	for !markedRunning(f.marker) {
		time.Sleep(5 * time.Millisecond)
	}
	f.l.Shutdown()
	out := <-done
	if out == nil || !out.Cancelled || out.Signal != syscall.SIGKILL {
		t.Errorf("outcome %+v", out)
	}
	if _, err := f.l.Launch(context.Background(), f.spec("echo")); !errors.Is(err, ErrClosed) {
		t.Errorf("Launch after Shutdown: %v", err)
	}
}

func markedRunning(marker string) bool {
	for _, s := range survivors(marker) {
		if strings.HasPrefix(s, "pid ") {
			return true
		}
	}
	return false
}

// AwaitExit returns once the child has exited and leaves it to be reaped.
func TestAwaitExit(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 0.3; exit 7")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	AwaitExit(cmd.Process.Pid)
	if state, _, ok := procStat(cmd.Process.Pid); !ok || state != 'Z' {
		t.Errorf("after AwaitExit the child is in state %q, want a zombie (Z)", state)
	}
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("Wait after AwaitExit: %v, want exit status 7", err)
	}
}

// Every tool leads a session of its own, with no controlling terminal,
// at every level.
func TestOwnSession(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		for _, c := range []*confine.Config{nil, {NoNewPrivs: true}} {
			s := f.spec("session")
			s.Confine = c
			out := f.launch(context.Background(), s)
			var got struct {
				SID, PID int
				TTY      string
			}
			if err := json.Unmarshal(out.Stdout, &got); err != nil {
				t.Fatalf("%v: %q %q", err, out.Stdout, out.Stderr)
			}
			if got.SID != got.PID || got.TTY == "" {
				t.Errorf("confine %v: session %d of pid %d, /dev/tty %q: want a session of its own, no terminal", c, got.SID, got.PID, got.TTY)
			}
		}
	})
}

// The tools' process bound stays under the host's own, so a fork bomb
// never keeps the host from making a thread.
func TestNprocLimit(t *testing.T) {
	for _, c := range []struct {
		concurrent, procs, threads int
		host, want                 uint64
	}{
		{8, 512, 20, 0, 8*512 + 20},
		{8, 512, 20, ^uint64(0), 8*512 + 20}, // RLIM_INFINITY
		{8, 512, 20, 1 << 20, 8*512 + 20},
		{8, 512, 20, 4096, 4096 - hostReserve},
		{8, 512, 20, 10, 1},
	} {
		if got := nprocLimit(c.concurrent, c.procs, c.threads, c.host); got != c.want {
			t.Errorf("nprocLimit(%d, %d, %d, %d) = %d, want %d", c.concurrent, c.procs, c.threads, c.host, got, c.want)
		}
	}
}

// Reaping the tools' orphans leaves the program's other children to their
// owners: a child started elsewhere (in the program's session, as a
// plugin would be) keeps its exit status for its own Wait.
func TestReapLeavesOtherChildren(t *testing.T) {
	f := newFixture(t, anyBackend(t))
	cmd := exec.Command("/bin/sh", "-c", "exit 7")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	AwaitExit(cmd.Process.Pid) // a zombie child of ours now
	f.l.reapOrphans()
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("the other child's Wait: %v, want exit status 7", err)
	}
}
