//go:build unix

package host

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/toolhost/toolhost/internal/realowner"
	"github.com/toolhost/toolhost/internal/sandbox"
	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

// checkRunnable reports why u (nil: the host's own user) cannot start
// program for tool, or nil. A binary is executed by descriptor, opened by
// the host, so only the file's permission counts. A script's interpreter
// reads it, so it must be readable too; it runs by its path unless pinned
// (byPath), and then every folder to it must be enterable; and so must
// every folder to its interpreter (and, for "#!/usr/bin/env NAME", to NAME
// on PATH).
func checkRunnable(tool, program string, byPath bool, u *confine.User, path string) error {
	who := describeUser(u)
	check := func(p, need string, bits uint32, fix string) error {
		if ok, fi := permitted(p, u, bits); !ok {
			e := &RunnableError{Tool: tool, User: who, Path: p, Need: need, Fix: fix}
			if fi == nil {
				e.Missing = true
				e.Fix = fmt.Sprintf("install it, or name a program that exists (the #! line of %s, or command[0])", program)
			} else {
				e.Mode = fi.Mode()
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					uid, _ := realowner.UID(p, st.Uid)
					e.Owner = userName(uid)
				}
			}
			return e
		}
		return nil
	}
	folders := func(p string) error {
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			if err := check(d, "enter", unix.X_OK, fmt.Sprintf("chmod a+x %s, or install the tool where %s can reach it (such as /usr/local/lib)", d, who)); err != nil {
				return err
			}
			if d == filepath.Dir(d) {
				return nil
			}
		}
	}
	interp, arg := interpreter(program)
	if interp == "" {
		return check(program, "execute", unix.X_OK, "chmod a+x "+program)
	}
	if err := check(program, "read and execute", unix.R_OK|unix.X_OK, "chmod a+rx "+program); err != nil {
		return err
	}
	if byPath {
		if err := folders(program); err != nil {
			return err
		}
	}
	target := envTarget(interp, arg, path)
	if target == "" && filepath.Base(interp) == "env" && arg != "" && !strings.HasPrefix(arg, "-") {
		return &RunnableError{Tool: tool, User: who, Path: arg, Missing: true,
			Fix: fmt.Sprintf("%s is not on the tool's PATH (%s): install it there, or name the interpreter by its full path in the #! line of %s", arg, path, program)}
	}
	for _, p := range []string{interp, target} {
		if p == "" {
			continue
		}
		if err := check(p, "execute", unix.X_OK, fmt.Sprintf("use an interpreter %s may run (a system one, such as /usr/bin/python3), or chmod a+x %s", who, p)); err != nil {
			return err
		}
		if err := folders(p); err != nil {
			return err
		}
	}
	return nil
}

// isScript reports whether program starts with "#!".
func isScript(program string) bool {
	interp, _ := interpreter(program)
	return interp != ""
}

// interpreter returns a script's interpreter and its first argument, from
// its "#!" line; "" for a binary.
func interpreter(program string) (interp, arg string) {
	f, err := os.Open(program)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	var buf [256]byte
	n, _ := f.Read(buf[:])
	line, _, _ := bytes.Cut(buf[:n], []byte("\n"))
	rest, ok := bytes.CutPrefix(line, []byte("#!"))
	if !ok {
		return "", ""
	}
	fields := strings.Fields(string(rest))
	if len(fields) == 0 {
		return "", ""
	}
	if len(fields) > 1 {
		arg = fields[1]
	}
	return fields[0], arg
}

// envTarget is the program "#!/usr/bin/env NAME" runs: NAME looked up in
// the tool's PATH; "" when the interpreter is not env or NAME is not found.
func envTarget(interp, name, path string) string {
	if filepath.Base(interp) != "env" || name == "" || strings.HasPrefix(name, "-") {
		return ""
	}
	if strings.Contains(name, "/") {
		return name
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// permitted reports whether u (nil: this process's own user, asked of the
// kernel) has the access bits (unix.R_OK, W_OK, X_OK) to p.
func permitted(p string, u *confine.User, bits uint32) (bool, fs.FileInfo) {
	fi, err := os.Stat(p)
	if err != nil {
		return false, nil
	}
	if u == nil {
		return unix.Faccessat(unix.AT_FDCWD, p, bits, unix.AT_EACCESS) == nil, fi
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true, fi
	}
	// The tool's user has no supplementary groups.
	perm := uint32(fi.Mode().Perm())
	shift := 0
	switch {
	case st.Uid == u.UID:
		shift = 6
	case st.Gid == u.GID:
		shift = 3
	}
	return (perm>>shift)&bits == bits, fi
}

// toolHome is the HOME of a tool that runs as u: the host's home when u
// is nil (the tool is the host's user), else u's home in the user
// database, or "/" when it has none (HOME is then somewhere it cannot
// write, as for nobody, whose home is /nonexistent).
func toolHome(u *confine.User, home string) string {
	if u == nil {
		return home
	}
	if pw, err := user.LookupId(strconv.FormatUint(uint64(u.UID), 10)); err == nil && pw.HomeDir != "" {
		return pw.HomeDir
	}
	return "/"
}

func describeUser(u *confine.User) string {
	if u == nil {
		return userName(uint32(os.Geteuid())) + ", the user running agentcli,"
	}
	if u.UID == sandbox.OwnUserBase {
		return fmt.Sprintf("a user of its own (uid %d and up, no account)", u.UID)
	}
	return userName(u.UID)
}

func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}

// inode is a file's inode number.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
