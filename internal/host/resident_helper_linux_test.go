package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/toolhost/toolhost/protocol"
	"github.com/toolhost/toolhost/protocol/resident"
)

// residentIn is a call of the "resident" helper: Do says what it does.
type residentIn struct {
	Do     string `json:"do"`
	N      int    `json:"n"`
	Bytes  int    `json:"bytes"`
	Addr   string `json:"addr"`
	Stdout string `json:"stdout"`
}

// processToken tells the processes of a resident helper apart: in a pid
// namespace of its own, each is pid 1.
var processToken = int(time.Now().UnixNano() % 1e12)

// residentHelper serves the "resident" helper's calls, one binary for
// every behaviour a test needs of a resident tool.
func residentHelper(name string) int {
	switch name {
	case "resident-silent":
		// Never says go-plugin's handshake.
		time.Sleep(time.Hour)
		return 0
	case "resident-raw":
		// Replies with whatever stdout the call asks for, status 0: what
		// a plugin written without resident.Main could send.
		resident.Serve(func(_ context.Context, args []byte) resident.CallReply {
			var in residentIn
			json.Unmarshal(args, &in)
			return resident.CallReply{Stdout: []byte(in.Stdout)}
		})
		return 0
	}
	resident.Main(func(ctx context.Context, in residentIn) (any, error) {
		switch in.Do {
		case "echo":
			return map[string]any{"n": in.N, "pid": processToken}, nil
		case "env":
			return os.Environ(), nil
		case "sleep":
			select {
			case <-time.After(time.Duration(in.N) * time.Millisecond):
				return map[string]any{"n": in.N, "pid": processToken}, nil
			case <-ctx.Done():
				return nil, protocol.Errorf("STOPPED", "stopped: %v", ctx.Err())
			}
		case "hang":
			time.Sleep(time.Hour) // ignores its cancellation
		case "wait":
			<-ctx.Done()
			return nil, protocol.Errorf("STOPPED", "stopped: %v", ctx.Err())
		case "crash":
			go panic(fmt.Sprintf("resident helper crashes on purpose (%d)", in.N))
			time.Sleep(time.Hour)
		case "slow-crash":
			time.Sleep(time.Duration(in.N) * time.Millisecond)
			os.Exit(7)
		case "big":
			return strings.Repeat("x", in.Bytes), nil
		case "flood":
			// A reply past any cap, sent whole.
			return strings.Repeat("f", in.Bytes), nil
		case "print":
			// Writes to os.Stdout and os.Stderr, which go-plugin carries
			// to the host.
			for range in.N {
				os.Stderr.WriteString(strings.Repeat("l", 1023) + "\n")
			}
			return "printed", nil
		case "child":
			c := exec.Command("/bin/sleep", "3600")
			if err := c.Start(); err != nil {
				return nil, err
			}
			return map[string]int{"child": c.Process.Pid, "pid": processToken}, nil
		case "escape":
			return escapeAttempts(in), nil
		}
		return nil, fmt.Errorf("unknown do %q", in.Do)
	})
	return 0
}

// escapeAttempts tries what a strict tool may not do, and says for each
// what stopped it ("" when it worked).
func escapeAttempts(in residentIn) map[string]string {
	res := map[string]string{}
	try := func(name string, err error) {
		res[name] = ""
		if err != nil {
			res[name] = err.Error()
		}
	}
	for _, p := range []string{"/etc/shadow", ".env"} { // named here: the gate would refuse them as arguments
		_, err := os.ReadFile(p)
		try("read:"+p, err)
	}
	try("write:/var/tmp", os.WriteFile(fmt.Sprintf("/var/tmp/toolhost-resident-escape-%d", os.Getpid()), nil, 0o644))
	if in.Addr != "" {
		c, err := net.DialTimeout("tcp", in.Addr, time.Second)
		if err == nil {
			c.Close()
		}
		try("dial", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
	if err == nil {
		unix.Close(fd)
	}
	try("raw", err)
	try("ptrace-parent", unix.PtraceAttach(os.Getppid()))
	try("mount", unix.Mount("tmpfs", "/mnt", "tmpfs", 0, ""))
	try("unshare-net", unix.Unshare(unix.CLONE_NEWNET))
	if err := unix.Kill(1, 0); err != nil && !errors.Is(err, unix.EPERM) {
		try("kill-1", err)
	}
	return res
}
