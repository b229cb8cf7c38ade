package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/mattn/go-isatty"

	"github.com/toolhost/toolhost/internal/host"
)

// terminalApprover is an approver that asks on the terminal when stdin is
// one: a person is there to answer the gate's questions. Otherwise it is
// nil, and calls the gate asks about fail NEEDS_APPROVAL.
func terminalApprover(stdin io.Reader, stderr io.Writer) host.Approver {
	f, ok := stdin.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return nil
	}
	flush, ok := flushInput(f)
	if !ok {
		return nil // no way to drop typed-ahead answers: nobody is asked
	}
	return askOn(stdin, stderr, flush)
}

// askOn returns an approver that writes the question to out and reads the
// answer, a line, from in (a terminal in canonical mode: one read, one
// line): y or yes approves, anything else declines. Questions of parallel
// calls are asked one at a time. flush discards what was typed before the
// question, so a stale or typed-ahead "y" never approves a call nobody
// saw; a read is only started once the question is on the screen.
func askOn(in io.Reader, out io.Writer, flush func()) host.Approver {
	var mu sync.Mutex
	type result struct {
		text string
		err  error
	}
	reqs := make(chan struct{})
	lines := make(chan result)
	go func() {
		buf := make([]byte, 4096)
		for range reqs {
			n, err := in.Read(buf)
			lines <- result{string(buf[:n]), err}
		}
	}()
	// inflight: a read was started for a question that was abandoned (its
	// call cancelled); what it brings is not an answer to the next one.
	inflight := false
	return func(ctx context.Context, req host.ApprovalRequest) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		flush()
		// What is shown comes from the model: escaped, it cannot redraw
		// the question.
		fmt.Fprintf(out, "\nagentcli: %s wants to run with %s\n  (%s)\nAllow this call? [y/N] ",
			host.ForTerminal(req.Tool), host.ForTerminal(req.Summary()), host.ForTerminal(req.Reason))
		stale := inflight
		if !inflight {
			reqs <- struct{}{}
			inflight = true
		}
		for {
			select {
			case r := <-lines:
				inflight = false
				if stale {
					stale = false
					reqs <- struct{}{}
					inflight = true
					continue
				}
				if r.err != nil && r.text == "" {
					return false, fmt.Errorf("no answer: %w", r.err)
				}
				switch strings.ToLower(strings.TrimSpace(r.text)) {
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
}
