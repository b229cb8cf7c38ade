package main

// The public tool kit (protocol/tooltest) builds the real program once per
// test run; TestToolbelt puts it through the toolbelt's checks (belt).

import (
	"os"
	"testing"

	"github.com/toolhost/toolhost/protocol/tooltest"
	"github.com/toolhost/toolhost/tools/internal/belt"
)

// tool is the program built from this folder, set by TestMain.
var tool *tooltest.Tool

func TestMain(m *testing.M) { os.Exit(tooltest.Main(m, &tool)) }

// TestToolbelt checks the tool's tools.json entry, runs its examples from
// tools/README.md as written (readOnly: in the repository itself), and
// puts it through every check of agentcli tool test.
func TestToolbelt(t *testing.T) { belt.Check(t, tool, false) }
