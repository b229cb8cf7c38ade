package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as every hostile tool: run as
// "<test binary> sandbox-helper <marker> <name> [args]", it acts as the
// named helper. The marker tags every process of one test, so the test can
// look for survivors.
func TestMain(m *testing.M) {
	if len(os.Args) > 3 && os.Args[1] == "sandbox-helper" {
		os.Exit(helper(os.Args[2], os.Args[3], os.Args[4:]))
	}
	os.Exit(m.Run())
}

func helper(marker, name string, args []string) int {
	self := func(name string, args ...string) *exec.Cmd {
		exe, _ := os.Executable()
		return exec.Command(exe, append([]string{"sandbox-helper", marker, name}, args...)...)
	}
	switch name {
	case "echo":
		io.Copy(os.Stdout, os.Stdin)
	case "env":
		json.NewEncoder(os.Stdout).Encode(os.Environ())
	case "argv":
		json.NewEncoder(os.Stdout).Encode(os.Args)
	case "fail":
		fmt.Fprintln(os.Stderr, "some log line")
		fmt.Fprintln(os.Stderr, `{"error":"it broke","code":"BROKEN"}`)
		return 3
	case "sleep":
		time.Sleep(time.Hour)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "graceful":
		// Exits cleanly on SIGTERM, as protocol.Main lets a tool do.
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		<-c
		fmt.Fprintln(os.Stderr, "terminated cleanly")
		return 143
	case "grandchild":
		// Leaves a child holding stdout open, then exits successfully.
		c := self("sleep")
		c.Stdout = os.Stdout
		if err := c.Start(); err != nil {
			return 9
		}
		fmt.Println("{}")
	case "escape":
		// Leaves a child in a new session and process group, holding
		// stdout: only a cgroup finds it.
		c := self("sleep")
		c.Stdout = os.Stdout
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := c.Start(); err != nil {
			return 9
		}
		fmt.Println("{}")
	case "orphan-zombie":
		// A child that exits at once after its parent: an orphan zombie.
		c := self("exit-soon")
		if err := c.Start(); err != nil {
			return 9
		}
		fmt.Println("{}")
	case "setsid-zombie":
		// A child in a session of its own that exits before the tool:
		// neither in the tool's group nor listed in the cgroup by the time
		// the call ends, only a zombie.
		c := self("exit-soon")
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := c.Start(); err != nil {
			return 9
		}
		time.Sleep(300 * time.Millisecond)
		fmt.Println("{}")
	case "exit-soon":
		time.Sleep(50 * time.Millisecond)
	case "flood-stdout":
		buf := []byte(strings.Repeat("x", 64<<10))
		for {
			if _, err := os.Stdout.Write(buf); err != nil {
				return 1
			}
		}
	case "flood-stderr":
		buf := []byte(strings.Repeat("e", 64<<10) + "\n")
		for {
			if _, err := os.Stderr.Write(buf); err != nil {
				return 1
			}
		}
	case "forkbomb":
		// The classic, through a real shell; the marker is its $0.
		c := exec.Command("/bin/sh", "-c", "f(){ f|f& }; f; sleep 3600", marker)
		c.Stdout, c.Stderr = os.Stdout, os.Stderr
		c.Run()
		// The shell's own sleep may fail to fork once the cgroup is
		// full; the helper then waits for the timeout itself, without
		// needing a process.
		time.Sleep(time.Hour)
	case "spawn":
		// Starts n sleeping children and reports their pids.
		n, _ := strconv.Atoi(args[0])
		var pids []int
		for range n {
			c := self("sleep")
			if err := c.Start(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 9
			}
			pids = append(pids, c.Process.Pid)
		}
		json.NewEncoder(os.Stdout).Encode(pids)
		time.Sleep(time.Hour)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", name)
		return 2
	}
	return 0
}

// survivors lists live processes whose command line holds marker, and
// zombie children of this process.
func survivors(marker string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(cmdline), marker) {
			found = append(found, fmt.Sprintf("pid %d: %q", pid, strings.ReplaceAll(string(cmdline), "\x00", " ")))
		}
	}
	for _, pid := range children() {
		if state, _, ok := procStat(pid); ok && state == 'Z' {
			found = append(found, fmt.Sprintf("zombie child %d", pid))
		}
	}
	return found
}
