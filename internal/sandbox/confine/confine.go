// Package confine describes the restrictions of a sandboxed tool and
// applies the ones the kernel attaches to a thread.
//
// no_new_privs, a Landlock domain and a seccomp filter belong to a thread
// and pass to the processes it forks, through exec. So the sandbox starts
// a confined tool from a throwaway OS thread of the host that first
// restricts itself (RestrictThread) and is never used for anything else:
// nothing runs between fork and exec but the Go runtime's own child code,
// and no second program (launcher or shell) is started. What belongs to a
// process rather than a thread, resource limits and the cgroup, is set by
// the sandbox while the new program is stopped at its first instruction.
package confine

// Config lists the restrictions of one tool.
type Config struct {
	// Rlimits are set (soft and hard) before the tool's first instruction.
	Rlimits []Rlimit
	// NoNewPrivs forbids gaining privileges by exec (setuid files, file
	// capabilities). Landlock and Seccomp imply it.
	NoNewPrivs bool
	// User, when set, is the user and group the tool runs as, with no
	// supplementary groups.
	User *User
	// Landlock, when set, confines the file system (and TCP, unless
	// Network) to what it lists.
	Landlock *Landlock
	// Seccomp, when set, loads the filter that denies the system calls a
	// tool has no business making.
	Seccomp *Seccomp
	// Mounts, when set, gives the tool a mount namespace of its own
	// (see Mounts).
	Mounts *Mounts
	// MemoryBytes, when positive, bounds the memory of the whole call,
	// the tool and everything it starts together: by the call's memory
	// cgroup where the containment has one (cgroup v1 with the memory
	// controller), else by the host's watch of its processes.
	MemoryBytes int64
}

// Mounts is a tool's own view of the file system, set up in a mount
// namespace of its own before its first instruction: private temporary
// folders, and files hidden from it.
type Mounts struct {
	// Tmp are the folders covered by an empty tmpfs of the tool's own
	// (/tmp, /dev/shm), of at most TmpBytes each.
	Tmp      []string
	TmpBytes int64
	// Keep are paths under Tmp that stay visible as they are (the
	// workspace when it lives in /tmp, the tool's program and home).
	Keep []string
	// Hide are files and folders the tool finds empty: a folder is
	// covered by an empty read-only tmpfs, a file by /dev/null.
	Hide []string
}

// Rlimit is one resource limit (a RLIMIT_* number), soft and hard.
type Rlimit struct {
	Resource int
	Value    uint64
}

// User is a numeric user and group.
type User struct {
	UID, GID uint32
}

// Landlock lists what the tool may reach; everything else is denied.
type Landlock struct {
	// Read may be read and executed; Write may also be written, created,
	// removed and renamed. Entries are files or folders (a folder grants
	// everything beneath it) and must exist. Optional entries are
	// read-only and skipped when missing.
	Read, Write, Optional []string
	// Dirs may be listed (and, with DirsWrite, have entries made in them)
	// without granting anything beneath them.
	Dirs      []string
	DirsWrite bool
	// Network lets the tool use TCP; without it, TCP bind and connect are
	// denied.
	Network bool
}

// Seccomp configures the system call filter.
type Seccomp struct {
	// Network allows sockets of families other than AF_UNIX; raw and
	// packet sockets are denied either way.
	Network bool
}

// UnavailableError reports a restriction this machine cannot apply.
type UnavailableError struct{ Reason string }

func (e *UnavailableError) Error() string { return e.Reason }
