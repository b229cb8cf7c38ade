//go:build !linux

package sandbox

import (
	"os/exec"

	"github.com/toolhost/toolhost/host/sandbox/confine"
)

func startConfined(jail, *exec.Cmd, *confine.Config, func(int)) (func(), error) {
	return nil, &UnavailableError{Reason: "sandbox levels above none need Linux"}
}

func unavailable(err error) error { return err }
