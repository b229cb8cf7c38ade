package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tsClientDir holds the end-to-end client built on the official MCP
// TypeScript SDK; "npm ci --prefix e2e/mcp-ts" installs its dependencies.
const tsClientDir = "../../e2e/mcp-ts"

// TestMCPTypeScriptSDK runs "agentcli mcp" under the official TypeScript
// SDK client (e2e/mcp-ts/client.mjs), over stdio and over streamable HTTP:
// handshake, tool list, calls, tool failures, the floor, approval and
// decline by elicitation, invalid arguments, an unknown tool,
// cancellation, ping and a clean exit, each asserted by the script. It needs node and the
// script's node_modules: without them it is skipped, saying how to get
// them, unless TOOLHOST_REQUIRE_NODE=1 (make test, CI) makes that a
// failure; TOOLHOST_SKIP_NODE=1 always skips it.
func TestMCPTypeScriptSDK(t *testing.T) {
	node := tsClientSetup(t)
	// The same steps over stdio and over streamable HTTP (with a bearer
	// token): the same outcomes, the caller named as each transport has it.
	for _, tc := range []struct{ transport, caller string }{{"stdio", "stdio"}, {"http", "token:env"}} {
		t.Run(tc.transport, func(t *testing.T) { testTypeScriptSDK(t, node, tc.transport, tc.caller) })
	}
}

func testTypeScriptSDK(t *testing.T, node, transport, caller string) {
	dir := project(t, `{"name":"sleeper","command":["/bin/sleep","1234.5"],"timeoutSec":120}`)
	const content = "hello from the TypeScript SDK\n"
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join(tsClientDir, "client.mjs"))
	if err != nil {
		t.Fatal(err)
	}

	// The bound only keeps a broken build from hanging the test; the
	// script bounds each of its own waits far more tightly.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script,
		filepath.Join(built, "agentcli"), "mcp", "-tools", filepath.Join(dir, "tools.json"), "-workspace", dir)
	cmd.Dir = dir
	// XDG_STATE_HOME, set by project, places the audit log; the script
	// passes it on to the server.
	cmd.Env = append(os.Environ(), "E2E_READ_FILE=hello.txt", "E2E_READ_CONTENT="+content,
		"E2E_SLOW_TOOL=sleeper", "E2E_SLOW_MARKER=1234.5", "E2E_TRANSPORT="+transport, "E2E_TOKEN=e2e-token-0123456789abcdef")
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("the TypeScript client did not finish within the bound: %v\n%s", err, out.String())
	}
	if err != nil {
		t.Fatalf("the TypeScript SDK client failed (%v):\n%s", err, out.String())
	}
	t.Logf("TypeScript SDK client:\n%s", out.String())
	if !strings.Contains(out.String(), "PASS: ") {
		t.Errorf("the client exited 0 without its PASS line:\n%s", out.String())
	}
	if sleeperRunning() {
		t.Error("the cancelled tool outlived the run")
	}

	// Every call is audited as coming over MCP, the unknown tool too,
	// though the protocol layer refuses it before anything runs.
	path := filepath.Join(dir, "state", "toolhost", "audit.jsonl")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	type rec struct{ Frontend, Caller, Tool, Code string }
	var got []rec
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r rec
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		got = append(got, r)
	}
	want := []rec{
		{"mcp", caller, "fs_read_file", ""},
		{"mcp", caller, "fs_read_file", "NOT_FOUND"},
		{"mcp", caller, "fs_read_file", "DENIED"},
		{"mcp", caller, "fs_write_file", ""},
		{"mcp", caller, "fs_read_file", ""},
		{"mcp", caller, "fs_write_file", "DENIED"},
		{"mcp", caller, "fs_read_file", "INVALID_ARGS"},
		{"mcp", caller, "no_such_tool", "UNKNOWN_TOOL"},
		{"mcp", caller, "sleeper", "CANCELLED"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("audit records (frontend, caller, tool, code):\n got %v\nwant %v\n%s", got, want, data)
	}
	for _, d := range []string{`"decision":"approved","rule":"rule:writes"`, `"decision":"declined","rule":"rule:writes"`, `"decision":"deny","rule":"floor:path-etc"`} {
		if !strings.Contains(string(data), d) {
			t.Errorf("no audit record with %s", d)
		}
	}
	if n := strings.Count(string(data), `"frontend":"mcp"`); n != len(want) {
		t.Errorf(`%d records with "frontend":"mcp", want %d`, n, len(want))
	}
	if code, out, errs := runIn(t, dir, "audit", "verify", path); code != 0 || !strings.Contains(out, "ok, 9 records") {
		t.Errorf("audit verify: exit %d: %s %s", code, out, errs)
	}
}

// tsClientSetup returns the node program, failing the test, with what to
// run, when node or the client's dependencies are missing: a test that
// quietly skips would hide that the SDK was never tried.
func tsClientSetup(t *testing.T) string {
	t.Helper()
	if os.Getenv("TOOLHOST_SKIP_NODE") == "1" {
		t.Skip("TOOLHOST_SKIP_NODE=1: not running the MCP TypeScript SDK client")
	}
	const fix = "run \"npm ci --prefix e2e/mcp-ts\" in the repository root (needs node >= 20 and npm); " +
		"\"make test\" does, and requires this test (TOOLHOST_REQUIRE_NODE=1), as CI does"
	// A plain "go test ./..." on a machine without node skips it; "make
	// test" (and so CI) requires it.
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("TOOLHOST_REQUIRE_NODE") == "1" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH (%v): %s", err, fix)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	const sdk = "@modelcontextprotocol/sdk"
	if data, err := os.ReadFile(filepath.Join(tsClientDir, "package.json")); err != nil || json.Unmarshal(data, &pkg) != nil || pkg.Dependencies[sdk] == "" {
		t.Fatalf("e2e/mcp-ts/package.json does not name %s: %v", sdk, err)
	}
	var installed struct{ Version string }
	data, err := os.ReadFile(filepath.Join(tsClientDir, "node_modules", sdk, "package.json"))
	if errors.Is(err, os.ErrNotExist) {
		missing("e2e/mcp-ts/node_modules lacks %s: %s", sdk, fix)
	}
	if err != nil || json.Unmarshal(data, &installed) != nil {
		t.Fatalf("e2e/mcp-ts/node_modules/%s/package.json: %v: %s", sdk, err, fix)
	}
	if installed.Version != pkg.Dependencies[sdk] {
		t.Fatalf("e2e/mcp-ts/node_modules has %s %s, package.json pins %s: %s", sdk, installed.Version, pkg.Dependencies[sdk], fix)
	}
	return node
}
