package sandbox

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Both ways of finding a pid namespace's processes, its own procfs and a
// scan of the host's /proc, find the same processes and the same memory:
// a hog and its three children of 40 MiB each.
func TestPidnsMemorySources(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "sandbox-helper", "memory-sources", "hog", "3", "1m")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Skip("no pid namespace here:", err)
	}
	defer cmd.Wait()
	defer unix.Kill(cmd.Process.Pid, unix.SIGKILL)
	nsfd, err := unix.Open("/proc/"+strconv.Itoa(cmd.Process.Pid)+"/ns/pid", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(nsfd)
	scan, err := nsScanMemory(nsfd)
	if err != nil {
		t.Fatal(err)
	}
	defer scan.close()
	sources := map[string]memSource{"scan": scan}
	// (Mounted as a limiter's thread does, in a mount namespace of its
	// own: an ordinary user's host may not mount in its first one.)
	var mounted memSource
	if err := inMountNamespace(func() (err error) { mounted, err = nsProcMemory(nsfd); return err }); err == nil {
		defer mounted.close()
		sources["procfs"] = mounted
	} else if checkProc() == nil {
		t.Fatalf("a procfs of the namespace: %v", err)
	}
	const want = 120 << 20
	for deadline := time.Now().Add(10 * time.Second); scan.usage(0) < want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the hog's processes use %d bytes, not the %d expected", scan.usage(0), want)
		}
	}
	for name, src := range sources {
		p := src.(*procMem)
		if n := len(p.list()); n != 4 {
			t.Errorf("%s: %d processes, want 4", name, n)
		}
		rss, pss := src.usage(1<<62), src.usage(0)
		if rss < want || rss > 2*want {
			t.Errorf("%s: resident %d, want about %d", name, rss, want)
		}
		if pss < want || pss > rss {
			t.Errorf("%s: proportional %d, want at least %d and at most the resident %d", name, pss, want, rss)
		}
	}
}
