package main

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

//go:embed scaffold/*.tmpl
var scaffold embed.FS

// toolName is the manifest's pattern of a tool's name.
var toolName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// skeleton is what "tool new" writes for one language: files by path
// relative to the manifest's folder (template, mode), the entry's command
// and the steps to print.
type skeleton struct {
	files   [][3]string // path, template, mode ("0755" or "0644")
	command string
	steps   []string
}

func skeletonFor(lang, name string) (skeleton, error) {
	switch lang {
	case "go":
		dir := "tools/cmd/" + name
		return skeleton{
			files:   [][3]string{{dir + "/main.go", "go_main.go.tmpl", "0644"}, {dir + "/main_test.go", "go_test.go.tmpl", "0644"}},
			command: "./tools/bin/" + name,
			steps: []string{
				"go get github.com/toolhost/toolhost/protocol   # once, in a module that does not have it yet",
				"go build -o tools/bin/" + name + " ./" + dir,
				"go test ./" + dir + "   # its tests, the contract checks included",
			},
		}, nil
	case "python":
		return skeleton{
			files: [][3]string{{"tools/bin/" + name + ".py", "python.tmpl", "0755"},
				{"tools/tests/test_" + name + ".py", "python_test.tmpl", "0644"}},
			command: "./tools/bin/" + name + ".py",
			steps:   []string{"python3 tools/tests/test_" + name + ".py   # its tests"},
		}, nil
	case "sh":
		return skeleton{
			files: [][3]string{{"tools/bin/" + name + ".sh", "sh.tmpl", "0755"},
				{"tools/tests/" + name + "_test.sh", "sh_test.tmpl", "0644"}},
			command: "./tools/bin/" + name + ".sh",
			steps:   []string{"sh tools/tests/" + name + "_test.sh   # its tests (the tool needs jq)"},
		}, nil
	}
	return skeleton{}, usagef("-lang %q: want go, python or sh", lang)
}

func cmdToolNew(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("agentcli tool new", "Usage: agentcli tool new [flags] NAME\n\nWrites a working tool skeleton (program, test, tools.json entry with input\nand output schemas) next to the manifest; it passes agentcli tool test as\nit is.", stderr)
	manifestPath := fs.String("tools", "tools.json", "the manifest to add the entry to (made when missing); files go under its folder")
	lang := fs.String("lang", "python", "the language: go, python or sh")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return fail(stderr, usagef("tool new wants one tool name, got %d", len(pos)))
	}
	name := pos[0]
	if !toolName.MatchString(name) {
		return fail(stderr, usagef("tool name %q: use letters, digits, _ and - (at most 64)", name))
	}
	sk, err := skeletonFor(*lang, name)
	if err != nil {
		return fail(stderr, err)
	}
	root := filepath.Dir(*manifestPath)
	for _, f := range sk.files {
		if _, err := os.Lstat(filepath.Join(root, f[0])); err == nil {
			return fail(stderr, usagef("%s exists: tool new never overwrites a file", filepath.Join(root, f[0])))
		}
	}
	entry := newEntry(name, sk.command)
	doc, err := addEntry(*manifestPath, name, entry)
	if err != nil {
		return fail(stderr, err)
	}

	data := struct{ Name, TestPath string }{Name: name, TestPath: sk.files[1][0]}
	var written []string
	for _, f := range sk.files {
		path := filepath.Join(root, f[0])
		if err := writeTemplate(path, f[1], f[2], data); err != nil {
			for _, w := range written {
				os.Remove(w)
			}
			return fail(stderr, err)
		}
		written = append(written, path)
	}
	if err := writeManifest(*manifestPath, doc); err != nil {
		for _, w := range written {
			os.Remove(w)
		}
		return fail(stderr, err)
	}

	fmt.Fprintf(stdout, "wrote %s, %s and the %s entry of %s\n\nnext", sk.files[0][0], sk.files[1][0], name, *manifestPath)
	if root != "." {
		fmt.Fprintf(stdout, ", from %s", root)
	}
	fmt.Fprintln(stdout, ":")
	for _, s := range sk.steps {
		fmt.Fprintf(stdout, "  %s\n", s)
	}
	toolsFlag := ""
	if filepath.Clean(*manifestPath) != "tools.json" {
		toolsFlag = " -tools " + filepath.Base(*manifestPath)
	}
	fmt.Fprintf(stdout, "  agentcli tool test%s %s   # the contract checks\n", toolsFlag, name)
	fmt.Fprintf(stdout, "  agentcli call%s -approve %s %s '{\"name\":\"ada\"}'\n", toolsFlag, name, name)
	return exitOK
}

// newEntry is the skeleton's tools.json entry: described, with input and
// output schemas, read-only.
func newEntry(name, command string) map[string]any {
	return map[string]any{
		"name":        name,
		"description": "Greet someone by name. (A skeleton made by agentcli tool new: say what " + name + " does; a model chooses tools by this.)",
		"command":     []string{command},
		"schema": map[string]any{
			"type": "object", "additionalProperties": false, "required": []string{"name"},
			"properties": map[string]any{
				"name": map[string]any{"type": "string", "minLength": 1, "maxLength": 100, "description": "Who to greet.", "examples": []string{"ada"}},
			},
		},
		"outputSchema": map[string]any{
			"type": "object", "additionalProperties": false, "required": []string{"greeting"},
			"properties": map[string]any{
				"greeting": map[string]any{"type": "string", "description": "The greeting."},
			},
		},
		"timeoutSec":  10,
		"annotations": map[string]any{"readOnlyHint": true, "openWorldHint": false},
	}
}

// addEntry returns the manifest at path with entry added at the end of
// its tools, the file otherwise byte for byte as it was (the entry
// indented as the others are). A missing file is a new manifest; a tool
// called name already there, or a file that is not one JSON object, is
// an error.
func addEntry(path, name string, entry map[string]any) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		e, err := json.MarshalIndent(entry, "    ", "  ")
		if err != nil {
			return nil, err
		}
		return fmt.Appendf(nil, "{\n  \"tools\": [\n    %s\n  ]\n}\n", e), nil
	}
	if err != nil {
		return nil, err
	}
	start, end, err := toolsArray(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var tools []json.RawMessage
	if err := json.Unmarshal(data[start:end], &tools); err != nil {
		return nil, fmt.Errorf("%s: tools: %w", path, err)
	}
	for _, t := range tools {
		var named struct{ Name string }
		if json.Unmarshal(t, &named) == nil && named.Name == name {
			return nil, usagef("%s already has a tool %q", path, name)
		}
	}
	// Between the last entry (or "[") and "]": the new entry, laid out
	// as the first entry is (on a line of its own at its indentation, or
	// on the same line).
	inner := data[start+1 : end-1]
	layout := ""
	if first := bytes.IndexFunc(inner, func(r rune) bool { return !strings.ContainsRune(" \t\r\n", r) }); first > 0 {
		layout = string(inner[:first])
	} else if first < 0 {
		layout = "\n  " + strings.Repeat(" ", lineIndent(data, start)) // an empty array
	}
	indent := layout[strings.LastIndexByte(layout, '\n')+1:]
	e, err := json.MarshalIndent(entry, indent, "  ")
	if err != nil {
		return nil, err
	}
	if !strings.Contains(layout, "\n") {
		e, _ = json.Marshal(entry)
	}
	last := start + 1 + len(bytes.TrimRight(inner, " \t\r\n"))
	var out bytes.Buffer
	out.Write(data[:last])
	if len(tools) > 0 {
		out.WriteByte(',')
	}
	out.WriteString(layout)
	out.Write(e)
	if len(tools) == 0 && strings.Contains(layout, "\n") {
		out.WriteString("\n" + strings.Repeat(" ", lineIndent(data, start)))
	}
	out.Write(data[last:])
	return out.Bytes(), nil
}

// toolsArray finds the "tools" array of the manifest data, one JSON object
// and nothing after it: the offsets of its "[" and just past its "]".
func toolsArray(data []byte) (start, end int, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0, 0, errors.New("not a JSON object")
	}
	start, end = -1, -1
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return 0, 0, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return 0, 0, err
		}
		if tok == "tools" {
			end = int(dec.InputOffset())
			start = end - len(v)
		}
	}
	if _, err := dec.Token(); err != nil {
		return 0, 0, err
	}
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		return 0, 0, errors.New("text after the JSON object")
	}
	if start < 0 || data[start] != '[' {
		return 0, 0, errors.New(`no "tools" array`)
	}
	return start, end, nil
}

// lineIndent is the indentation of the line holding offset at.
func lineIndent(data []byte, at int) int {
	line := data[bytes.LastIndexByte(data[:at], '\n')+1 : at]
	return len(line) - len(bytes.TrimLeft(line, " \t"))
}

// writeManifest replaces the manifest at path with data: through a
// symbolic link, the file it names, keeping that file's mode.
func writeManifest(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
		if st, err := os.Stat(real); err == nil {
			mode = st.Mode().Perm()
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tools-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeTemplate writes the scaffold template name, filled with data, to a
// new file at path (its folders made as needed).
func writeTemplate(path, name, mode string, data any) error {
	tmpl, err := template.ParseFS(scaffold, "scaffold/"+name)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return err
	}
	perm := os.FileMode(0o644)
	if mode == "0755" {
		perm = 0o755
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil { // whatever the umask
		f.Close()
		return err
	}
	return f.Close()
}
