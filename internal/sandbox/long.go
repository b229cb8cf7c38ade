package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Process is a long-lived process started by StartLong: a resident tool.
// It keeps its jail, user and confinement for its whole life.
type Process struct {
	c    *call
	stop context.CancelCauseFunc
	done chan struct{}
	out  *Outcome
	err  error
}

// errStop is the cause of a Process's stop with a grace period.
var errStop = errors.New("stopped")

// StartLong starts spec as Launch does, but returns once the process
// runs: its output is passed on as it comes (Stdout, Stderr), and it runs
// until it exits, is stopped, outlives spec.Timeout (0: no bound) or
// writes more than spec.MaxStdout in all. ctx bounds only the wait for a
// slot. Long-lived processes have slots of their own (Options.MaxResident),
// each with its jail and, with Spec.OwnUser, its user. Close stops them.
func (l *Launcher) StartLong(ctx context.Context, spec *Spec) (*Process, error) {
	if spec.Timeout < 0 || spec.MaxStdout <= 0 || len(spec.Args) == 0 || spec.Path == "" {
		return nil, errors.New("sandbox: Spec needs Path, Args and a positive MaxStdout")
	}
	if err := l.admit(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			l.running.Done()
		}
	}()
	s, err := l.take(ctx, l.resSlots, spec.Path)
	if err != nil {
		if ctx.Err() != nil && len(l.resSlots) == 0 {
			return nil, fmt.Errorf("all %d slots of long-lived processes are taken (resident tools' processes stop after their idleSec): %w", l.opts.MaxResident, err)
		}
		return nil, err
	}
	spec, after := l.asOwnUser(s, spec)
	c, err := l.begin(s.j, spec, true)
	if err != nil {
		after()
		l.resSlots <- s
		return nil, err
	}
	stopCtx, stop := context.WithCancelCause(context.Background())
	p := &Process{c: c, stop: stop, done: make(chan struct{})}
	l.mu.Lock()
	l.residents[p] = struct{}{}
	closing := l.done
	l.mu.Unlock()
	if closing {
		p.Stop(false) // Close began after the start: it may not have seen p
	}
	ok = true
	go func() {
		defer l.running.Done()
		out, broken, err := c.finish(stopCtx)
		after()
		l.mu.Lock()
		delete(l.residents, p)
		l.mu.Unlock()
		l.giveBack(l.resSlots, s, broken)
		p.out, p.err = out, err
		close(p.done)
	}()
	return p, nil
}

// PID is the process's id, as the host sees it.
func (p *Process) PID() int { return p.c.pid }

// UID is the user the process runs as.
func (p *Process) UID() int {
	if c := p.c.conf; c != nil && c.User != nil {
		return int(c.User.UID)
	}
	return os.Geteuid()
}

// Containment is how the process is contained, one of the Containment ids.
func (p *Process) Containment() string { return p.c.out.Containment }

// Stdout is the process's standard output, as it comes; it ends once the
// process has ended. It must be read.
func (p *Process) Stdout() io.Reader { return p.c.stdout }

// Stderr is the process's standard error, as it comes; it must be read.
// Its prefix and suffix are also kept for the Outcome.
func (p *Process) Stderr() io.Reader { return p.c.stderr }

// Done is closed once the process has ended and its jail is clear.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop ends the process: SIGTERM, then SIGKILL after the kill grace; now
// sends SIGKILL at once. It returns at once (see Done).
func (p *Process) Stop(now bool) {
	if now {
		p.stop(ErrStopNow)
	} else {
		p.stop(errStop)
	}
}

// Wait waits until the process has ended, or ctx has, and returns its
// Outcome: Cancelled when it was stopped, TimedOut past its lifetime,
// OutputLimit past MaxStdout. Its Stdout and Stderr are those Stdout and
// Stderr passed on (Stderr's kept ends only).
func (p *Process) Wait(ctx context.Context) (*Outcome, error) {
	select {
	case <-p.done:
		return p.out, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Uptime is how long the process has run.
func (p *Process) Uptime() time.Duration { return time.Since(p.c.started) }
