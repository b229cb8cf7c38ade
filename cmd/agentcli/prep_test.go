package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolhost/toolhost/internal/fakeoai"
)

// The pre-stage runs by default, as goagent's: one request with the seed
// messages and no tools; a reply that names a system message and
// developer messages revises the loop's first request; -save-messages
// writes the revised messages; the result is cached for the same input
// (in .goagent/cache/prep, the user's alone) and the cache is skipped by
// -prep-cache-bust or once it is older than GOAGENT_PREP_CACHE_TTL.
func TestPrepRevisesAndCaches(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	payload := `[{"role":"system","content":"You answer in one word."},{"developer":"No tools needed."}]`
	srv := fakeoai.New(t, fakeoai.Answer(payload), fakeoai.Answer("Paris"))
	save := filepath.Join(dir, "opening.json")
	args := []string{"-prompt", "Capital of France?", "-developer", "be kind", "-base-url", srv.BaseURL(), "-save-messages", save}
	code, out, errs := runIn(t, dir, args...)
	if code != exitOK || out != "Paris\n" || errs != "" {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, out, errs)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if b := reqs[0].Body(); b["tools"] != nil || b["tool_choice"] != nil || len(reqs[0].Messages()) != 3 {
		t.Errorf("pre-stage request %s", reqs[0].Raw)
	}
	roles := func(msgs []map[string]any) (out []string) {
		for _, m := range msgs {
			out = append(out, m["role"].(string)+":"+m["content"].(string))
		}
		return out
	}
	want := []string{"system:You answer in one word.", "developer:be kind", "developer:No tools needed.", "user:Capital of France?"}
	if got := roles(reqs[1].Messages()); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("the loop's messages %q, want %q", got, want)
	}
	var saved struct{ Messages []map[string]any }
	if b, err := os.ReadFile(save); err != nil || json.Unmarshal(b, &saved) != nil || strings.Join(roles(saved.Messages), "|") != strings.Join(want, "|") {
		t.Errorf("-save-messages wrote %s (%v)", b, err)
	}

	entries, _ := filepath.Glob(filepath.Join(dir, ".goagent", "cache", "prep", "*.json"))
	if len(entries) != 1 {
		t.Fatalf("cache entries %q", entries)
	}
	for _, p := range []string{entries[0], filepath.Dir(entries[0])} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %v, mode %v; want the user's alone", p, err, fi.Mode())
		}
	}

	// The same input again: from the cache, no pre-stage request.
	srv.Script(fakeoai.Answer("Paris"))
	if code, _, errs := runIn(t, dir, args...); code != exitOK {
		t.Fatalf("cached run: exit %d, %s", code, errs)
	}
	if reqs := srv.Requests(); len(reqs) != 3 || strings.Join(roles(reqs[2].Messages()), "|") != strings.Join(want, "|") {
		t.Errorf("cached run: %d requests in all, last %s", len(reqs), reqs[len(reqs)-1].Raw)
	}
	// -prep-cache-bust asks again; so does an expired entry.
	srv.Script(fakeoai.Answer(payload), fakeoai.Answer("Paris"))
	if code, _, errs := runIn(t, dir, append(args, "-prep-cache-bust")...); code != exitOK || len(srv.Requests()) != 5 {
		t.Errorf("-prep-cache-bust: exit %d, %d requests in all\n%s", code, len(srv.Requests()), errs)
	}
	t.Setenv("GOAGENT_PREP_CACHE_TTL", "1ns")
	srv.Script(fakeoai.Answer(payload), fakeoai.Answer("Paris"))
	if code, _, errs := runIn(t, dir, args...); code != exitOK || len(srv.Requests()) != 7 {
		t.Errorf("expired: exit %d, %d requests in all\n%s", code, len(srv.Requests()), errs)
	}
	// A cache file others may write is not trusted.
	os.Chmod(entries[0], 0o666)
	t.Setenv("GOAGENT_PREP_CACHE_TTL", "0s")
	srv.Script(fakeoai.Answer(payload), fakeoai.Answer("Paris"))
	if code, _, errs := runIn(t, dir, args...); code != exitOK || len(srv.Requests()) != 9 {
		t.Errorf("writable by others: exit %d, %d requests in all\n%s", code, len(srv.Requests()), errs)
	}
}

// The pre-stage has its own server, model, key and system message; the
// latter goes in front of its request only. A reply that is not a
// pre-stage payload changes nothing, and a failed pre-stage is said in
// goagent's two lines while the run goes on.
func TestPrepSettingsAndFailure(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	main := fakeoai.New(t, fakeoai.Answer("done"))
	prep := fakeoai.New(t, fakeoai.Answer("Sure! Here is a plan."))
	code, out, errs := runIn(t, dir, "-prompt", "go", "-base-url", main.BaseURL(), "-api-key", "sk-main-0000",
		"-prep-base-url", prep.BaseURL(), "-prep-model", "small", "-prep-api-key", "sk-prep-1111", "-prep-system", "Plan first.",
		"-prep-profile", "deterministic", "-verbose")
	if code != exitOK || out != "done\n" || !strings.Contains(errs, "pre-stage: the reply is not JSON; the messages are unchanged") {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, out, errs)
	}
	p := prep.Requests()[0]
	if b := p.Body(); b["model"] != "small" || b["temperature"] != 0.1 || p.Header.Get("Authorization") != "Bearer sk-prep-1111" {
		t.Errorf("pre-stage request %s, %q", p.Raw, p.Header.Get("Authorization"))
	}
	if msgs := p.Messages(); len(msgs) != 3 || msgs[0]["content"] != "Plan first." || msgs[1]["content"] != defaultSystem {
		t.Errorf("pre-stage messages %v", msgs)
	}
	if msgs := main.Requests()[0].Messages(); len(msgs) != 2 || msgs[0]["content"] != defaultSystem {
		t.Errorf("the loop's messages %v", msgs)
	}

	main.Script(fakeoai.Answer("still done"))
	prep.Script(fakeoai.Error(500, "prep is down", "server_error"))
	code, out, errs = runIn(t, dir, "-prompt", "go on", "-base-url", main.BaseURL(), "-prep-base-url", prep.BaseURL(), "-http-retries", "0")
	if code != exitOK || out != "still done\n" ||
		!strings.Contains(errs, "error: prep call failed: chat API: 500 Internal Server Error: prep is down\n") ||
		!strings.Contains(errs, "WARN: pre-stage failed; skipping (reason: chat API: 500 Internal Server Error: prep is down)\n") {
		t.Errorf("failed pre-stage: exit %d\nstdout %q\nstderr %s", code, out, errs)
	}
}

// Tool calls in the pre-stage's reply run goagent's built-in read-only
// tools, in the workspace only and never on a path the floor protects,
// each audited; env.get is refused, out loud. With
// -prep-tools-allow-external they are the manifest's tools, through the
// gate. Either way the calls and results open the loop's conversation.
func TestPrepTools(t *testing.T) {
	chatEnv(t)
	dir := project(t)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("heron"), 0o644)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("TOKEN=abc"), 0o644)
	os.Symlink("/etc/hostname", filepath.Join(dir, "escape"))
	t.Setenv("OAI_API_KEY", "sk-env-secret-2222")
	srv := fakeoai.New(t,
		fakeoai.ToolCalls(
			fakeoai.Call{ID: "a", Name: "fs.read_file", Args: `{"path":"notes.txt"}`},
			fakeoai.Call{ID: "b", Name: "fs.list_dir", Args: `{"path":"."}`},
			fakeoai.Call{ID: "c", Name: "fs.stat", Args: `{"path":"notes.txt"}`},
			fakeoai.Call{ID: "d", Name: "os.info", Args: `{}`},
			fakeoai.Call{ID: "e", Name: "env.get", Args: `{"key":"OAI_API_KEY"}`},
			fakeoai.Call{ID: "f", Name: "fs.read_file", Args: `{"path":".env"}`},
			fakeoai.Call{ID: "g", Name: "fs.read_file", Args: `{"path":"../x"}`},
			fakeoai.Call{ID: "h", Name: "fs.read_file", Args: `{"path":"escape"}`},
			fakeoai.Call{ID: "i", Name: "shell", Args: `{}`},
		),
		fakeoai.Answer("ok"),
	)
	code, out, errs := runIn(t, dir, "-prompt", "look around", "-base-url", srv.BaseURL())
	if code != exitOK || out != "ok\n" || !strings.Contains(errs, "agentcli refuses it, unlike goagent") {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, out, errs)
	}
	msgs := srv.Requests()[1].Messages()
	if len(msgs) != 2+1+9 || msgs[2]["role"] != "assistant" {
		t.Fatalf("the loop's messages %v", msgs)
	}
	results := map[string]string{}
	for _, m := range msgs[3:] {
		results[m["tool_call_id"].(string)] = m["content"].(string)
	}
	for id, want := range map[string]string{
		"a": `{"content":"heron"}`, "c": `{"is_dir":false,"size":5}`, "d": `"goos":"linux"`,
		"e": `"code":"DENIED"`, "f": `path-dotenv`, "g": `"code":"INVALID_ARGS"`, "h": `escape`, "i": `"code":"UNKNOWN_TOOL"`,
	} {
		if !strings.Contains(results[id], want) {
			t.Errorf("call %s: %s, want %s", id, results[id], want)
		}
	}
	if strings.Contains(results["b"], ".env") || !strings.Contains(results["b"], `{"name":"notes.txt","type":"file"}`) {
		t.Errorf("fs.list_dir: %s", results["b"])
	}
	if strings.Contains(results["h"], "content") || strings.Contains(results["e"], "sk-env") {
		t.Errorf("escaped the workspace or leaked the key: %s, %s", results["h"], results["e"])
	}
	audit, _ := os.ReadFile(filepath.Join(dir, "state", "toolhost", "audit.jsonl"))
	// Served: a to d, and h (which os.Root stopped); refused before: the
	// rest, each audited with its code.
	if n, all := strings.Count(string(audit), `"rule":"builtin"`), strings.Count(string(audit), `"caller":"prep"`); n != 5 || all != 9 {
		t.Errorf("%d audit records of served built-in calls (want 5), %d of pre-stage calls (want 9):\n%s", n, all, audit)
	}

	srv.Script(
		fakeoai.ToolCalls(fakeoai.Call{ID: "x", Name: "fs_read_file", Args: `{"path":"notes.txt"}`}),
		fakeoai.Answer("ok"),
	)
	code, _, errs = runIn(t, dir, "-prompt", "look again", "-base-url", srv.BaseURL(), "-tools", "tools.json", "-prep-tools-allow-external")
	if msgs := srv.Requests()[3].Messages(); code != exitOK || len(msgs) < 4 || !strings.Contains(msgs[3]["content"].(string), "heron") {
		t.Errorf("external: exit %d, messages %v\n%s", code, msgs, errs)
	}
}
