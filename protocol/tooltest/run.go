package tooltest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/toolhost/toolhost/protocol"
)

// runTimeout bounds one run of a tool: no tool may block, so a run that
// takes this long fails the test. Run's doc states it.
const runTimeout = 20 * time.Second

// Result is what one run of a tool produced.
type Result struct {
	// Exit is the exit status.
	Exit int
	// Stdout and Stderr are everything the tool wrote to each stream.
	Stdout, Stderr []byte
}

// Run runs the tool directly, without the host (Check runs it through
// the host), in the workspace dir with args on standard input and a
// minimal environment: the test's PATH and HOME set to dir. It fails the
// test if the tool cannot be started or does not finish within 20 seconds
// (no tool may block); any exit status is a Result. Succeed and Fail hold
// a tool to stricter rules than the contract: nothing on stderr on
// success; on failure, exit status 1 and the envelope alone on stderr.
func (tool *Tool) Run(t testing.TB, dir, args string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool.Path)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	cmd.Stdin = strings.NewReader(args)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: did not finish: %v", tool.Name, args, ctx.Err())
	}
	r := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.Exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", tool.Name, err)
	}
	return r
}

// MaxOutput is the most output SucceedBounded accepts: each tool bounds
// its own output to stay well under the host's 1 MiB cap.
const MaxOutput = 950 << 10

// Succeed runs the tool, checks the contract for a success (exit 0,
// exactly one JSON value matching the output schema, nothing on standard
// error) and decodes the result into out, refusing fields out does not
// have.
func (tool *Tool) Succeed(t testing.TB, dir, args string, out any) {
	t.Helper()
	tool.checkSuccess(t, args, tool.Run(t, dir, args), out)
}

// SucceedBounded is Succeed for the runs that produce the most output: it
// also checks the output is at most MaxOutput bytes.
func (tool *Tool) SucceedBounded(t testing.TB, dir, args string, out any) {
	t.Helper()
	r := tool.Run(t, dir, args)
	if r.Exit == 0 && len(r.Stdout) > MaxOutput {
		t.Errorf("%s %s: output is %d bytes, want at most %d", tool.Name, args, len(r.Stdout), MaxOutput)
	}
	tool.checkSuccess(t, args, r, out)
}

// checkSuccess checks r, the run of the tool with args, against the
// contract for a success and decodes its output into out.
func (tool *Tool) checkSuccess(t testing.TB, args string, r Result, out any) {
	t.Helper()
	if r.Exit != 0 {
		t.Fatalf("%s %s: exit %d, stderr %s", tool.Name, args, r.Exit, r.Stderr)
	}
	if len(r.Stderr) != 0 {
		t.Errorf("%s %s: stderr on success: %s", tool.Name, args, r.Stderr)
	}
	v, err := protocol.ParseOutput(r.Stdout)
	if err != nil {
		t.Fatalf("%s %s: %v", tool.Name, args, err)
	}
	if tool.output != nil {
		if err := tool.output.Validate(v); err != nil {
			t.Errorf("%s %s: output does not match outputSchema: %#v\noutput: %s", tool.Name, args, err, r.Stdout)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(r.Stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		t.Fatalf("%s %s: decode %s: %v", tool.Name, args, r.Stdout, err)
	}
}

// Fail runs the tool, checks the contract for a failure (exit 1, nothing
// on standard output, the envelope as the only line on standard error, a
// valid tool code) and returns the envelope.
func (tool *Tool) Fail(t testing.TB, dir, args string) *protocol.Error {
	t.Helper()
	r := tool.Run(t, dir, args)
	if r.Exit != 1 {
		t.Fatalf("%s %s: exit %d, want 1; stdout %s, stderr %s", tool.Name, args, r.Exit, r.Stdout, r.Stderr)
	}
	if len(r.Stdout) != 0 {
		t.Errorf("%s %s: stdout on failure: %s", tool.Name, args, r.Stdout)
	}
	if bytes.Count(r.Stderr, []byte{'\n'}) != 1 || !bytes.HasSuffix(r.Stderr, []byte{'\n'}) {
		t.Errorf("%s %s: stderr is not one line: %q", tool.Name, args, r.Stderr)
	}
	var env protocol.Error
	if err := json.Unmarshal(r.Stderr, &env); err != nil {
		t.Fatalf("%s %s: stderr is not an envelope: %q", tool.Name, args, r.Stderr)
	}
	if !protocol.ValidToolCode(env.Code) {
		t.Errorf("%s %s: code %q is not a valid tool code", tool.Name, args, env.Code)
	}
	return &env
}
