package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// MaxInput bounds how many bytes of arguments Run reads from standard input.
const MaxInput = 64 << 20

// Codes Run itself reports for a tool. They are tool codes, not host codes:
// the host passes them through like any code a tool chooses.
const (
	// CodeBadInput: the arguments on standard input could not be read or
	// decoded into the tool's input type.
	CodeBadInput = "BAD_INPUT"
	// CodeBadResult: the tool's result could not be encoded as JSON.
	CodeBadResult = "BAD_RESULT"
	// CodePanic: the tool panicked; the stack precedes the envelope.
	CodePanic = "PANIC"
	// CodeTerminated: Main was asked to stop (SIGTERM, Ctrl-C) and run
	// had not returned StopGrace later, or the arguments had not even
	// arrived.
	CodeTerminated = "TERMINATED"
)

// StopGrace is how long Main waits, after SIGTERM or Ctrl-C, for run to
// return (its context is cancelled) before it exits on its own; it does
// not wait at all while the arguments are still coming. It is shorter
// than the host's default kill grace (2 s), so a tool on Main exits on
// SIGTERM, even one whose run ignores its context.
const StopGrace = 500 * time.Millisecond

// Main runs a tool built on the contract and exits the process. It reads the
// call's arguments from standard input, decodes them into In with
// encoding/json, calls run, and then either writes run's result as one JSON
// value to standard output and exits 0, or writes the error envelope to
// standard error and exits 1. An *Error returned by run keeps its code; any
// other error becomes a message without a code.
//
// The context passed to run is cancelled when the host sends SIGTERM (on a
// timeout or a cancelled call), so a tool can stop early and clean up;
// if run has not returned StopGrace later (or the arguments were still
// coming), Main writes the envelope with code TERMINATED and exits 1
// without it.
//
//	func main() {
//		protocol.Main(func(ctx context.Context, in struct{ Name string }) (string, error) {
//			return "hello, " + in.Name, nil
//		})
//	}
func Main[In, Out any](run func(ctx context.Context, in In) (Out, error)) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	out := &gate{w: os.Stdout}
	errs := &gate{w: os.Stderr}
	in := &eofReader{r: os.Stdin}
	os.Exit(mainExit(ctx, func() int { return Run(ctx, in, out, errs, run) }, in, out, errs))
}

// mainExit runs call and returns its exit status. When ctx is cancelled
// (SIGTERM) first, it gives call StopGrace to return, or none while the
// arguments are still being read; then it closes the gates, so nothing
// call writes later mixes in, writes the TERMINATED envelope and returns 1.
func mainExit(ctx context.Context, call func() int, in *eofReader, stdout, stderr *gate) int {
	done := make(chan int, 1)
	go func() { done <- call() }()
	select {
	case code := <-done:
		return code
	case <-ctx.Done():
	}
	var wait <-chan time.Time
	if in.done.Load() {
		wait = time.After(StopGrace)
	} else {
		c := make(chan time.Time)
		close(c)
		wait = c // no arguments yet: nothing to finish
	}
	select {
	case code := <-done:
		return code
	case <-wait:
	}
	stdout.close()
	stderr.closeWith(fmt.Appendf(nil, "%s\n", (&Error{Message: "stopped by a signal before the tool finished", Code: CodeTerminated}).JSON()))
	return 1
}

// eofReader records that its reader reached its end: the arguments are in.
type eofReader struct {
	r    io.Reader
	done atomic.Bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.done.Store(true)
	}
	return n, err
}

// gate passes writes on until it is closed; then it drops them.
type gate struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *gate) close() { g.closeWith(nil) }

// closeWith writes last, then drops every later write.
func (g *gate) closeWith(last []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(last) > 0 {
		g.w.Write(last)
	}
	g.closed = true
}

// Run is Main without the process: it reads stdin, calls run, writes the
// result to stdout or the envelope to stderr, and returns the exit status
// (0 on success, 1 on failure). Tests of a tool call Run directly.
func Run[In, Out any](ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, run func(ctx context.Context, in In) (Out, error)) (status int) {
	fail := func(e *Error) int {
		fmt.Fprintf(stderr, "%s\n", e.JSON())
		return 1
	}
	defer func() {
		if p := recover(); p != nil {
			// Keep the stack for the tool's author, then the envelope as
			// the last line, as the contract asks.
			fmt.Fprintf(stderr, "panic: %v\n%s", p, debug.Stack())
			status = fail(&Error{Message: fmt.Sprintf("internal error: panic: %v", p), Code: CodePanic})
		}
	}()

	data, err := io.ReadAll(io.LimitReader(stdin, MaxInput+1))
	if err != nil {
		return fail(&Error{Message: "read arguments: " + err.Error(), Code: CodeBadInput})
	}
	if len(data) > MaxInput {
		return fail(&Error{Message: fmt.Sprintf("arguments exceed %d bytes", MaxInput), Code: CodeBadInput})
	}
	if len(trimJSONSpace(data)) == 0 {
		data = []byte("{}")
	}
	var in In
	if err := decodeOne(data, &in); err != nil {
		return fail(&Error{Message: "decode arguments: " + err.Error(), Code: CodeBadInput})
	}

	out, err := run(ctx, in)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			if pe == nil {
				return fail(&Error{Message: "internal error: the tool returned a nil *protocol.Error", Code: CodePanic})
			}
			return fail(&Error{Message: pe.Message, Code: pe.Code})
		}
		return fail(&Error{Message: err.Error()})
	}
	// No HTML escaping: it would turn each <, > and & into six bytes, and
	// the result is read by programs, not embedded in HTML.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return fail(&Error{Message: "encode result: " + err.Error(), Code: CodeBadResult})
	}
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return fail(&Error{Message: "write result: " + err.Error()})
	}
	return 0
}

// decodeOne decodes exactly one JSON value from data into v.
func decodeOne(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if rest := data[dec.InputOffset():]; len(trimJSONSpace(rest)) != 0 {
		return errors.New("more than one JSON value")
	}
	return nil
}
