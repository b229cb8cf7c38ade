package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// newCompiler returns a compiler for tool schemas: draft 2020-12 unless a
// schema says otherwise, "format" asserted (authors who write a format
// expect it enforced), and no loading of anything outside the schema: the
// library's default loader would read file:// URLs, so a $ref could make
// the host read local files.
func newCompiler() *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	c.LoadURL = func(url string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("%s: references outside the schema are not allowed", url)
	}
	return c
}

// schemaJob is one distinct schema text and the tool fields that use it.
type schemaJob struct {
	raw    json.RawMessage
	schema *jsonschema.Schema
	err    error
	users  []schemaUse
}

type schemaUse struct {
	tool   *Tool
	index  int
	output bool
}

// compileSchemas compiles every input and output schema. Identical schema
// texts are compiled once and share the result (a compiled schema is safe
// for concurrent use), and distinct ones are compiled in parallel, each by a
// compiler of its own so that one schema's $id can never capture another's
// reference. Meta-schema checking dominates the cost, so this is what makes
// a large manifest load fast.
func compileSchemas(tools []*Tool) []*FieldError {
	byText := make(map[string]*schemaJob)
	var jobs []*schemaJob
	add := func(raw json.RawMessage, use schemaUse) {
		var buf bytes.Buffer
		key := string(raw)
		if json.Compact(&buf, raw) == nil {
			key = buf.String()
		}
		j := byText[key]
		if j == nil {
			j = &schemaJob{raw: raw}
			byText[key] = j
			jobs = append(jobs, j)
		}
		j.users = append(j.users, use)
	}
	for i, t := range tools {
		add(t.InputSchema, schemaUse{tool: t, index: i})
		if len(t.OutputSchema) > 0 {
			add(t.OutputSchema, schemaUse{tool: t, index: i, output: true})
		}
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), (len(jobs)+15)/16)
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1) - 1)
				if n >= len(jobs) {
					return
				}
				j := jobs[n]
				j.schema, j.err = compileOne(j.raw)
			}
		}()
	}
	wg.Wait()

	var errs []*FieldError
	for _, j := range jobs {
		for _, u := range j.users {
			field := "schema"
			if u.output {
				field = "outputSchema"
			}
			if j.err != nil {
				errs = append(errs, &FieldError{Index: u.index, Tool: u.tool.Name, Field: field, Err: j.err})
				continue
			}
			if u.output {
				u.tool.Output = j.schema
			} else {
				u.tool.Input = j.schema
			}
		}
	}
	return errs
}

const toolSchemaURL = "toolhost:///tool-schema.json"

// CompileSchema compiles one tool schema exactly as loading a manifest
// does (see newCompiler): for tests and tools that check a tool alone.
func CompileSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	if len(raw) == 0 {
		return nil, errors.New("missing")
	}
	return compileOne(raw)
}

func compileOne(raw json.RawMessage) (*jsonschema.Schema, error) {
	c := newCompiler()
	if err := c.AddResource(toolSchemaURL, bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("not a schema: %w", err)
	}
	s, err := c.Compile(toolSchemaURL)
	if err != nil {
		return nil, schemaProblem(err)
	}
	return s, nil
}

// schemaProblem turns a compile error into a message that names the place
// in the schema and the rule, without the compiler's internal URLs.
func schemaProblem(err error) error {
	var se *jsonschema.SchemaError
	if errors.As(err, &se) {
		err = se.Err
	}
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		var parts []string
		for _, l := range leaves(ve) {
			at := l.InstanceLocation
			if at == "" {
				at = "/"
			}
			parts = append(parts, fmt.Sprintf("at %s: %s", at, l.Message))
		}
		return fmt.Errorf("invalid JSON Schema: %s", strings.Join(parts, "; "))
	}
	return fmt.Errorf("invalid JSON Schema: %s", strings.ReplaceAll(err.Error(), toolSchemaURL, ""))
}

// DescribeSchemaError lists the failed rules of a validation error, each with the
// place in the value (a JSON pointer) and the rule's keyword.
func DescribeSchemaError(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	var parts []string
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		at := e.InstanceLocation
		if at == "" {
			at = "(root)"
		}
		rule := e.KeywordLocation[strings.LastIndexByte(e.KeywordLocation, '/')+1:]
		parts = append(parts, fmt.Sprintf("%s: %s (%s)", at, e.Message, rule))
	}
	walk(ve)
	if len(parts) > 8 {
		parts = append(parts[:8], fmt.Sprintf("and %d more", len(parts)-8))
	}
	return strings.Join(parts, "; ")
}
