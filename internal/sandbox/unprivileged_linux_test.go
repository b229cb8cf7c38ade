package sandbox

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/toolhost/toolhost/internal/asuser"
	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

// unprivilegedEnv marks this test binary run again as an ordinary user.
const unprivilegedEnv = "TOOLHOST_TEST_UNPRIVILEGED"

// The containment tests again as an ordinary user with no cgroup, as most
// users run agentcli: the test binary runs itself as nobody, enters a user
// namespace of its own as agentcli does, and every test that needs no root
// runs on the pid namespace backend.
func TestUnprivileged(t *testing.T) {
	if os.Getenv(unprivilegedEnv) != "" {
		t.Skip("already running unprivileged")
	}
	if testing.Short() {
		t.Skip("runs the package's tests again")
	}
	cmd := asuser.TestBinary(t, asuser.Nobody, []string{unprivilegedEnv + "=1"}, "-test.v", "-test.count=1", "-test.run",
		"^(TestEcho|TestEnvironmentArgvDir|TestFailureKeepsStderr|TestTimeout|TestCancel|TestLeftovers|TestEscapedSession|"+
			"TestOutputCap|TestStderrFlood|TestForkBomb|TestProcessLimit|TestConcurrentCallsGetTheirOwnOutput|TestExecByDescriptor|"+
			"TestLaunchErrors|TestShutdown|TestConfineStrictFiles|TestConfineMissingGrant|TestInheritedDescriptorsStayHome|"+
			"TestConfineUnprivileged|TestCallTmp|TestPrivateMounts)$")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the tests as nobody failed: %v\n%s", err, out)
	}
	// They ran, on the pid namespace backend.
	for _, want := range []string{"--- PASS: TestEcho/pidns", "--- PASS: TestTimeout/pidns", "--- PASS: TestEscapedSession/pidns",
		"--- PASS: TestForkBomb", "--- PASS: TestProcessLimit", "--- PASS: TestConfineStrictFiles", "--- PASS: TestConfineUnprivileged",
		"--- PASS: TestCallTmp/pidns", "--- PASS: TestPrivateMounts/pidns"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in the output of the tests as nobody:\n%s", want, out)
		}
	}
}

// An ordinary user's tool, at the strict level and at none, cannot signal
// or trace the host, which it cannot even see by pid; at strict it cannot
// read the host's environment, open a TCP or UDP socket, or make a user
// namespace, all of which the same tool does unconfined.
func TestConfineUnprivileged(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("TestUnprivileged runs this as nobody")
	}
	if err := confine.Check(); err != nil {
		t.Skip(err)
	}
	f := newFixture(t, "pidns")
	host := strconv.Itoa(os.Getpid())
	secret := filepath.Join(publicDir(t), "secret")
	os.WriteFile(secret, []byte("s"), 0o644)
	outside := filepath.Join(publicDir(t), "new")
	escapes := []string{"read:" + secret, "write:" + outside,
		"dial:127.0.0.1:9", "udp:127.0.0.1:9", "userns", "ptrace"}
	unseen := []string{"signal:" + host, "ptrace-pid:" + host}
	// Without capabilities these fail unconfined too; confined they must
	// fail all the same.
	denied := []string{"unshare", "mount:" + publicDir(t)}
	// The host gained a capability at exec, so the kernel made it
	// undumpable: its memory and environment are closed to a process of
	// the same user without capabilities.
	environ := "read:/proc/" + host + "/environ"
	all := append(append(append(escapes, unseen...), denied...), environ)
	res := f.tryOps(strictConfig(nil, nil, false), all...)
	for _, op := range all {
		if res[op] == "" {
			t.Errorf("strict: %s worked", op)
		}
	}
	// Unconfined the escapes work (the dial reaches no listener, which
	// is refused by the peer rather than by a sandbox), and the host is
	// still out of reach.
	res = f.tryOps(&confine.Config{}, append(escapes, append(unseen, environ)...)...)
	if e := res[environ]; !strings.Contains(e, "permission denied") {
		t.Errorf("unconfined: %s: %q, want permission denied", environ, e)
	}
	for _, op := range escapes {
		if e := res[op]; e != "" && !(op == "dial:127.0.0.1:9" && strings.Contains(e, "connection refused")) {
			t.Errorf("unconfined: %s failed: %s", op, e)
		}
	}
	for _, op := range unseen {
		if e := res[op]; !strings.Contains(e, "no such process") {
			t.Errorf("unconfined: %s: %q, want the host out of sight (no such process)", op, e)
		}
	}
}
