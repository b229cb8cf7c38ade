package main

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
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
	fs := flag.NewFlagSet("agentcli tool new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: agentcli tool new [flags] NAME\n\nWrites a working tool skeleton (program, test, tools.json entry with input\nand output schemas) next to the manifest; it passes agentcli tool test as\nit is.\n\nFlags:\n")
		fs.PrintDefaults()
	}
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

	fmt.Fprintf(stdout, "wrote %s, %s and the %s entry of %s\n\nnext, from %s:\n", sk.files[0][0], sk.files[1][0], name, *manifestPath, root)
	for _, s := range sk.steps {
		fmt.Fprintf(stdout, "  %s\n", s)
	}
	fmt.Fprintf(stdout, "  agentcli tool test %s   # the contract checks\n", name)
	fmt.Fprintf(stdout, "  agentcli call -approve %s %s '{\"name\":\"ada\"}'\n", name, name)
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

// addEntry returns the manifest at path with entry added to its tools:
// its other keys, their order and every other entry kept as they are. A
// missing file is a new manifest; a tool called name already there is
// an error.
func addEntry(path, name string, entry map[string]any) ([]byte, error) {
	e, err := json.Marshal(entry)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return indent(fmt.Appendf(nil, `{"tools":[%s]}`, e))
	}
	if err != nil {
		return nil, err
	}
	keys, values, err := topLevel(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out bytes.Buffer
	out.WriteByte('{')
	found := false
	for i, k := range keys {
		if i > 0 {
			out.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		out.Write(kj)
		out.WriteByte(':')
		if k != "tools" {
			out.Write(values[i])
			continue
		}
		found = true
		var tools []json.RawMessage
		if err := json.Unmarshal(values[i], &tools); err != nil {
			return nil, fmt.Errorf("%s: tools: %w", path, err)
		}
		for _, t := range tools {
			var named struct{ Name string }
			if json.Unmarshal(t, &named) == nil && named.Name == name {
				return nil, usagef("%s already has a tool %q", path, name)
			}
		}
		out.WriteByte('[')
		for _, t := range tools {
			out.Write(t)
			out.WriteByte(',')
		}
		out.Write(e)
		out.WriteByte(']')
	}
	if !found {
		if len(keys) > 0 {
			out.WriteByte(',')
		}
		fmt.Fprintf(&out, `"tools":[%s]`, e)
	}
	out.WriteByte('}')
	return indent(out.Bytes())
}

// topLevel reads the keys of a JSON object in order, with their values.
func topLevel(data []byte) (keys []string, values []json.RawMessage, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, errors.New("not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys = append(keys, tok.(string))
		values = append(values, v)
	}
	return keys, values, nil
}

func indent(compact []byte) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Indent(&b, compact, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// writeManifest replaces the manifest at path with data, atomically.
func writeManifest(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tools-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
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
