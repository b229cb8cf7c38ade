//go:build !linux

package sandbox

import (
	"os/exec"

	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

func startConfined(jail, *exec.Cmd, *confine.Config, func(int)) (func(), error) {
	return nil, &UnavailableError{Reason: "sandbox levels above none need Linux"}
}

func unavailable(err error) error { return err }

// limiter is the resident thread of the limits level, which needs Linux.
type limiter struct{}

func canLimit(*confine.Config) bool { return false }

func newLimiter(join, leave func(tid int) error) (*limiter, error) {
	return nil, &UnavailableError{Reason: "sandbox levels above none need Linux"}
}

func (*limiter) run(*exec.Cmd, *confine.Config, func(int), func(int) error) (error, bool) {
	return &UnavailableError{Reason: "sandbox levels above none need Linux"}, false
}

func (*limiter) close() error { return nil }
