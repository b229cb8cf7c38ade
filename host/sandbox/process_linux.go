//go:build linux

package sandbox

import (
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

// sysProcAttr puts the child in a process group of its own, so one signal
// reaches everything it starts, and kills it if the thread that started
// it (and so the host) dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func signalGroup(pgid int, sig syscall.Signal) { unix.Kill(-pgid, sig) }

// execByDescriptor makes cmd execute the open file f rather than a path, so
// the file that was verified is the file that runs.
func execByDescriptor(cmd *exec.Cmd, f *os.File) {
	var magic [2]byte
	fd := f.Fd()
	if n, _ := f.ReadAt(magic[:], 0); (n == 2 && string(magic[:]) == "#!") || fd < 3 {
		// An interpreter opens its script by the path it is given, after
		// close-on-exec descriptors are gone: hand it over as fd 3.
		cmd.ExtraFiles = []*os.File{f}
		cmd.Path = "/proc/self/fd/3"
		return
	}
	// The descriptor is close-on-exec, but still open at execve.
	cmd.Path = "/proc/self/fd/" + strconv.Itoa(int(fd))
}

// reapGroup reaps this process's zombie children that belong to a call:
// in process group pgid, or listed in pids. Orphans of tools come here
// because the host is a child subreaper. Direct children still awaiting
// their own Wait are left alone. It returns the pids reaped.
func reapGroup(pgid int, pids map[int]bool, isChild func(int) bool) []int {
	var reaped []int
	for _, pid := range children() {
		if isChild(pid) {
			continue
		}
		state, pgrp, ok := procStat(pid)
		if !ok || state != 'Z' || (pgrp != pgid && !pids[pid]) {
			continue
		}
		var ws unix.WaitStatus
		if wpid, _ := unix.Wait4(pid, &ws, unix.WNOHANG|unix.WALL, nil); wpid == pid {
			reaped = append(reaped, pid)
		}
	}
	return reaped
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

// clearGroup kills what is left of process group pgid and reaps it, for
// calls without a cgroup: processes that left the group are out of reach.
func clearGroup(pgid int, grace time.Duration, isChild func(int) bool) (int, error) {
	n := 0
	deadline := time.Now().Add(grace)
	for {
		// Zombies still count as members until reaped.
		if unix.Kill(-pgid, unix.SIGKILL) == unix.ESRCH {
			return n, nil
		}
		n += len(reapGroup(pgid, nil, isChild))
		if time.Now().After(deadline) {
			return n, fmt.Errorf("process group %d still has members after %v", pgid, grace)
		}
		time.Sleep(time.Millisecond)
	}
}
