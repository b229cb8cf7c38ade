package tooltest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/toolhost/toolhost/internal/audit"
	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/sandbox"
	"github.com/toolhost/toolhost/internal/toolcheck"
)

// CheckOptions configure Check. The zero value is ready to use.
type CheckOptions struct {
	// Seed makes the inputs; 0 means 1, as agentcli tool test's default.
	Seed uint64
	// Runs is how many times each input runs; 0 means 1.
	Runs int
	// Workspace, when set, is a folder copied into the tool's scratch
	// workspace, for tools that need files to work on.
	Workspace string
}

// Check puts the tool through every check of agentcli tool test: its
// manifest entry, then runs with inputs made from its input schema
// (examples, defaults, boundaries, non-ASCII text, invalid inputs), each
// launched by the host exactly as a call would be (environment, user,
// sandbox level, limits) in a scratch workspace, for a tool whose entry
// is "resident" the same valid inputs served by its resident process
// (which must end them as the one-shot runs did), and a run that holds
// its input open to see it exit on SIGTERM. Each problem of severity error
// fails the test with what the tool did; warnings and checks that could
// not run here are logged.
func (tool *Tool) Check(t testing.TB, o CheckOptions) {
	t.Helper()
	if o.Seed == 0 {
		o.Seed = 1
	}
	root, err := toolcheck.ScratchRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	m, err := tool.scratchManifest(root)
	if err != nil {
		t.Fatal(err)
	}
	auditDir := filepath.Join(root, "audit")
	if err := os.Mkdir(auditDir, 0o700); err != nil {
		t.Fatal(err)
	}
	alog, err := audit.Open(filepath.Join(auditDir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer alog.Close()
	ws, err := toolcheck.Scratch(root, tool.Name, o.Workspace)
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(m, host.Options{
		Workspace: ws, Audit: alog, Logger: zerolog.Nop(),
		Sandbox: sandbox.Options{MaxConcurrent: 2, CountLeftovers: true},
	})
	if err != nil {
		t.Fatalf("%s cannot be run: %v", tool.Name, err)
	}
	defer h.Close()
	rep := toolcheck.Tool(context.Background(), h, m.Tools[0], toolcheck.Options{
		Seed: o.Seed, Runs: o.Runs, Workspace: ws, MaxOutput: host.DefaultMaxOutput, MaxArgs: host.DefaultMaxArgs,
	})
	for _, f := range rep.Findings {
		var b strings.Builder
		f.WriteText(&b, "")
		if f.Severity == toolcheck.Error {
			t.Error(b.String())
		} else {
			t.Log(b.String())
		}
	}
	for _, s := range rep.Skipped {
		t.Logf("not checked: %s: %s", s.Check, s.Reason)
	}
	t.Logf("%s: %d runs of %d inputs (seed %d)", tool.Name, rep.Runs, rep.Inputs, o.Seed)
}

// scratchManifest writes, under root, a project holding the built program
// as ./tools/bin/NAME and a tools.json with the tool's entry alone, its
// command's program replaced by that one, and loads it.
func (tool *Tool) scratchManifest(root string) (*manifest.Manifest, error) {
	proj := filepath.Join(root, "project")
	bin := filepath.Join(proj, "tools", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(tool.Path)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(bin, tool.Name), data, 0o755); err != nil {
		return nil, err
	}
	var entry map[string]any
	if err := json.Unmarshal(tool.entry, &entry); err != nil {
		return nil, err
	}
	command := append([]any{"./tools/bin/" + tool.Name}, toAny(tool.command[min(1, len(tool.command)):])...)
	entry["command"] = command
	delete(entry, "sha256") // the pin is of the installed program, not this build
	doc, err := json.Marshal(map[string]any{"tools": []any{entry}})
	if err != nil {
		return nil, err
	}
	file := filepath.Join(proj, "tools.json")
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		return nil, err
	}
	return manifest.Load(file)
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
