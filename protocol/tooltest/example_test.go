package tooltest_test

import (
	"os"
	"testing"

	"github.com/toolhost/toolhost/protocol/tooltest"
)

// A tool's test file, in the tool's own folder (its tools.json entry is
// named like the folder): build the program once, then put it through
// every check agentcli tool test makes, and test its behaviour with
// Succeed and Fail in a workspace of the test's own.
func Example() {
	var tool *tooltest.Tool
	testMain := func(m *testing.M) { os.Exit(tooltest.Main(m, &tool)) }
	testContract := func(t *testing.T) { tool.Check(t, tooltest.CheckOptions{}) }
	testGreets := func(t *testing.T) {
		ws := tooltest.Workspace(t, "secret", map[string]string{"notes.txt": "hi"})
		var out struct{ Greeting string }
		tool.Succeed(t, ws, `{"name":"ada"}`, &out)
		if out.Greeting != "hello, ada" {
			t.Errorf("greeting %q", out.Greeting)
		}
		if env := tool.Fail(t, ws, `{}`); env.Code != "BAD_INPUT" {
			t.Errorf("code %s", env.Code)
		}
	}
	_, _, _ = testMain, testContract, testGreets
}
