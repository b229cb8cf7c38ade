package protocol

import (
	"bytes"
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/toolhost/toolhost/schemas"
)

// The published envelope schema matches what the host writes: every host
// code's envelope validates, and the schema lists exactly the host codes.
func TestEnvelopeSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	const url = "https://toolhost.dev/schemas/envelope.schema.json"
	if err := c.AddResource(url, bytes.NewReader(schemas.Envelope)); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	codes := slices.Sorted(maps.Keys(hostCodes))
	for _, code := range append(codes, "MY_TOOL_FAILED") {
		var v any
		if err := json.Unmarshal(Errorf(code, "it failed: %q", "\x1b[2J").JSON(), &v); err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("%s: %v", code, err)
		}
	}
	var doc struct {
		Properties struct {
			Code struct{ Description string } `json:"code"`
		} `json:"properties"`
	}
	json.Unmarshal(schemas.Envelope, &doc)
	listed := regexp.MustCompile(`[A-Z][A-Z_]+[A-Z]`).FindAllString(doc.Properties.Code.Description, -1)
	slices.Sort(listed)
	if !slices.Equal(listed, codes) {
		t.Errorf("the schema lists the host codes %v, the host has %v", listed, codes)
	}
}
