package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/toolhost/toolhost/internal/sandbox/confine"
	"golang.org/x/sys/unix"
)

// The test binary doubles as every hostile tool: run as
// "<test binary> sandbox-helper <marker> <name> [args]", it acts as the
// named helper. The marker tags every process of one test, so the test can
// look for survivors.
func TestMain(m *testing.M) {
	if len(os.Args) > 3 && os.Args[1] == "sandbox-helper" {
		os.Exit(helper(os.Args[2], os.Args[3], os.Args[4:]))
	}
	// As agentcli does: an ordinary user's tests run in a user namespace
	// of their own, where the pid namespace backend works.
	if code, ran := EnterUserNamespace(); ran {
		os.Exit(code)
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
	case "litter":
		// Leaves a file in each shared temporary folder.
		for _, d := range []string{"/tmp", "/dev/shm"} {
			if err := os.WriteFile(d+"/"+args[0], []byte("x"), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
	case "mounts":
		// Reports what it finds: /tmp's entries after writing one of its
		// own there, its TMPDIR, and the files it was given.
		out := map[string]any{}
		out["write"] = fmt.Sprint(os.WriteFile("/tmp/"+args[0], []byte("x"), 0o644))
		var names []string
		entries, _ := os.ReadDir("/tmp")
		for _, e := range entries {
			names = append(names, e.Name())
		}
		out["tmp"] = names
		out["tmpdir"] = fmt.Sprint(os.WriteFile(os.Getenv("TMPDIR")+"/f", []byte("x"), 0o600))
		read := map[string]string{}
		for _, p := range args[1:] {
			b, err := os.ReadFile(p)
			if err != nil {
				if entries, derr := os.ReadDir(p); derr == nil {
					read[p] = fmt.Sprintf("folder of %d entries", len(entries))
					continue
				}
				read[p] = "error: " + err.Error()
				continue
			}
			read[p] = string(b)
		}
		out["read"] = read
		// Which /proc it sees: its own pid namespace's (it is 1 there, and
		// alone) or the host's.
		out["self"], _ = os.Readlink("/proc/self")
		procs := 0
		entries, _ = os.ReadDir("/proc")
		for _, e := range entries {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				procs++
			}
		}
		out["procs"] = procs
		json.NewEncoder(os.Stdout).Encode(out)
	case "hog":
		// Starts children that take 40 MiB each and hold it for half a
		// second (or args[1]); reports how many of them died.
		n, _ := strconv.Atoi(args[0])
		died, err := runAll(n, func() *exec.Cmd { return self("hog-child", args[1:]...) })
		if err != nil {
			return 9
		}
		fmt.Printf(`{"died":%d}`+"\n", died)
	case "hog-child":
		b := make([]byte, 40<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		hold := 500 * time.Millisecond
		if len(args) > 0 {
			hold, _ = time.ParseDuration(args[0])
		}
		time.Sleep(hold)
		runtime.KeepAlive(b)
	case "share":
		// Shares 256 MiB of memory with two children that map it too,
		// and holds it until they are done: 768 MiB resident in all,
		// 256 MiB of it real.
		fd, err := unix.MemfdCreate("share", unix.MFD_CLOEXEC)
		if err != nil || unix.Ftruncate(fd, shareBytes) != nil {
			return 9
		}
		f := os.NewFile(uintptr(fd), "share")
		b, err := shareMap(fd)
		if err != nil {
			return 9
		}
		died, err := runAll(2, func() *exec.Cmd {
			c := self("share-child")
			c.ExtraFiles = []*os.File{f}
			return c
		})
		if err != nil {
			return 9
		}
		runtime.KeepAlive(b)
		fmt.Printf(`{"died":%d}`+"\n", died)
	case "share-child":
		b, err := shareMap(3)
		if err != nil {
			return 9
		}
		time.Sleep(500 * time.Millisecond)
		runtime.KeepAlive(b)
	case "tmpdir":
		// Fills its temporary folder, with a folder it cannot read
		// itself, and reports the folder, its mode and owner.
		dir := os.Getenv("TMPDIR")
		os.WriteFile(dir+"/file", []byte("x"), 0o600)
		os.MkdirAll(dir+"/locked/deep", 0o700)
		os.WriteFile(dir+"/locked/deep/f", []byte("x"), 0o600)
		os.Chmod(dir+"/locked", 0)
		var st syscall.Stat_t
		if err := syscall.Stat(dir, &st); err != nil {
			return 1
		}
		json.NewEncoder(os.Stdout).Encode(map[string]any{"dir": dir, "mode": st.Mode & 0o7777, "uid": st.Uid, "me": os.Getuid()})
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
	case "daemon":
		// The classic daemon: a child that starts "escape" (a grandchild
		// in a session of its own holding stdout) and exits, so the
		// grandchild is an orphan out of the tool's group and session.
		// The child's "{}" is the tool's output.
		c := self("escape")
		c.Stdout = os.Stdout
		if err := c.Run(); err != nil {
			return 9
		}
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
	case "fds":
		// The descriptors it was given.
		entries, _ := os.ReadDir("/proc/self/fd")
		var fds []string
		for _, e := range entries {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			fds = append(fds, e.Name()+"="+l)
		}
		json.NewEncoder(os.Stdout).Encode(fds)
	case "inherited-fds":
		// A program that inherited a descriptor without close-on-exec
		// (fd 3) runs "fds" through a Launcher of its own, bare and
		// confined, and reports what each saw.
		l, err := New(Options{AllowUncontained: true})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer l.Close()
		exe, _ := os.Executable()
		var seen [][]string
		for _, c := range []*confine.Config{nil, {NoNewPrivs: true}} {
			out, err := l.Launch(context.Background(), &Spec{Path: exe, Args: []string{exe, "sandbox-helper", marker, "fds"},
				Confine: c, Timeout: 30 * time.Second, MaxStdout: 1 << 20})
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			var fds []string
			json.Unmarshal(out.Stdout, &fds)
			seen = append(seen, fds)
		}
		json.NewEncoder(os.Stdout).Encode(seen)
	case "secret-holder":
		// Holds a secret in its environment for a second: long enough for
		// another call to look for it.
		time.Sleep(time.Second)
		json.NewEncoder(os.Stdout).Encode(map[string]any{"uid": os.Getuid()})
	case "read-marked-environ":
		// Reads the environment of another process of this test.
		res := map[string]any{"uid": os.Getuid()}
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if e.Name() == strconv.Itoa(os.Getpid()) {
				continue
			}
			cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err != nil || !strings.Contains(string(cmdline), "secret-holder") || !strings.Contains(string(cmdline), marker) {
				continue
			}
			env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
			res["environ"], res["err"] = string(env), errText(err)
		}
		json.NewEncoder(os.Stdout).Encode(res)
	case "session":
		// Its session and whether it can reach a controlling terminal.
		sid, _ := unix.Getsid(0)
		_, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		json.NewEncoder(os.Stdout).Encode(map[string]any{"sid": sid, "pid": os.Getpid(), "tty": errText(err)})
		if len(args) > 0 && args[0] == "stay" {
			time.Sleep(time.Hour) // for the host to look at it
		}
	case "whoami":
		// Who the tool runs as and what bounds it.
		status, _ := os.ReadFile("/proc/self/status")
		nnp := ""
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "NoNewPrivs:"); ok {
				nnp = strings.TrimSpace(v)
			}
		}
		groups, _ := syscall.Getgroups()
		limits := map[string]uint64{}
		for name, res := range map[string]int{"cpu": syscall.RLIMIT_CPU, "as": syscall.RLIMIT_AS, "nofile": syscall.RLIMIT_NOFILE, "fsize": syscall.RLIMIT_FSIZE, "core": syscall.RLIMIT_CORE} {
			var r syscall.Rlimit
			syscall.Getrlimit(res, &r)
			limits[name] = r.Max
		}
		cwd, _ := os.Getwd()
		json.NewEncoder(os.Stdout).Encode(map[string]any{"uid": os.Getuid(), "euid": os.Geteuid(), "gid": os.Getgid(), "groups": groups, "nnp": nnp, "limits": limits, "cwd": cwd})
	case "try":
		// Attempts each operation named in args and reports each error
		// ("" when it worked).
		res := map[string]string{}
		for _, op := range args {
			res[op] = errText(try(op))
		}
		json.NewEncoder(os.Stdout).Encode(res)
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

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// try performs one operation "kind:argument" for the "try" helper.
func try(op string) error {
	kind, arg, _ := strings.Cut(op, ":")
	switch kind {
	case "read":
		_, err := os.ReadFile(arg)
		return err
	case "list":
		_, err := os.ReadDir(arg)
		return err
	case "write":
		return os.WriteFile(arg, []byte("x"), 0o644)
	case "dial":
		c, err := net.DialTimeout("tcp", arg, 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	case "udp":
		c, err := net.Dial("udp", arg)
		if err == nil {
			c.Close()
		}
		return err
	case "unix":
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err == nil {
			syscall.Close(fd)
		}
		return err
	case "raw":
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_ICMP)
		if err == nil {
			syscall.Close(fd)
		}
		return err
	case "ptrace":
		// Attach to a child of our own, which ptrace would otherwise allow.
		exe, _ := os.Executable()
		c := exec.Command(exe, "sandbox-helper", "x", "sleep")
		if err := c.Start(); err != nil {
			return err
		}
		defer func() { c.Process.Kill(); c.Wait() }()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := syscall.PtraceAttach(c.Process.Pid)
		if err == nil {
			syscall.PtraceDetach(c.Process.Pid)
		}
		return err
	case "mount":
		return syscall.Mount("none", arg, "tmpfs", 0, "")
	case "packet-high":
		// High bits set in the arguments: the kernel reads the low 32.
		return rawSocket(uintptr(syscall.AF_PACKET)|1<<32, syscall.SOCK_DGRAM, 0)
	case "raw-high":
		return rawSocket(syscall.AF_INET, uintptr(syscall.SOCK_RAW)|1<<32, syscall.IPPROTO_ICMP)
	case "inet-high":
		return rawSocket(uintptr(syscall.AF_INET)|1<<32, syscall.SOCK_STREAM, 0)
	case "pidfd":
		// Open our parent (the host's thread) by pidfd and take its fd 0.
		pfd, _, e := syscall.RawSyscall(434 /* pidfd_open */, uintptr(os.Getppid()), 0, 0)
		if e != 0 {
			return e
		}
		defer syscall.Close(int(pfd))
		fd, _, e := syscall.RawSyscall(438 /* pidfd_getfd */, pfd, 0, 0)
		if e != 0 {
			return e
		}
		syscall.Close(int(fd))
		return nil
	case "signal":
		// Signal 0 to a process by pid: whether it can be reached.
		pid, _ := strconv.Atoi(arg)
		return syscall.Kill(pid, 0)
	case "ptrace-pid":
		pid, _ := strconv.Atoi(arg)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := syscall.PtraceAttach(pid)
		if err == nil {
			syscall.PtraceDetach(pid)
		}
		return err
	case "mknod":
		// A character device node for /dev/null's device, 1:3.
		return syscall.Mknod(arg, syscall.S_IFCHR|0o600, 1<<8|3)
	case "mkfifo":
		return syscall.Mkfifo(arg, 0o600)
	case "unshare":
		runtime.LockOSThread() // the thread may be in a new namespace
		return syscall.Unshare(syscall.CLONE_NEWNS)
	case "userns":
		// clone with a namespace flag.
		c := exec.Command("/bin/true")
		c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
		return c.Run()
	}
	return fmt.Errorf("unknown operation %q", op)
}

// rawSocket makes socket(2) with the arguments as given, 64 bits each.
func rawSocket(domain, typ, proto uintptr) error {
	fd, _, e := syscall.RawSyscall(syscall.SYS_SOCKET, domain, typ, proto)
	if e != 0 {
		return e
	}
	syscall.Close(int(fd))
	return nil
}

const shareBytes = 256 << 20

// shareMap maps the shareBytes of fd shared and touches every page.
func shareMap(fd int) ([]byte, error) {
	b, err := unix.Mmap(fd, 0, shareBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return b, nil
}

// runAll starts n children made by cmd, their output on stderr, waits
// for them all, and says how many died (failed).
func runAll(n int, cmd func() *exec.Cmd) (died int, err error) {
	var kids []*exec.Cmd
	for range n {
		c := cmd()
		c.Stdout = os.Stderr
		if err := c.Start(); err != nil {
			return 0, err
		}
		kids = append(kids, c)
	}
	for _, c := range kids {
		if c.Wait() != nil {
			died++
		}
	}
	return died, nil
}
