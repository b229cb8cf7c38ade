//go:build unix && !linux

package sandbox

import "syscall"

// sysProcAttr puts the child in a session (and process group) of its own,
// with no controlling terminal.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

func signalGroup(pgid int, sig syscall.Signal) { syscall.Kill(-pgid, sig) }
