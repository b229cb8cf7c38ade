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

	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

// v2 is the cgroup v2 backend: each call's process is placed in its slot's
// cgroup at fork (clone3 with CLONE_INTO_CGROUP), and cgroup.kill ends
// everything in it at once.
type v2 struct {
	l      *Launcher
	dir    string
	noPids bool    // tests only: run without the pids controller
	clone  uintptr // the tools' clone flags
}

func newV2(l *Launcher, cg string, noPids bool, clone uintptr) (backend, error) {
	if !noPids {
		ctrl, err := os.ReadFile(filepath.Join(cg, "cgroup.controllers"))
		if err != nil {
			return nil, err
		}
		if !hasWord(strings.TrimSpace(string(ctrl)), "pids", " ") {
			return nil, fmt.Errorf("the pids controller is not available in %s (cgroup.controllers: %q)", cg, strings.TrimSpace(string(ctrl)))
		}
		// pids is a threaded controller, so it can be enabled for the
		// children of a cgroup that has processes of its own (ours).
		if err := enablePids(cg); err != nil {
			return nil, err
		}
	}
	dir, err := ownDir(cg)
	if err != nil {
		return nil, err
	}
	if !noPids {
		if err := enablePids(dir); err != nil {
			os.Remove(dir)
			return nil, err
		}
	}
	return &v2{l: l, dir: dir, noPids: noPids, clone: clone}, nil
}

func enablePids(cg string) error {
	sub, err := os.ReadFile(filepath.Join(cg, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	if hasWord(strings.TrimSpace(string(sub)), "pids", " ") {
		return nil
	}
	return writeFile(filepath.Join(cg, "cgroup.subtree_control"), "+pids")
}

func (b *v2) countsLeftovers() bool { return b.clone&cloneNewPID == 0 }
func (b *v2) describe() string      { return "cgroup v2 pids (" + b.dir + ")" + withPidNamespace(b.clone) }
func (b *v2) id() string            { return ContainmentCgroupV2 }
func (b *v2) close() error          { return removeCgroup(b.dir, time.Second) }

type v2slot struct {
	dir     string
	fd      *os.File // the cgroup folder, for CLONE_INTO_CGROUP
	current counter  // pids.current; nil file in noPids mode
	noPids  bool
	limited
}

func (b *v2) newJail() (jail, error) {
	dir := filepath.Join(b.dir, fmt.Sprintf("slot-%d", slotCount.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	s := &v2slot{dir: dir, noPids: b.noPids, limited: limited{clone: b.clone}}
	fail := func(err error) (jail, error) {
		s.close()
		return nil, err
	}
	if !b.noPids {
		if err := writeFile(filepath.Join(dir, "pids.max"), strconv.Itoa(b.l.opts.MaxProcs)); err != nil {
			return fail(err)
		}
		cur, err := openCounter(filepath.Join(dir, "pids.current"))
		if err != nil {
			return fail(err)
		}
		s.current = cur
	}
	fd, err := os.Open(dir)
	if err != nil {
		return fail(err)
	}
	s.fd = fd
	return s, nil
}

func (s *v2slot) start(cmd *exec.Cmd, started func(int)) error {
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = int(s.fd.Fd())
	if err := cmd.Start(); err != nil {
		return err
	}
	started(cmd.Process.Pid)
	return nil
}

func (s *v2slot) startLimited(cmd *exec.Cmd, c *confine.Config, started func(int)) error {
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = int(s.fd.Fd())
	return s.limited.startLimited(cmd, c, started, nil, nil)
}

func (s *v2slot) adopt(pid int, _ *confine.Config) error {
	return writeFile(filepath.Join(s.dir, "cgroup.procs"), strconv.Itoa(pid))
}

func (s *v2slot) memory(int) (memSource, error) { return cgroupMemory(s.dir) }

func (s *v2slot) signal(sig syscall.Signal) {
	for _, pid := range listPids(s.dir) {
		unix.Kill(pid, sig)
	}
}

func (s *v2slot) clear(pgid int, grace time.Duration, reap func() []int) (int, error) {
	if s.noPids {
		return clearListed(s.dir, pgid, grace, reap, s.kill)
	}
	return clearCgroup(s.dir, s.current, 0, pgid, grace, reap, s.kill)
}

// kill uses cgroup.kill (Linux 5.14) to end every process in the slot at
// once, forks in flight included.
func (s *v2slot) kill() error {
	err := writeFile(filepath.Join(s.dir, "cgroup.kill"), "1")
	if errors.Is(err, os.ErrNotExist) {
		return nil // older kernel: the caller's loop kills one by one
	}
	return err
}

func (s *v2slot) close() error {
	lerr := s.closeLimiter()
	if s.fd != nil {
		s.fd.Close()
	}
	if s.current.f != nil {
		s.current.f.Close()
	}
	return errors.Join(lerr, removeCgroup(s.dir, time.Second))
}

// clearListed is clearCgroup for a cgroup without pids.current. A process
// leaves cgroup.procs before it becomes a zombie, so an empty list is not
// enough: it also waits until the process group and every process seen
// are gone, zombies reaped.
func clearListed(dir string, pgid int, grace time.Duration, reap func() []int, kill func() error) (int, error) {
	seen := make(map[int]bool)
	deadline := time.Now().Add(grace)
	for {
		pids := listPids(dir)
		if len(pids) > 0 {
			kill()
		}
		for _, pid := range pids {
			seen[pid] = true
			unix.Kill(pid, unix.SIGKILL)
		}
		unix.Kill(-pgid, unix.SIGKILL)
		for _, pid := range reap() {
			seen[pid] = true
		}
		if len(pids) == 0 && gone(pgid, seen) {
			return len(seen), nil
		}
		if time.Now().After(deadline) {
			return len(seen), fmt.Errorf("%s: %d processes remain after %v", dir, len(pids), grace)
		}
		time.Sleep(time.Millisecond)
	}
}

// gone reports whether process group pgid and the processes in pids no
// longer exist, not even as zombies.
func gone(pgid int, pids map[int]bool) bool {
	if unix.Kill(-pgid, 0) != unix.ESRCH {
		return false
	}
	for pid := range pids {
		if unix.Kill(pid, 0) != unix.ESRCH {
			return false
		}
	}
	return true
}
