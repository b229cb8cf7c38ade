package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

// startConfined starts cmd under c. A throwaway OS thread restricts itself
// (no_new_privs, Landlock, seccomp: attributes of a thread that its
// children inherit through exec) and forks the tool as a traced child, so
// that the tool stops at its first instruction; the host then moves it
// into j and sets its resource limits, which belong to a process, and lets
// it go. The thread stays, as the tool's parent for its parent-death
// signal, until release is called once the tool has been waited for.
func startConfined(j jail, cmd *exec.Cmd, c *confine.Config, started func(int)) (release func(), err error) {
	stopped := make(chan int, 1)
	resume := make(chan error, 1)
	result := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		// Never unlocked: the restricted thread ends with this goroutine.
		runtime.LockOSThread()
		if err := dropInheritedCaps(); err != nil {
			result <- err
			return
		}
		// The tool starts in its folder even when its user may not walk
		// the path there (a workspace under /root): this thread enters it
		// with a working folder of its own, which the child inherits.
		if dir := cmd.Dir; dir != "" {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				result <- fmt.Errorf("unshare the working folder: %w", err)
				return
			}
			if err := unix.Chdir(dir); err != nil {
				result <- err
				return
			}
			cmd.Dir = ""
		}
		if err := c.RestrictThread(); err != nil {
			result <- err
			return
		}
		pid, err := startTraced(cmd, c)
		if err != nil {
			result <- err
			return
		}
		stopped <- pid
		err = letGo(pid, c, <-resume)
		result <- err
		if err == nil {
			<-done
		}
	}()
	select {
	case err := <-result:
		return nil, err
	case pid := <-stopped:
		started(pid)
		err := j.adopt(pid, c)
		resume <- err
		if e := <-result; err == nil {
			err = e
		}
		if err != nil {
			// Killed at its first instruction: reap it.
			cmd.Wait()
			return nil, err
		}
		return func() { close(done) }, nil
	}
}

// startTraced starts cmd from this thread as a traced child running as
// c's user, and waits for it to stop at its exec, before its first
// instruction. An error after the fork means the child ended before then,
// and was reaped here.
func startTraced(cmd *exec.Cmd, c *confine.Config) (pid int, err error) {
	cmd.SysProcAttr.Ptrace = true
	if u := c.User; u != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: []uint32{}}
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid = cmd.Process.Pid
	var ws unix.WaitStatus
	_, err = unix.Wait4(pid, &ws, unix.WALL, nil)
	for err == unix.EINTR {
		_, err = unix.Wait4(pid, &ws, unix.WALL, nil)
	}
	if err != nil || !ws.Stopped() {
		return pid, fmt.Errorf("the tool ended before it began (wait status %#x, %v)", ws, err)
	}
	return pid, nil
}

// letGo sets c's resource limits on the stopped tool pid, from the thread
// that started it, and lets it run. When err is set, or either step
// fails, it kills the tool instead, which is then still to be reaped.
func letGo(pid int, c *confine.Config, err error) error {
	if err == nil {
		err = setLimits(pid, c)
	}
	if err == nil {
		if err = unix.PtraceDetach(pid); err == nil {
			return nil
		}
	}
	unix.Kill(pid, unix.SIGKILL)
	unix.PtraceDetach(pid)
	return err
}

// setLimits sets the resource limits of the stopped tool pid from the
// thread that started it. Setting another process's limits takes either
// CAP_SYS_RESOURCE, which even root may lack (in a container), or the same
// real user and group: so when the tool runs as another user, this thread
// takes that user as its real and effective one for the few system calls
// it takes, keeping root as its saved one, and then goes back to root. (As
// the tool's user, any process of that user could signal it, and a SIGKILL
// to one thread ends the host.) A limit is never raised: one above the
// host's own hard limit is set to that.
func setLimits(pid int, c *confine.Config) (err error) {
	if len(c.Rlimits) == 0 {
		return nil
	}
	if u := c.User; u != nil {
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), 0); e != 0 {
			return fmt.Errorf("become group %d to set limits: %w", u.GID, e)
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), 0); e != 0 {
			unix.RawSyscall(unix.SYS_SETRESGID, 0, 0, 0)
			return fmt.Errorf("become user %d to set limits: %w", u.UID, e)
		}
		defer func() {
			_, _, e1 := unix.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0)
			_, _, e2 := unix.RawSyscall(unix.SYS_SETRESGID, 0, 0, 0)
			if e1 != 0 || e2 != 0 {
				// This thread cannot be trusted with anything now; the
				// call fails (and the thread ends with it).
				err = errors.Join(err, &rootError{uid: e1, gid: e2})
			}
		}()
	}
	for _, r := range c.Rlimits {
		var old unix.Rlimit
		if err := unix.Prlimit(pid, r.Resource, nil, &old); err != nil {
			return fmt.Errorf("read resource limit %d: %w", r.Resource, err)
		}
		v := min(r.Value, old.Max)
		if err := unix.Prlimit(pid, r.Resource, &unix.Rlimit{Cur: v, Max: v}, nil); err != nil {
			return fmt.Errorf("set resource limit %d to %d: %w", r.Resource, v, err)
		}
	}
	return nil
}

// rootError is a thread's failure to become root again after setting a
// tool's limits as the tool's user.
type rootError struct{ uid, gid syscall.Errno }

func (e *rootError) Error() string {
	return fmt.Sprintf("become root again after setting limits: %v %v", e.uid, e.gid)
}

// unavailable turns a restriction the machine lacks into *UnavailableError.
func unavailable(err error) error {
	var ue *confine.UnavailableError
	if errors.As(err, &ue) {
		return &UnavailableError{Reason: ue.Reason}
	}
	return err
}

// limiter is a resident OS thread that starts tools whose confinement is
// the same on every call: no_new_privs, a user and resource limits (the
// limits level), with no Landlock domain or seccomp filter, which are built
// per call. The thread sets no_new_privs on itself once, keeps a working
// folder of its own, and, on cgroup v1, lives in its slot's cgroup, so
// that its forks land there. Compared with a throwaway thread per call
// (startConfined), that saves a thread's creation, three hand-offs between
// threads and, on cgroup v1, moving the tool into the slot: about 2% of a
// trivial call here. It stays the parent of the tools it starts, for their
// parent-death signal, and ends when its slot is closed.
type limiter struct {
	reqs  chan limitReq
	ended chan error
	home  string // the process's working folder when the thread began
	ns    slotMounts
}

type limitReq struct {
	cmd     *exec.Cmd
	c       *confine.Config
	started func(int)
	stopped func(int) error
	reply   chan limitReply
}

type limitReply struct {
	err error
	// fatal means the thread could not go back to root and has ended.
	fatal bool
}

// canLimit reports whether a limiter can start a tool confined by c.
func canLimit(c *confine.Config) bool {
	return c.NoNewPrivs && c.Landlock == nil && c.Seccomp == nil
}

// newLimiter starts a limiter's thread. join, when set, runs first on the
// thread with its id (to join a cgroup); leave, when set, runs with it
// before the thread ends.
func newLimiter(join, leave func(tid int) error) (*limiter, error) {
	home, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("the working folder: %w", err)
	}
	l := &limiter{reqs: make(chan limitReq), ended: make(chan error, 1), home: home}
	ready := make(chan error, 1)
	go func() {
		// Never unlocked: with a working folder of its own and
		// no_new_privs, this thread must not run other goroutines; it ends
		// with this one.
		runtime.LockOSThread()
		tid := unix.Gettid()
		err := dropInheritedCaps()
		if err == nil {
			err = unix.Unshare(unix.CLONE_FS)
		}
		if err != nil {
			err = fmt.Errorf("unshare the working folder: %w", err)
		} else {
			err = (&confine.Config{NoNewPrivs: true}).RestrictThread()
		}
		if err == nil && join != nil {
			err = join(tid)
		}
		ready <- err
		if err != nil {
			return
		}
		defer l.ns.takeProcFD(true)
		for req := range l.reqs {
			r := l.start(req)
			if r.fatal && leave != nil {
				leave(tid)
			}
			req.reply <- r
			if r.fatal {
				return
			}
		}
		if leave != nil {
			err = leave(tid)
		}
		l.ended <- err
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return l, nil
}

// run starts cmd under c on the limiter's thread. fatal reports that the
// thread has ended and the limiter cannot be used again.
func (l *limiter) run(cmd *exec.Cmd, c *confine.Config, started func(int), stopped func(int) error) (err error, fatal bool) {
	req := limitReq{cmd: cmd, c: c, started: started, stopped: stopped, reply: make(chan limitReply, 1)}
	l.reqs <- req
	r := <-req.reply
	return r.err, r.fatal
}

// start runs on the limiter's thread.
func (l *limiter) start(req limitReq) limitReply {
	cmd, c := req.cmd, req.c
	// Entered by root on this thread: the tool's user may not be able to
	// walk the path to its folder. Without one, the tool starts where the
	// host's process is, as it would without this thread, not in the
	// previous call's folder.
	if err := l.ns.prepare(c.Mounts); err != nil {
		return limitReply{err: fmt.Errorf("the tool's own mounts: %w", err)}
	}
	dir := cmd.Dir
	if dir == "" {
		dir = l.home
	}
	if err := unix.Chdir(dir); err != nil {
		return limitReply{err: err}
	}
	cmd.Dir = ""
	pid, err := startTraced(cmd, c)
	if err != nil {
		return limitReply{err: err}
	}
	req.started(pid)
	var serr error
	if c.Mounts != nil {
		serr = l.ns.procOf(pid)
	}
	if serr == nil && req.stopped != nil {
		serr = req.stopped(pid)
	}
	if err := letGo(pid, c, serr); err != nil {
		cmd.Wait() // killed at its first instruction: reap it
		var rerr *rootError
		return limitReply{err: err, fatal: errors.As(err, &rerr)}
	}
	return limitReply{}
}

// close ends the limiter's thread once no call uses it.
func (l *limiter) close() error {
	close(l.reqs)
	return <-l.ended
}
