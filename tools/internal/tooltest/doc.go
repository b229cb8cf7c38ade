// Package tooltest is a test helper for the toolbelt: it builds a tool's
// real program and runs it the way the host does, checking every run
// against the protocol's contract and the tool's schemas in tools.json.
//
// Only tests import it (the tools' and the workspace package's). A tool's test package builds
// its program once per test process from TestMain:
//
//	var tool *tooltest.Tool
//
//	func TestMain(m *testing.M) { os.Exit(tooltest.Main(m, &tool)) }
//
// and then calls [Tool.Succeed], [Tool.Fail] or [Tool.Run] in its tests,
// with a workspace from [Workspace].
package tooltest
