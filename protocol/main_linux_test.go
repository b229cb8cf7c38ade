package protocol_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/toolhost/toolhost/protocol"
)

// TestMain makes this test binary a tool on protocol.Main when
// PROTOCOL_TEST_TOOL names how its run behaves, so the tests below can
// signal a real process.
func TestMain(m *testing.M) {
	switch os.Getenv("PROTOCOL_TEST_TOOL") {
	case "":
		os.Exit(m.Run())
	case "ignores-context":
		protocol.Main(func(ctx context.Context, in struct{}) (string, error) {
			os.Stderr.WriteString("running\n")
			time.Sleep(time.Hour)
			return "late", nil
		})
	case "honours-context":
		protocol.Main(func(ctx context.Context, in struct{}) (string, error) {
			os.Stderr.WriteString("running\n")
			<-ctx.Done()
			return "", protocol.Errorf("STOPPED", "stopped cleanly")
		})
	}
}

// A tool on Main exits on SIGTERM whatever it is doing: waiting for its
// arguments, running a function that ignores its context (both end with
// the TERMINATED envelope), or running one that honours it (its own
// envelope).
func TestMainExitsOnSigterm(t *testing.T) {
	for _, tt := range []struct {
		tool     string
		holdOpen bool // stdin stays open: the tool waits for its arguments
		code     string
	}{
		{"ignores-context", true, protocol.CodeTerminated},
		{"ignores-context", false, protocol.CodeTerminated},
		{"honours-context", false, "STOPPED"},
	} {
		t.Run(tt.tool, func(t *testing.T) {
			// A signal that comes before Main catches SIGTERM kills the
			// process by default, which proves nothing: try again, later.
			for wait := 50 * time.Millisecond; ; wait *= 2 {
				code, stdout, stderr, early := sigtermTool(t, tt.tool, tt.holdOpen, wait)
				if early && wait < 10*time.Second {
					continue
				}
				if code != 1 {
					t.Fatalf("exit status %d, want 1; stderr %q", code, stderr)
				}
				lines := strings.Split(strings.TrimSpace(stderr), "\n")
				var env protocol.Error
				if err := json.Unmarshal([]byte(lines[len(lines)-1]), &env); err != nil || env.Code != tt.code {
					t.Errorf("stderr %q, want the envelope with code %s last", stderr, tt.code)
				}
				if stdout != "" {
					t.Errorf("stdout %q, want nothing", stdout)
				}
				return
			}
		})
	}
}

// sigtermTool runs this binary as the tool named, writes {} to its stdin
// (and closes it unless holdOpen), sends SIGTERM after wait and returns
// how it ended; early is set when SIGTERM killed it by default.
func sigtermTool(t *testing.T, tool string, holdOpen bool, wait time.Duration) (code int, stdout, stderr string, early bool) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "PROTOCOL_TEST_TOOL="+tool)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var errb lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	defer in.Close()
	in.Write([]byte("{}"))
	if !holdOpen {
		in.Close()
	}
	if holdOpen {
		time.Sleep(wait)
	} else {
		// The function runs once it says so; on a loaded machine that
		// may take longer than any fixed wait.
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(errb.String(), "running\n") && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30 s after SIGTERM")
	}
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		t.Fatal(werr)
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return cmd.ProcessState.ExitCode(), out.String(), errb.String(), ws.Signaled() && ws.Signal() == syscall.SIGTERM
}

// lockedBuffer is a buffer a process writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
