// Package rawexec is the baseline of the benchmarks: a tool run by hand,
// without the host.
package rawexec

import (
	"bytes"
	"os/exec"

	"github.com/toolhost/toolhost/internal/sandbox"
)

// Run fork/execs bin, writes stdin to it, reads its standard output and
// waits for it, as a plain os/exec program does; with poll it waits for
// the exit in the network poller first, as the host does
// (sandbox.AwaitExit).
func Run(bin string, stdin []byte, poll bool) ([]byte, error) {
	cmd := exec.Command(bin)
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if poll {
		sandbox.AwaitExit(cmd.Process.Pid)
	}
	err := cmd.Wait()
	return out.Bytes(), err
}
