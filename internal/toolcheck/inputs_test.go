package toolcheck

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/toolhost/toolhost/internal/manifest"
)

const richSchema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["query"],
  "examples": [{"query": "from the examples"}],
  "properties": {
    "query": {"type": "string", "minLength": 1, "maxLength": 20, "description": "q"},
    "mode": {"enum": ["fast", "slow", "exact"], "description": "m"},
    "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50, "description": "l"},
    "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": "r"},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 4, "description": "t"},
    "deep": {"type": "boolean", "description": "d"},
    "when": {"type": "string", "format": "date-time", "description": "w"},
    "ref": {"$ref": "#/$defs/id", "description": "i"}
  },
  "$defs": {"id": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 12}}
}`

func inputsOf(t *testing.T, schema string, seed uint64, max int, maxArgs int64) (valid, invalid []Input) {
	t.Helper()
	compiled, err := manifest.CompileSchema(json.RawMessage(schema))
	if err != nil {
		t.Fatal(err)
	}
	return Inputs(json.RawMessage(schema), compiled, seed, max, maxArgs)
}

// The inputs are the schema's examples and the minimal and fullest
// objects first, then each property's boundaries, each valid; the invalid
// ones are each refused; and a seed gives the same inputs every time.
func TestInputs(t *testing.T) {
	valid, invalid := inputsOf(t, richSchema, 7, 100, 1<<20)
	if len(valid) < 20 {
		t.Fatalf("only %d valid inputs", len(valid))
	}
	if string(valid[0].JSON) != `{"query":"from the examples"}` || !strings.HasPrefix(valid[1].Why, "minimal") {
		t.Errorf("first inputs: %s (%s), %s (%s)", valid[0].JSON, valid[0].Why, valid[1].JSON, valid[1].Why)
	}
	all := ""
	for _, in := range valid {
		all += string(in.JSON) + "\n"
	}
	for _, want := range []string{
		`"query":"a"`,              // shortest string
		`"mode":"exact"`,           // every enum value
		`"limit":500`, `"limit":1`, // the bounds
		`"limit":50`,                  // the default
		`"tags":[]`,                   // empty array
		`"deep":true`, `"deep":false`, // both booleans
		`"when":"2026-01-02T03:04:05Z"`, // a format
		`日本語`,                           // multi-byte text
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no valid input has %s:\n%s", want, all)
		}
	}
	if !slices.ContainsFunc(valid, func(in Input) bool {
		var v struct{ Query string }
		json.Unmarshal(in.JSON, &v)
		return len([]rune(v.Query)) == 20
	}) {
		t.Errorf("no input has the longest query (20 characters)")
	}
	whys := ""
	for _, in := range invalid {
		whys += in.Why + "; "
	}
	for _, want := range []string{"not an object", "required property query missing", "wrong type", "a property the schema does not have"} {
		if !strings.Contains(whys, want) {
			t.Errorf("no invalid input is %q: %s", want, whys)
		}
	}
	for _, in := range invalid {
		if in.Lenient != strings.HasPrefix(in.Why, "a property the schema does not have") {
			t.Errorf("%s: lenient %v", in.Why, in.Lenient)
		}
	}

	again, _ := inputsOf(t, richSchema, 7, 100, 1<<20)
	other, _ := inputsOf(t, richSchema, 8, 100, 1<<20)
	if !slices.EqualFunc(valid, again, func(a, b Input) bool { return string(a.JSON) == string(b.JSON) }) {
		t.Error("the same seed made different inputs")
	}
	if slices.EqualFunc(valid, other, func(a, b Input) bool { return string(a.JSON) == string(b.JSON) }) {
		t.Error("another seed made the same inputs")
	}
}

// At most max valid inputs, the first ones kept; none longer than the
// host passes; a schema with nothing to vary still gets {}.
func TestInputsBounded(t *testing.T) {
	valid, _ := inputsOf(t, richSchema, 1, 5, 1<<20)
	if len(valid) != 5 || string(valid[0].JSON) != `{"query":"from the examples"}` {
		t.Errorf("%d inputs, first %s", len(valid), valid[0].JSON)
	}
	long := `{"type":"object","properties":{"text":{"type":"string","maxLength":100000000}}}`
	valid, _ = inputsOf(t, long, 1, 100, 64<<10)
	for _, in := range valid {
		if len(in.JSON) > 64<<10 {
			t.Errorf("%s: %d bytes, over the host's limit", in.Why, len(in.JSON))
		}
	}
	valid, invalid := inputsOf(t, `{"type":"object"}`, 1, 100, 1<<20)
	if len(valid) != 1 || string(valid[0].JSON) != `{}` || len(invalid) == 0 {
		t.Errorf("valid %v, invalid %v", valid, invalid)
	}
}

// Schemas of odd shapes make inputs without crashing or running away:
// self-reference through $ref or a choice, counts no machine could make,
// type lists, a default that is not an object.
func TestInputsOddSchemas(t *testing.T) {
	for _, schema := range []string{
		`{"type":"object","properties":{"v":{"$ref":"#/$defs/t"}},"$defs":{"t":{"type":"array","items":{"$ref":"#/$defs/t"}}}}`,
		`{"type":"object","properties":{"v":{"$ref":"#/$defs/any"}},"$defs":{"any":{"anyOf":[{"type":"array","items":{"$ref":"#/$defs/any"}},{"type":"string"}]}}}`,
		`{"type":"object","properties":{"a":{"type":"array","maxItems":2147483647,"items":{"type":"string"}}}}`,
		`{"type":"object","properties":{"a":{"type":"array","minItems":1e30,"items":{"type":"string"}}}}`,
		`{"type":"object","properties":{"s":{"type":"string","minLength":1e30}}}`,
		`{"type":"object","properties":{"s":{"type":"string","minLength":100000000}}}`,
		`{"type":["object","null"],"default":[1,2],"properties":{"x":{"type":["string","null"]},"e":{"enum":[{"a":1},[2],null,""]}}}`,
		`{"type":"object","properties":{"o":{"type":"object","properties":{"o":{"type":"object","properties":{"o":{"type":"object","properties":{"o":{"type":"object","properties":{"o":{"type":"object","required":["x"],"properties":{"x":{"type":"integer","multipleOf":0.25}}}}}}}}}}}}}`,
	} {
		valid, invalid := inputsOf(t, schema, 1, 40, 1<<20)
		for _, in := range append(valid, invalid...) {
			if len(in.JSON) > 1<<20 {
				t.Errorf("%s: an input of %d bytes", schema, len(in.JSON))
			}
		}
	}
}
