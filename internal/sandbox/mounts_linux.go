package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

// slotMounts is the mount namespace of a limiter's thread, which the
// tools it starts share (see confine.Mounts): made on the thread's first
// call with mounts, and kept from call to call, so that a call in the
// steady state costs no mount at all (a namespace per call, made and
// undone, cost about 1.5 ms here; mounting afresh for each call, about
// 0.7 ms). Between calls the covered folders are emptied, so nothing of
// the slot's previous call is left; the mounts are made again only when
// what to cover or keep changes, and a hiding mount again when it is
// found gone (the file was replaced).
type slotMounts struct {
	ready    bool
	proc     bool     // a /proc of the last tool's pid namespace is on top
	noProc   bool     // procfs takes no pid namespace here
	procFD   int      // that /proc's mount, until takeProc takes it (0: none)
	covered  []string // folders with a tmpfs of ours on them
	tmpBytes int64
	kept     []string // paths put back on top of them
	hidden   []string // paths with a hiding mount on them
}

// prepare runs on the limiter's thread, before it starts a tool with m;
// with m nil, it gives the thread the host's view back.
func (s *slotMounts) prepare(m *confine.Mounts) error {
	if s.proc {
		// Back to the host's /proc, where the next start finds its
		// program (/proc/self/fd).
		unix.Unmount("/proc", unix.MNT_DETACH)
		s.proc = false
	}
	s.takeProcFD(true)
	if m == nil {
		s.undo()
		return nil
	}
	if !s.ready {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("a mount namespace: %w", err)
		}
		// Nothing done here reaches the host's namespace.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make the mounts private: %w", err)
		}
		s.ready = true
	}
	keep := keptUnder(m)
	if slices.Equal(s.covered, existing(m.Tmp)) && s.tmpBytes == m.TmpBytes && slices.Equal(s.kept, keep) && s.covered != nil {
		for _, d := range s.covered {
			if err := s.empty(d); err != nil {
				return err
			}
		}
	} else if err := s.cover(m, keep); err != nil {
		return err
	}
	return s.hide(m.Hide)
}

// cover mounts fresh tmpfs on m's folders and puts keep back on top.
func (s *slotMounts) cover(m *confine.Mounts, keep []string) error {
	// With the previous call's mounts gone, what must stay visible is
	// cloned from the folders about to be covered.
	s.undo()
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	var paths []string
	for _, p := range keep {
		fd, err := unix.OpenTree(unix.AT_FDCWD, p, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err == unix.ENOENT {
			continue // nothing to keep
		}
		if err != nil {
			return fmt.Errorf("keep %s: %w", p, err)
		}
		fds, paths = append(fds, fd), append(paths, p)
	}
	for _, d := range existing(m.Tmp) {
		opts := "mode=1777"
		if m.TmpBytes > 0 {
			opts += ",size=" + strconv.FormatInt(m.TmpBytes, 10)
		}
		if err := unix.Mount("tmpfs", d, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("a private %s: %w", d, err)
		}
		s.covered = append(s.covered, d)
	}
	s.tmpBytes = m.TmpBytes
	for i, p := range paths {
		fi, err := os.Stat("/proc/self/fd/" + strconv.Itoa(fds[i]))
		if err != nil {
			return err
		}
		if fi.IsDir() {
			err = os.MkdirAll(p, 0o755)
		} else if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.WriteFile(p, nil, 0o644)
		}
		if err == nil {
			err = unix.MoveMount(fds[i], "", unix.AT_FDCWD, p, unix.MOVE_MOUNT_F_EMPTY_PATH)
		}
		if err != nil {
			return fmt.Errorf("keep %s: %w", p, err)
		}
	}
	s.kept = keep // as asked: a path that was missing is looked for again only when that changes
	return nil
}

// empty removes what the previous call left in the covered folder dir,
// but the folders that lead to what is kept.
func (s *slotMounts) empty(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case slices.Contains(s.kept, p):
		case slices.ContainsFunc(s.kept, func(k string) bool { return strings.HasPrefix(k, p+"/") }):
			if e.Type().IsDir() {
				if err := s.empty(p); err != nil {
					return err
				}
			}
		default:
			if err := removeTree(p); err != nil {
				return fmt.Errorf("empty the private %s: %w", dir, err)
			}
		}
	}
	return nil
}

// hide puts the hiding mounts in place: those of the previous call that
// are still wanted and still there stay.
func (s *slotMounts) hide(want []string) error {
	var still []string
	for _, p := range s.hidden {
		if slices.Contains(want, p) && hiddenNow(p) {
			still = append(still, p)
		} else {
			unix.Unmount(p, unix.MNT_DETACH)
		}
	}
	s.hidden = still
	for _, p := range want {
		if slices.Contains(s.hidden, p) {
			continue
		}
		fi, err := os.Lstat(p)
		switch {
		case err != nil:
			continue // gone since
		case fi.IsDir():
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0,size=4k")
		case fi.Mode().IsRegular():
			err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		default:
			continue // a link: what it points to is judged on its own
		}
		if err != nil {
			return fmt.Errorf("hide %s: %w", p, err)
		}
		s.hidden = append(s.hidden, p)
	}
	return nil
}

// hiddenNow reports whether p still shows its hiding mount (a file
// replaced on the host's side loses it).
func hiddenNow(p string) bool {
	fi, err := os.Lstat(p)
	if err != nil {
		return false
	}
	if fi.IsDir() {
		return fi.Mode().Perm() == 0
	}
	return fi.Mode()&os.ModeCharDevice != 0
}

// procOf mounts over /proc, in the slot's namespace, a procfs of the
// stopped tool pid's pid namespace, when it has one of its own: the tool
// then sees its own processes only, not the host's or another call's (the
// host's /proc shows every process, and one of the same user's
// environment and memory). It needs Linux 6.15's pidns option of procfs
// (see checkProc); without it nothing is mounted.
func (s *slotMounts) procOf(pid int) error {
	if !s.ready || s.noProc {
		return nil
	}
	ns := "/proc/" + strconv.Itoa(pid) + "/ns/pid"
	var own, theirs unix.Stat_t
	if unix.Stat("/proc/self/ns/pid", &own) != nil || unix.Stat(ns, &theirs) != nil || own.Ino == theirs.Ino {
		return nil // no pid namespace of its own: nothing to show apart
	}
	nsfd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(nsfd)
	mfd, err := procMount(nsfd)
	if err == errNoPidnsOption {
		s.noProc = true
		return nil
	}
	if err != nil {
		return err
	}
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, "/proc", unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		unix.Close(mfd)
		return fmt.Errorf("the tool's /proc: %w", err)
	}
	s.proc, s.procFD = true, mfd
	return nil
}

// takeProcFD hands over the mount of the last tool's /proc that procOf
// made (-1: none), for the call's memory watch; or closes it.
func (s *slotMounts) takeProcFD(drop bool) int {
	fd := s.procFD
	s.procFD = 0
	if fd <= 0 {
		return -1
	}
	if drop {
		unix.Close(fd)
		return -1
	}
	return fd
}

var errNoPidnsOption = errors.New("procfs takes no pid namespace here (Linux 6.15)")

// procMount makes a detached procfs of the pid namespace nsfd.
func procMount(nsfd int) (int, error) {
	fs, err := unix.Fsopen("proc", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("a procfs: %w", err)
	}
	defer unix.Close(fs)
	if err := unix.FsconfigSetFd(fs, "pidns", nsfd); err == unix.EINVAL {
		return -1, errNoPidnsOption // an option this kernel does not know
	} else if err != nil {
		return -1, fmt.Errorf("a procfs of the tool's pid namespace: %w", err)
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("a procfs: %w", err)
	}
	mfd, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, fmt.Errorf("a procfs: %w", err)
	}
	return mfd, nil
}

// undo removes the mounts of the previous calls (what is kept goes with
// the tmpfs it sits on).
func (s *slotMounts) undo() {
	for i := len(s.hidden) - 1; i >= 0; i-- {
		unix.Unmount(s.hidden[i], unix.MNT_DETACH)
	}
	for _, d := range s.covered {
		unix.Unmount(d, unix.MNT_DETACH)
	}
	s.hidden, s.covered, s.kept = nil, nil, nil
}

// keptUnder is m's Keep under its covered folders, each once, sorted.
func keptUnder(m *confine.Mounts) []string {
	var keep []string
	for _, p := range m.Keep {
		if under(p, m.Tmp) && !slices.Contains(keep, p) {
			keep = append(keep, p)
		}
	}
	slices.Sort(keep)
	return keep
}

// existing is dirs that exist.
func existing(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// under reports whether p is in one of dirs.
func under(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// inMountNamespace runs probe on a throwaway thread in a mount namespace
// of its own: the thread ends there, and nothing probe mounts reaches
// the host's namespace.
func inMountNamespace(probe func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends in its namespace
		if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("a mount namespace: %w", err)
			return
		}
		errc <- probe()
	}()
	return <-errc
}

// checkMounts says why tools cannot get mounts of their own here, or nil:
// a throwaway thread makes a mount namespace and mounts a tmpfs in it.
func checkMounts() error {
	return inMountNamespace(func() error {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("private mounts: %w", err)
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			return fmt.Errorf("open_tree (Linux 5.2): %w", err)
		}
		unix.Close(fd)
		dir, err := os.MkdirTemp("", "toolhost-probe-")
		if err != nil {
			return err
		}
		defer os.Remove(dir)
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4k"); err != nil {
			return fmt.Errorf("a tmpfs: %w", err)
		}
		return unix.Unmount(dir, 0)
	})
}

// checkProc says why tools in a pid namespace of their own still see the
// host's /proc (see slotMounts.procOf), or nil.
func checkProc() error {
	return inMountNamespace(func() error {
		nsfd, err := unix.Open("/proc/self/ns/pid", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(nsfd)
		// The host's own pid namespace may not be ours to mount a procfs
		// of (an ordinary user's, in its user namespace): a refusal still
		// says the kernel knows the option.
		mfd, err := procMount(nsfd)
		if err == nil {
			unix.Close(mfd)
		}
		if err != nil && !errors.Is(err, errNoPidnsOption) {
			return nil
		}
		return err
	})
}
