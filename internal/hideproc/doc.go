// Package hideproc hides secrets from what other processes can read of
// this one: /proc/PID/cmdline (world-readable) and /proc/PID/environ
// (readable by the same user, and so by a tool running as that user).
// The kernel shows there the memory the program started with, which Go
// leaves in place; Hide overwrites it through /proc/self/mem.
package hideproc
