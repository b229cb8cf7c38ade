package host

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// toolBinEnv gives the test binary, run again, the toolbelt already built.
const toolBinEnv = "TOOLHOST_TEST_TOOLBIN"

// The hostile-tool tests again as an ordinary user with no cgroup (as most
// users run agentcli): the test binary runs itself as nobody, enters a user
// namespace of its own as agentcli does, and the host contains every call
// in a pid namespace.
func TestUnprivilegedHostileTools(t *testing.T) {
	if os.Getenv(toolBinEnv) != "" {
		t.Skip("already running unprivileged")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to become an ordinary user (CI runs as root)")
	}
	if testing.Short() {
		t.Skip("runs tests again")
	}
	dir := publicTemp(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "host.test")
	in, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(out, in)
	in.Close()
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	os.Mkdir(tmp, 0o700)
	os.Chown(tmp, 65534, 65534)
	cmd := exec.Command(bin, "-test.v", "-test.count=1", "-test.run", "^(TestHostileTools|TestLimitsLevelMounts|TestCallMemoryLimit)$")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + tmp, "TMPDIR=" + tmp, toolBinEnv + "=" + toolBin}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the hostile-tool tests as nobody failed: %v\n%s", err, output)
	}
	if !strings.Contains(string(output), "--- PASS: TestHostileTools/fork_bomb") || !strings.Contains(string(output), "--- PASS: TestLimitsLevelMounts") ||
		!strings.Contains(string(output), "--- PASS: TestCallMemoryLimit") ||
		strings.Contains(string(output), "--- SKIP") {
		t.Errorf("the hostile-tool tests did not all run as nobody:\n%s", output)
	}
}
