package host

import "golang.org/x/sys/unix"

// The resource limits of the limits and strict levels.
const (
	rlimitCPU    = unix.RLIMIT_CPU
	rlimitAS     = unix.RLIMIT_AS
	rlimitNofile = unix.RLIMIT_NOFILE
	rlimitFsize  = unix.RLIMIT_FSIZE
	rlimitCore   = unix.RLIMIT_CORE
	rlimitNproc  = unix.RLIMIT_NPROC
)
