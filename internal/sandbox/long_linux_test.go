package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/toolhost/toolhost/internal/ptytest"
)

// A long-lived process (StartLong) streams its output as it comes,
// lives until stopped (SIGTERM, then SIGKILL after the grace), is killed
// past its total output cap or its lifetime, and is stopped by Close.
func TestStartLong(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			f := newFixture(t, b)
			ctx := context.Background()
			wait := func(p *Process) *Outcome {
				t.Helper()
				wctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				go io.Copy(io.Discard, p.Stderr())
				out, err := p.Wait(wctx)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}

			// Streamed: the first line arrives while the process runs.
			spec := f.spec("ignore-term")
			spec.Timeout = 0
			p, err := f.l.StartLong(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(p.Stdout())
			if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
				t.Fatalf("first line %q %v", line, err)
			}
			select {
			case <-p.Done():
				t.Fatal("the process ended by itself")
			case <-time.After(200 * time.Millisecond):
			}
			p.Stop(false) // it ignores SIGTERM: SIGKILL after the grace
			go io.Copy(io.Discard, r)
			if out := wait(p); !out.Cancelled || !out.GraceExpired || out.PID != p.PID() {
				t.Errorf("stopped: %+v", out)
			}

			// Past its total output cap.
			spec = f.spec("flood-stdout")
			spec.Timeout, spec.MaxStdout = 0, 1<<20
			p, err = f.l.StartLong(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, p.Stdout())
			if out := wait(p); !out.OutputLimit || n > 1<<20+1 {
				t.Errorf("flood: %+v, %d bytes passed on", out, n)
			}

			// Past its lifetime.
			spec = f.spec("sleep")
			spec.Timeout = 300 * time.Millisecond
			if p, err = f.l.StartLong(ctx, spec); err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, p.Stdout())
			if out := wait(p); !out.TimedOut {
				t.Errorf("lifetime: %+v", out)
			}

			// Close stops what still runs.
			spec = f.spec("graceful")
			spec.Timeout = 0
			if p, err = f.l.StartLong(ctx, spec); err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, p.Stdout())
			var stderr strings.Builder
			go io.Copy(&stderr, p.Stderr())
			time.Sleep(100 * time.Millisecond) // its handler in place
			if err := f.l.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.Done():
			default:
				t.Fatal("Close returned with the process running")
			}
			if _, err := f.l.StartLong(ctx, spec); err != ErrClosed {
				t.Errorf("a start after Close: %v", err)
			}
		})
	}
}

// A long-lived process in a pid namespace of its own, started by a host
// with no controlling terminal, stays in the host's session (and so in
// its scheduling autogroup), leading a process group of its own; started
// by a host with a terminal, or without a pid namespace, it leads a
// session of its own. Either way it cannot open /dev/tty. The test runs
// itself again the other way: with a pseudo-terminal as its controlling
// terminal, or in a session of its own with none.
func TestLongSession(t *testing.T) {
	withTTY := hasTerminal()
	again := os.Getenv("SANDBOX_TEST_TTY")
	if again != "" && withTTY != (again == "with") {
		t.Fatalf("run again %s a terminal, but hasTerminal says %v", again, withTTY)
	}
	sameSeen := false
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			f := newFixture(t, b)
			spec := f.spec("session", "stay")
			spec.Timeout = 0
			p, err := f.l.StartLong(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, p.Stderr())
			var got struct {
				SID, PID int
				TTY      string
			}
			line, err := bufio.NewReader(p.Stdout()).ReadBytes('\n')
			if err != nil || json.Unmarshal(line, &got) != nil {
				t.Fatalf("%q %v", line, err)
			}
			own := got.PID == 1 // in a pid namespace of its own
			_, pgrp, _ := procStat(p.PID())
			sid := sessionOf(p.PID())
			p.Stop(true)
			switch {
			case got.TTY == "":
				t.Errorf("the process opened /dev/tty")
			case own && !withTTY && (sid != ownSession() || pgrp != p.PID()):
				t.Errorf("session %d (the host's %d), group %d of pid %d: want the host's session, a group of its own", sid, ownSession(), pgrp, p.PID())
			case (!own || withTTY) && sid != p.PID():
				t.Errorf("session %d of pid %d: want a session of its own", sid, p.PID())
			}
			sameSeen = sameSeen || own && !withTTY
		})
	}
	if !withTTY && !sameSeen {
		t.Error("no backend here has a pid namespace")
	}
	if again != "" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLongSession$", "-test.v")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if withTTY {
		// A session of its own, with no terminal.
		cmd.Env = append(os.Environ(), "SANDBOX_TEST_TTY=without")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		pty, tty := ptytest.Open(t)
		go io.Copy(io.Discard, pty)
		cmd.Env = append(os.Environ(), "SANDBOX_TEST_TTY=with")
		cmd.Stdin = tty
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "--- PASS: TestLongSession") {
		t.Errorf("run again %s a terminal: %v\n%s", map[bool]string{true: "without", false: "with"}[withTTY], err, out.String())
	}
}
