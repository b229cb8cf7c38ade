//go:build unix

package asuser

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Nobody is the usual ordinary user of these tests.
const Nobody = 65534

// PublicDir makes a folder every user may enter and read, removed when
// the test ends.
func PublicDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "toolhost-asuser-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// OwnDir makes the folder name in parent, mode 0700, owned by uid (a
// home, a temporary folder of the user's own), and returns its path.
func OwnDir(t testing.TB, parent, name string, uid int) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, uid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// CopyExec copies the program from to to, mode 0755: a copy any user may
// run, owned by the caller (root), as an installed program is.
func CopyExec(t testing.TB, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// Command runs path with args as uid (and group uid), with no
// supplementary groups.
func Command(uid int, path string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}}
	return cmd
}

// TestBinary runs the running test binary again as uid, from a copy in a
// public folder, with args, in a folder of uid's own that is also its
// HOME and TMPDIR, and env added to a minimal environment. It skips the
// test where the caller is not root.
func TestBinary(t testing.TB, uid int, env []string, args ...string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to become an ordinary user (CI runs as root)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := PublicDir(t)
	bin := filepath.Join(dir, filepath.Base(exe))
	CopyExec(t, exe, bin)
	tmp := OwnDir(t, dir, "tmp", uid)
	cmd := Command(uid, bin, args...)
	cmd.Dir = tmp
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + tmp, "TMPDIR=" + tmp}, env...)
	return cmd
}
