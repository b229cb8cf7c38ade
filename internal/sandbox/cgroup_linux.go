//go:build linux

package sandbox

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

// selfCgroups is this process's /proc/self/cgroup as it was when the first
// Launcher was made. It is read once: on cgroup v1 a slot's resident thread
// lives in the slot's cgroup, and when that thread is the main one, a later
// read would place a second Launcher's folder inside the first's slot.
var selfCgroups = sync.OnceValues(func() ([]byte, error) { return os.ReadFile("/proc/self/cgroup") })

// newBackend makes this process a child subreaper and finds the strongest
// containment it may use: a pids cgroup it may create calls' cgroups under
// (cgroup v2 when the pids controller is available there, else a cgroup v1
// pids hierarchy), else a pid namespace per call.
func newBackend(l *Launcher) (backend, error) {
	// Orphans of tools come to us instead of to init (which on some
	// machines never reaps them), so clear can reap them.
	if err := l.super.err; err != nil {
		return nil, &UncontainedError{Reason: err.Error()}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, &UncontainedError{Reason: err.Error()}
	}
	groups, err := selfCgroups()
	if err != nil {
		return nil, &UncontainedError{Reason: err.Error()}
	}
	var reasons []string
	mode := l.opts.backendOverride
	// Where the host may start pid namespaces (as root), each call's tool
	// also gets one inside its cgroup: it cannot see the host, or another
	// call's tool, by pid, so it cannot signal or trace them.
	clone := uintptr(0)
	if !l.opts.CountLeftovers && canStartPidNamespaces() == nil {
		clone = cloneNewPID
	}
	if mode == "" || mode == "v2" || mode == "v2-nopids" {
		dir, err := cgroupDir(mounts, groups, "cgroup2", "")
		if err == nil {
			var b backend
			if b, err = newV2(l, dir, mode == "v2-nopids", clone); err == nil {
				return b, nil
			}
		}
		reasons = append(reasons, "cgroup v2: "+err.Error())
	}
	if mode == "" || mode == "v1" {
		dir, err := cgroupDir(mounts, groups, "cgroup", "pids")
		if err == nil {
			var b backend
			if b, err = newV1(l, dir, clone); err == nil {
				b.(*v1).withMemory(mounts, groups)
				return b, nil
			}
		}
		reasons = append(reasons, "cgroup v1: "+err.Error())
	}
	if mode == "" || mode == "pidns" {
		b, err := newPidns(l)
		if err == nil {
			return b, nil
		}
		reasons = append(reasons, "pid namespace: "+err.Error())
	}
	return nil, &UncontainedError{Reason: strings.Join(reasons, "; ")}
}

// withPidNamespace is what a cgroup backend's description adds when its
// tools also get a pid namespace each.
func withPidNamespace(clone uintptr) string {
	if clone&cloneNewPID != 0 {
		return ", with a pid namespace per call"
	}
	return ""
}

// cgroupUsable reports why this process may not manage a pids cgroup for
// its calls, or nil when it may: its own cgroup v2 folder, with the pids
// controller, or its cgroup v1 pids folder, is writable by it (as root, or
// as a user whose cgroup was delegated to it). It changes nothing.
func cgroupUsable() error {
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	groups, err := selfCgroups()
	if err != nil {
		return err
	}
	writable := func(dir string, files ...string) bool {
		for _, f := range append([]string{""}, files...) {
			if unix.Access(filepath.Join(dir, f), unix.W_OK) != nil {
				return false
			}
		}
		return true
	}
	if dir, err := cgroupDir(mounts, groups, "cgroup2", ""); err == nil {
		ctrl, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		if hasWord(strings.TrimSpace(string(ctrl)), "pids", " ") && writable(dir, "cgroup.subtree_control", "cgroup.procs") {
			return nil
		}
	}
	if dir, err := cgroupDir(mounts, groups, "cgroup", "pids"); err == nil && writable(dir, "tasks") {
		return nil
	}
	return errors.New("no pids cgroup is writable by this user")
}

// cgroupDir returns the folder of this process's cgroup in the hierarchy
// of the given type (with the given controller, for v1).
func cgroupDir(mountinfo, cgroups []byte, fstype, controller string) (string, error) {
	var mountPoint, mountRoot string
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		// id parent major:minor root mountpoint opts [optional...] - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 || g[0] != fstype {
			continue
		}
		if controller != "" && !hasWord(g[2], controller, ",") {
			continue
		}
		mountRoot, mountPoint = unescapeMount(f[3]), unescapeMount(f[4])
		break
	}
	if mountPoint == "" {
		if controller != "" {
			return "", fmt.Errorf("no %s hierarchy with the %s controller is mounted", fstype, controller)
		}
		return "", fmt.Errorf("no %s hierarchy is mounted", fstype)
	}
	for line := range strings.Lines(string(cgroups)) {
		// hierarchy-id:controllers:path; v2 is "0::path"
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if (fstype == "cgroup2" && parts[0] == "0" && parts[1] == "") || (controller != "" && hasWord(parts[1], controller, ",")) {
			rel, ok := strings.CutPrefix(parts[2], mountRoot)
			if !ok && mountRoot != "/" {
				return "", fmt.Errorf("this process's cgroup %s is outside the mounted %s", parts[2], mountRoot)
			}
			if mountRoot == "/" {
				rel = parts[2]
			}
			return filepath.Join(mountPoint, rel), nil
		}
	}
	return "", fmt.Errorf("this process is in no %s %s cgroup", fstype, controller)
}

func hasWord(list, word, sep string) bool {
	for w := range strings.SplitSeq(list, sep) {
		if w == word {
			return true
		}
	}
	return false
}

// unescapeMount undoes the octal escapes of /proc/self/mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ownDir creates <parent>/toolhost-<pid>-<random>, first removing the
// folders of hosts that died without cleaning up (killing what they left
// running). The random part keeps a reused pid from meeting a dead host's
// folder.
func ownDir(parent string) (string, error) {
	sweepStale(parent)
	var r [4]byte
	rand.Read(r[:])
	dir := filepath.Join(parent, fmt.Sprintf("toolhost-%d-%x", os.Getpid(), r))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	return dir, nil
}

func sweepStale(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "toolhost-")
		pid, _, _ := strings.Cut(rest, "-")
		n, err := strconv.Atoi(pid)
		// Folders of this pid may be another Launcher's in this process;
		// with the random part, a dead host's that shares the pid is only
		// left for the next process to sweep.
		if !ok || err != nil || !e.IsDir() || n == os.Getpid() || unix.Kill(n, 0) != unix.ESRCH {
			continue
		}
		// Bounded briefly: a folder that cannot go (a zombie that init
		// never reaps) must not delay every start; the next one retries.
		removeCgroup(filepath.Join(parent, e.Name()), 250*time.Millisecond)
	}
}

// removeCgroup kills everything in dir and the cgroups below it and
// removes them, retrying while the kernel still counts exiting tasks.
func removeCgroup(dir string, within time.Duration) error {
	deadline := time.Now().Add(within)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			removeCgroup(filepath.Join(dir, e.Name()), time.Until(deadline))
		}
	}
	for {
		for _, pid := range listPids(dir) {
			if pid != os.Getpid() {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// listPids reads the process ids in a cgroup's cgroup.procs.
func listPids(dir string) []int {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for f := range strings.FieldsSeq(string(data)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

// counter reads a number from a cgroup file kept open, such as
// pids.current; a read at offset 0 regenerates it.
type counter struct{ f *os.File }

func openCounter(path string) (counter, error) {
	f, err := os.Open(path)
	return counter{f}, err
}

func (c counter) read() (int, error) {
	var buf [32]byte
	n, err := c.f.ReadAt(buf[:], 0)
	if n == 0 && err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(buf[:n])))
}

// slotCount names slots uniquely within the process.
var slotCount atomic.Uint64

// v1 is the cgroup v1 pids backend. cgroup v1 cannot place a new process
// in a cgroup at fork, but a fork lands in the cgroup of the forking
// thread: each slot has a thread of its own that lives in the slot's
// cgroup and does the slot's forks. (Moving a thread in and out per call
// costs about 80 µs here; handing the start to a resident thread, a few.)
type v1 struct {
	l     *Launcher
	dir   string
	home  string  // the tasks file of the host's own cgroup
	clone uintptr // the tools' clone flags
	// mem is the folder of the calls' memory cgroups, "" without the
	// memory controller; memErr says why.
	mem    string
	memErr error
}

// withMemory finds the memory hierarchy and makes a folder there for
// the slots' memory cgroups.
func (b *v1) withMemory(mounts, groups []byte) {
	parent, err := cgroupDir(mounts, groups, "cgroup", "memory")
	if err == nil {
		b.mem, err = ownDir(parent)
	}
	b.memErr = err
}

func newV1(l *Launcher, parent string, clone uintptr) (backend, error) {
	dir, err := ownDir(parent)
	if err != nil {
		return nil, err
	}
	return &v1{l: l, dir: dir, home: filepath.Join(parent, "tasks"), clone: clone}, nil
}

func (b *v1) countsLeftovers() bool { return b.clone&cloneNewPID == 0 }
func (b *v1) describe() string      { return "cgroup v1 pids (" + b.dir + ")" + withPidNamespace(b.clone) }
func (b *v1) id() string            { return ContainmentCgroupV1 }
func (b *v1) close() error {
	err := removeCgroup(b.dir, time.Second)
	if b.mem != "" {
		err = errors.Join(err, removeCgroup(b.mem, time.Second))
	}
	return err
}

type startReq struct {
	cmd     *exec.Cmd
	started func(int)
	done    chan error
}

type v1slot struct {
	dir      string
	mem      string // the slot's memory cgroup, or ""
	memLimit int64  // the limit it has now
	oomSeen  int    // its oomKills when last asked (see oomKilled)
	home     string
	maxProcs int
	current  counter
	reqs     chan startReq
	stopped  chan error
	limited  // a second resident thread, for the limits level
}

func (b *v1) newJail() (jail, error) {
	dir := filepath.Join(b.dir, fmt.Sprintf("slot-%d", slotCount.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	// One more than the call may use: the slot's own thread counts.
	if err := writeFile(filepath.Join(dir, "pids.max"), strconv.Itoa(b.l.opts.MaxProcs+1)); err != nil {
		os.Remove(dir)
		return nil, err
	}
	cur, err := openCounter(filepath.Join(dir, "pids.current"))
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	s := &v1slot{dir: dir, home: b.home, maxProcs: b.l.opts.MaxProcs, current: cur, reqs: make(chan startReq), stopped: make(chan error, 1),
		limited: limited{clone: b.clone}}
	if b.mem != "" {
		s.mem = filepath.Join(b.mem, filepath.Base(dir))
		if err := os.Mkdir(s.mem, 0o755); err != nil {
			cur.f.Close()
			os.Remove(dir)
			return nil, fmt.Errorf("create memory cgroup: %w", err)
		}
		// What a call uses beyond its bound is not swapped out either.
		writeFile(filepath.Join(s.mem, "memory.swappiness"), "0")
		s.oomSeen = s.oomKills()
	}
	ready := make(chan error)
	go s.serve(ready)
	if err := <-ready; err != nil {
		cur.f.Close()
		os.Remove(dir)
		return nil, err
	}
	return s, nil
}

// serve is the slot's thread: it joins the slot's cgroup and starts the
// slot's tools until reqs is closed, then goes back to the host's cgroup.
// (A locked goroutine that returns does not always end its thread: Go
// parks the main thread instead, which would keep the slot busy.)
func (s *v1slot) serve(ready chan<- error) {
	runtime.LockOSThread()
	tid := strconv.Itoa(unix.Gettid())
	if err := writeFile(filepath.Join(s.dir, "tasks"), tid); err != nil {
		runtime.UnlockOSThread()
		ready <- err
		return
	}
	ready <- nil
	for req := range s.reqs {
		err := req.cmd.Start()
		if err == nil {
			req.started(req.cmd.Process.Pid)
		}
		req.done <- err
	}
	err := writeFile(s.home, tid)
	if err == nil {
		// Only a thread back home may serve other goroutines.
		runtime.UnlockOSThread()
	}
	s.stopped <- err
}

func (s *v1slot) start(cmd *exec.Cmd, started func(int)) error {
	req := startReq{cmd: cmd, started: started, done: make(chan error, 1)}
	s.reqs <- req
	return <-req.done
}

// startLimited starts cmd from the slot's limiter, a second thread that
// lives in the slot's cgroup like the first; pids.max makes room for it
// while it is there.
func (s *v1slot) startLimited(cmd *exec.Cmd, c *confine.Config, started func(int)) error {
	join := func(tid int) error {
		max := filepath.Join(s.dir, "pids.max")
		if err := writeFile(max, strconv.Itoa(s.maxProcs+2)); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(s.dir, "tasks"), strconv.Itoa(tid)); err != nil {
			writeFile(max, strconv.Itoa(s.maxProcs+1))
			return err
		}
		return nil
	}
	leave := func(tid int) error {
		if err := writeFile(s.home, strconv.Itoa(tid)); err != nil {
			return err
		}
		return writeFile(filepath.Join(s.dir, "pids.max"), strconv.Itoa(s.maxProcs+1))
	}
	s.limited.stopped = func(pid int) error { return s.bound(pid, c.MemoryBytes) }
	return s.limited.startLimited(cmd, c, started, join, leave)
}

func (s *v1slot) adopt(pid int, c *confine.Config) error {
	if err := writeFile(filepath.Join(s.dir, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
		return err
	}
	return s.bound(pid, c.MemoryBytes)
}

// bound puts the stopped tool pid in the slot's memory cgroup, bounded
// to limit bytes (none when 0): its processes together may use no more.
func (s *v1slot) bound(pid int, limit int64) error {
	if s.mem == "" || limit <= 0 {
		return nil
	}
	if limit != s.memLimit {
		if err := s.setMemLimit(limit); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(s.mem, "cgroup.procs"), strconv.Itoa(pid))
}

// setMemLimit sets the slot's memory bound. Lowering it below what the
// slot's cgroup still holds (page cache of an earlier call) fails: the
// cgroup, empty between calls, is emptied of its charges first.
func (s *v1slot) setMemLimit(limit int64) error {
	v := strconv.FormatInt(limit, 10)
	sw := filepath.Join(s.mem, "memory.memsw.limit_in_bytes")
	_, swErr := os.Stat(sw)
	mem := filepath.Join(s.mem, "memory.limit_in_bytes")
	set := func() error {
		if swErr != nil {
			return writeFile(mem, v)
		}
		// memsw (memory and swap) may never be below the memory limit:
		// lowering sets the memory limit first, raising memsw first.
		if writeFile(mem, v) == nil {
			return writeFile(sw, v)
		}
		if err := writeFile(sw, v); err != nil {
			return err
		}
		return writeFile(mem, v)
	}
	if err := set(); err != nil {
		writeFile(filepath.Join(s.mem, "memory.force_empty"), "0")
		if err = set(); err != nil {
			return fmt.Errorf("bound the call's memory: %w", err)
		}
	}
	s.memLimit = limit
	return nil
}

// memory: the slot's memory cgroup bounds the call, where it has one.
func (s *v1slot) memory(int) (memSource, error) {
	if s.mem != "" {
		return nil, nil
	}
	return cgroupMemory(s.dir)
}

// oomKilled reports whether the kernel killed a process in the slot's
// memory cgroup for going past its bound since it was last asked.
func (s *v1slot) oomKilled() bool {
	n := s.oomKills()
	killed := n > s.oomSeen && s.oomSeen >= 0
	s.oomSeen = n
	return killed
}

// oomKills counts the processes the kernel killed in the slot's memory
// cgroup for going past its bound, since the slot was made (-1: unknown).
func (s *v1slot) oomKills() int {
	if s.mem == "" {
		return -1
	}
	data, err := os.ReadFile(filepath.Join(s.mem, "memory.oom_control"))
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "oom_kill "); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return -1
}

func (s *v1slot) signal(sig syscall.Signal) {
	for _, pid := range listPids(s.dir) {
		if pid != os.Getpid() {
			unix.Kill(pid, sig)
		}
	}
}

func (s *v1slot) clear(pgid int, grace time.Duration, reap func() []int) (int, error) {
	// The slot's own threads are always there.
	base := 1
	if s.lim != nil {
		base++
	}
	return clearCgroup(s.dir, s.current, base, pgid, grace, reap, nil)
}

func (s *v1slot) close() error {
	lerr := s.closeLimiter()
	if lerr != nil {
		lerr = fmt.Errorf("move the slot's limiter out of %s: %w", s.dir, lerr)
	}
	close(s.reqs)
	s.current.f.Close()
	if err := <-s.stopped; err != nil {
		return errors.Join(lerr, fmt.Errorf("move the slot's thread out of %s: %w", s.dir, err))
	}
	err := removeCgroup(s.dir, time.Second)
	if s.mem != "" {
		err = errors.Join(err, removeCgroup(s.mem, time.Second))
	}
	return errors.Join(lerr, err)
}

// clearCgroup kills whatever is left in dir until its pids.current drops
// to base, reaping the zombies that come to this process. kill, when set,
// kills the whole cgroup at once (cgroup v2's cgroup.kill).
func clearCgroup(dir string, current counter, base, pgid int, grace time.Duration, reap func() []int, kill func() error) (int, error) {
	n, err := current.read()
	if err != nil {
		return 0, fmt.Errorf("read %s/pids.current: %w", dir, err)
	}
	if n <= base {
		return 0, nil
	}
	seen := make(map[int]bool)
	deadline := time.Now().Add(grace)
	pause := 100 * time.Microsecond
	for {
		unix.Kill(-pgid, unix.SIGKILL)
		if kill != nil {
			kill()
		}
		for _, pid := range listPids(dir) {
			if pid != os.Getpid() {
				seen[pid] = true
				unix.Kill(pid, unix.SIGKILL)
			}
		}
		for _, pid := range reap() {
			seen[pid] = true
		}
		if n, err = current.read(); err != nil {
			return len(seen), err
		}
		if n <= base {
			return len(seen), nil
		}
		if time.Now().After(deadline) {
			return len(seen), fmt.Errorf("%s: %d processes or zombies remain after %v", dir, n-base, grace)
		}
		time.Sleep(pause)
		pause = min(pause*2, 10*time.Millisecond)
	}
}

// CallMemory says why confine.Config.MemoryBytes bounds nothing here, or
// nil when it bounds the memory of each call's processes together: by the
// call's memory cgroup where the containment has one (cgroup v1 with the
// memory controller), else by the host, which watches the call's
// processes (see watchMemory).
func (l *Launcher) CallMemory() error {
	if _, ok := l.backend.(uncontained); ok || l.backend == nil {
		return errors.New("tool calls are not contained: memory is bounded per process")
	}
	return nil
}

// kernelBoundsMemory reports whether a memory cgroup bounds each call.
func (l *Launcher) kernelBoundsMemory() bool {
	b, ok := l.backend.(*v1)
	return ok && b.memErr == nil && b.mem != ""
}
