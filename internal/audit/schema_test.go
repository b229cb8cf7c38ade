package audit

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/toolhost/toolhost/schemas"
)

// The published schema of an audit record matches what the log writes:
// every record of a log, with every field set and with only the required
// ones, validates; and its decisions are the gate's.
func TestRecordSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	const url = "https://toolhost.dev/schemas/audit-record.schema.json"
	if err := c.AddResource(url, bytes.NewReader(schemas.AuditRecord)); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	log, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	full := record(1)
	full.Caller, full.PID, full.Resident, full.Containment, full.Leftovers = "token:ci", 42, true, "cgroup-v1", 1
	full.Decision, full.Rule, full.Code, full.Message = NeedsApproval, "mode:default", "NEEDS_APPROVAL", "asks"
	signalled := record(2)
	signalled.Exit, signalled.Signal = nil, "killed"
	bare := &Record{Call: "c", Frontend: "api", Tool: "x", ArgsSHA256: full.ArgsSHA256}
	for _, rec := range []*Record{full, signalled, bare} {
		if err := log.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, line := range lines {
		var v any
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("record %d does not match the published schema: %v\n%s", i, err, line)
		}
	}
	var doc struct {
		Properties struct {
			Decision struct{ Enum []string } `json:"decision"`
		} `json:"properties"`
	}
	json.Unmarshal(schemas.AuditRecord, &doc)
	want := []string{string(Allowed), string(Approved), string(Denied), string(Declined), string(NeedsApproval)}
	slices.Sort(want)
	if got := slices.Sorted(slices.Values(doc.Properties.Decision.Enum)); !slices.Equal(got, want) {
		t.Errorf("the schema's decisions %v, the gate's %v", got, want)
	}
}
