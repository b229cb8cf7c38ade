package confine

import (
	"fmt"
	"sync"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Denied are the system calls the strict level refuses (EPERM): debugging
// and memory access across processes, mounts and namespaces, kernel
// modules, keyrings, BPF and perf, rebooting and swap, io_uring (whose
// operations bypass this filter), and other administration.
//
// ptrace is denied too, except the two requests the sandbox itself makes
// from the restricted thread that starts the tool: PTRACE_TRACEME in the
// child and PTRACE_DETACH in the thread. Neither lets the tool trace
// anything.
var Denied = []string{
	"process_vm_readv", "process_vm_writev", "kcmp",
	"mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
	"fsmount", "fspick", "mount_setattr", "unshare", "setns",
	"bpf", "perf_event_open", "userfaultfd",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"keyctl", "add_key", "request_key",
	"reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "vhangup",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "iopl", "ioperm",
	"fanotify_init", "personality",
	// Another process's descriptors and signals by pidfd: a tool must not
	// take the host's open files (the host thread that starts it shares
	// its Landlock domain, so Landlock alone would let it).
	"pidfd_open", "pidfd_getfd", "pidfd_send_signal",
}

// namespaceFlags are the clone flags that make a namespace, but for
// CLONE_NEWPID: the restricted thread starts the tool in a pid namespace of
// its own where the host has no cgroup (the sandbox's pid namespace
// backend). The kernel grants CLONE_NEWPID only with CAP_SYS_ADMIN over the
// caller's user namespace, which a tool never has (it runs as an ordinary
// user with no capabilities, and a new user namespace, the way to gain
// them, stays denied).
var namespaceFlags = []uint64{unix.CLONE_NEWNS, unix.CLONE_NEWUSER, unix.CLONE_NEWNET,
	unix.CLONE_NEWUTS, unix.CLONE_NEWIPC, unix.CLONE_NEWCGROUP, unix.CLONE_NEWTIME}

// argLow is the offset in struct seccomp_data of the low 32 bits of
// argument i.
func argLow(i uint32) uint32 {
	off := 16 + 8*i
	if bigEndian {
		off += 4
	}
	return off
}

var bigEndian = func() bool {
	var x uint16 = 1
	return (*[2]byte)(unsafe.Pointer(&x))[0] == 0
}()

// filters are the two filters (no network, network), assembled once.
var filters [2]struct {
	once sync.Once
	prog []bpf.RawInstruction
	err  error
}

// filter returns the filter for a tool with or without network.
func filter(network bool) ([]bpf.RawInstruction, error) {
	i := 0
	if network {
		i = 1
	}
	f := &filters[i]
	f.once.Do(func() { f.prog, f.err = assemble(network) })
	return f.prog, f.err
}

// assemble builds the filter on this machine's architecture.
func assemble(network bool) ([]bpf.RawInstruction, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range Denied {
		if _, ok := info.SyscallNames[n]; ok {
			names = append(names, n)
		}
	}
	var conds []seccomp.NameWithConditions
	cond := func(name string, arg uint32, op seccomp.Operation, v uint64) {
		if _, ok := info.SyscallNames[name]; ok {
			conds = append(conds, seccomp.NameWithConditions{Name: name,
				Conditions: seccomp.ArgumentConditions{{Argument: arg, Operation: op, Value: v}}})
		}
	}
	if _, ok := info.SyscallNames["ptrace"]; ok {
		conds = append(conds, seccomp.NameWithConditions{Name: "ptrace", Conditions: seccomp.ArgumentConditions{
			{Argument: 0, Operation: seccomp.NotEqual, Value: unix.PTRACE_TRACEME},
			{Argument: 0, Operation: seccomp.NotEqual, Value: unix.PTRACE_DETACH},
		}})
	}
	for _, f := range namespaceFlags {
		cond("clone", 0, seccomp.BitsSet, f)
	}
	// Device nodes: a tool running as root could make one for a disk or
	// /dev/mem in a folder it may write, and open it. S_IFCHR's bit is set
	// in both S_IFCHR and S_IFBLK (and in no other file type mknod makes).
	cond("mknod", 1, seccomp.BitsSet, unix.S_IFCHR)
	cond("mknodat", 2, seccomp.BitsSet, unix.S_IFCHR)
	policy := seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls:      []seccomp.SyscallGroup{{Names: names, NamesWithCondtions: conds, Action: seccomp.ActionErrno}},
	}
	insts, err := policy.Assemble()
	if err != nil {
		return nil, err
	}
	// The library lets other architectures' system calls through (a 64-bit
	// process may still make 32-bit ones): those kill the process. clone3
	// passes its flags in memory, out of a filter's reach: it says ENOSYS,
	// so C libraries fall back to clone, whose flags are checked.
	prefix := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_KILL_PROCESS},
	}
	if nr, ok := info.SyscallNames["clone3"]; ok {
		prefix = append(prefix,
			bpf.LoadAbsolute{Off: 0, Size: 4}, // seccomp_data.nr
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(nr | info.SeccompMask), SkipFalse: 1},
			bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		)
	}
	// socket's family and type are ints: the kernel reads the low 32 bits
	// of each argument, so only those are compared (a filter comparing all
	// 64 would let AF_PACKET|1<<32 through).
	if nr, ok := info.SyscallNames["socket"]; ok {
		eperm := bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)}
		prefix = append(prefix,
			bpf.LoadAbsolute{Off: 0, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(nr | info.SeccompMask), SkipFalse: 7},
			bpf.LoadAbsolute{Off: argLow(0), Size: 4}, // family
		)
		if network {
			prefix = append(prefix,
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.AF_PACKET, SkipFalse: 1},
				eperm,
				bpf.LoadAbsolute{Off: argLow(1), Size: 4}, // type and flags
				bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf},
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SOCK_RAW, SkipFalse: 1},
				eperm,
			)
		} else {
			// No network: local sockets only.
			prefix = append(prefix,
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.AF_UNIX, SkipTrue: 1},
				eperm,
				bpf.LoadAbsolute{Off: 0, Size: 4}, // pads to the same length
				bpf.LoadAbsolute{Off: 0, Size: 4},
				bpf.LoadAbsolute{Off: 0, Size: 4},
				bpf.LoadAbsolute{Off: 0, Size: 4},
			)
		}
	}
	return bpf.Assemble(append(prefix, insts...))
}

// load loads the filter on the calling thread only.
func (s *Seccomp) load() error {
	raw, err := filter(s.Network)
	if err != nil {
		return fmt.Errorf("seccomp filter: %w", err)
	}
	prog := unix.SockFprog{Len: uint16(len(raw)), Filter: (*unix.SockFilter)(unsafe.Pointer(&raw[0]))}
	// This thread only: it is the one that executes the tool.
	if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); e != 0 {
		return fmt.Errorf("load the seccomp filter: %w", e)
	}
	return nil
}
