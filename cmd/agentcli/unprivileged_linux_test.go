package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/toolhost/toolhost/internal/asuser"
	"github.com/toolhost/toolhost/internal/fakeoai"
)

// testUID is the ordinary user the unprivileged tests run agentcli as: a
// user with no entry in /etc/passwd and no cgroup, as plain as a user gets.
const testUID = 4321

// unprivilegedProject is a project an ordinary user runs: agentcli, the
// toolbelt and tools.json owned by root (as an installed copy is), and a
// workspace, a home and a state folder of the user's own.
func unprivilegedProject(t *testing.T) (dir, ws string, env []string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to become an ordinary user (CI runs as root)")
	}
	dir, err := os.MkdirTemp("", "toolhost-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "tools", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	copyExec(t, filepath.Join(built, "agentcli"), filepath.Join(dir, "agentcli"))
	entries, err := os.ReadDir(filepath.Join(built, "tools", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		copyExec(t, filepath.Join(built, "tools", "bin", e.Name()), filepath.Join(bin, e.Name()))
	}
	data, err := os.ReadFile("../../tools.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tools.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	ws = filepath.Join(dir, "ws")
	home := filepath.Join(dir, "home")
	for _, d := range []string{ws, home} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chown(d, testUID, testUID)
	}
	os.WriteFile(filepath.Join(ws, "notes.txt"), []byte("the code word is heron"), 0o644)
	os.Chown(filepath.Join(ws, "notes.txt"), testUID, testUID)
	env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "XDG_STATE_HOME=" + filepath.Join(home, "state")}
	return dir, ws, env
}

var copyExec = asuser.CopyExec

// asUser is a command that runs as testUID with no other groups.
func asUser(dir string, env []string, args ...string) *exec.Cmd {
	cmd := asuser.Command(testUID, filepath.Join(dir, "agentcli"), args...)
	cmd.Dir = filepath.Join(dir, "ws")
	cmd.Env = env
	return cmd
}

// An ordinary user without a cgroup gets every frontend working, each
// call contained in a pid namespace and audited as such: "call", the
// agent loop and the MCP server over stdio, and "tools" and "security
// audit" name the containment.
func TestUnprivilegedFrontends(t *testing.T) {
	dir, ws, env := unprivilegedProject(t)
	manifest := filepath.Join(dir, "tools.json")
	run := func(stdin string, args ...string) (string, string, error) {
		cmd := asUser(dir, env, args...)
		var out, errb bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}

	out, errs, err := run("", "tools", "-tools", manifest)
	if err != nil || !strings.Contains(out, "tool processes are contained by: pid namespace per call (in agentcli's own user namespace)") {
		t.Errorf("tools: %v\n%s%s", err, out, errs)
	}
	out, errs, err = run("", "security", "audit", "-tools", manifest)
	if err != nil || !strings.Contains(out, "info  containment-shared") || !strings.Contains(out, "(containment: pid namespace per call") {
		t.Errorf("security audit: %v\n%s%s", err, out, errs)
	}

	out, errs, err = run("", "call", "-tools", manifest, "-workspace", ws, "-approve", "fs_write_file",
		"fs_write_file", `{"path":"made.txt","content":"by an ordinary user"}`)
	if err != nil || !strings.Contains(out, `"created":true`) {
		t.Fatalf("call: %v\n%s%s", err, out, errs)
	}
	if fi, err := os.Stat(filepath.Join(ws, "made.txt")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != testUID {
		t.Errorf("made.txt: %v, want a file of uid %d", err, testUID)
	}
	// A resident tool (get_time is in the repository's tools.json).
	out, errs, err = run("", "call", "-tools", manifest, "-workspace", ws, "get_time", `{"timezone":"Asia/Tokyo"}`)
	if err != nil || !strings.Contains(out, `"timezone":"Asia/Tokyo"`) {
		t.Errorf("resident call: %v\n%s%s", err, out, errs)
	}

	// A resident tool in another language (gRPC): the Node.js example.
	// Without Node.js or the example's packages (npm ci, as make test
	// does) it is left out, unless TOOLHOST_REQUIRE_NODE=1.
	nodeCalls := 0
	example, _ := filepath.Abs("../../examples/resident-node")
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(example, "node_modules", "@grpc", "grpc-js"))
	if (nodeErr != nil || modErr != nil) && os.Getenv("TOOLHOST_REQUIRE_NODE") == "1" {
		t.Errorf("the Node.js example cannot run: %v, %v", nodeErr, modErr)
	}
	if nodeErr == nil && modErr == nil {
		nodeCalls = 1
		proto, _ := filepath.Abs("../../protocol/resident/residentpb")
		nodeManifest := filepath.Join(dir, "node.json")
		os.WriteFile(nodeManifest, fmt.Appendf(nil, `{"tools":[{"name":"text_stats","command":[%q],"resident":{},
			"schema":{"type":"object","properties":{"text":{"type":"string"}}},
			"sandbox":{"level":"strict","read":[%q,%q]}}]}`, filepath.Join(example, "tool.mjs"), example, proto), 0o644)
		out, errs, err = run("", "call", "-tools", nodeManifest, "-workspace", ws, "-approve", "text_stats", "text_stats", `{"text":"one two\nthree"}`)
		if err != nil || !strings.Contains(out, `"words":3`) {
			t.Errorf("resident call of the Node.js example: %v\n%s%s", err, out, errs)
		}
	}

	// The pre-stage too: its built-in read runs as the user, in the
	// workspace, and its cache is written there (no go.mod above it). And
	// a resident tool beside a one-shot one, in the same turn.
	srv := fakeoai.New(t,
		fakeoai.ToolCalls(fakeoai.Call{ID: "prep_1", Name: "fs.read_file", Args: `{"path":"notes.txt"}`}),
		fakeoai.ToolCalls(fakeoai.Call{ID: "call_1", Name: "fs_read_file", Args: `{"path":"notes.txt"}`},
			fakeoai.Call{ID: "call_2", Name: "get_time", Args: `{"timezone":"Asia/Tokyo"}`}),
		fakeoai.Answer("The code word is heron."),
	)
	out, errs, err = run("", "-prompt", "What is the code word in notes.txt?", "-tools", manifest, "-workspace", ws,
		"-base-url", srv.BaseURL(), "-api-key", "sk-test", "-model", "m", "-quiet")
	if err != nil || out != "The code word is heron.\n" {
		t.Errorf("agent loop: %v\nstdout %q\nstderr %s", err, out, errs)
	} else if msgs := srv.Requests()[2].Messages(); !strings.Contains(msgs[3]["content"].(string), `{"content":"the code word is heron"}`) ||
		!strings.Contains(msgs[5]["content"].(string), "heron") || !strings.Contains(msgs[6]["content"].(string), `"timezone":"Asia/Tokyo"`) {
		t.Errorf("the pre-stage's and the tool's results did not reach the model: %v", msgs)
	}
	if entries, _ := filepath.Glob(filepath.Join(ws, ".goagent", "cache", "prep", "*.json")); len(entries) != 1 {
		t.Errorf("pre-stage cache entries %q", entries)
	}

	var stderr syncBuffer
	var cmd *exec.Cmd
	tr := transport.NewStdioWithOptions(filepath.Join(dir, "agentcli"), nil, []string{"mcp", "-tools", manifest, "-workspace", ws},
		transport.WithCommandFunc(func(ctx context.Context, command string, _, args []string) (*exec.Cmd, error) {
			cmd = asUser(dir, env, args...)
			cmd.Stderr = &stderr
			return cmd, nil
		}))
	c := client.NewClient(tr)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "toolhost-test", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatalf("initialize: %v\n%s", err, stderr.String())
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = "fs_read_file"
	req.Params.Arguments = map[string]any{"path": "notes.txt"}
	res, err := c.CallTool(ctx, req)
	if err != nil || res.IsError || !strings.Contains(text(res), "heron") {
		t.Errorf("mcp call: %v %+v\n%s", err, res, stderr.String())
	}
	// A resident tool over MCP, twice in its one process.
	for range 2 {
		req := mcp.CallToolRequest{}
		req.Params.Name = "fs_search"
		req.Params.Arguments = map[string]any{"query": "heron"}
		res, err := c.CallTool(ctx, req)
		if err != nil || res.IsError || !strings.Contains(text(res), "notes.txt") {
			t.Errorf("resident mcp call: %v %+v\n%s", err, res, stderr.String())
		}
	}
	c.Close() // closes the server's stdin and waits for it
	if ps := cmd.ProcessState; ps == nil || !ps.Success() {
		t.Errorf("the server did not exit cleanly when its client left: %v", ps)
	}
	if !strings.Contains(stderr.String(), "containment pid namespace per call") {
		t.Errorf("the banner does not name the containment:\n%s", stderr.String())
	}

	// Every tool ran in a pid namespace, and the log says so; the
	// pre-stage's built-in read ran in agentcli, audited as built-in.
	logData, err := os.ReadFile(filepath.Join(dir, "home", "state", "toolhost", "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	calls, resident := 0, 0
	for line := range strings.Lines(string(logData)) {
		var rec struct {
			Tool, Containment, Rule string
			Resident                bool
		}
		json.Unmarshal([]byte(line), &rec)
		calls++
		if rec.Resident {
			resident++
		}
		if rec.Rule == "builtin" {
			continue
		}
		if rec.Containment != "pid-namespace" {
			t.Errorf("audit record of %s: containment %q, want pid-namespace", rec.Tool, rec.Containment)
		}
	}
	if calls != 8+nodeCalls || resident != 4+nodeCalls {
		t.Errorf("%d calls audited (%d resident), want %d (%d):\n%s", calls, resident, 8+nodeCalls, 4+nodeCalls, logData)
	}
}
