//go:build !linux

package host

// The levels that set resource limits need Linux (confine.CheckLimits
// says so first); these only keep the code building elsewhere.
const (
	rlimitCPU = iota
	rlimitAS
	rlimitNofile
	rlimitFsize
	rlimitCore
	rlimitNproc
)
