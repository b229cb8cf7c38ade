//go:build !linux

package confine

import "runtime"

// RestrictThread fails: the restrictions need Linux.
func (c *Config) RestrictThread() error { return Check() }

// Check reports that the strict level needs Linux.
func Check() error {
	return &UnavailableError{Reason: "Landlock and seccomp need Linux, this is " + runtime.GOOS}
}

// CheckLimits reports that the limits level needs Linux.
func CheckLimits() error { return Check() }
