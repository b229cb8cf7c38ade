//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/toolhost/toolhost/internal/hideproc"
	"github.com/toolhost/toolhost/internal/realowner"
)

// userNamespaceEnv marks the copy of a program that EnterUserNamespace
// started, so that it does not start another.
const userNamespaceEnv = "TOOLHOST_USERNS"

// EnterUserNamespace gives an ordinary user's program the pid namespace
// backend: when this process is not root and may manage no cgroup, it runs
// the program again (/proc/self/exe, the same arguments, environment and
// standard streams) in a user namespace of its own, where the program's
// user is mapped to itself and keeps one capability, CAP_SYS_ADMIN over
// that namespace alone, which is what starting each tool in a pid
// namespace of its own takes. The copy's files, network and user are this
// process's; only the namespace differs. This process then waits for the
// copy, passing on SIGTERM, SIGHUP and SIGINT, and returns the copy's exit
// status with ran set: the caller exits with it and does nothing else.
//
// It returns ran false, and does nothing, for root, in the copy itself,
// where a cgroup can be had, and where the kernel refuses user namespaces
// (the Launcher then says why calls cannot be contained). Call it first in
// main, before anything else has started; only a program whose every run
// goes through it should: it is process-wide by nature.
func EnterUserNamespace() (code int, ran bool) {
	if os.Getenv(userNamespaceEnv) != "" {
		os.Unsetenv(userNamespaceEnv)
		return 0, false
	}
	if os.Geteuid() == 0 || cgroupUsable() == nil {
		return 0, false
	}
	// Before Linux 5.14 the pid namespace backend is refused anyway (the
	// process limit is not counted per namespace): the copy would hold a
	// capability for nothing, which a tool started on an ordinary thread
	// (-allow-uncontained, level none) could inherit.
	if v := kernelVersion(); v[0] < 5 || v[0] == 5 && v[1] < 14 {
		return 0, false
	}
	uid, gid := os.Getuid(), os.Getgid()
	// Root's files show another user inside: this process tells the copy
	// who really owns a file, for its trust checks.
	serve, child, err := realowner.Pair()
	if err != nil {
		return 0, false
	}
	defer serve.Close()
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       os.Args,
		Env:        append(os.Environ(), userNamespaceEnv+"=1", realowner.Env+"=3"),
		ExtraFiles: []*os.File{child},
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}},
			AmbientCaps: []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_SYS_CHROOT},
			// The copy shuts down cleanly, audit log included, if this
			// process is killed.
			Pdeathsig: syscall.SIGTERM,
		},
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT)
	defer signal.Stop(sigs)
	// Pdeathsig is sent when the thread that started the copy ends.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err = cmd.Start()
	child.Close()
	if err != nil {
		// This process goes on as the program: a signal that came
		// meanwhile is its own, delivered again once no longer caught.
		signal.Stop(sigs)
		for pending := true; pending; {
			select {
			case sig := <-sigs:
				syscall.Kill(os.Getpid(), sig.(syscall.Signal))
			default:
				pending = false
			}
		}
		return 0, false
	}
	go realowner.Serve(serve)
	// The copy has the arguments and environment; this process needs
	// them no more, and tools could read an API key in them in /proc.
	hideproc.HideAll()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), true
		}
		return ee.ExitCode(), true
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "agentcli: %v\n", err)
		return 1, true
	}
	return 0, true
}

// inOwnUserNamespace reports whether this process runs in a user
// namespace that maps only its own user (as EnterUserNamespace makes).
func inOwnUserNamespace() bool {
	data, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 1 {
		return false
	}
	f := strings.Fields(lines[0])
	return len(f) == 3 && f[2] == "1" && f[0] == f[1] && f[1] != "0"
}

// userNamespaceRefusal says why this machine refuses an ordinary user a
// user namespace, and how to allow it, or "" when nothing says it does.
func userNamespaceRefusal() string {
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return strings.TrimSpace(string(b))
	}
	switch {
	case read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
		return "kernel.unprivileged_userns_clone is 0 (sysctl -w kernel.unprivileged_userns_clone=1 allows them)"
	case read("/proc/sys/user/max_user_namespaces") == "0":
		return "user.max_user_namespaces is 0 (sysctl -w user.max_user_namespaces=15000 allows them)"
	case read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
		return "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1; an AppArmor profile for agentcli with \"userns,\" allows them)"
	}
	return ""
}

// dropInheritedCaps clears the calling thread's ambient and inheritable
// capabilities, so that a tool it starts gains none at exec: in the user
// namespace EnterUserNamespace makes, every thread inherits CAP_SYS_ADMIN
// as an ambient capability. The thread keeps its effective ones, which
// starting a pid namespace needs. The thread must be locked.
func dropInheritedCaps() error {
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	if data[0].Inheritable == 0 && data[1].Inheritable == 0 {
		return nil
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clear inheritable capabilities: %w", err)
	}
	return nil
}
