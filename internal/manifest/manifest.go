package manifest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/toolhost/toolhost/internal/policy"
)

// MaxFileSize bounds the size of a tools.json file.
const MaxFileSize = 64 << 20

// Manifest is a vetted set of tools. It is immutable and safe for
// concurrent use.
type Manifest struct {
	// Path is the absolute path of the tools.json file.
	Path string
	// Tools are the tools in file order.
	Tools []*Tool
	// Policy is the "policy" object, or nil when there is none.
	Policy *policy.Policy

	byName map[string]*Tool
}

// Empty returns a manifest with no tools, for a run that offers none.
func Empty() *Manifest { return &Manifest{byName: map[string]*Tool{}} }

// Only returns a manifest of the same file and policy holding only t, a
// tool of m: to run one tool whatever the state of the others.
func (m *Manifest) Only(t *Tool) *Manifest {
	return &Manifest{Path: m.Path, Tools: []*Tool{t}, Policy: m.Policy, byName: map[string]*Tool{t.Name: t}}
}

// Lookup returns the tool called name, or nil when there is none.
func (m *Manifest) Lookup(name string) *Tool {
	return m.byName[name]
}

// Tool is one vetted tool. Its fields are read-only once Load returns.
type Tool struct {
	Name        string
	Description string
	// Command is argv as written in the manifest; Command[0] is what the
	// tool sees as its argv[0].
	Command []string
	// Program is the vetted program that runs: its absolute path with
	// symlinks resolved, and its pinned digest.
	Program *Program
	// Timeout is the per-call timeout; 0 means the host's default.
	Timeout time.Duration
	// EnvPassthrough are the upper-cased, de-duplicated names of host
	// environment variables passed to the tool when they are set.
	EnvPassthrough []string
	// InputSchema is the arguments schema as written (or {"type":"object"}
	// when the manifest has none); Input is its compiled form.
	InputSchema json.RawMessage
	Input       *jsonschema.Schema
	// OutputSchema and Output are nil when the manifest declares no
	// output schema.
	OutputSchema json.RawMessage
	Output       *jsonschema.Schema
	// Annotations are the MCP hints; nil when absent.
	Annotations *Annotations
	// MaxOutputBytes caps standard output; 0 means the host's default.
	MaxOutputBytes int64
	// MaxArgsBytes caps the arguments of one call, checked before they
	// are parsed; 0 means the host's default.
	MaxArgsBytes int64
	// Sandbox is how the tool is contained, defaults filled in.
	Sandbox Sandbox
	// Marks are the arguments the input schema marks as paths or
	// commands, for the host's guards.
	Marks []policy.Mark
	// Resident, when set, serves the tool's calls from one long-lived
	// process over go-plugin instead of a process per call (see package
	// protocol/resident); nil for a one-shot tool.
	Resident *Resident
}

// Resident is a tool's "resident" object, defaults filled in.
type Resident struct {
	// MaxCalls recycles the process after this many calls; 0 never.
	MaxCalls int `json:"maxCalls"`
	// IdleSec stops the process after this long without a call.
	IdleSec int `json:"idleSec"`
	// Concurrency bounds the calls one process serves at once; further
	// calls wait for one to end.
	Concurrency int `json:"concurrency"`
	// Eager starts the process when the host starts rather than at the
	// first call.
	Eager bool `json:"eager"`
}

// Defaults of a resident tool's settings.
const (
	DefaultResidentIdleSec     = 300
	DefaultResidentConcurrency = 8
)

// Sandbox levels.
const (
	LevelNone   = "none"
	LevelLimits = "limits"
	LevelStrict = "strict"
)

// Workspace access.
const (
	WorkspaceNone  = "none"
	WorkspaceRead  = "read"
	WorkspaceWrite = "write"
)

// Sandbox is a tool's "sandbox" object.
type Sandbox struct {
	// Level is LevelNone, LevelLimits (the default) or LevelStrict.
	Level string `json:"level"`
	// User is who the tool runs as when the host runs as root: a name,
	// UID or UID:GID; "" means nobody.
	User string `json:"user"`
	// Workspace is WorkspaceNone, WorkspaceRead (the default) or
	// WorkspaceWrite.
	Workspace string `json:"workspace"`
	// Read and Write are extra grants as written; relative ones are in
	// the workspace.
	Read  []string `json:"read"`
	Write []string `json:"write"`
	// Network lets a strict tool use the network.
	Network bool `json:"network"`
	// Limits override the host's default resource limits; 0 keeps one.
	Limits Limits `json:"limits"`
}

// Limits are resource limits; a zero field means the host's default.
type Limits struct {
	CPUSec     int64 `json:"cpuSec"`
	MemoryMB   int64 `json:"memoryMB"`
	OpenFiles  int64 `json:"openFiles"`
	Processes  int64 `json:"processes"`
	FileSizeMB int64 `json:"fileSizeMB"`
}

// Annotations are the MCP tool annotations (MCP spec, "Tool annotations").
// Clients treat them as hints; the host never relies on them for security.
type Annotations struct {
	Title           string `json:"title,omitempty"`
	ReadOnlyHint    *bool  `json:"readOnlyHint,omitempty"`
	DestructiveHint *bool  `json:"destructiveHint,omitempty"`
	IdempotentHint  *bool  `json:"idempotentHint,omitempty"`
	OpenWorldHint   *bool  `json:"openWorldHint,omitempty"`
}

// rawTool is a tool as it appears in the file.
type rawTool struct {
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	Schema       json.RawMessage `json:"schema"`
	OutputSchema json.RawMessage `json:"outputSchema"`
	Command      []string        `json:"command"`
	TimeoutSec   float64         `json:"timeoutSec"` // an integer, maybe written 5.0 or 5e0

	EnvPassthrough []string     `json:"envPassthrough"`
	Annotations    *Annotations `json:"annotations"`
	MaxOutputBytes float64      `json:"maxOutputBytes"` // an integer, maybe written 1e6
	MaxArgsBytes   float64      `json:"maxArgsBytes"`
	SHA256         string       `json:"sha256"`
	Sandbox        *Sandbox     `json:"sandbox"`
	Resident       *Resident    `json:"resident"`
}

type rawManifest struct {
	Tools  []rawTool       `json:"tools"`
	Policy json.RawMessage `json:"policy"`
}

// defaultInputSchema is used when a tool declares no schema: any object.
var defaultInputSchema = json.RawMessage(`{"type":"object"}`)

var envName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// Load reads, checks and vets the manifest at path. A manifest with any
// problem is refused as a whole: the error is a *LoadError listing every
// problem found, or an error naming the file when it cannot be read.
func Load(path string) (*Manifest, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	f, err := openRegular(abs)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	if err := checkManifestFile(f, abs); err != nil {
		return nil, &LoadError{Path: abs, Errs: []*FieldError{{Index: -1, Err: err}}}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("manifest: read %s: %w", abs, err)
	}
	if len(data) > MaxFileSize {
		return nil, &LoadError{Path: abs, Errs: []*FieldError{{Index: -1, Err: fmt.Errorf("file exceeds %d bytes", MaxFileSize)}}}
	}
	return Parse(data, abs)
}

// Parse checks and vets a manifest held in memory; file is its absolute
// path, whose folder relative commands are resolved against. The manifest
// file's own permissions are not checked (Load does that).
func Parse(data []byte, file string) (*Manifest, error) {
	fail := func(errs []*FieldError) error { return &LoadError{Path: file, Errs: errs} }

	doc, err := decodeDocument(data)
	if err != nil {
		return nil, fail([]*FieldError{{Index: -1, Err: err}})
	}
	if errs := validateDocument(doc); len(errs) > 0 {
		return nil, fail(errs)
	}
	var raw rawManifest
	if err := json.Unmarshal(data, &raw); err != nil {
		// The schema already accepted the document, so this is a bug.
		return nil, fail([]*FieldError{{Index: -1, Err: fmt.Errorf("decode: %w", err)}})
	}

	m := &Manifest{Path: file, byName: make(map[string]*Tool, len(raw.Tools))}
	var errs []*FieldError
	add := func(i int, name, field string, err error) {
		errs = append(errs, &FieldError{Index: i, Tool: name, Field: field, Err: err})
	}
	if raw.Policy != nil {
		if m.Policy, err = policy.Parse(raw.Policy, "in "+file); err != nil {
			add(-1, "", "policy", err)
		}
	}
	dir := filepath.Dir(file)
	for i := range raw.Tools {
		rt := &raw.Tools[i]
		t := &Tool{
			Name:           rt.Name,
			Description:    rt.Description,
			Command:        rt.Command,
			Timeout:        time.Duration(rt.TimeoutSec) * time.Second,
			Annotations:    rt.Annotations,
			MaxOutputBytes: int64(rt.MaxOutputBytes),
			MaxArgsBytes:   int64(rt.MaxArgsBytes),
			InputSchema:    rt.Schema,
			OutputSchema:   rt.OutputSchema,
		}
		if len(t.InputSchema) == 0 {
			t.InputSchema = defaultInputSchema
		}
		if rt.Sandbox != nil {
			t.Sandbox = *rt.Sandbox
		}
		if t.Sandbox.Level == "" {
			t.Sandbox.Level = LevelLimits
		}
		if t.Sandbox.Workspace == "" {
			t.Sandbox.Workspace = WorkspaceRead
		}
		if rt.Resident != nil {
			r := *rt.Resident
			if r.IdleSec == 0 {
				r.IdleSec = DefaultResidentIdleSec
			}
			if r.Concurrency == 0 {
				r.Concurrency = DefaultResidentConcurrency
			}
			t.Resident = &r
		}
		if prev, dup := m.byName[t.Name]; dup {
			add(i, t.Name, "name", fmt.Errorf("duplicate name (first used by tools[%d])", indexOf(m.Tools, prev)))
		} else {
			m.byName[t.Name] = t
		}
		prog, err := resolveCommand(dir, rt.Command[0])
		if err != nil {
			add(i, t.Name, "command[0]", err)
		}
		t.Program = &Program{Path: prog, SHA256: strings.ToLower(rt.SHA256)}
		envs, err := normalizeEnv(rt.EnvPassthrough)
		if err != nil {
			add(i, t.Name, "envPassthrough", err)
		}
		t.EnvPassthrough = envs
		if err := checkArgsSchemaRoot(t.InputSchema); err != nil {
			add(i, t.Name, "schema", err)
		} else if t.Marks, err = policy.Marks(t.InputSchema); err != nil {
			add(i, t.Name, "schema", err)
		}
		m.Tools = append(m.Tools, t)
	}
	errs = append(errs, compileSchemas(m.Tools)...)
	errs = append(errs, vetPrograms(m.Tools)...)
	if len(errs) > 0 {
		sortErrors(errs)
		return nil, fail(errs)
	}
	return m, nil
}

func indexOf(tools []*Tool, t *Tool) int {
	for i, x := range tools {
		if x == t {
			return i
		}
	}
	return -1
}

// decodeDocument parses the manifest as generic JSON for schema validation,
// reporting syntax errors by line and column.
func decodeDocument(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, jsonSyntaxError(data, err)
	}
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		line, col := position(data, dec.InputOffset()+int64(len(data[dec.InputOffset():])-len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"))))
		return nil, fmt.Errorf("not JSON: line %d, column %d: data after the top-level value", line, col)
	}
	return doc, nil
}

func jsonSyntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the bytes read, the offending one included.
		line, col := position(data, max(se.Offset-1, 0))
		return fmt.Errorf("not JSON: line %d, column %d: %v", line, col, se)
	}
	if errors.Is(err, io.EOF) {
		return errors.New("not JSON: the file is empty")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		line, col := position(data, int64(len(data)))
		return fmt.Errorf("not JSON: line %d, column %d: unexpected end of file", line, col)
	}
	return fmt.Errorf("not JSON: %w", err)
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// resolveCommand applies goagent's rule to command[0] and returns the
// absolute program path: relative paths must stay under ./tools/bin/ after
// cleaning (backslashes count as separators) and are resolved against dir.
func resolveCommand(dir, cmd0 string) (string, error) {
	if strings.ContainsRune(cmd0, 0) {
		return "", errors.New("contains a NUL byte")
	}
	if filepath.IsAbs(cmd0) {
		return filepath.Clean(cmd0), nil
	}
	norm := path.Clean(strings.ReplaceAll(cmd0, `\`, "/"))
	if !strings.HasPrefix(norm, "tools/bin/") {
		if norm != cmd0 {
			return "", fmt.Errorf("relative program %q (cleaned %q) must be under ./tools/bin/", cmd0, norm)
		}
		return "", fmt.Errorf("relative program %q must be under ./tools/bin/", cmd0)
	}
	return filepath.Join(dir, filepath.FromSlash(norm)), nil
}

// normalizeEnv upper-cases names, checks them and drops repeats, keeping the
// first occurrence (goagent's rule).
func normalizeEnv(names []string) ([]string, error) {
	var out []string
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		u := strings.ToUpper(n)
		if !envName.MatchString(u) {
			return nil, fmt.Errorf("[%d] %q is not a valid variable name ([A-Z_][A-Z0-9_]*)", i, n)
		}
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out, nil
}

// checkArgsSchemaRoot insists that an input schema describes an object:
// arguments always arrive as one JSON object (MCP requires "type":"object").
func checkArgsSchemaRoot(schema json.RawMessage) error {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(schema, &root); err != nil {
		return fmt.Errorf("must be a JSON object: %w", err)
	}
	typ, ok := root["type"]
	if !ok {
		return nil
	}
	var s string
	if json.Unmarshal(typ, &s) != nil || s != "object" {
		return fmt.Errorf(`type must be "object" (arguments are a JSON object), got %s`, typ)
	}
	return nil
}

// sortErrors orders errors by tool index and then field, so the report
// reads top to bottom like the file.
func sortErrors(errs []*FieldError) {
	slices.SortStableFunc(errs, func(a, b *FieldError) int {
		if c := cmp.Compare(a.Index, b.Index); c != 0 {
			return c
		}
		return cmp.Compare(a.Field, b.Field)
	})
}

// fieldName turns a JSON pointer below a tool ("/command/0") into the name
// used in messages ("command[0]").
func fieldName(tokens []string) string {
	var b strings.Builder
	for _, tok := range tokens {
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			fmt.Fprintf(&b, "[%s]", tok)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}
