package tooltest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/toolhost/toolhost/internal/gobuild"
	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/protocol"
)

// Tool is a toolbelt program built for a test run, with its tools.json
// entry. Main makes it; nothing changes it afterwards, so it is safe for
// concurrent use by parallel tests. The zero value is not usable.
type Tool struct {
	// Name is the tool's name: the name of the folder it is built from.
	Name string
	// Path is the built program, removed when Main returns.
	Path string
	// Manifest is the tools.json the entry was found in.
	Manifest string

	input, output *jsonschema.Schema // compiled from tools.json
	command       []string           // the entry's command
	entry         json.RawMessage    // the entry as written
}

// Main builds the tool in the current folder (the package under test,
// as go test runs it), loads its entry (the one named like the folder)
// from the nearest tools.json in this folder or above, sets *tool, runs
// the tests and removes the program. It returns the code for os.Exit:
// m.Run's, or 2 after a message on standard error when the build or the
// manifest fails.
func Main(m *testing.M, tool **Tool) int {
	dir, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	name := filepath.Base(dir)
	tmp, err := os.MkdirTemp("", name+"-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(tmp)
	built, err := build(dir, tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	*tool = built
	return m.Run()
}

// build builds the program in dir into the folder tmp and loads its entry
// from the nearest tools.json.
func build(dir, tmp string) (*Tool, error) {
	name := filepath.Base(dir)
	exe := ""
	if runtime.GOOS == "windows" {
		exe = ".exe"
	}
	tool := &Tool{Name: name, Path: filepath.Join(tmp, name+exe)}
	if err := gobuild.Build(dir, tool.Path, "."); err != nil {
		return nil, err
	}
	file, err := findManifest(dir)
	if err != nil {
		return nil, err
	}
	if err := tool.loadSpec(file); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	tool.Manifest = file
	return tool, nil
}

// findManifest is the tools.json in dir or the nearest folder above it.
func findManifest(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "tools.json")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("no tools.json in %s or any folder above it", dir)
		}
	}
}

// loadSpec reads the tool's entry from the manifest at file and compiles
// its schemas.
func (tool *Tool) loadSpec(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var doc struct {
		Tools []json.RawMessage `json:"tools"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return err
	}
	for _, raw := range doc.Tools {
		var e struct {
			Name         string          `json:"name"`
			Schema       json.RawMessage `json:"schema"`
			OutputSchema json.RawMessage `json:"outputSchema"`
			Command      []string        `json:"command"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return err
		}
		if e.Name != tool.Name {
			continue
		}
		tool.command, tool.entry = e.Command, raw
		if len(e.Schema) == 0 {
			e.Schema = json.RawMessage(`{"type":"object"}`) // as the host reads a missing one
		}
		if tool.input, err = compileSchema(e.Schema); err != nil {
			return fmt.Errorf("%s schema: %w", tool.Name, err)
		}
		if len(e.OutputSchema) > 0 {
			if tool.output, err = compileSchema(e.OutputSchema); err != nil {
				return fmt.Errorf("%s outputSchema: %w", tool.Name, err)
			}
		}
		return nil
	}
	return fmt.Errorf("no tool %q", tool.Name)
}

// compileSchema compiles a tool schema the way the host does.
var compileSchema = manifest.CompileSchema

// CheckArgs reports whether args, a JSON object, satisfies the tool's
// input schema. It fails the test if args is not JSON.
func (tool *Tool) CheckArgs(t testing.TB, args string) error {
	t.Helper()
	v, err := protocol.ParseOutput([]byte(args))
	if err != nil {
		t.Fatalf("bad test args %s: %v", args, err)
	}
	return tool.input.Validate(v)
}

// CheckManifestEntry checks the tool's tools.json entry (Main already
// compiled both schemas): the command is the program built from here.
func (tool *Tool) CheckManifestEntry(t testing.TB) {
	t.Helper()
	if want := "./tools/bin/" + tool.Name; len(tool.command) != 1 || tool.command[0] != want {
		t.Errorf("command = %q, want [%q]", tool.command, want)
	}
}
