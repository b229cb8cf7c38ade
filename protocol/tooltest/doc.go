// Package tooltest is the test kit for tool authors: a tool's own go test
// builds its program and runs it the way the host does, checking each run
// against the tool contract and the tool's schemas in tools.json, and
// [Tool.Check] puts it through every check of "agentcli tool test" (inputs
// made from its input schema, the failure contract, SIGTERM, leftover
// processes, output caps, ...), with the real host, sandbox and limits.
//
// A tool's test package builds its program once per test process from
// TestMain, and finds its entry (the one named like the package's folder)
// in the nearest tools.json above:
//
//	var tool *tooltest.Tool
//
//	func TestMain(m *testing.M) { os.Exit(tooltest.Main(m, &tool)) }
//
//	func TestContract(t *testing.T) { tool.Check(t, tooltest.CheckOptions{}) }
//
// and then calls [Tool.Succeed], [Tool.Fail] or [Tool.Run] in its own
// tests, with a workspace from [Workspace].
package tooltest
