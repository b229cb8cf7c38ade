package toolcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// Input is one input the checker gives a tool.
type Input struct {
	// JSON is what the tool reads on standard input.
	JSON json.RawMessage
	// Why says how it was made: "example 1", "minimal", "timezone: longest string".
	Why string
	// Lenient marks an invalid input a tool may accept: an unknown
	// property, which a tool may ignore.
	Lenient bool
}

// DefaultMaxInputs bounds the valid inputs tried per tool.
const DefaultMaxInputs = 40

// nonASCII is multi-byte text: accents, CJK, an emoji (four bytes in
// UTF-8, two UTF-16 units) and a combining mark.
const nonASCII = "héllo wörld — 日本語 🙂 e\u0301"

// longestUnbounded is the length of the "longest" string of a schema that
// sets no maxLength.
const longestUnbounded = 4096

// generator makes inputs from one tool's input schema.
type generator struct {
	root      map[string]any // the schema as written
	rng       *rand.Rand
	maxString int // the longest string worth making: more would pass maxArgs
}

// Inputs returns the valid inputs to try (each accepted by schema, at most
// max, the schema's examples, the minimal and the fullest object first)
// and the invalid ones (each refused by it), made from raw, the input
// schema as written. No input is longer than maxArgs bytes, the most
// the host passes. The same seed gives the same inputs.
func Inputs(raw json.RawMessage, schema *jsonschema.Schema, seed uint64, maxInputs int, maxArgs int64) (valid, invalid []Input) {
	var root map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&root) != nil {
		root = map[string]any{"type": "object"}
	}
	g := &generator{root: root, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), maxString: max(int(maxArgs/2)-1024, 64)}
	if maxInputs <= 0 {
		maxInputs = DefaultMaxInputs
	}

	seen := map[string]bool{}
	add := func(list *[]Input, v any, why string, wantValid bool) {
		b, err := json.Marshal(v)
		if err != nil || seen[string(b)] || int64(len(b)) > maxArgs || validates(schema, v) != wantValid {
			return
		}
		seen[string(b)] = true
		*list = append(*list, Input{JSON: b, Why: why})
	}

	s := g.resolve(root)
	var first, rest []Input
	for i, ex := range examplesOf(s) {
		add(&first, ex, fmt.Sprintf("example %d of the schema", i+1), true)
	}
	add(&first, g.minimal(s, 0), "minimal: required properties only", true)
	add(&first, g.full(s, 0), "every property", true)
	props := propertiesOf(s)
	for _, name := range sortedKeys(props) {
		ps := g.resolve(props[name])
		for _, vr := range g.variants(ps, 0) {
			obj := g.base(s)
			obj[name] = vr.value
			add(&rest, obj, name+": "+vr.why, true)
		}
	}
	if room := maxInputs - len(first); room < len(rest) {
		// A seeded sample, kept in schema order.
		idx := g.rng.Perm(len(rest))[:max(room, 0)]
		slices.Sort(idx)
		picked := make([]Input, 0, len(idx))
		for _, i := range idx {
			picked = append(picked, rest[i])
		}
		rest = picked
	}
	valid = append(first, rest...)
	if len(valid) > maxInputs {
		valid = valid[:maxInputs]
	}

	add(&invalid, []any{}, "not an object: an array", false)
	if req := requiredOf(s); len(req) > 0 {
		add(&invalid, map[string]any{}, "required property "+req[0]+" missing", false)
	}
	for _, name := range sortedKeys(props) {
		obj := g.base(s)
		obj[name] = wrongType(g.resolve(props[name]))
		add(&invalid, obj, name+": a value of the wrong type", false)
		break
	}
	// A tool may ignore a property it does not know: when that property is
	// all that makes this input invalid, succeeding on it is fine.
	obj := g.base(s)
	baseValid := validates(schema, obj)
	obj["unexpected_property"] = true
	n := len(invalid)
	add(&invalid, obj, "a property the schema does not have", false)
	if len(invalid) > n {
		invalid[n].Lenient = baseValid
	}
	return valid, invalid
}

// validates reports whether schema accepts v, as the host checks
// arguments (numbers as json.Number).
func validates(schema *jsonschema.Schema, v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	var decoded any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(&decoded) == nil && schema.Validate(decoded) == nil
}

// resolve follows s's local $refs ("#/$defs/x") and takes the first
// branch of an anyOf or oneOf for the choice, a few levels deep at most (a
// schema may refer to itself).
func (g *generator) resolve(s any) map[string]any {
	m, _ := s.(map[string]any)
	for range 8 {
		if ref, ok := m["$ref"].(string); ok && strings.HasPrefix(ref, "#") {
			var at any = g.root
			for _, tok := range strings.Split(strings.TrimPrefix(ref, "#"), "/")[1:] {
				tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
				obj, _ := at.(map[string]any)
				at = obj[tok]
			}
			next, ok := at.(map[string]any)
			if !ok {
				break
			}
			m = next
			continue
		}
		branch := ""
		for _, k := range []string{"anyOf", "oneOf"} {
			if list, ok := m[k].([]any); ok && len(list) > 0 {
				branch = k
			}
		}
		if branch == "" {
			break
		}
		first, _ := m[branch].([]any)[0].(map[string]any)
		merged := map[string]any{}
		for k, v := range first {
			merged[k] = v
		}
		for k, v := range m {
			if k != "anyOf" && k != "oneOf" {
				merged[k] = v
			}
		}
		m = merged
	}
	if m == nil {
		return map[string]any{}
	}
	return m
}

// base is a fresh copy of s's minimal value when that is an object (a
// default is shared with the schema), else an empty object.
func (g *generator) base(s map[string]any) map[string]any {
	b, _ := json.Marshal(g.minimal(s, 0))
	var obj map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if d.Decode(&obj) != nil || obj == nil {
		obj = map[string]any{}
	}
	return obj
}

func examplesOf(s map[string]any) []any {
	ex, _ := s["examples"].([]any)
	return ex
}

func propertiesOf(s map[string]any) map[string]any {
	p, _ := s["properties"].(map[string]any)
	return p
}

func requiredOf(s map[string]any) []string {
	var out []string
	list, _ := s["required"].([]any)
	for _, r := range list {
		if name, ok := r.(string); ok {
			out = append(out, name)
		}
	}
	return out
}

// typeOf is the schema's type, the first non-null one of a list; "" when
// it names none.
func typeOf(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if name, ok := x.(string); ok && name != "null" {
				return name
			}
		}
	}
	switch {
	case s["properties"] != nil:
		return "object"
	case s["items"] != nil:
		return "array"
	}
	return ""
}

// minimal is the smallest value s accepts, as far as the generator can
// tell: its const, its default, its first enum value or example, or the
// least value of its type.
func (g *generator) minimal(s map[string]any, depth int) any {
	if v, ok := s["const"]; ok {
		return v
	}
	if v, ok := s["default"]; ok {
		return v
	}
	if list, ok := s["enum"].([]any); ok && len(list) > 0 {
		return list[0]
	}
	if ex := examplesOf(s); len(ex) > 0 && typeOf(s) != "object" {
		return ex[0]
	}
	switch typeOf(s) {
	case "object":
		obj := map[string]any{}
		if depth > 4 {
			return obj
		}
		props := propertiesOf(s)
		for _, name := range requiredOf(s) {
			obj[name] = g.minimal(g.resolve(props[name]), depth+1)
		}
		return obj
	case "array":
		n := g.count(s, "minItems", 0, maxItemsMade)
		out := make([]any, 0, n)
		if depth > 4 {
			return out
		}
		for range n {
			out = append(out, g.minimal(g.resolve(s["items"]), depth+1))
		}
		return out
	case "string":
		if f := formatValue(s); f != "" {
			return f
		}
		return strings.Repeat("a", g.count(s, "minLength", 0, g.maxString))
	case "integer", "number":
		return g.clamp(s, 0)
	case "boolean":
		return false
	case "null":
		return nil
	}
	return map[string]any{}
}

// full is s with every property present, each at its minimal value, or a
// word for a string.
func (g *generator) full(s map[string]any, depth int) any {
	if typeOf(s) != "object" || depth > 4 {
		return g.minimal(s, depth)
	}
	obj := g.base(s)
	props := propertiesOf(s)
	for _, name := range sortedKeys(props) {
		r := g.resolve(props[name])
		v := g.minimal(r, depth+1)
		if typeOf(r) == "object" {
			v = g.full(r, depth+1)
		} else if str, ok := v.(string); ok && str == "" && r["enum"] == nil && r["const"] == nil {
			v = g.word(r)
		}
		obj[name] = v
	}
	return obj
}

// variant is one value to try for a property.
type variant struct {
	value any
	why   string
}

// variants are the values worth trying for a property of schema s: its
// examples, default and every enum value, and its type's boundaries.
func (g *generator) variants(s map[string]any, depth int) []variant {
	var out []variant
	for i, ex := range examplesOf(s) {
		out = append(out, variant{ex, fmt.Sprintf("example %d", i+1)})
	}
	if v, ok := s["default"]; ok {
		out = append(out, variant{v, "the default"})
	}
	if list, ok := s["enum"].([]any); ok {
		for _, v := range list {
			shown, _ := json.Marshal(v)
			out = append(out, variant{v, "enum value " + string(shown)})
		}
		return out
	}
	if v, ok := s["const"]; ok {
		return append(out, variant{v, "the const"})
	}
	switch typeOf(s) {
	case "string":
		minLen := g.count(s, "minLength", 0, g.maxString)
		maxLen := max(g.count(s, "maxLength", longestUnbounded, g.maxString), minLen)
		out = append(out,
			variant{strings.Repeat("a", minLen), "shortest string"},
			variant{g.longest(maxLen), fmt.Sprintf("longest string (%d characters)", maxLen)},
			variant{fit(nonASCII, minLen, maxLen), "non-ASCII, multi-byte text"},
			variant{g.word(s), "a word"},
		)
		if f := formatValue(s); f != "" {
			out = append(out, variant{f, "a " + s["format"].(string)})
		}
	case "integer", "number":
		for _, x := range []float64{numberOf(s, "minimum", math.NaN()), numberOf(s, "maximum", math.NaN()),
			numberOf(s, "exclusiveMinimum", math.NaN()) + 1, numberOf(s, "exclusiveMaximum", math.NaN()) - 1,
			0, -1, 1, 1e9, -1e9} {
			if !math.IsNaN(x) {
				v := g.clamp(s, x)
				out = append(out, variant{v, fmt.Sprintf("number %v", v)})
			}
		}
		if typeOf(s) == "number" {
			out = append(out, variant{g.clamp(s, 0.5), "a fraction"})
		}
	case "boolean":
		out = append(out, variant{true, "true"}, variant{false, "false"})
	case "array":
		if depth > 4 {
			break
		}
		item := g.resolve(s["items"])
		n := max(g.count(s, "maxItems", 8, maxItemsMade), g.count(s, "minItems", 0, maxItemsMade))
		full := make([]any, 0, n)
		vs := g.variants(item, depth+1)
		for i := range n {
			if len(vs) > 0 && s["uniqueItems"] != true {
				full = append(full, vs[i%len(vs)].value)
			} else {
				full = append(full, g.minimal(item, depth+1))
			}
		}
		out = append(out, variant{[]any{}, "empty array"}, variant{full, fmt.Sprintf("full array (%d items)", len(full))})
	case "object":
		if depth < 3 {
			out = append(out, variant{g.minimal(s, depth+1), "minimal object"}, variant{g.full(s, depth+1), "every property"})
		}
	}
	return out
}

// clamp brings x into s's bounds, as an integer when s is one.
func (g *generator) clamp(s map[string]any, x float64) any {
	if lo := numberOf(s, "minimum", math.NaN()); !math.IsNaN(lo) {
		x = math.Max(x, lo)
	}
	if hi := numberOf(s, "maximum", math.NaN()); !math.IsNaN(hi) {
		x = math.Min(x, hi)
	}
	if lo := numberOf(s, "exclusiveMinimum", math.NaN()); !math.IsNaN(lo) && x <= lo {
		x = lo + 1
	}
	if hi := numberOf(s, "exclusiveMaximum", math.NaN()); !math.IsNaN(hi) && x >= hi {
		x = hi - 1
	}
	if m := numberOf(s, "multipleOf", math.NaN()); !math.IsNaN(m) && m > 0 {
		x = math.Ceil(x/m) * m
	}
	if typeOf(s) == "integer" {
		return json.Number(fmt.Sprintf("%d", int64(math.Round(x))))
	}
	return json.Number(fmt.Sprintf("%g", x))
}

// word is a seeded word of 3 to 12 letters, fit to s's length bounds.
func (g *generator) word(s map[string]any) string {
	n := 3 + g.rng.IntN(10)
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + g.rng.IntN(26))
	}
	return fit(string(b), g.count(s, "minLength", 0, g.maxString), g.count(s, "maxLength", longestUnbounded, g.maxString))
}

// longest is a seeded string of n characters.
func (g *generator) longest(n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteByte(byte('a' + g.rng.IntN(26)))
	}
	return b.String()
}

// fit pads or cuts s to between lo and hi characters (code points, as
// JSON Schema counts them).
func fit(s string, lo, hi int) string {
	if n := utf8.RuneCountInString(s); n < lo {
		s += strings.Repeat("a", lo-n)
	}
	if utf8.RuneCountInString(s) > hi {
		s = string([]rune(s)[:hi])
	}
	return s
}

// formatValue is a value of the string format s names, or "".
func formatValue(s map[string]any) string {
	switch s["format"] {
	case "date-time":
		return "2026-01-02T03:04:05Z"
	case "date":
		return "2026-01-02"
	case "time":
		return "03:04:05Z"
	case "email":
		return "ada@example.com"
	case "uri", "url":
		return "https://example.com/a"
	case "uuid":
		return "123e4567-e89b-12d3-a456-426614174000"
	case "ipv4":
		return "192.0.2.1"
	case "ipv6":
		return "2001:db8::1"
	case "hostname":
		return "example.com"
	}
	return ""
}

// wrongType is a value no schema of s's type accepts.
func wrongType(s map[string]any) any {
	switch typeOf(s) {
	case "string":
		return json.Number("12345")
	case "object":
		return []any{}
	}
	return "not the type the schema asks for"
}

// maxItemsMade bounds the items of an array the generator makes.
const maxItemsMade = 64

// count is the non-negative count s gives for key (minLength, maxItems),
// or def, at most limit: a schema may say 1e30.
func (g *generator) count(s map[string]any, key string, def, limit int) int {
	v := numberOf(s, key, float64(def))
	switch {
	case math.IsNaN(v) || v < 0:
		return 0
	case v > float64(limit):
		return max(limit, 0)
	}
	return int(v)
}

func numberOf(s map[string]any, key string, def float64) float64 {
	switch v := s[key].(type) {
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return f
		}
	case float64:
		return v
	}
	return def
}
