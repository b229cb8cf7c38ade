package host

import (
	"os"
	"strings"
	"testing"

	"github.com/toolhost/toolhost/internal/asuser"
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
	if testing.Short() {
		t.Skip("runs tests again")
	}
	cmd := asuser.TestBinary(t, asuser.Nobody, []string{toolBinEnv + "=" + toolBin, "TOOLHOST_REQUIRE_NODE=" + os.Getenv("TOOLHOST_REQUIRE_NODE")},
		"-test.v", "-test.count=1", "-test.run", "^(TestHostileTools|TestLimitsLevelMounts|TestCallMemoryLimit|TestResident.*)$")
	cmd.Dir = "" // here: the tests read the repository's tools.json
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the hostile-tool tests as nobody failed: %v\n%s", err, output)
	}
	if !strings.Contains(string(output), "--- PASS: TestHostileTools/fork_bomb") || !strings.Contains(string(output), "--- PASS: TestLimitsLevelMounts") ||
		!strings.Contains(string(output), "--- PASS: TestCallMemoryLimit") ||
		!strings.Contains(string(output), "--- PASS: TestResidentCrash") || !strings.Contains(string(output), "--- PASS: TestResidentConcurrent") ||
		!strings.Contains(string(output), "--- PASS: TestResidentGRPC") ||
		strings.Contains(strings.NewReplacer("--- SKIP: TestResidentStrictEscapes", "", "--- SKIP: TestResidentNode", "").Replace(string(output)), "--- SKIP") {
		t.Errorf("the hostile-tool tests did not all run as nobody:\n%s", output)
	}
}
