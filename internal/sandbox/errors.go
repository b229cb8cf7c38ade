package sandbox

import (
	"errors"
	"fmt"
)

// ErrClosed is returned by Launch after Close.
var ErrClosed = errors.New("sandbox: launcher is closed")

// LaunchError reports a tool that could not be started.
type LaunchError struct {
	Path string
	Err  error
}

func (e *LaunchError) Error() string { return fmt.Sprintf("start %s: %v", e.Path, e.Err) }
func (e *LaunchError) Unwrap() error { return e.Err }

// UncontainedError reports that calls cannot be contained here (no usable
// cgroup), so Launch refuses to run them.
type UncontainedError struct {
	Reason string // what is missing
}

func (e *UncontainedError) Error() string {
	return "process containment unavailable: " + e.Reason +
		" (fix: run agentcli as root, in a delegated cgroup v2 (systemd-run --user --scope -p Delegate=yes agentcli ...)," +
		" or where user namespaces are allowed; -allow-uncontained runs tools anyway, at a risk: what a tool starts may outlive the call, unbounded in number)"
}

// UnavailableError reports a sandbox restriction this machine cannot
// apply, so the tool was not run.
type UnavailableError struct {
	Reason string
}

func (e *UnavailableError) Error() string { return "sandbox unavailable: " + e.Reason }
