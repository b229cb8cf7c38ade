// Package gobuild builds programs of this module for the tests that run
// the real programs (the toolbelt, agentcli) as child processes.
package gobuild

import (
	"fmt"
	"os/exec"
	"strings"
)

// Build runs "go build -o out pkgs..." in dir with the go command on PATH.
// An out ending in a path separator is a folder that receives one program
// per package.
func Build(dir, out string, pkgs ...string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("build %s: the go command is not on PATH: %w", strings.Join(pkgs, " "), err)
	}
	cmd := exec.Command(goBin, append([]string{"build", "-o", out}, pkgs...)...)
	cmd.Dir = dir
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, output)
	}
	return nil
}
