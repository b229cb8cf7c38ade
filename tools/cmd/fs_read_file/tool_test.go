package main

// The toolbelt's shared harness (tools/internal/tooltest) builds the real
// program once per test run and runs it as the host would.

import (
	"os"
	"testing"

	"github.com/toolhost/toolhost/tools/internal/tooltest"
)

// tool is the program built from this folder, set by TestMain.
var tool *tooltest.Tool

func TestMain(m *testing.M) { os.Exit(tooltest.Main(m, &tool)) }

// TestManifestEntry checks the tool's tools.json entry (TestMain already
// compiled both schemas): the command is the program built from here.
func TestManifestEntry(t *testing.T) { tool.CheckManifestEntry(t) }

// readOnly tells the harness the README example may run in the repository.
const readOnly = true

// TestReadmeExample runs the tool's example from tools/README.md as
// written, from the repository root (a copy of it for tools that write).
func TestReadmeExample(t *testing.T) { tool.CheckReadmeExample(t, readOnly) }
