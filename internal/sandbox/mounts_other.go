//go:build !linux

package sandbox

import "errors"

// checkMounts: mount namespaces are Linux's.
func checkMounts() error { return errors.New("mount namespaces need Linux") }

// CallMemory: memory cgroups are Linux's.
func (l *Launcher) CallMemory() error {
	return errors.New("memory is bounded per process here")
}

// checkProc: mount namespaces are Linux's.
func checkProc() error { return errors.New("mount namespaces need Linux") }
