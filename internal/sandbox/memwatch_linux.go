//go:build linux

package sandbox

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// procMem measures the memory of a call's processes from a procfs.
type procMem struct {
	root int          // a procfs: the host's /proc, or one of the call's pid namespace
	list func() []int // the call's processes, as root names them
}

func (p *procMem) close() { unix.Close(p.root) }

// usage sums the processes' resident memory, which counts a page shared
// by several of them once for each (never less than the truth); over
// limit, it sums their proportional share instead (smaps_rollup's Pss),
// which counts it once. A process whose share cannot be read counts with
// its resident memory as read again then: a process that exited between
// the two reads (a zombie, or gone) holds none. What the call keeps in its tmpfs folders is
// bounded by their size, not here.
func (p *procMem) usage(limit int64) int64 {
	pids := p.list()
	rss := make([]int64, len(pids))
	var sum int64
	for i, pid := range pids {
		rss[i] = p.resident(pid)
		sum += rss[i]
	}
	if sum <= limit {
		return sum
	}
	var pss int64
	for i, pid := range pids {
		if v, ok := p.proportional(pid); ok {
			pss += v
		} else {
			pss += min(rss[i], p.resident(pid))
		}
	}
	return pss
}

var pageSize = int64(os.Getpagesize())

// resident reads pid's resident memory from its statm (0 when it is gone).
func (p *procMem) resident(pid int) int64 {
	var buf [128]byte
	n := p.read(pid, "statm", buf[:])
	// size resident shared text lib data dt, in pages.
	f := bytes.Fields(buf[:n])
	if len(f) < 2 {
		return 0
	}
	v, _ := strconv.ParseInt(string(f[1]), 10, 64)
	return v * pageSize
}

// proportional reads pid's proportional share of memory.
func (p *procMem) proportional(pid int) (int64, bool) {
	var buf [1024]byte
	n := p.read(pid, "smaps_rollup", buf[:])
	_, rest, ok := bytes.Cut(buf[:n], []byte("\nPss:"))
	if !ok {
		return 0, false
	}
	kb, _, _ := bytes.Cut(bytes.TrimLeft(rest, " \t"), []byte(" "))
	v, err := strconv.ParseInt(string(kb), 10, 64)
	return v << 10, err == nil
}

// read reads pid's file name into buf, returning how much it read.
func (p *procMem) read(pid int, name string, buf []byte) int {
	fd, err := unix.Openat(p.root, strconv.Itoa(pid)+"/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	n, err := unix.Read(fd, buf)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// numbered lists the process ids in the procfs folder root.
func numbered(root int, keep func(name string) bool) []int {
	fd, err := unix.Openat(root, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), "proc")
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	var pids []int
	for _, name := range names {
		if pid, err := strconv.Atoi(name); err == nil && (keep == nil || keep(name)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func openHostProc() (int, error) {
	return unix.Open("/proc", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// cgroupMemory measures the processes of the cgroup dir, but the host.
func cgroupMemory(dir string) (memSource, error) {
	root, err := openHostProc()
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	return &procMem{root: root, list: func() []int {
		pids := listPids(dir)
		for i, pid := range pids {
			if pid == self {
				return append(pids[:i], pids[i+1:]...)
			}
		}
		return pids
	}}, nil
}

// pidnsMemory measures the processes of the pid namespace whose first
// process is pid: from a procfs of that namespace (Linux 6.15), which
// lists them alone, or else from the host's /proc, by their namespace.
func pidnsMemory(pid int) (memSource, error) {
	nsfd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/pid", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if state, _, ok := procStat(pid); !ok || state == 'Z' {
			return nil, nil // it has ended already, and its namespace with it
		}
		return nil, err
	}
	defer unix.Close(nsfd)
	if src, err := nsProcMemory(nsfd); err == nil {
		return src, nil
	}
	return nsScanMemory(nsfd)
}

// nsProcMemory reads the pid namespace nsfd from a procfs of its own.
func nsProcMemory(nsfd int) (memSource, error) {
	root, err := procMount(nsfd)
	if err != nil {
		return nil, err
	}
	return nsProcMemoryAt(root), nil
}

// nsProcMemoryAt reads a pid namespace from root, a procfs of its own.
func nsProcMemoryAt(root int) memSource {
	return &procMem{root: root, list: func() []int { return numbered(root, nil) }}
}

// nsScanMemory reads the pid namespace nsfd from the host's /proc: every
// process there whose namespace it is.
func nsScanMemory(nsfd int) (memSource, error) {
	var ns unix.Stat_t
	if err := unix.Fstat(nsfd, &ns); err != nil {
		return nil, err
	}
	root, err := openHostProc()
	if err != nil {
		return nil, err
	}
	return &procMem{root: root, list: func() []int {
		return numbered(root, func(name string) bool {
			var st unix.Stat_t
			return unix.Fstatat(root, name+"/ns/pid", &st, 0) == nil && st.Ino == ns.Ino && st.Dev == ns.Dev
		})
	}}, nil
}
