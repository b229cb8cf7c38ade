package manifest

import (
	"errors"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the loader: it must never panic, and
// anything it refuses must come back as a *LoadError.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"tools":[]}`,
		`{"tools":[{"name":"x","command":["./tools/bin/x"],"schema":{"type":"object","properties":{"a":{"type":"string","pattern":"^a+$"}}},"outputSchema":{"type":"array"},"timeoutSec":3,"envPassthrough":["a","B"],"annotations":{"title":"t"},"maxOutputBytes":10,"sha256":"` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `"}]}`,
		`{"tools":[{"name":"x","command":["tools\\bin\\..\\x"]},{"name":"x","command":["/bin/true"]}]}`,
		`{"tools":[{"name":"x","command":["/bin/true"],"schema":{"$ref":"#/$defs/a","$defs":{"a":{"type":"object"}}}}]}`,
		`{"tools":[{"name":"x","command":["/bin/true"],"schema":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}}]}`,
		`{"tools": [`, ``, `null`, `{"tools":[1,"a",null]}`, "{\"tools\":[{\"name\":\"\\u0000\"}]}",
	} {
		f.Add([]byte(seed))
	}
	file := filepath.Join(f.TempDir(), "tools.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, file)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Errs) == 0 {
				t.Fatalf("error %T %v is not a *LoadError with problems", err, err)
			}
			for _, fe := range le.Errs {
				if fe.Error() == "" {
					t.Fatal("empty problem")
				}
			}
			return
		}
		for _, tool := range m.Tools {
			if tool.Input == nil || m.Lookup(tool.Name) != tool {
				t.Fatalf("loaded tool %q is incomplete", tool.Name)
			}
		}
	})
}
