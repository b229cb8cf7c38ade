package confine

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// RestrictThread applies NoNewPrivs, Landlock and Seccomp to the calling
// OS thread, which must be locked (runtime.LockOSThread) and must never be
// unlocked: they cannot be undone, and a thread so restricted must end with
// its goroutine. A restriction the machine lacks is an *UnavailableError.
func (c *Config) RestrictThread() error {
	if c.NoNewPrivs || c.Landlock != nil || c.Seccomp != nil {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return &UnavailableError{Reason: fmt.Sprintf("no_new_privs: %v", err)}
		}
	}
	if c.Landlock != nil {
		if err := c.Landlock.restrict(); err != nil {
			return err
		}
	}
	if c.Seccomp != nil {
		if err := c.Seccomp.load(); err != nil {
			return err
		}
	}
	return nil
}

// CheckLimits reports what the limits level needs and this machine lacks:
// the exec stop by which resource limits are set before the tool's first
// instruction is a ptrace stop, which Yama's ptrace_scope 3 forbids.
var CheckLimits = sync.OnceValue(func() error {
	if b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); err == nil && strings.TrimSpace(string(b)) == "3" {
		return &UnavailableError{Reason: "kernel.yama.ptrace_scope is 3, which forbids the stop at exec by which agentcli sets a tool's limits before it runs"}
	}
	return nil
})

// MinLandlockABI is the oldest Landlock the strict level accepts: ABI 3
// (Linux 6.2) is the first that controls truncation; before it a tool
// could empty any file it may open.
const MinLandlockABI = 3

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// Check reports what the strict level needs and this machine lacks, as an
// *UnavailableError, or nil. It is computed once.
var Check = sync.OnceValue(func() error {
	if err := CheckLimits(); err != nil {
		return err
	}
	v, err := ll.LandlockGetABIVersion()
	if err != nil {
		return &UnavailableError{Reason: fmt.Sprintf("Landlock is not available (kernel %s): %v", kernelRelease(), err)}
	}
	if v < MinLandlockABI {
		return &UnavailableError{Reason: fmt.Sprintf("Landlock ABI %d (kernel %s) is older than the %d strict needs (Linux 6.2)", v, kernelRelease(), MinLandlockABI)}
	}
	if err := unix.Prctl(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		return &UnavailableError{Reason: fmt.Sprintf("seccomp is not available (kernel %s): %v", kernelRelease(), err)}
	}
	if _, err := filter(false); err != nil {
		return &UnavailableError{Reason: err.Error()}
	}
	return nil
})

// dirAccess are the rights on a listed folder itself: listing it, and
// with DirsWrite making entries in it.
const (
	dirRead  = landlock.AccessFSSet(ll.AccessFSReadDir)
	dirWrite = landlock.AccessFSSet(ll.AccessFSMakeReg | ll.AccessFSMakeDir)
)

func (l *Landlock) restrict() error {
	if err := Check(); err != nil {
		return err
	}
	// The newest configuration the library knows, down to what this
	// kernel has (Check vouched for the minimum).
	cfg := landlock.V11.BestEffort()
	if l.Network {
		cfg = landlock.Config{HandledAccessFS: landlock.V11.HandledAccessFS, Scoped: landlock.V11.Scoped}.BestEffort()
	}
	var rules []landlock.Rule
	add := func(paths []string, write, optional bool) error {
		for _, p := range paths {
			fi, err := os.Stat(p)
			if err != nil {
				if optional {
					continue
				}
				return fmt.Errorf("granted path %s: %w", p, err)
			}
			switch {
			case fi.IsDir() && write:
				rules = append(rules, landlock.RWDirs(p).WithRefer())
			case fi.IsDir():
				rules = append(rules, landlock.RODirs(p))
			case write:
				rules = append(rules, landlock.RWFiles(p))
			default:
				rules = append(rules, landlock.ROFiles(p))
			}
		}
		return nil
	}
	if err := errors.Join(add(l.Optional, false, true), add(l.Read, false, false), add(l.Write, true, false)); err != nil {
		return err
	}
	if len(l.Dirs) > 0 {
		access := dirRead
		if l.DirsWrite {
			access |= dirWrite
		}
		rules = append(rules, landlock.PathAccess(access, l.Dirs...))
	}
	fd, flags, err := cfg.NewRulesetFD(rules...)
	if err != nil {
		return fmt.Errorf("Landlock ruleset: %w", err)
	}
	if fd < 0 {
		return &UnavailableError{Reason: "Landlock: nothing to enforce"}
	}
	defer unix.Close(fd)
	if err := ll.LandlockRestrictSelf(fd, flags); err != nil {
		return &UnavailableError{Reason: fmt.Sprintf("Landlock: %v", err)}
	}
	return nil
}
