package manifest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// bigManifest writes a manifest of n tools, each with its own program and
// its own, distinct input schema, and an output schema for every other
// tool: the worst case for compile-once caching.
func bigManifest(b *testing.B, n int) (path string, schemas []string) {
	b.Helper()
	dir := workspace(b)
	var tools []map[string]any
	for i := range n {
		name := fmt.Sprintf("tool_%04d", i)
		writeProgram(b, filepath.Join(dir, "tools", "bin", name), "#!/bin/sh\n")
		in := fmt.Sprintf(`{"type":"object","additionalProperties":false,"required":["path_%d"],"properties":{
			"path_%d":{"type":"string","minLength":1,"description":"file to read"},
			"limit":{"type":"integer","minimum":0,"maximum":%d},
			"mode":{"enum":["fast","slow","m%d"]},
			"tags":{"type":"array","items":{"type":"string","pattern":"^[a-z]+$"},"maxItems":%d},
			"options":{"type":"object","properties":{"depth":{"type":"integer"},"follow":{"type":"boolean"}}}}}`, i, i, 1000+i, i, 5+i%7)
		t := map[string]any{
			"name":        name,
			"description": "tool number " + name,
			"command":     []string{"./tools/bin/" + name},
			"schema":      json.RawMessage(in),
		}
		schemas = append(schemas, in)
		if i%2 == 0 {
			out := fmt.Sprintf(`{"type":"object","required":["ok_%d"],"properties":{"ok_%d":{"type":"boolean"},"lines":{"type":"array","items":{"type":"string"}}}}`, i, i)
			t["outputSchema"] = json.RawMessage(out)
			schemas = append(schemas, out)
		}
		tools = append(tools, t)
	}
	data, err := json.Marshal(map[string]any{"tools": tools})
	if err != nil {
		b.Fatal(err)
	}
	path = filepath.Join(dir, "tools.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return path, schemas
}

// BenchmarkLoad1000 loads and vets a 1,000-tool manifest (1,500 distinct
// schemas, 1,000 programs), side by side with the plain approach of
// compiling the same schemas one by one with one compiler, and reports the
// ratio of the two.
func BenchmarkLoad1000(b *testing.B) {
	// agentcli runs with host.GCPercent (400); the manifest package cannot
	// import host, so the value is repeated here. Both sides get it.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	path, schemas := bigManifest(b, 1000)
	b.Run("plain-compile", func(b *testing.B) {
		for b.Loop() {
			c := jsonschema.NewCompiler()
			for i, s := range schemas {
				url := fmt.Sprintf("mem:///%d.json", i)
				if err := c.AddResource(url, strings.NewReader(s)); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Compile(url); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			if _, err := Load(path); err != nil {
				b.Fatal(err)
			}
		}
	})
}
