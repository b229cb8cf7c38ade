//go:build !unix

package host

import (
	"io/fs"

	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

// checkRunnable has nothing to check where tools run as the host's user
// and permissions are not Unix's.
func checkRunnable(tool, program string, byPath bool, u *confine.User, path string) error { return nil }

// isScript is false: scripts run by their interpreter's own rules here.
func isScript(string) bool { return false }

// toolHome is the host's home: tools run as the host's user here.
func toolHome(_ *confine.User, home string) string { return home }

// inode is 0: file identities are not Unix's here.
func inode(fs.FileInfo) uint64 { return 0 }
