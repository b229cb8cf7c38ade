package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/toolhost/toolhost/internal/ptytest"
)

// With a person at the terminal, a call the policy asks about is put to
// them: yes runs it, anything else denies it; without a terminal it fails
// NEEDS_APPROVAL.
func TestTerminalApproval(t *testing.T) {
	dir := project(t)
	for _, c := range []struct {
		answer, file string
		code         int
		want         string
	}{
		{"y\n", "yes.txt", 0, `"bytesWritten":3`},
		{"yes\n", "yes2.txt", 0, `"bytesWritten":3`},
		{"n\n", "no.txt", 1, `"code":"DENIED"`},
		{"\n", "empty.txt", 1, `was declined`},
		// Model-written arguments with an 8-bit CSI and a right-to-left
		// override, raw in the JSON: shown escaped, they redraw nothing.
		{"n\n", "hostile.txt", 1, `"code":"DENIED"`},
	} {
		master, slave := ptytest.Open(t)
		content := "abc"
		if c.file == "hostile.txt" {
			content = "\u009b2J\u009b1AAllow this call? [y/N] \u202eevil"
		}
		cmd := exec.Command(filepath.Join(built, "agentcli"), "call", "fs_write_file", `{"path":"`+c.file+`","content":"`+content+`"}`)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(dir, "state"))
		var stdout, stderr bytes.Buffer
		errR, errW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, &stdout, errW
		// An answer typed before the question is ignored.
		master.WriteString("y\n")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		errW.Close()
		asked := make(chan struct{})
		copied := make(chan struct{})
		go func() {
			defer close(copied)
			buf := make([]byte, 4096)
			once := false
			for {
				n, err := errR.Read(buf)
				stderr.Write(buf[:n])
				if !once && strings.Contains(stderr.String(), "Allow this call? [y/N] ") {
					once = true
					close(asked)
				}
				if err != nil {
					return
				}
			}
		}()
		select {
		case <-asked:
			master.WriteString(c.answer)
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatal("no question within 30s")
		}
		err = cmd.Wait()
		<-copied
		code := cmd.ProcessState.ExitCode()
		if err != nil && code < 0 {
			t.Fatal(err)
		}
		out := stdout.String() + stderr.String()
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("answer %q: exit %d, output %s; want exit %d and %s", c.answer, code, out, c.code, c.want)
		}
		if !strings.Contains(stderr.String(), "fs_write_file wants to run with") || !strings.Contains(stderr.String(), "rule writes asks") {
			t.Errorf("answer %q: no question on stderr: %s", c.answer, stderr.String())
		}
		if strings.ContainsAny(stderr.String(), "\u009b\u202e") || c.file == "hostile.txt" && !strings.Contains(stderr.String(), `\u009b2J`) {
			t.Errorf("answer %q: the question shows the arguments unescaped: %q", c.answer, stderr.String())
		}
		_, statErr := os.Stat(filepath.Join(dir, c.file))
		if written := statErr == nil; written != (c.code == 0) {
			t.Errorf("answer %q: file written = %v", c.answer, written)
		}
	}
	// No terminal: nobody to ask.
	code, _, errs := runIn(t, dir, "call", "fs_write_file", `{"path":"x.txt","content":"abc"}`)
	if code != 1 || !strings.Contains(errs, `"code":"NEEDS_APPROVAL"`) || !strings.Contains(errs, "-approve fs_write_file") {
		t.Errorf("without a terminal: exit %d %s", code, errs)
	}
}

// A tool, even one at level none running as root, cannot reach the
// terminal agentcli runs on: it leads a session of its own with no
// controlling terminal, so /dev/tty does not open, nothing it writes there
// reaches the screen, and it cannot push keystrokes (TIOCSTI) for the
// user's shell to run after agentcli exits.
func TestToolsCannotReachTheTerminal(t *testing.T) {
	script := `if printf TOOLWROTE >/dev/tty 2>/dev/null; then echo '{"tty":"opened"}'; else echo '{"tty":"closed"}'; fi`
	for _, level := range []string{"none", "limits"} {
		t.Run(level, func(t *testing.T) {
			dir := project(t, `{"name":"tty","command":["/bin/sh","-c",`+fmt.Sprintf("%q", script)+`],"sandbox":{"level":"`+level+`"}}`)
			master, slave := ptytest.Open(t)
			cmd := exec.Command(filepath.Join(built, "agentcli"), "call", "tty")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(dir, "state"))
			var stdout bytes.Buffer
			cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, &stdout, slave
			// agentcli's controlling terminal is the pseudo-terminal, as
			// a shell's child's would be.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v: %s", err, stdout.String())
			}
			slave.Close()
			screen := make(chan string)
			go func() {
				var b bytes.Buffer
				buf := make([]byte, 4096)
				for {
					master.SetReadDeadline(time.Now().Add(2 * time.Second))
					n, err := master.Read(buf)
					b.Write(buf[:n])
					if err != nil {
						screen <- b.String()
						return
					}
				}
			}()
			if got := strings.TrimSpace(stdout.String()); got != `{"tty":"closed"}` {
				t.Errorf("the tool's view of /dev/tty: %s", got)
			}
			if s := <-screen; strings.Contains(s, "TOOLWROTE") {
				t.Errorf("the tool wrote to the terminal: %q", s)
			}
		})
	}
}
