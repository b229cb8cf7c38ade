//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts the child in a session of its own, and so in a process
// group of its own, so one signal reaches everything it starts, and kills
// it if the thread that started it (and so the host) dies. A new session
// has no controlling terminal: the tool cannot open /dev/tty, and so
// cannot write to the user's terminal or push keystrokes into it
// (TIOCSTI) for the shell to run after agentcli exits.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
}

func signalGroup(pgid int, sig syscall.Signal) { unix.Kill(-pgid, sig) }

// sameSession keeps a long-lived process (a resident tool's) in the
// host's session, leading only a process group of its own, when that
// loses nothing: the process has a pid namespace of its own (so nothing
// it starts is ever the host's orphan, which the Supervisor tells from
// the host's own children by their session), and the host has no
// controlling terminal (so neither has the process, which, leading no
// session, cannot take one). With the kernel's autogroup scheduling
// (sched_autogroup_enabled, the default of many distributions) a new
// session is a scheduling group of its own, and a process that answers
// the host call by call in another group burns a third more CPU and
// answers slower; a one-shot tool, which lives for one call, leads its
// own session.
func sameSession(attr *syscall.SysProcAttr) {
	if attr.Cloneflags&unix.CLONE_NEWPID != 0 && !hasTerminal() {
		attr.Setsid, attr.Setpgid = false, true
	}
}

// hasTerminal reports whether the host has a controlling terminal, or
// may have one: only /dev/tty's "no such device" says it has none. It is
// asked at each start: a session leader with none takes the first
// terminal it opens without O_NOCTTY.
func hasTerminal() bool {
	f, err := os.OpenFile("/dev/tty", os.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err == nil {
		f.Close()
		return true
	}
	return !errors.Is(err, unix.ENXIO)
}

func addCloneFlags(attr *syscall.SysProcAttr, flags uintptr) { attr.Cloneflags |= flags }

// cloneNewPID starts a tool in a pid namespace of its own.
const cloneNewPID = unix.CLONE_NEWPID

// execByDescriptor makes cmd execute the open file f rather than a path, so
// the file that was verified is the file that runs.
func execByDescriptor(cmd *exec.Cmd, f *os.File, asFD3 bool) {
	var magic [2]byte
	fd := f.Fd()
	if n, _ := f.ReadAt(magic[:], 0); (n == 2 && string(magic[:]) == "#!") || fd < 3 || asFD3 {
		// An interpreter opens its script by the path it is given, after
		// close-on-exec descriptors are gone: hand it over as fd 3.
		cmd.ExtraFiles = []*os.File{f}
		cmd.Path = "/proc/self/fd/3"
		return
	}
	// The descriptor is close-on-exec, but still open at execve.
	cmd.Path = "/proc/self/fd/" + strconv.Itoa(int(fd))
}

// zombieChildren lists this process's children that are zombies.
func zombieChildren() []int {
	var zombies []int
	for _, pid := range children() {
		if state, _, ok := procStat(pid); ok && state == 'Z' {
			zombies = append(zombies, pid)
		}
	}
	return zombies
}

// reap reaps pid if it is a zombie child, and reports whether it did.
func reap(pid int) bool {
	var ws unix.WaitStatus
	wpid, _ := unix.Wait4(pid, &ws, unix.WNOHANG|unix.WALL, nil)
	return wpid == pid
}

// children lists the child processes of this process, from the children
// file of each of its threads.
func children() []int {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil
	}
	var pids []int
	for _, t := range tasks {
		data, err := os.ReadFile(filepath.Join("/proc/self/task", t.Name(), "children"))
		if err != nil {
			continue
		}
		for f := range strings.FieldsSeq(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

// procStat returns the state and process group of pid from /proc/pid/stat.
func procStat(pid int) (state byte, pgrp int, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 3 || len(f[0]) != 1 {
		return 0, 0, false
	}
	pgrp, err = strconv.Atoi(f[2])
	return f[0][0], pgrp, err == nil
}

// sessionOf is the session of pid, a zombie's too (-1: unknown).
func sessionOf(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return -1
	}
	// state ppid pgrp session ...
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 4 {
		return -1
	}
	sid, err := strconv.Atoi(f[3])
	if err != nil {
		return -1
	}
	return sid
}

func ownSession() int {
	sid, err := unix.Getsid(0)
	if err != nil {
		return -1
	}
	return sid
}

// becomeSubreaper makes this process the reaper of its descendants'
// orphans.
func becomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become child subreaper: %w", err)
	}
	return nil
}

// clearGroup kills what is left of process group pgid and reaps it, for
// calls without a cgroup: processes that left the group are out of reach.
func clearGroup(pgid int, grace time.Duration, reap func() []int) (int, error) {
	n := 0
	deadline := time.Now().Add(grace)
	for {
		// Zombies still count as members until reaped. Orphans that left
		// the group are reaped too: by the time the tool has been waited
		// for, they are our children.
		gone := unix.Kill(-pgid, unix.SIGKILL) == unix.ESRCH
		n += len(reap())
		if gone {
			return n, nil
		}
		if time.Now().After(deadline) {
			return n, fmt.Errorf("process group %d still has members after %v", pgid, grace)
		}
		time.Sleep(time.Millisecond)
	}
}

// closeInheritedOnExec marks every descriptor above stderr close-on-exec,
// so that what this program inherited (a descriptor its parent left open)
// never reaches a tool. Go opens its own files close-on-exec already.
func closeInheritedOnExec() {
	if unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	// Before Linux 5.11: one at a time.
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range fds {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

// AwaitExit returns once the child pid has exited, leaving it to be
// reaped: it waits in Go's network poller on a pidfd, where a plain wait
// would block an OS thread in a system call. A thread blocked in a system
// call keeps Go's sysmon thread waking every 20 µs or so while it lasts,
// which here made a trivial tool's fork/exec/wait 6–10% slower (the tool
// gets less of the CPU). Without pollable pidfds (PIDFD_NONBLOCK: Linux
// 5.10) it returns at once, and the caller's wait blocks as before.
// Elsewhere it returns at once.
func AwaitExit(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Read(func(fd uintptr) bool {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		// Signo is SIGCHLD once the child is waitable, 0 before.
		return err != nil || info.Signo != 0
	})
}
