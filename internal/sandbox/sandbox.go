package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

// Defaults for the zero Options and Spec fields.
const (
	DefaultMaxConcurrent = 16
	DefaultMaxResident   = 32
	DefaultMaxProcs      = 256
	DefaultKillGrace     = 2 * time.Second
	DefaultMaxStderr     = 64 << 10
)

// Options configure a Launcher. The zero value is ready to use.
type Options struct {
	// MaxConcurrent bounds the calls running at once; Launch waits for a
	// free slot. 0 means DefaultMaxConcurrent.
	MaxConcurrent int
	// MaxResident bounds the long-lived processes (StartLong) running at
	// once, apart from MaxConcurrent: they have slots, jails and users of
	// their own. 0 means DefaultMaxResident.
	MaxResident int
	// MaxProcs bounds the processes and threads of one call (the cgroup's
	// pids.max). 0 means DefaultMaxProcs.
	MaxProcs int
	// KillGrace is the time between SIGTERM and SIGKILL. 0 means
	// DefaultKillGrace.
	KillGrace time.Duration
	// AllowUncontained lets calls run where no cgroup can be had. Such
	// calls are killed by process group only: a tool that leaves its group
	// can outlive the call, and nothing bounds how many processes it
	// starts. Off by default.
	AllowUncontained bool
	// Logger receives diagnostics. The zero value logs nothing.
	Logger zerolog.Logger
	// Supervisor is the process's (see Supervise); nil means Supervise().
	Supervisor *Supervisor
	// Containment, when set, asks for one backend by its Containment id
	// (ContainmentCgroupV2, ContainmentCgroupV1 or
	// ContainmentPidNamespace) instead of the strongest available; when it
	// is unavailable, calls are refused as when none is. "" means the
	// strongest: a cgroup, else a pid namespace per call.
	Containment string

	// backendOverride picks the backend in tests: "v1", "v2", "v2-nopids"
	// (cgroup v2 without the pids controller) or "none".
	backendOverride string
	// CountLeftovers keeps the tools of a cgroup backend in agentcli's pid
	// namespace instead of one of their own per call, so that processes
	// a tool leaves running are found in its cgroup and counted
	// (Outcome.Leftovers) rather than ended, unseen, with its namespace.
	// A tool can then see other processes by pid. For agentcli tool
	// test, which reports leftovers; off for every other use.
	CountLeftovers bool
}

// Spec describes one launch.
type Spec struct {
	// Path is the absolute path of the program.
	Path string
	// Exec, when set, is the already opened and verified program: it is
	// executed by descriptor, so the file checked is the file run. Launch
	// does not close it.
	Exec *os.File
	// ByPath runs the program by Path even when it is confined (whose
	// program is otherwise opened by the host and executed by descriptor,
	// as its user may not be able to walk the path): for a script, whose
	// interpreter then sees its real path ($0, __file__) and finds files
	// beside it. Its user must be able to reach Path. Exec overrides it.
	ByPath bool
	// Args is argv; Args[0] is the name the program sees.
	Args []string
	// Env is the whole environment of the program; nil means an empty one
	// (never the host's).
	Env []string
	// Dir is the working folder.
	Dir string
	// Stdin is written to standard input, which is then closed.
	Stdin []byte
	// HoldStdin keeps standard input open after Stdin until the call
	// ends, as a slow client would: a conformance check uses it to find
	// out what a tool still waiting for its input does on SIGTERM.
	HoldStdin bool
	// Timeout bounds the call; it must be positive. For StartLong it is
	// the process's lifetime, 0 for none.
	Timeout time.Duration
	// MaxStdout caps standard output; past it the call is killed. It must
	// be positive. For StartLong it caps what the process writes over its
	// whole life.
	MaxStdout int64
	// ShareDirs are folders both the host and a long-lived process use
	// (StartLong): the process's user gets them (chown), and its Landlock
	// and mounts grant them.
	ShareDirs []string
	// MaxStderr is how much standard error is kept (a prefix and a
	// suffix). 0 means DefaultMaxStderr.
	MaxStderr int
	// Confine, when set, restricts the tool (see package confine); Path is
	// added to its Landlock read list. A restriction the machine cannot
	// apply fails the launch with an *UnavailableError.
	Confine *confine.Config
	// OwnUser runs the tool as a user of its own instead of
	// Confine.User: a user id no account uses, one per concurrent-call
	// slot (OwnUserBase and up), so that no tool of another call can read
	// its memory or environment, trace or signal it. It needs root and
	// Confine.
	OwnUser bool
	// StderrGuard more bytes are dropped on each side of the cut when
	// standard error is cut, so that a secret split by the cut leaves no
	// piece the caller's redaction could miss: the length of the longest
	// secret.
	StderrGuard int
}

// Outcome is what happened to one launch.
type Outcome struct {
	PID int
	// Stdout is what the tool wrote, at most MaxStdout bytes.
	Stdout []byte
	// StdoutBytes counts the bytes read from standard output; past the cap
	// reading stops, so it is at most MaxStdout+1.
	StdoutBytes int64
	// Stderr is the kept prefix and suffix of standard error.
	Stderr []byte
	// StderrBytes counts the bytes the tool wrote to standard error.
	StderrBytes int64
	// ExitCode is the exit status, or -1 when a signal ended the tool.
	ExitCode int
	// Signal is the signal that ended the tool, if one did.
	Signal syscall.Signal
	// TimedOut, Cancelled, OutputLimit and MemoryLimit say why the call
	// failed; at most one is set. MemoryLimit: its processes together
	// used more than confine.Config.MemoryBytes, and the host killed
	// them all, or the kernel killed one of them (in the call's memory
	// cgroup).
	TimedOut, Cancelled, OutputLimit, MemoryLimit bool
	// GraceExpired says the tool was asked to stop (SIGTERM, on a timeout
	// or a cancelled call) and had not exited when the kill grace ran
	// out, so SIGKILL ended it.
	GraceExpired bool
	// Leftovers counts processes of the call that were still there when
	// the tool exited, killed and reaped by the host. In a pid namespace
	// the kernel ends them with the tool, uncounted: there it is 0.
	Leftovers int
	// Lost says the long-lived process serving the call (a resident
	// tool's) ended during it: it crashed, exited or was killed. ExitCode
	// and Signal are then the process's, ExitCode -1 when it had not
	// ended within the kill grace.
	Lost bool
	// Containment is how the call was contained, one of the Containment
	// ids.
	Containment string
	// Duration is the time from start to the end of the call.
	Duration time.Duration
}

// Launcher starts and contains tool processes. It is safe for concurrent
// use.
type Launcher struct {
	opts Options
	log  zerolog.Logger

	// containErr says why calls cannot be contained; nil when they can.
	containErr error
	backend    backend

	slots chan slot // free slots; nil jails are created on demand
	// resSlots are the long-lived processes' (StartLong); residents are
	// those running, stopped by Close.
	resSlots  chan slot
	residents map[*Process]struct{}

	super *Supervisor

	mu     sync.Mutex
	closed bool // no new calls
	done   bool // Close has run

	running sync.WaitGroup
	closing chan struct{}
	killNow chan struct{} // closed by Shutdown
	once    sync.Once

	// mountsOnce checks, at the first call that asks, whether tools can
	// have mounts of their own (see confine.Mounts).
	mountsOnce  sync.Once
	mountsCheck error

	// tmpRoot holds the calls' temporary folders (see callTmp), made at
	// the first call.
	tmpOnce sync.Once
	tmpRoot string
	tmpErr  error
}

// New returns a Launcher. It never fails because containment is
// unavailable: Launch reports that, so a host can still list its tools.
func New(opts Options) (*Launcher, error) {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.MaxResident <= 0 {
		opts.MaxResident = DefaultMaxResident
	}
	if opts.MaxProcs <= 0 {
		opts.MaxProcs = DefaultMaxProcs
	}
	if opts.KillGrace <= 0 {
		opts.KillGrace = DefaultKillGrace
	}
	switch opts.Containment {
	case "":
	case ContainmentCgroupV2:
		opts.backendOverride = "v2"
	case ContainmentCgroupV1:
		opts.backendOverride = "v1"
	case ContainmentPidNamespace:
		opts.backendOverride = "pidns"
	default:
		return nil, fmt.Errorf("sandbox: unknown containment %q", opts.Containment)
	}
	if opts.Supervisor == nil {
		opts.Supervisor = Supervise()
	}
	l := &Launcher{
		opts:      opts,
		log:       opts.Logger,
		super:     opts.Supervisor,
		slots:     make(chan slot, opts.MaxConcurrent),
		resSlots:  make(chan slot, opts.MaxResident),
		residents: make(map[*Process]struct{}),
		closing:   make(chan struct{}),
		killNow:   make(chan struct{}),
	}
	var b backend
	var err error
	if opts.backendOverride == "none" {
		err = &UncontainedError{Reason: "disabled by the test"}
	} else {
		b, err = newBackend(l)
	}
	if err == nil {
		// Create one slot now, so a cgroup that cannot be used is known
		// at start rather than at the first call.
		var j jail
		if j, err = b.newJail(); err == nil {
			l.slots <- slot{j: j} // first in line: the next call uses it
		} else {
			b.close()
		}
	}
	for i := len(l.slots); i < opts.MaxConcurrent; i++ {
		l.slots <- slot{idx: i}
	}
	for i := range opts.MaxResident {
		l.resSlots <- slot{idx: opts.MaxConcurrent + i}
	}
	if err != nil {
		var ue *UncontainedError
		if !errors.As(err, &ue) {
			err = &UncontainedError{Reason: err.Error()}
		}
		l.containErr = err
		if !opts.AllowUncontained {
			l.log.Warn().Err(err).Msg("tool calls cannot be contained and will be refused")
		} else {
			l.log.Warn().Err(err).Msg("tool calls run UNCONTAINED: process count and the call's memory not bounded, leftovers may survive")
		}
		b = uncontained{}
	}
	l.backend = b
	return l, nil
}

// ContainmentID is the short name of how calls are contained, one of the
// Containment ids: ContainmentNone when they cannot be (see Containment).
func (l *Launcher) ContainmentID() string { return l.backend.id() }

// CountsLeftovers reports whether the calls' leftover processes are
// counted in Outcome.Leftovers (see Options.CountLeftovers).
func (l *Launcher) CountsLeftovers() bool { return l.backend.countsLeftovers() }

// Containment describes how calls are contained, or returns why they
// cannot be.
func (l *Launcher) Containment() (string, error) {
	if l.containErr != nil {
		return "", l.containErr
	}
	return l.backend.describe(), nil
}

// Launch runs spec to completion. A tool's failure, timeout or excess
// output is an Outcome, not an error; the error is for a call that could
// not run: a bad Spec, a closed Launcher, a cancelled context while waiting
// for a slot (the context's error), containment that is unavailable
// (*UncontainedError) or a program that would not start (*LaunchError).
func (l *Launcher) Launch(ctx context.Context, spec *Spec) (*Outcome, error) {
	if spec.Timeout <= 0 || spec.MaxStdout <= 0 || len(spec.Args) == 0 || spec.Path == "" {
		return nil, errors.New("sandbox: Spec needs Path, Args, a positive Timeout and MaxStdout")
	}
	if err := l.admit(); err != nil {
		return nil, err
	}
	defer l.running.Done()
	s, err := l.take(ctx, l.slots, spec.Path)
	if err != nil {
		return nil, err
	}
	out, broken, err := l.run(ctx, s, spec)
	l.giveBack(l.slots, s, broken)
	return out, err
}

// admit counts a new launch as running (the caller ends it with
// l.running.Done), or says why none may start.
func (l *Launcher) admit() error {
	if l.containErr != nil && !l.opts.AllowUncontained {
		return l.containErr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.running.Add(1)
	return nil
}

// take waits for a free slot of pool, with its jail, for the program at
// path.
func (l *Launcher) take(ctx context.Context, pool chan slot, path string) (slot, error) {
	var s slot
	select {
	case s = <-pool:
	case <-ctx.Done():
		return s, ctx.Err()
	case <-l.closing:
		return s, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		// Both were ready and select chose the slot: start nothing.
		pool <- s
		return s, err
	}
	if s.j == nil {
		var err error
		if s.j, err = l.backend.newJail(); err != nil {
			pool <- s
			return s, &LaunchError{Path: path, Err: err}
		}
	}
	return s, nil
}

// giveBack returns s to pool once its process is done; a broken jail is
// discarded (the slot gets a new one at its next use).
func (l *Launcher) giveBack(pool chan slot, s slot, broken error) {
	if broken != nil {
		l.log.Error().Err(broken).Msg("discarding a cgroup slot")
		if cerr := s.j.close(); cerr != nil {
			l.log.Error().Err(cerr).Msg("removing a cgroup slot")
		}
		s.j = nil
	}
	pool <- s
}

// slot is one of the calls that may run at once: its jail (nil until its
// first call) and its index, which names its own user (OwnUserBase+idx).
type slot struct {
	j   jail
	idx int
}

// OwnUserBase is the first of the user ids, one per concurrent-call slot,
// that tools with Spec.OwnUser run as (user and group): ids no account
// uses, so that no process of another call, and nothing else on the
// machine, shares a tool's user.
const OwnUserBase = 0x7ffe0000

// mountsErr says why tools cannot have mounts of their own here (nil
// when they can); checked once, and logged then.
func (l *Launcher) mountsErr() error {
	l.mountsOnce.Do(func() {
		if l.mountsCheck = checkMounts(); l.mountsCheck != nil {
			l.log.Warn().Err(l.mountsCheck).Msg("tools get no private /tmp and see the workspace's protected files at level limits: this machine refuses them mounts of their own")
		} else if err := checkProc(); err != nil {
			l.log.Warn().Err(err).Msg("tools at level limits see every process in /proc: this kernel cannot give them a /proc of their own pid namespace")
		}
	})
	return l.mountsCheck
}

// PrivateMounts says why tools cannot have mounts of their own here
// (private /tmp, hidden files at level limits), or nil when they can.
func (l *Launcher) PrivateMounts() error { return l.mountsErr() }

// CheckPrivateMounts is PrivateMounts without a Launcher: a fresh check
// of this machine, for reports.
func CheckPrivateMounts() error { return checkMounts() }

// run launches spec in s. broken is set when s's jail can no longer be
// used.
func (l *Launcher) run(ctx context.Context, s slot, spec *Spec) (out *Outcome, broken, err error) {
	spec, after := l.asOwnUser(s, spec)
	defer after()
	return l.runIn(ctx, s.j, spec)
}

// asOwnUser returns spec with the user of slot s when it asks for one
// (Spec.OwnUser), and what to do once its process has ended: remove
// what that user left in the shared temporary folders.
func (l *Launcher) asOwnUser(s slot, spec *Spec) (*Spec, func()) {
	if !spec.OwnUser || spec.Confine == nil {
		return spec, func() {}
	}
	c := *spec.Confine
	id := uint32(OwnUserBase + s.idx)
	c.User = &confine.User{UID: id, GID: id}
	spec2 := *spec
	spec2.Confine = &c
	// What the tool leaves in /tmp, /var/tmp or /dev/shm goes with
	// its call.
	before := tmpStamps()
	return &spec2, func() {
		for _, p := range sweepOwn(before, id) {
			l.log.Debug().Str("path", p).Msg("removed what a call left in a shared temporary folder")
		}
	}
}

// withRlimits returns c with the limits rl added, each the lower of the
// two where both set it; c itself is not changed. With no rl it is c.
func withRlimits(c *confine.Config, rl []confine.Rlimit) *confine.Config {
	if len(rl) == 0 {
		return c
	}
	var cp confine.Config
	if c != nil {
		cp = *c
	}
	cp.Rlimits = append([]confine.Rlimit(nil), cp.Rlimits...)
next:
	for _, r := range rl {
		for i := range cp.Rlimits {
			if cp.Rlimits[i].Resource == r.Resource {
				cp.Rlimits[i].Value = min(cp.Rlimits[i].Value, r.Value)
				continue next
			}
		}
		cp.Rlimits = append(cp.Rlimits, r)
	}
	return &cp
}

// pipeMinCapacity is what any pipe holds without a reader: one page, the
// capacity Linux gives new pipes once a user exceeds pipe-user-pages-soft.
const pipeMinCapacity = 4096

// oomKilled reports whether the kernel killed a process in j's memory
// cgroup for going past its bound since it was last asked (never where j
// has none).
func oomKilled(j jail) bool {
	c, ok := j.(interface{ oomKilled() bool })
	return ok && c.oomKilled()
}

// reapOrphans reaps the orphans of tools: they become our children (we
// are a subreaper) whatever process group or session they moved to, and
// a zombie left unreaped would hold its slot's pids count forever.
func (l *Launcher) reapOrphans() []int { return l.super.reapOrphans() }

// KillGrace is the time between SIGTERM and SIGKILL.
func (l *Launcher) KillGrace() time.Duration { return l.opts.KillGrace }

// Shutdown kills every running call at once, without a grace period, and
// makes later calls fail: for a server that must exit now (its client went
// away, or it got SIGTERM). Follow it with Close. It is safe to call more
// than once and concurrently.
func (l *Launcher) Shutdown() {
	l.once.Do(func() { close(l.killNow) })
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.closing)
	}
	l.mu.Unlock()
}

// Closed reports whether the launcher refuses new calls: Shutdown or
// Close has begun.
func (l *Launcher) Closed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Close refuses new calls, stops the long-lived processes (SIGTERM, then
// SIGKILL after the grace), waits for running calls to finish, and
// removes the cgroups. Cancel the calls' contexts first for a quick shutdown. It is
// safe to call more than once.
func (l *Launcher) Close() error {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return nil
	}
	l.done = true
	if !l.closed {
		l.closed = true
		close(l.closing)
	}
	residents := make([]*Process, 0, len(l.residents))
	for p := range l.residents {
		residents = append(residents, p)
	}
	l.mu.Unlock()
	for _, p := range residents {
		p.Stop(false)
	}
	l.running.Wait()
	var errs []error
	for range l.opts.MaxConcurrent {
		if s := <-l.slots; s.j != nil {
			errs = append(errs, s.j.close())
		}
	}
	for range l.opts.MaxResident {
		if s := <-l.resSlots; s.j != nil {
			errs = append(errs, s.j.close())
		}
	}
	errs = append(errs, l.backend.close())
	if l.tmpRoot != "" {
		errs = append(errs, removeTree(l.tmpRoot))
	}
	return errors.Join(errs...)
}

func exitStatus(ps *os.ProcessState, waitErr error) (int, syscall.Signal) {
	if ps == nil {
		return -1, 0
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, ws.Signal()
	}
	return ps.ExitCode(), 0
}

// Containment ids, the short names of the backends (Outcome.Containment,
// Launcher.ContainmentID, the audit log's "containment").
const (
	ContainmentCgroupV2     = "cgroup-v2"
	ContainmentCgroupV1     = "cgroup-v1"
	ContainmentPidNamespace = "pid-namespace"
	ContainmentNone         = "none"
)

// backend makes jails: cgroup v1, cgroup v2, a pid namespace, or none.
type backend interface {
	newJail() (jail, error)
	// id is one of the Containment ids.
	id() string
	describe() string
	// countsLeftovers: a call's leftover processes are found and counted
	// (Outcome.Leftovers), not ended unseen with its pid namespace.
	countsLeftovers() bool
	close() error
}

// jail holds the processes of one call at a time.
type jail interface {
	// start starts cmd inside the jail and calls started with its pid
	// before anything can reap it.
	start(cmd *exec.Cmd, started func(pid int)) error
	// startLimited starts cmd inside the jail under c, which canLimit
	// accepts, and calls started with its pid before anything can reap it.
	startLimited(cmd *exec.Cmd, c *confine.Config, started func(pid int)) error
	// adopt moves the process pid, started elsewhere under c and not yet
	// running, into the jail.
	adopt(pid int, c *confine.Config) error
	// signal sends sig to every process in the jail.
	signal(sig syscall.Signal)
	// cloneFlags are added to the tool's clone flags.
	cloneFlags() uintptr
	// rlimits are resource limits every tool of the jail gets, whatever
	// its level: the jail's own bound on its processes.
	rlimits() []confine.Rlimit
	// clear kills whatever is left after the tool, whose pid and process
	// group id is pgid, has exited, calling reap to reap zombies, within
	// grace. It returns how many processes it found; an error means the
	// jail cannot be reused.
	clear(pgid int, grace time.Duration, reap func() []int) (int, error)
	// memory measures the memory of the call whose tool is pid, where
	// confine.Config.MemoryBytes is to bound it and no memory cgroup does
	// (nil when one does, or when the jail cannot tell its processes).
	memory(pid int) (memSource, error)
	// close releases the jail.
	close() error
}

// uncontained is the backend used when no cgroup can be had and
// Options.AllowUncontained is set.
type uncontained struct{}

func (uncontained) newJail() (jail, error) { return &groupJail{}, nil }
func (uncontained) describe() string       { return "none (process group only)" }
func (uncontained) id() string             { return ContainmentNone }
func (uncontained) countsLeftovers() bool  { return true }
func (uncontained) close() error           { return nil }

// limited is a jail's limiter, started at the jail's first call that can
// use it, and the clone flags of the jail's tools (cloneNewPID where the
// host may start pid namespaces). It gives a jail no limits of its own.
type limited struct {
	lim   *limiter
	clone uintptr
	// stopped, when set, runs with the pid of each tool the limiter
	// starts, stopped before its first instruction; an error kills it.
	stopped func(pid int) error
}

func (j *limited) cloneFlags() uintptr     { return j.clone }
func (*limited) rlimits() []confine.Rlimit { return nil }

// startLimited starts cmd on the limiter, starting it first if need be
// with join and leave (see newLimiter).
func (j *limited) startLimited(cmd *exec.Cmd, c *confine.Config, started func(int), join, leave func(tid int) error) error {
	if j.lim == nil {
		lim, err := newLimiter(join, leave)
		if err != nil {
			return err
		}
		j.lim = lim
	}
	err, fatal := j.lim.run(cmd, c, started, j.stopped)
	if fatal {
		j.lim = nil
	}
	return err
}

// closeLimiter ends the limiter, if there is one.
func (j *limited) closeLimiter() error {
	if j.lim == nil {
		return nil
	}
	err := j.lim.close()
	j.lim = nil
	return err
}

// groupJail contains by process group only.
type groupJail struct{ limited }

func (*groupJail) start(cmd *exec.Cmd, started func(int)) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	started(cmd.Process.Pid)
	return nil
}
func (j *groupJail) startLimited(cmd *exec.Cmd, c *confine.Config, started func(int)) error {
	return j.limited.startLimited(cmd, c, started, nil, nil)
}
func (*groupJail) adopt(int, *confine.Config) error { return nil }
func (*groupJail) signal(syscall.Signal)            {}
func (*groupJail) memory(int) (memSource, error)    { return nil, nil }
func (j *groupJail) close() error                   { return j.closeLimiter() }
func (*groupJail) clear(pgid int, grace time.Duration, reap func() []int) (int, error) {
	return clearGroup(pgid, grace, reap)
}
