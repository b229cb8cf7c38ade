package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/toolhost/toolhost/schemas"
)

const manifestSchemaURL = "https://toolhost.dev/schemas/manifest.schema.json"

// manifestSchema is the compiled schemas/manifest.schema.json.
var manifestSchema = sync.OnceValue(func() *jsonschema.Schema {
	c := newCompiler()
	if err := c.AddResource(manifestSchemaURL, bytes.NewReader(schemas.Manifest)); err != nil {
		panic(fmt.Sprintf("embedded manifest schema: %v", err))
	}
	return c.MustCompile(manifestSchemaURL)
})

// validateDocument checks the decoded manifest against the manifest schema
// and turns every failed leaf into a FieldError naming tool and field.
func validateDocument(doc any) []*FieldError {
	err := manifestSchema().Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []*FieldError{{Index: -1, Err: err}}
	}
	var errs []*FieldError
	seen := make(map[string]bool)
	for _, leaf := range leaves(ve) {
		fe := locate(doc, leaf.InstanceLocation)
		msg := leaf.Message + suggest(leaf.Message)
		if m := unknownField.FindStringSubmatch(leaf.Message); m != nil {
			msg = fmt.Sprintf("unknown key %q%s: agentcli refuses keys it does not know (goagent ignores them), so that a misspelled setting never silently fails to apply", m[1], suggest(leaf.Message))
		}
		fe.Err = errors.New(msg)
		if k := fe.Error(); !seen[k] {
			seen[k] = true
			errs = append(errs, fe)
		}
	}
	return errs
}

// leaves returns the innermost causes: the specific rules that failed.
func leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// locate maps an instance location such as "/tools/3/command/0" to the tool
// index, its name (when the document has one) and the field "command[0]".
func locate(doc any, loc string) *FieldError {
	tokens := splitPointer(loc)
	if len(tokens) < 2 || tokens[0] != "tools" {
		return &FieldError{Index: -1, Field: fieldName(tokens)}
	}
	i, err := strconv.Atoi(tokens[1])
	if err != nil {
		return &FieldError{Index: -1, Field: fieldName(tokens)}
	}
	fe := &FieldError{Index: i, Field: fieldName(tokens[2:])}
	if root, ok := doc.(map[string]any); ok {
		if tools, ok := root["tools"].([]any); ok && i < len(tools) {
			if t, ok := tools[i].(map[string]any); ok {
				fe.Tool, _ = t["name"].(string)
			}
		}
	}
	return fe
}

// splitPointer splits a JSON pointer into unescaped tokens (RFC 6901).
func splitPointer(p string) []string {
	if p == "" || p == "/" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		parts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
	}
	return parts
}

// knownFields are the field names of the manifest, for suggestions.
var knownFields = []string{
	"tools", "name", "description", "schema", "outputSchema", "command",
	"timeoutSec", "envPassthrough", "annotations", "maxOutputBytes", "maxArgsBytes", "sha256",
	"title", "readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint",
	"sandbox", "level", "user", "workspace", "read", "write", "network", "limits",
	"cpuSec", "memoryMB", "openFiles", "processes", "fileSizeMB", "policy",
}

var unknownField = regexp.MustCompile(`^additionalProperties '([^']+)' not allowed$`)

// suggest offers the known field an unknown one differs from only by case
// or punctuation: "timeoutsec" and "timeout_sec" both mean "timeoutSec".
func suggest(msg string) string {
	m := unknownField.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s)) }
	for _, k := range knownFields {
		if norm(k) == norm(m[1]) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return ""
}
