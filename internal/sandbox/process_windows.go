//go:build windows

package sandbox

import (
	"os"
	"os/exec"
	"syscall"
	"time"
)

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// signalGroup can only kill the tool itself here: Windows has no signals,
// and its process trees need job objects, which are not used.
func signalGroup(pid int, sig syscall.Signal) {
	if sig != syscall.SIGKILL {
		return
	}
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
}

func execByDescriptor(*exec.Cmd, *os.File, bool) {}

func zombieChildren() []int  { return nil }
func reap(int) bool          { return false }
func sessionOf(int) int      { return -1 }
func ownSession() int        { return 0 }
func becomeSubreaper() error { return nil }

func newBackend(*Launcher) (backend, error) {
	return nil, &UncontainedError{Reason: "cgroups exist only on Linux"}
}

func clearGroup(pgid int, _ time.Duration, _ func() []int) (int, error) {
	signalGroup(pgid, syscall.SIGKILL)
	return 0, nil
}

func closeInheritedOnExec() {}

func AwaitExit(int) {}

// Namespaces are Linux's: no jail here asks for one.
func addCloneFlags(*syscall.SysProcAttr, uintptr) {}

const cloneNewPID = 0

func signalNamespaceInit(int, syscall.Signal) {}
