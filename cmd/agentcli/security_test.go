package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/toolhost/toolhost/internal/sandbox/confine"
	"github.com/toolhost/toolhost/internal/secaudit"
	"github.com/toolhost/toolhost/schemas"
)

// securityReport checks out against schemas/security-audit.schema.json and
// decodes it.
func securityReport(t *testing.T, out string) *secaudit.Report {
	t.Helper()
	const url = "https://toolhost.dev/schemas/security-audit.schema.json"
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource(url, bytes.NewReader(schemas.SecurityAudit)); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("the report breaks its schema: %#v\n%s", err, out)
	}
	var r secaudit.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// squeeze collapses the runs of spaces that align the columns of the human
// output, line by line.
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

// TestSecurityAuditRepository audits the repository's own tools.json with
// the built toolbelt: no critical finding (on a machine that can provide
// the strict level its tools use).
func TestSecurityAuditRepository(t *testing.T) {
	dir := project(t)
	strictOK := confine.Check() == nil
	code, out, errs := runIn(t, dir, "security", "audit")
	if strictOK && code != 0 || errs != "" {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, filepath.Join(dir, "tools.json")+": ") {
		t.Errorf("no summary line: %q", last)
	}
	code, out, _ = runIn(t, dir, "security", "audit", "-json")
	r := securityReport(t, out)
	for _, f := range r.Findings {
		if f.Severity == secaudit.Critical && (strictOK || f.ID != secaudit.StrictUnavailable) {
			t.Errorf("critical finding in the repository's setup: %+v", f)
		}
	}
	if r.Manifest != filepath.Join(dir, "tools.json") || len(lines) != len(r.Findings)+1 {
		t.Errorf("manifest %s, %d findings, %d lines:\n%s", r.Manifest, len(r.Findings), len(lines), out)
	}
	if strictOK && (code != 0 || r.Summary.Critical != 0) {
		t.Errorf("exit %d, summary %+v", code, r.Summary)
	}
}

func TestSecurityAuditUsage(t *testing.T) {
	dir := project(t)
	os.WriteFile(filepath.Join(dir, "bypass.json"), []byte(`{"mode":"bypass"}`), 0o600)
	os.WriteFile(filepath.Join(dir, "tokens.txt"), []byte("0123456789abcdef0123\n"), 0o600)
	strict := 0
	if confine.Check() != nil {
		strict = 1 // the toolbelt's strict tools make it fail anyway
	}
	tests := []struct {
		name     string
		env      string // AGENTCLI_MCP_TOKEN
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"no subcommand", "", []string{"security"}, 2, "", "usage: agentcli security audit [-tools F]"},
		{"unknown subcommand", "", []string{"security", "check"}, 2, "", "usage: agentcli security audit"},
		{"an argument", "", []string{"security", "audit", "extra"}, 2, "", `security audit takes no arguments, got ["extra"]`},
		{"bad flag", "", []string{"security", "audit", "-nope"}, 2, "", "flag provided but not defined: -nope"},
		{"help", "", []string{"security", "audit", "-h"}, 0, "", "-jwt-public-key"},
		{"missing manifest", "", []string{"security", "audit", "-tools", "missing.json"}, 2, "", "missing.json"},
		{"missing policy", "", []string{"security", "audit", "-policy", "missing.json"}, 2, "", "missing.json"},
		{"address without a port", "", []string{"security", "audit", "-http", "0.0.0.0"}, 2, "", `-http "0.0.0.0"`},
		{"HTTP without auth", "", []string{"security", "audit", "-http", "0.0.0.0:8080"}, 1, "critical mcp-http-no-auth -http 0.0.0.0:8080: MCP over HTTP off loopback without auth", ""},
		{"HTTP with a token file", "", []string{"security", "audit", "-http", "0.0.0.0:8080", "-token-file", "tokens.txt"}, strict, "", ""},
		{"HTTP with a token in the environment", "0123456789abcdef0123", []string{"security", "audit", "-http", "0.0.0.0:8080"}, strict, "", ""},
		{"HTTP on loopback", "", []string{"security", "audit", "-http", "127.0.0.1:8080"}, strict, "", ""},
		{"bypass policy", "", []string{"security", "audit", "-policy", "bypass.json"}, 1, `critical mode-bypass ` + filepath.Join(dir, "bypass.json") + `: mode "bypass"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AGENTCLI_MCP_TOKEN", tt.env)
			t.Setenv("AGENTCLI_MCP_JWT_SECRET", "")
			code, out, errs := runIn(t, dir, tt.args...)
			if code != tt.wantCode || !strings.Contains(squeeze(out), tt.wantOut) || !strings.Contains(errs, tt.wantErr) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errs)
			}
		})
	}
}

func TestSecurityAuditFix(t *testing.T) {
	dir := project(t)
	manifest := filepath.Join(dir, "tools.json")
	state := filepath.Join(dir, "state", "toolhost") // the default log's folder (project sets XDG_STATE_HOME)
	log := filepath.Join(state, "audit.jsonl")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(log, nil, 0o600)
	for p, m := range map[string]os.FileMode{manifest: 0o664, state: 0o777, log: 0o644} {
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	strictOK := confine.Check() == nil

	code, out, errs := runIn(t, dir, "security", "audit")
	out = squeeze(out)
	for _, want := range []string{
		"critical manifest-invalid " + manifest + ": ",
		"critical perm-manifest " + manifest + ": mode 0664: the manifest is writable by group, who could add or change tools; fix: chmod go-w " + manifest + "\n",
		"critical perm-audit " + state + ": mode 0777",
		"critical perm-audit " + log + ": mode 0644: the audit log is readable by group and others (it must be 0600: agentcli refuses to open it); fix: chmod 600 " + log + "\n",
		"info binary-unpinned get_time: ",
		"3 fixable with -fix\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("human output lacks %q", want)
		}
	}
	// Grouped by severity.
	if c, i := strings.LastIndex(out, "\ncritical "), strings.Index(out, "\ninfo "); !strings.HasPrefix(out, "critical ") || i < 0 || c > i {
		t.Errorf("not grouped by severity")
	}
	if code != 1 || errs != "" {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}

	code, out, errs = runIn(t, dir, "security", "audit", "-fix", "-json")
	if strictOK && code != 0 || errs != "" {
		t.Fatalf("-fix: exit %d\n%s\n%s", code, out, errs)
	}
	r := securityReport(t, out)
	want := map[string]secaudit.Change{
		manifest: {ID: "perm-manifest", Path: manifest, From: "0664", To: "0644"},
		state:    {ID: "perm-audit", Path: state, From: "0777", To: "0700"},
		log:      {ID: "perm-audit", Path: log, From: "0644", To: "0600"},
	}
	if len(r.Fixed) != len(want) {
		t.Errorf("changes %+v", r.Fixed)
	}
	for _, c := range r.Fixed {
		if want[c.Path] != c {
			t.Errorf("change %+v", c)
		}
	}
	for p, m := range map[string]os.FileMode{manifest: 0o644, state: 0o700, log: 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != m {
			t.Errorf("%s: %v after -fix, want %04o", p, fi.Mode(), m)
		}
	}
	fixed := 0
	for _, f := range r.Findings {
		switch {
		case f.Fixed:
			fixed++
			if !strings.HasPrefix(f.ID, "perm-") {
				t.Errorf("fixed: %+v", f)
			}
		case strings.HasPrefix(f.ID, "perm-") || f.ID == secaudit.ManifestInvalid:
			t.Errorf("remains after -fix: %+v", f)
		}
	}
	if fixed != 3 {
		t.Errorf("%d findings fixed, want 3", fixed)
	}

	// The human output of -fix, and an audit after it.
	os.Chmod(log, 0o640)
	code, out, _ = runIn(t, dir, "security", "audit", "-fix")
	if out = squeeze(out); strictOK && code != 0 || !strings.Contains(out, "fixed perm-audit "+log+": mode 0640 -> 0600\n") || !strings.Contains(out, "; 1 fixed by -fix\n") {
		t.Errorf("-fix: exit %d\n%s", code, out)
	}
	code, out, _ = runIn(t, dir, "security", "audit")
	if strictOK && code != 0 || strings.Contains(out, "perm-") {
		t.Errorf("after -fix: exit %d\n%s", code, out)
	}
}
