package sandbox

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

// callTmp makes the call's own temporary folder, mode 0700, owned by the
// tool's user, in a folder of the launcher's that others may cross but
// not list (0711): the tool finds it in TMPDIR, no other call can reach
// it, and it is removed with everything in it when the call ends.
func (l *Launcher) callTmp(conf *confine.Config) (string, error) {
	root, err := l.TempRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(root, "call-")
	if err != nil {
		return "", err
	}
	if conf != nil && conf.User != nil {
		if err := os.Chown(dir, int(conf.User.UID), int(conf.User.GID)); err != nil {
			os.Remove(dir)
			return "", err
		}
	}
	return dir, nil
}

// TempRoot is the launcher's folder for the calls' temporary folders
// and the folders it shares with long-lived processes (Spec.ShareDirs):
// owned by the host, others may cross it but not list it (0711). It is
// made at the first use and removed by Close.
func (l *Launcher) TempRoot() (string, error) {
	l.tmpOnce.Do(func() {
		if l.tmpRoot, l.tmpErr = os.MkdirTemp("", "toolhost-calls-"); l.tmpErr == nil {
			l.tmpErr = os.Chmod(l.tmpRoot, 0o711)
		}
	})
	return l.tmpRoot, l.tmpErr
}

// removeTree removes dir and everything in it, also what a tool made
// unreadable to its own user (chmod 000) on the way out.
func removeTree(dir string) error {
	if os.RemoveAll(dir) == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(p, 0o700) // before the walk reads it
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// withTmp returns env with TMPDIR set to dir, and no other temporary
// folder variable.
func withTmp(env []string, dir string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "TMPDIR", "TMP", "TEMP", "TEMPDIR":
			continue
		}
		out = append(out, kv)
	}
	return append(out, "TMPDIR="+dir)
}
