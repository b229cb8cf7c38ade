package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/toolhost/toolhost/internal/asuser"
	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

// publicDir is a folder any user may enter, removed after the test.
var publicDir = asuser.PublicDir

// confined is a spec for the helper name under c, executed by descriptor
// (the test binary's folder may be closed to other users) in a folder any
// user may enter.
func (f *fixture) confined(c *confine.Config, name string, args ...string) *Spec {
	f.t.Helper()
	s := f.spec(name, args...)
	exe, err := os.Open(s.Path)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { exe.Close() })
	s.Exec = exe
	s.Dir = publicDir(f.t)
	s.Confine = c
	return s
}

func (f *fixture) tryOps(c *confine.Config, ops ...string) map[string]string {
	f.t.Helper()
	out := f.launch(context.Background(), f.confined(c, "try", ops...))
	var res map[string]string
	if err := json.Unmarshal(out.Stdout, &res); err != nil || out.ExitCode != 0 {
		f.t.Fatalf("try %q: exit %d, stdout %q, stderr %q", ops, out.ExitCode, out.Stdout, out.Stderr)
	}
	return res
}

func rootOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CI runs as root)")
	}
}

// The limits level: another user, no supplementary groups, no_new_privs,
// and the resource limits, in place from the first instruction.
func TestConfineLimits(t *testing.T) {
	rootOnly(t)
	forEachBackend(t, func(t *testing.T, f *fixture) {
		c := &confine.Config{
			NoNewPrivs: true,
			User:       &confine.User{UID: 65534, GID: 65534},
			Rlimits: []confine.Rlimit{
				{Resource: syscall.RLIMIT_CPU, Value: 77},
				{Resource: syscall.RLIMIT_NOFILE, Value: 99},
				{Resource: syscall.RLIMIT_FSIZE, Value: 1 << 20},
				{Resource: syscall.RLIMIT_CORE, Value: 0},
			},
		}
		out := f.launch(context.Background(), f.confined(c, "whoami"))
		var who struct {
			UID, EUID, GID int
			Groups         []int
			NNP            string
			Limits         map[string]uint64
		}
		if err := json.Unmarshal(out.Stdout, &who); err != nil {
			t.Fatalf("%v: stdout %q stderr %q", err, out.Stdout, out.Stderr)
		}
		if who.UID != 65534 || who.EUID != 65534 || who.GID != 65534 || len(who.Groups) != 0 || who.NNP != "1" {
			t.Errorf("tool runs as %+v, want uid/gid 65534, no groups, NoNewPrivs 1", who)
		}
		if l := who.Limits; l["cpu"] != 77 || l["nofile"] != 99 || l["fsize"] != 1<<20 || l["core"] != 0 {
			t.Errorf("limits %v", l)
		}
	})
}

// The limits level starts tools from a resident thread per slot, which
// keeps no_new_privs and a working folder of its own across calls: each
// call still gets its own folder, a level-none call in the same slot gets
// neither no_new_privs nor that folder, and on cgroup v1, where the thread
// lives in the slot, the call's process limit is unchanged.
func TestConfineLimiterReused(t *testing.T) {
	rootOnly(t)
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			// One slot, so every call uses the same threads.
			f := newFixtureWith(t, Options{KillGrace: 300 * time.Millisecond, MaxProcs: 64, MaxConcurrent: 1, backendOverride: b})
			limits := &confine.Config{NoNewPrivs: true, User: &confine.User{UID: 65534, GID: 65534}}
			for i, c := range []*confine.Config{limits, nil, limits, nil, limits} {
				s := f.confined(c, "whoami")
				out := f.launch(context.Background(), s)
				var who struct {
					UID      int
					NNP, Cwd string
				}
				if err := json.Unmarshal(out.Stdout, &who); err != nil {
					t.Fatalf("call %d: %v: stdout %q stderr %q", i, err, out.Stdout, out.Stderr)
				}
				wantUID, wantNNP := 65534, "1"
				if c == nil {
					wantUID, wantNNP = 0, "0"
				}
				if out.Leftovers != 0 {
					t.Errorf("call %d: %d leftovers", i, out.Leftovers)
				}
				if who.UID != wantUID || who.NNP != wantNNP || who.Cwd != s.Dir {
					t.Errorf("call %d (limits %v): runs as %d with NoNewPrivs %s in %s, want %d, %s, %s", i, c != nil, who.UID, who.NNP, who.Cwd, wantUID, wantNNP, s.Dir)
				}
			}
			// Without a folder of its own the tool starts where the host
			// is, not in the previous call's folder.
			s := f.confined(&confine.Config{NoNewPrivs: true}, "whoami")
			s.Dir = ""
			var who struct{ Cwd string }
			json.Unmarshal(f.launch(context.Background(), s).Stdout, &who)
			if wd, _ := os.Getwd(); who.Cwd != wd {
				t.Errorf("without a folder the tool ran in %q, want the host's %q", who.Cwd, wd)
			}
			// A start that fails after the fork leaves nothing registered.
			s = f.confined(&confine.Config{NoNewPrivs: true, Rlimits: []confine.Rlimit{{Resource: 999, Value: 1}}}, "whoami")
			if _, err := f.l.Launch(context.Background(), s); err == nil {
				t.Error("a start with an unknown resource limit did not fail")
			}
			f.l.super.mu.Lock()
			left := len(f.l.super.children)
			f.l.super.mu.Unlock()
			if left != 0 {
				t.Errorf("%d children still registered after the failed start", left)
			}
			if b != "v1" {
				return
			}
			// Both threads live in the slot, pids.max counts the second,
			// and the limiter leaves when the slot closes.
			j := <-f.l.slots
			f.l.slots <- j
			slot := j.j.(*v1slot)
			if tasks, _ := os.ReadFile(filepath.Join(slot.dir, "tasks")); len(strings.Fields(string(tasks))) != 2 {
				t.Errorf("threads in the slot: %q, want 2", tasks)
			}
			if max, _ := os.ReadFile(filepath.Join(slot.dir, "pids.max")); strings.TrimSpace(string(max)) != "66" {
				t.Errorf("pids.max %q, want 66 (64, the slot's thread and its limiter)", max)
			}
		})
	}
}

// A fork bomb as another user is still stopped by the call's cgroup, and
// nothing of it survives.
func TestConfineForkBomb(t *testing.T) {
	rootOnly(t)
	// Backends with a pids limit, as production requires: without one
	// (v2-nopids, a test-only backend) the bomb grows until the kernel's
	// own limit, and orphans still dying after the clear are reaped only
	// at the next call.
	for _, b := range backends(t) {
		if b == "none" || b == "v2-nopids" {
			continue
		}
		t.Run(b, func(t *testing.T) {
			f := newFixture(t, b)
			s := f.confined(&confine.Config{NoNewPrivs: true, User: &confine.User{UID: 65534, GID: 65534}}, "forkbomb")
			s.Timeout = 2e9
			out := f.launch(context.Background(), s)
			if !out.TimedOut {
				t.Errorf("outcome %+v", out)
			}
		})
	}
}

// strictConfig grants what the helper (this test binary) needs and the
// folders the test names.
func strictConfig(read, write []string, network bool) *confine.Config {
	return &confine.Config{
		Landlock: &confine.Landlock{
			Optional: []string{"/usr", "/lib", "/lib64", "/proc", "/dev/null", "/dev/urandom"},
			Read:     read, Write: write, Network: network,
		},
		Seccomp: &confine.Seccomp{Network: network},
	}
}

func TestConfineStrictFiles(t *testing.T) {
	if err := confine.Check(); err != nil {
		t.Skip(err)
	}
	f := newFixture(t, anyBackend(t))
	home := publicDir(t)
	secret := filepath.Join(home, "secret")
	os.WriteFile(secret, []byte("s"), 0o644)
	ro, rw := publicDir(t), publicDir(t)
	os.WriteFile(filepath.Join(ro, "in"), []byte("x"), 0o644)
	res := f.tryOps(strictConfig([]string{ro}, []string{rw}, false),
		"read:"+secret, "read:/etc/shadow", "read:/etc/hostname", "list:"+home,
		"read:"+filepath.Join(ro, "in"), "write:"+filepath.Join(ro, "new"),
		"write:"+filepath.Join(rw, "new"), "write:"+filepath.Join(home, "new"))
	for op, want := range map[string]bool{ // true: must work
		"read:" + secret: false, "read:/etc/shadow": false, "read:/etc/hostname": false, "list:" + home: false,
		"read:" + filepath.Join(ro, "in"): true, "write:" + filepath.Join(ro, "new"): false,
		"write:" + filepath.Join(rw, "new"): true, "write:" + filepath.Join(home, "new"): false,
	} {
		if got := res[op] == ""; got != want {
			t.Errorf("%s: worked=%v, want %v (error %q)", op, got, want, res[op])
		}
	}
}

func TestConfineStrictSyscallsAndNetwork(t *testing.T) {
	rootOnly(t)
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
	// In the host's pid namespace, where the tool can name its parent
	// (the pidfd case).
	f := newFixtureWith(t, Options{KillGrace: 300 * time.Millisecond, MaxProcs: 64, backendOverride: "v1", CountLeftovers: true})
	mnt := publicDir(t)
	ops := []string{"dial:" + ln.Addr().String(), "udp:127.0.0.1:9", "unix", "raw", "ptrace", "mount:" + mnt, "unshare", "userns",
		"packet-high", "raw-high", "inet-high", "pidfd"}

	// As root, so that only the sandbox stands in the way.
	for _, network := range []bool{false, true} {
		res := f.tryOps(strictConfig(nil, nil, network), ops...)
		for _, op := range ops {
			want := op == "unix" || network && (strings.HasPrefix(op, "dial:") || strings.HasPrefix(op, "udp:") || op == "inet-high")
			if got := res[op] == ""; got != want {
				t.Errorf("network=%v %s: worked=%v, want %v (error %q)", network, op, got, want, res[op])
			}
		}
	}
	// Device nodes, even as root in a folder it may write (a FIFO is
	// fine).
	rw := publicDir(t)
	res := f.tryOps(strictConfig(nil, []string{rw}, false), "mknod:"+filepath.Join(rw, "dev"), "mkfifo:"+filepath.Join(rw, "fifo"))
	if res["mknod:"+filepath.Join(rw, "dev")] == "" || res["mkfifo:"+filepath.Join(rw, "fifo")] != "" {
		t.Errorf("strict, as root: %v; want mknod of a device refused and a FIFO made", res)
	}
	if e := f.tryOps(&confine.Config{}, "mknod:"+filepath.Join(rw, "dev2"))["mknod:"+filepath.Join(rw, "dev2")]; e != "" {
		t.Errorf("unconfined root could not make a device node (the test proves nothing): %s", e)
	}
	// Without the sandbox, the same operations work (the test proves
	// something): ptrace, a TCP connection, a raw socket.
	res = f.tryOps(&confine.Config{}, "dial:"+ln.Addr().String(), "raw", "ptrace", "packet-high", "raw-high", "pidfd")
	for op, e := range res {
		if e != "" {
			t.Errorf("unconfined %s failed: %s", op, e)
		}
	}
}

// A restriction the machine cannot apply fails the launch; a missing
// grant is a launch error naming it.
func TestConfineMissingGrant(t *testing.T) {
	if err := confine.Check(); err != nil {
		t.Skip(err)
	}
	f := newFixture(t, anyBackend(t))
	_, err := f.l.Launch(context.Background(), f.confined(strictConfig([]string{"/nonexistent/grant"}, nil, false), "echo"))
	var le *LaunchError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "/nonexistent/grant") {
		t.Errorf("err = %v, want a LaunchError naming the grant", err)
	}
}

// Sixteen confined launches at once, each program opened by the Launcher
// itself, all start (a program executed by a high descriptor number once
// failed now and then with EACCES).
func TestConfineConcurrent(t *testing.T) {
	rootOnly(t)
	f := newFixture(t, "v1")
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			s := f.confined(&confine.Config{User: &confine.User{UID: 65534, GID: 65534}, Rlimits: []confine.Rlimit{{Resource: syscall.RLIMIT_NOFILE, Value: 100}}}, "echo")
			s.Exec.Close()
			s.Exec = nil
			s.Stdin = []byte(`{"x":1}`)
			out, err := f.l.Launch(context.Background(), s)
			if err != nil || string(out.Stdout) != `{"x":1}` {
				t.Errorf("launch: %v %+v", err, out)
			}
		})
	}
	wg.Wait()
}

// While a tool runs as another user, no thread of the host has that user
// as its real or saved one: the tool could signal such a thread, and one
// SIGKILL ends the host.
func TestConfineHostThreadsStayRoot(t *testing.T) {
	rootOnly(t)
	f := newFixture(t, "v1")
	s := f.confined(&confine.Config{User: &confine.User{UID: 65534, GID: 65534}, Rlimits: []confine.Rlimit{{Resource: syscall.RLIMIT_NOFILE, Value: 100}}}, "sleep")
	s.Timeout = 1500 * time.Millisecond
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.launch(context.Background(), s)
	}()
	seen := 0
	for {
		select {
		case <-done:
			if seen == 0 {
				t.Error("never looked at the threads while the tool ran")
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			status, err := os.ReadFile(filepath.Join("/proc/self/task", task.Name(), "status"))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(status), "\n") {
				if strings.HasPrefix(line, "Uid:") || strings.HasPrefix(line, "Gid:") {
					if strings.Contains(line, "65534") {
						t.Fatalf("host thread %s: %s", task.Name(), line)
					}
				}
			}
		}
		seen++
	}
}

// A descriptor the host inherited open across exec reaches no tool: a
// program started with one (fd 3, not close-on-exec) launches tools, bare
// and confined (the Launcher's Supervisor marks it close-on-exec).
func TestInheritedDescriptorsStayHome(t *testing.T) {
	f, err := os.Open("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	exe, _ := os.Executable()
	cmd := exec.Command(exe, "sandbox-helper", "inherited-fds-"+strconv.Itoa(os.Getpid()), "inherited-fds")
	cmd.ExtraFiles = []*os.File{f} // fd 3 there, open across exec
	out, err := cmd.Output()
	var seen [][]string
	if err != nil || json.Unmarshal(out, &seen) != nil || len(seen) != 2 {
		t.Fatalf("%v: %s", err, out)
	}
	for i, fds := range seen {
		if len(fds) < 3 {
			t.Errorf("run %d: the tool reported fds %v", i, fds)
		}
		for _, got := range fds {
			// Compared by what they open: the tool's runtime opens
			// files of its own, whose numbers may be the same.
			if strings.HasSuffix(got, "=/etc/hostname") {
				t.Errorf("run %d (bare, then confined): the tool got the host's inherited fd (fds %v)", i, fds)
			}
		}
	}
}

// Tools with OwnUser run as a user of their slot's own: two calls at once
// never share a user, so neither can read the other's environment or
// trace it.
func TestOwnUser(t *testing.T) {
	rootOnly(t)
	f := newFixtureWith(t, Options{KillGrace: 300 * time.Millisecond, MaxProcs: 64, MaxConcurrent: 2, backendOverride: "v1"})
	c := &confine.Config{NoNewPrivs: true, User: &confine.User{UID: 65534, GID: 65534}}
	// The first call holds its slot while the second looks for it.
	first := f.confined(c, "secret-holder")
	first.OwnUser = true
	first.Env = append(first.Env, "TOOL_SECRET=s3cr3t-of-the-first-call")
	done := make(chan *Outcome)
	go func() { done <- f.launch(context.Background(), first) }()
	for !markedRunning(f.marker) {
		time.Sleep(5 * time.Millisecond)
	}
	second := f.confined(c, "read-marked-environ")
	second.OwnUser = true
	out := f.launch(context.Background(), second)
	var got struct {
		UID     int
		Environ string
		Err     string
	}
	if err := json.Unmarshal(out.Stdout, &got); err != nil {
		t.Fatalf("%v: %q %q", err, out.Stdout, out.Stderr)
	}
	first.Env = nil
	held := <-done
	var holder struct{ UID int }
	json.Unmarshal(held.Stdout, &holder)
	if got.UID < OwnUserBase || holder.UID < OwnUserBase || got.UID == holder.UID {
		t.Errorf("users %d and %d: want two users of their own, from %d", holder.UID, got.UID, OwnUserBase)
	}
	if strings.Contains(got.Environ, "s3cr3t") || got.Err == "" {
		t.Errorf("the second call read the first's environment: %q (error %q)", got.Environ, got.Err)
	}
}
