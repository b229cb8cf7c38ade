//go:build !linux

package sandbox

import (
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Namespaces are Linux's: no jail here asks for one.
func addCloneFlags(*syscall.SysProcAttr, uintptr) {}

// Without pid namespaces, every tool leads a session of its own.
func sameSession(*syscall.SysProcAttr) {}

const cloneNewPID = 0

func signalNamespaceInit(int, syscall.Signal) {}

// Executing by descriptor needs /proc; here the verified path runs.
func execByDescriptor(*exec.Cmd, *os.File, bool) {}

// Without a subreaper, orphans go to init, which reaps them.
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
