package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/mattn/go-isatty"

	"github.com/toolhost/toolhost/host"
)

// withTerminal returns ctx with an approver that asks on the terminal
// when stdin is one: a person is there to answer the gate's questions.
// Otherwise ctx is returned as it is, and calls the gate asks about fail
// NEEDS_APPROVAL.
func withTerminal(ctx context.Context, stdin io.Reader, stderr io.Writer) context.Context {
	f, ok := stdin.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return ctx
	}
	return host.WithApprover(ctx, askOn(stdin, stderr))
}

// askOn returns an approver that writes the question to out and reads the
// answer, a line, from in: y or yes approves, anything else declines.
// Questions of parallel calls are asked one at a time.
func askOn(in io.Reader, out io.Writer) host.Approver {
	var mu sync.Mutex
	lines := bufio.NewReader(in)
	return func(ctx context.Context, req host.ApprovalRequest) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		args := string(req.Args)
		if len(args) > 500 {
			args = args[:500] + "…"
		}
		fmt.Fprintf(out, "\nagentcli: %s wants to run with %s\n  (%s)\nAllow this call? [y/N] ", req.Tool, args, req.Reason)
		type answer struct {
			line string
			err  error
		}
		got := make(chan answer, 1)
		go func() {
			line, err := lines.ReadString('\n')
			got <- answer{line, err}
		}()
		select {
		case a := <-got:
			if a.err != nil && a.line == "" {
				return false, fmt.Errorf("no answer: %w", a.err)
			}
			switch strings.ToLower(strings.TrimSpace(a.line)) {
			case "y", "yes":
				return true, nil
			}
			return false, nil
		case <-ctx.Done():
			fmt.Fprintln(out)
			return false, ctx.Err()
		}
	}
}
