package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

// A call is one launch in a jail, from its pipes to its Outcome: begin
// prepares it and starts the tool; finish watches it until it ends or
// must be stopped (stopLadder), clears what it left and drains its
// output. runIn does both; a long-lived process (issue 15) will keep
// the two apart.
type call struct {
	l    *Launcher
	j    jail
	spec *Spec
	cmd  *exec.Cmd
	conf *confine.Config // spec.Confine with the jail's limits, mounts and grants
	// The host's ends of the tool's standard streams, and the tool's
	// ends until it has started.
	stdinW, stdoutR, stderrR *os.File
	theirs                   []*os.File
	tmp                      string // the call's own temporary folder, removed after it ("" for none)
	pid                      int
	// release ends the thread that started a confined tool: only once
	// the call is over, as the tool's parent-death signal is tied to it.
	release func()
	// reason is why the host ended the call; the first to happen wins.
	reason  atomic.Int32
	exited  chan struct{} // closed once the tool has been waited for
	waitErr error
	// overflow is closed when the tool wrote past MaxStdout, memOver when
	// its processes went past their memory bound.
	overflow, memOver chan struct{}
	// graceExpired: SIGTERM did not end the tool within the kill grace.
	graceExpired bool
	// Set by begin for finish: when the tool started, its Outcome so far,
	// the readers of its output and why its memory cannot be watched.
	started                time.Time
	out                    *Outcome
	stdoutDone, stderrDone chan struct{}
	keeper                 *tailKeeper
	watchErr               error
	// stream passes the tool's output on as it comes (StartLong) instead
	// of keeping it: through these pipes, closed by drain.
	stream         bool
	stdout, stderr *io.PipeReader
}

const (
	reasonTimeout = 1 + iota
	reasonCancelled
	reasonOutputLimit
	reasonMemory
)

// runIn launches spec in j. broken is set when j can no longer be used.
func (l *Launcher) runIn(ctx context.Context, j jail, spec *Spec) (out *Outcome, broken, err error) {
	c, err := l.begin(j, spec, false)
	if err != nil {
		return nil, nil, err
	}
	return c.finish(ctx)
}

// begin prepares the call of spec in j and starts it: its input fed, its
// output read (or passed on, with stream), its exit and memory watched.
// A call begun must be finished.
func (l *Launcher) begin(j jail, spec *Spec, stream bool) (*call, error) {
	c := &call{l: l, j: j, spec: spec, stream: stream, exited: make(chan struct{}), overflow: make(chan struct{}), memOver: make(chan struct{})}
	if err := c.prepare(); err != nil {
		c.closeAll()
		return nil, &LaunchError{Path: spec.Path, Err: err}
	}
	c.started = time.Now()
	if err := c.start(); err != nil {
		c.closeAll()
		if c.release != nil {
			c.release()
		}
		if err = unavailable(err); errors.As(err, new(*UnavailableError)) {
			return nil, err
		}
		return nil, &LaunchError{Path: spec.Path, Err: err}
	}
	c.out = &Outcome{PID: c.pid, Containment: l.backend.id()}
	c.feedStdin()
	c.stdoutDone, c.stderrDone, c.keeper = c.readOutput(c.out)
	go func() {
		AwaitExit(c.pid)
		c.waitErr = c.cmd.Wait()
		l.super.waited(c.pid)
		close(c.exited)
	}()
	c.watchErr = c.watchMemory()
	return c, nil
}

// finish watches a begun call until it ends or must be stopped, clears
// what it left, drains its output and returns its Outcome. broken is set
// when its jail can no longer be used.
func (c *call) finish(ctx context.Context) (out *Outcome, broken, err error) {
	l, j, spec, out := c.l, c.j, c.spec, c.out
	defer c.removeTmp()
	if c.release != nil {
		defer c.release()
	}
	broken = c.stopLadder(ctx, c.watchErr != nil)

	// Whatever the tool left behind goes now, so the pipes close.
	if broken == nil {
		n, err := j.clear(c.pid, l.opts.KillGrace, l.reapOrphans)
		out.Leftovers = n
		if err != nil {
			broken = err
		}
	}
	c.drain(c.stdoutDone, c.stderrDone)
	out.Stderr, out.StderrBytes = c.keeper.Bytes(), c.keeper.Total()
	out.GraceExpired = c.graceExpired
	switch c.reason.Load() {
	case reasonTimeout:
		out.TimedOut = true
	case reasonCancelled:
		out.Cancelled = true
	case reasonOutputLimit:
		out.OutputLimit = true
	case reasonMemory:
		out.MemoryLimit = true
	}
	out.Duration = time.Since(c.started)
	select {
	case <-c.exited:
		out.ExitCode, out.Signal = exitStatus(c.cmd.ProcessState, c.waitErr)
	default:
		out.ExitCode, out.Signal = -1, syscall.SIGKILL
	}
	// The kernel's bound, where a memory cgroup holds the call: when it
	// killed one of the call's processes for memory, the call fails as
	// it would where the host watches it. (Asked after every call, so
	// that the next one counts from its end.)
	if oomKilled(j) && c.reason.Load() == 0 {
		out.MemoryLimit = true
	}
	if c.watchErr != nil {
		return nil, broken, &LaunchError{Path: spec.Path, Err: fmt.Errorf("cannot watch the call's memory (memoryMB), so the tool was stopped: %w", c.watchErr)}
	}
	return out, broken, nil
}

// prepare makes the call's pipes, temporary folder and command, and
// the confinement it starts under.
func (c *call) prepare() error {
	l, spec := c.l, c.spec
	var stdinR, stdoutW, stderrW *os.File
	var errs [3]error
	stdinR, c.stdinW, errs[0] = c.pipe()
	c.stdoutR, stdoutW, errs[1] = c.pipe()
	c.stderrR, stderrW, errs[2] = c.pipe()
	if err := errors.Join(errs[:]...); err != nil {
		return err
	}
	env := spec.Env
	if env == nil {
		env = []string{} // nil would mean the host's environment
	}
	// A tool with mounts of its own has a private /tmp, emptied for each
	// call; any other gets a folder of its own there.
	mounts := spec.Confine != nil && spec.Confine.Mounts != nil && canLimit(spec.Confine) && l.mountsErr() == nil
	tmp := "/tmp"
	if !mounts {
		var err error
		if tmp, err = l.callTmp(spec.Confine); err != nil {
			return fmt.Errorf("the call's temporary folder: %w", err)
		}
		c.tmp = tmp
	}
	env = withTmp(env, tmp)
	c.cmd = &exec.Cmd{
		Path:        spec.Path,
		Args:        spec.Args,
		Env:         env,
		Dir:         spec.Dir,
		Stdin:       stdinR,
		Stdout:      stdoutW,
		Stderr:      stderrW,
		SysProcAttr: sysProcAttr(),
	}
	exe := spec.Exec
	if exe == nil && spec.Confine != nil && !spec.ByPath {
		// Executed by descriptor, opened here: a tool running as another
		// user may not be able to walk the path to its program.
		f, err := os.Open(spec.Path)
		if err != nil {
			return err
		}
		c.theirs = append(c.theirs, f)
		exe = f
	}
	if exe != nil {
		execByDescriptor(c.cmd, exe, spec.Confine != nil)
	}
	addCloneFlags(c.cmd.SysProcAttr, c.j.cloneFlags())
	if c.stream {
		sameSession(c.cmd.SysProcAttr)
	}
	conf := withRlimits(spec.Confine, c.j.rlimits())
	var err error
	if conf != nil && conf.Mounts != nil {
		if !canLimit(conf) {
			return errors.New("mounts of the tool's own are set up by the limits level's thread: they cannot go with Landlock or seccomp")
		}
		cp, m := *conf, *conf.Mounts
		if !mounts {
			cp.Mounts = nil // reported once, at the first call
		} else {
			// What the tool needs stays visible: its folder, program
			// and home.
			m.Keep = append(append([]string(nil), m.Keep...), spec.Dir, filepath.Dir(spec.Path))
			for _, kv := range env {
				if home, ok := strings.CutPrefix(kv, "HOME="); ok && filepath.IsAbs(home) {
					m.Keep = append(m.Keep, filepath.Clean(home))
				}
			}
			cp.Mounts = &m
		}
		conf = &cp
	}
	if conf != nil && conf.Landlock != nil {
		// The tool may read and execute its own program.
		cp, ll := *conf, *conf.Landlock
		ll.Read = append(append([]string(nil), ll.Read...), spec.Path)
		// And use its temporary folder.
		ll.Write = append(append([]string(nil), ll.Write...), tmp)
		cp.Landlock = &ll
		conf = &cp
	}
	if len(spec.ShareDirs) > 0 {
		if conf, err = c.share(conf); err != nil {
			return err
		}
	}
	c.conf = conf
	return nil
}

// share gives the process spec.ShareDirs: its user owns them, and its
// Landlock and mounts grant them.
func (c *call) share(conf *confine.Config) (*confine.Config, error) {
	if conf == nil {
		return nil, nil
	}
	dirs := c.spec.ShareDirs
	if u := conf.User; u != nil {
		for _, d := range dirs {
			if err := os.Chown(d, int(u.UID), int(u.GID)); err != nil {
				return nil, fmt.Errorf("sharing %s with the tool: %w", d, err)
			}
		}
	}
	cp := *conf
	if cp.Landlock != nil {
		ll := *cp.Landlock
		ll.Write = append(append([]string(nil), ll.Write...), dirs...)
		cp.Landlock = &ll
	}
	if cp.Mounts != nil {
		m := *cp.Mounts
		m.Keep = append(append([]string(nil), m.Keep...), dirs...)
		cp.Mounts = &m
	}
	return &cp, nil
}

// pipe makes a pipe; the tool's end is closed once it has started.
func (c *call) pipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err == nil {
		c.theirs = append(c.theirs, r, w)
	}
	return r, w, err
}

// closeAll closes every descriptor of the call: after a failed start.
func (c *call) closeAll() {
	for _, f := range c.theirs {
		f.Close()
	}
	c.theirs = nil
	c.removeTmp()
}

func (c *call) removeTmp() {
	if c.tmp == "" {
		return
	}
	if err := removeTree(c.tmp); err != nil {
		c.l.log.Error().Err(err).Str("dir", c.tmp).Msg("removing a call's temporary folder")
	}
	c.tmp = ""
}

// start starts the tool in the jail, the way its confinement asks.
func (c *call) start() error {
	l, j, cmd, conf := c.l, c.j, c.cmd, c.conf
	// Starts share the lock; reaping takes it alone, so a child is never
	// reaped between its fork and its registration.
	var err error
	s := l.super
	s.starting.RLock()
	if conf != nil && canLimit(conf) {
		err = j.startLimited(cmd, conf, s.started)
	} else if conf != nil {
		c.release, err = startConfined(j, cmd, conf, s.started)
	} else {
		err = j.start(cmd, s.started)
	}
	if err != nil && cmd.Process != nil {
		// A confined start that failed after the fork killed and reaped
		// the child already.
		s.waited(cmd.Process.Pid)
	}
	s.starting.RUnlock()
	if err != nil {
		return err
	}
	c.pid = cmd.Process.Pid
	// The child has its own copies; keeping ours would hold the pipes
	// open (the program's descriptor too).
	for _, f := range c.theirs {
		if f != c.stdinW && f != c.stdoutR && f != c.stderrR {
			f.Close()
		}
	}
	c.theirs = []*os.File{c.stdinW, c.stdoutR, c.stderrR}
	return nil
}

// feedStdin writes the call's input and closes the tool's stdin.
func (c *call) feedStdin() {
	write := func() {
		c.stdinW.Write(c.spec.Stdin) // EPIPE when the tool does not read: fine
		if !c.spec.HoldStdin {
			c.stdinW.Close() // else drain closes it
		}
	}
	if len(c.spec.Stdin) <= pipeMinCapacity {
		write() // fits in any pipe: cannot block
	} else {
		go write()
	}
}

// readOutput reads the tool's stdout into out, up to MaxStdout (past it,
// overflow closes), and keeps the ends of its stderr.
func (c *call) readOutput(out *Outcome) (stdoutDone, stderrDone chan struct{}, keeper *tailKeeper) {
	stdoutDone = make(chan struct{})
	overflow := func() {
		c.reason.CompareAndSwap(0, reasonOutputLimit)
		close(c.overflow)
	}
	maxErr := c.spec.MaxStderr
	if maxErr <= 0 {
		maxErr = DefaultMaxStderr
	}
	keeper = newTailKeeper(maxErr, c.spec.StderrGuard)
	stderrDone = make(chan struct{})
	if c.stream {
		var outW, errW *io.PipeWriter
		c.stdout, outW = io.Pipe()
		c.stderr, errW = io.Pipe()
		go func() {
			defer close(stdoutDone)
			n, err := io.Copy(outW, io.LimitReader(c.stdoutR, c.spec.MaxStdout+1))
			out.StdoutBytes = n
			if n > c.spec.MaxStdout {
				overflow()
				err = errors.New("standard output over its cap")
			}
			outW.CloseWithError(err)
		}()
		go func() {
			defer close(stderrDone)
			_, err := io.Copy(io.MultiWriter(keeper, errW), c.stderrR)
			errW.CloseWithError(err)
		}()
		return stdoutDone, stderrDone, keeper
	}
	go func() {
		defer close(stdoutDone)
		var over bool
		out.Stdout, out.StdoutBytes, over, _ = readCapped(c.stdoutR, c.spec.MaxStdout)
		if over {
			overflow()
		}
	}()
	go func() {
		defer close(stderrDone)
		io.Copy(keeper, c.stderrR)
	}()
	return stdoutDone, stderrDone, keeper
}

// watchMemory starts the watch of the call's memory where its
// confinement bounds it and no memory cgroup does. An error means the
// watch cannot be had, and the tool must be stopped rather than run
// unbounded.
func (c *call) watchMemory() error {
	if c.conf == nil || c.conf.MemoryBytes <= 0 {
		return nil
	}
	src, err := c.j.memory(c.pid)
	if err != nil || src == nil {
		return err
	}
	go watchMemory(src, c.conf.MemoryBytes, c.exited, func() {
		c.reason.CompareAndSwap(0, reasonMemory)
		close(c.memOver)
	})
	return nil
}

// kill sends sig to the tool's process group, to the tool as the first
// process of its pid namespace, and to every process of the jail.
func (c *call) kill(sig syscall.Signal) {
	signalGroup(c.pid, sig)
	if c.j.cloneFlags()&cloneNewPID != 0 {
		signalNamespaceInit(c.pid, sig)
	}
	c.j.signal(sig)
}

// ErrStopNow, as the cause of a call's cancelled context
// (context.WithCancelCause), kills its tool at once, without the grace
// period a cancelled call's tool has to end after SIGTERM: for a caller
// that must end now (its client went away, or it got SIGTERM).
var ErrStopNow = errors.New("stopped at once")

// stopLadder waits for the tool to end, and ends it when it must:
// SIGKILL at once past a limit (output, memory), when the host shuts
// down, when the caller cancels with ErrStopNow (and when now is set);
// SIGTERM at its timeout or the caller's cancel, then SIGKILL after the
// grace period. It returns an error when not even SIGKILL ended the tool.
func (c *call) stopLadder(ctx context.Context, now bool) error {
	l := c.l
	var expired <-chan time.Time // never, for a process without a lifetime
	if c.spec.Timeout > 0 {
		timer := time.NewTimer(c.spec.Timeout)
		defer timer.Stop()
		expired = timer.C
	}
	killed := now
	if now {
		c.kill(syscall.SIGKILL)
	} else {
		select {
		case <-c.exited:
		case <-c.overflow:
			killed = true
		case <-c.memOver:
			killed = true
		case <-expired:
			c.reason.CompareAndSwap(0, reasonTimeout)
		case <-ctx.Done():
			c.reason.CompareAndSwap(0, reasonCancelled)
			killed = errors.Is(context.Cause(ctx), ErrStopNow)
		case <-l.killNow:
			c.reason.CompareAndSwap(0, reasonCancelled)
			killed = true
		}
		if killed {
			c.kill(syscall.SIGKILL)
		}
	}
	grace := l.opts.KillGrace
	if r := c.reason.Load(); !killed && (r == reasonTimeout || r == reasonCancelled) {
		c.kill(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-c.overflow:
			killed = true
		case <-c.memOver:
			killed = true
		case <-l.killNow:
			killed = true
		case <-time.After(grace):
			killed = true
			c.graceExpired = true
		}
		if killed {
			c.kill(syscall.SIGKILL)
		}
	}
	if !killed {
		return nil
	}
	select {
	case <-c.exited:
		return nil
	case <-time.After(grace):
		// Not even SIGKILL ended it (uninterruptible sleep): give up
		// waiting rather than hang the caller; the waiter reaps it
		// whenever it does end.
		l.log.Error().Int("pid", c.pid).Msg("tool did not die after SIGKILL")
		return fmt.Errorf("pid %d survived SIGKILL", c.pid)
	}
}

// drain waits for the readers of the tool's output. Without a cgroup a
// process that left the group may still hold the pipes: they wait a
// grace period at most, then stop reading.
func (c *call) drain(stdoutDone, stderrDone chan struct{}) {
	readers := time.NewTimer(c.l.opts.KillGrace)
	defer readers.Stop()
	for _, done := range []chan struct{}{stdoutDone, stderrDone} {
		select {
		case <-done:
		case <-readers.C:
			c.stdoutR.Close()
			c.stderrR.Close()
			if c.stream {
				// The caller may have stopped reading.
				c.stdout.CloseWithError(ErrClosed)
				c.stderr.CloseWithError(ErrClosed)
			}
			<-done
		}
	}
	c.stdoutR.Close()
	c.stderrR.Close()
	c.stdinW.Close() // unblocks the writer if something still holds stdin
}
