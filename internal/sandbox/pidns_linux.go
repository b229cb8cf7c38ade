//go:build linux

package sandbox

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

// pidns is the backend for hosts without a cgroup: each call's tool starts
// as the first process (pid 1) of a pid namespace of its own. When the
// first process of a pid namespace ends, the kernel kills every other
// process in it and reaps them before the first one's exit can be waited
// for, whatever session or group they moved to: so nothing a tool starts
// outlives it, and once the tool has been waited for its namespace is
// empty. The tool cannot see or signal the host, or a tool of another
// call, by pid. The number of processes is bounded by RLIMIT_NPROC, which
// Linux 5.14 and later count per user namespace: in the user namespace
// EnterUserNamespace makes, that counts the host's threads and the tools'
// processes only.
//
// Starting a pid namespace takes CAP_SYS_ADMIN over the user namespace the
// host runs in: root has it, and so does an ordinary user's host that
// EnterUserNamespace ran in a user namespace of its own.
type pidns struct {
	l      *Launcher
	userNS bool // in EnterUserNamespace's user namespace
	// hostNproc is the host's own soft RLIMIT_NPROC (without root).
	hostNproc uint64
}

// newPidns checks that this process may start pid namespaces: a throwaway
// thread asks for one for its children, and ends.
func newPidns(l *Launcher) (backend, error) {
	if err := canStartPidNamespaces(); err != nil {
		reason := fmt.Sprintf("starting a pid namespace: %v", err)
		if os.Geteuid() != 0 && !inOwnUserNamespace() {
			reason = "agentcli runs itself in a user namespace of its own to start each tool in a pid namespace, and this machine refused it"
			if why := userNamespaceRefusal(); why != "" {
				reason += ": " + why
			}
		}
		return nil, fmt.Errorf("%s", reason)
	}
	if v := kernelVersion(); os.Geteuid() != 0 && (v[0] < 5 || v[0] == 5 && v[1] < 14) {
		return nil, fmt.Errorf("this kernel (Linux %d.%d) counts a user's processes across every user namespace (5.14 counts them per namespace), so a fork bomb could not be bounded for this call alone", v[0], v[1])
	}
	b := &pidns{l: l, userNS: inOwnUserNamespace()}
	if os.Geteuid() != 0 {
		// The host's own threads count against the same bound as the
		// tools' processes, checked against the host's soft limit when it
		// makes one: it takes all it may, and the tools are bounded below
		// it (see rlimits), so a fork bomb never keeps the host from
		// making a thread.
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NPROC, &lim); err == nil {
			if lim.Cur < lim.Max {
				lim.Cur = lim.Max
				unix.Setrlimit(unix.RLIMIT_NPROC, &lim)
			}
			b.hostNproc = lim.Cur
		}
	}
	return b, nil
}

// hostReserve is how many more processes than its tools the host may
// always make (threads, mostly).
const hostReserve = 64

// nprocLimit is the tools' RLIMIT_NPROC: every call's share and the
// host's threads, but at most hostReserve under the host's own soft limit
// (0: unknown).
func nprocLimit(concurrent, procs, threads int, host uint64) uint64 {
	n := uint64(concurrent*procs + threads)
	if host > 0 && host != unix.RLIM_INFINITY {
		n = min(n, max(host, hostReserve+1)-hostReserve)
	}
	return n
}

func (b *pidns) describe() string {
	if b.userNS {
		return "pid namespace per call (in agentcli's own user namespace)"
	}
	return "pid namespace per call"
}

func (b *pidns) close() error { return nil }
func (b *pidns) id() string   { return ContainmentPidNamespace }

// countsLeftovers: the kernel ends them with the tool, uncounted.
func (b *pidns) countsLeftovers() bool { return false }

func (b *pidns) newJail() (jail, error) {
	return &pidJail{b: b, limited: limited{clone: cloneNewPID}}, nil
}

// pidJail starts its tool in a new pid namespace; pid is the tool's, in
// the host's namespace, while it runs.
type pidJail struct {
	b   *pidns
	pid int
	// mem measures the call's memory, made while its tool was stopped
	// (see watch), until memory takes it.
	mem memSource
	limited
}

func (j *pidJail) record(started func(int)) func(int) {
	return func(pid int) {
		j.pid = pid
		started(pid)
	}
}

func (j *pidJail) start(cmd *exec.Cmd, started func(int)) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	j.record(started)(cmd.Process.Pid)
	return nil
}

func (j *pidJail) startLimited(cmd *exec.Cmd, c *confine.Config, started func(int)) error {
	j.limited.stopped = j.watch(c)
	err := j.limited.startLimited(cmd, c, j.record(started), nil, nil)
	if err != nil {
		j.dropMemory()
	}
	return err
}

// adopt records the tool of a confined start.
func (j *pidJail) adopt(pid int, c *confine.Config) error {
	j.pid = pid
	if w := j.watch(c); w != nil {
		return w(pid)
	}
	return nil
}

// watch, where c bounds the call's memory, makes what measures it while
// the tool is stopped, on the thread that started it: a limiter's thread,
// in a mount namespace of its own, may mount a procfs of the tool's pid
// namespace where the host's other threads may not (an ordinary user's).
func (j *pidJail) watch(c *confine.Config) func(pid int) error {
	if c.MemoryBytes <= 0 {
		return nil
	}
	return func(pid int) (err error) {
		j.dropMemory() // a failed start's
		if j.lim != nil {
			// The tool's /proc, which the limiter just mounted.
			if fd := j.lim.ns.takeProcFD(false); fd >= 0 {
				j.mem = nsProcMemoryAt(fd)
				return nil
			}
		}
		j.mem, err = pidnsMemory(pid)
		return err
	}
}

// memory hands over what watch made, or makes it now.
func (j *pidJail) memory(pid int) (memSource, error) {
	if src := j.mem; src != nil {
		j.mem = nil
		return src, nil
	}
	return pidnsMemory(pid)
}

func (j *pidJail) dropMemory() {
	if j.mem != nil {
		j.mem.close()
		j.mem = nil
	}
}

// rlimits bounds the processes of the call. Without root, the count is
// that of the host's user namespace: the host's own threads and every
// call's processes, so the limit leaves room for the host and for each
// call's share. As root the tool's own user (the limits level's) carries
// its limit, and root itself is not bound by one.
func (j *pidJail) rlimits() []confine.Rlimit {
	if os.Geteuid() == 0 {
		return nil
	}
	n := nprocLimit(j.b.l.opts.MaxConcurrent, j.b.l.opts.MaxProcs, hostThreads(), j.b.hostNproc)
	return []confine.Rlimit{{Resource: unix.RLIMIT_NPROC, Value: n}}
}

// signal has nothing to add: run signals the tool's group and the tool
// as its namespace's first process, and SIGKILL to that ends the rest.
func (*pidJail) signal(syscall.Signal) {}

// clear has nothing to do: the kernel ended every process of the
// namespace before the tool's exit could be waited for.
func (j *pidJail) clear(int, time.Duration, func() []int) (int, error) {
	j.pid = 0
	return 0, nil
}

func (j *pidJail) close() error {
	j.dropMemory()
	return j.closeLimiter()
}

// signalNamespaceInit signals pid, the first process of a pid namespace,
// besides its process group: such a process gets only the signals it has
// a handler for, so sig, when the tool would die of it by default, is sent
// as SIGKILL, its effect (one it catches reached it with its group; one it
// ignores stays ignored). SIGKILL to it ends every process of the
// namespace.
func signalNamespaceInit(pid int, sig syscall.Signal) {
	if sig == syscall.SIGKILL {
		unix.Kill(pid, unix.SIGKILL)
		return
	}
	if caught, ignored := signalDisposition(pid, sig); !caught && !ignored {
		unix.Kill(pid, unix.SIGKILL)
	}
}

// canStartPidNamespaces reports why this process may not start pid
// namespaces, or nil: a throwaway thread asks for one for its children,
// and ends.
func canStartPidNamespaces() error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread's children would be in the new
		// namespace, so the thread ends with this goroutine.
		runtime.LockOSThread()
		errc <- unix.Unshare(unix.CLONE_NEWPID)
	}()
	return <-errc
}

// signalDisposition reads whether pid catches or ignores sig from
// /proc/pid/status.
func signalDisposition(pid int, sig syscall.Signal) (caught, ignored bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false, false
	}
	bit := uint64(1) << (uint(sig) - 1)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "SigCgt" && name != "SigIgn") {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(val), 16, 64)
		if err != nil {
			continue
		}
		if name == "SigCgt" {
			caught = mask&bit != 0
		} else {
			ignored = mask&bit != 0
		}
	}
	return caught, ignored
}

// hostThreads is the number of threads of this process.
func hostThreads() int {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 256
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 256
	}
	// Fields after the command: state ppid pgrp session tty_nr tpgid flags
	// minflt cminflt majflt cmajflt utime stime cutime cstime priority
	// nice num_threads.
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 18 {
		return 256
	}
	n, err := strconv.Atoi(f[17])
	if err != nil {
		return 256
	}
	return n
}

// kernelVersion is the running kernel's major and minor version.
func kernelVersion() [2]int {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return [2]int{}
	}
	var v [2]int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &v[0], &v[1])
	return v
}
