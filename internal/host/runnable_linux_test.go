package host

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolhost/toolhost/internal/asuser"
	"github.com/toolhost/toolhost/internal/audit"
	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/policy"
)

// publicTemp is a folder any user may enter, removed after the test.
var publicTemp = asuser.PublicDir

// loadHost loads tools.json in dir, written from entries, and makes a host
// on it with opts (Audit and Workspace filled in).
func loadHost(t *testing.T, dir, entries string, opts Options) (*Host, error) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "tools.json"), []byte(`{"tools":[`+entries+`]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Load(filepath.Join(dir, "tools.json"))
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(filepath.Join(t.TempDir(), "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	opts.Audit, opts.Workspace, opts.Mode = log, dir, policy.ModeBypass
	h, err := New(m, opts)
	if err == nil {
		t.Cleanup(func() { h.Close() })
	}
	return h, err
}

// A program the tool's user cannot run is refused at load, naming the
// tool, the user, the file and a fix that works for that user: a 0700
// program, a script whose interpreter sits in a folder the user cannot
// enter, and "#!/usr/bin/env NAME" where NAME on PATH is such a program.
func TestUnrunnableRefusedAtLoad(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the tools run as users of their own")
	}
	dir := publicTemp(t)
	bin := filepath.Join(dir, "tools", "bin")
	os.MkdirAll(bin, 0o755)
	closed := filepath.Join(dir, "closed")
	os.Mkdir(closed, 0o700)
	sh, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(closed, "sh"), sh, 0o755)
	os.WriteFile(filepath.Join(closed, "python3"), sh, 0o755)
	os.WriteFile(filepath.Join(bin, "private"), []byte("#!/bin/sh\necho '{}'\n"), 0o700)
	os.WriteFile(filepath.Join(bin, "hidden-interp"), []byte("#!"+filepath.Join(closed, "sh")+"\necho '{}'\n"), 0o755)
	os.WriteFile(filepath.Join(bin, "env-interp"), []byte("#!/usr/bin/env python3\nprint('{}')\n"), 0o755)
	os.WriteFile(filepath.Join(bin, "missing-interp"), []byte("#!/nonexistent/sh\necho '{}'\n"), 0o755)
	os.WriteFile(filepath.Join(bin, "env-missing"), []byte("#!/usr/bin/env no-such-interpreter\necho '{}'\n"), 0o755)
	for _, c := range []struct {
		tool, path string
		want       []string
	}{
		{"private", "", []string{"private runs as a user of its own (uid 2147352576 and up, no account), who cannot read and execute " + filepath.Join(bin, "private"), "mode 0700, owner root (uid 0)", "fix: chmod a+rx " + filepath.Join(bin, "private")}},
		{"hidden-interp", "", []string{"hidden-interp runs as a user of its own (uid 2147352576 and up, no account), who cannot enter " + closed, "fix: chmod a+x " + closed}},
		{"env-interp", closed + ":/usr/bin", []string{"env-interp runs as a user of its own (uid 2147352576 and up, no account), who cannot enter " + closed}},
		{"missing-interp", "", []string{"missing-interp cannot start: /nonexistent/sh does not exist", "fix: install it, or name a program that exists"}},
		{"env-missing", "", []string{"env-missing cannot start: no-such-interpreter does not exist", "no-such-interpreter is not on the tool's PATH (/usr/local/bin:/usr/bin:/bin)"}},
	} {
		t.Run(c.tool, func(t *testing.T) {
			_, err := loadHost(t, dir, `{"name":"`+c.tool+`","command":["./tools/bin/`+c.tool+`"]}`, Options{Path: c.path})
			var re *RunnableError
			if !errors.As(err, &re) {
				t.Fatalf("load: %v, want a *RunnableError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "u+x") {
				t.Errorf("the fix %q would not help the tool's user", err)
			}
		})
	}
	// The same 0700 program as root (level none) is fine.
	if _, err := loadHost(t, dir, `{"name":"private","command":["./tools/bin/private"],"sandbox":{"level":"none"}}`, Options{}); err != nil {
		t.Errorf("a 0700 program of root's run as root: %v", err)
	}
}

// A script tool runs by its path: $0 and __file__ are its real path, it
// opens files beside it, and HOME is "/" (its user, one of its own, has
// no account and no home). Pinned,
// it runs by descriptor instead, so the file checked is the file run.
func TestScriptTools(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the tools run as users of their own")
	}
	dir := publicTemp(t)
	bin := filepath.Join(dir, "tools", "bin")
	os.MkdirAll(bin, 0o755)
	os.WriteFile(filepath.Join(bin, "data.txt"), []byte("beside me"), 0o644)
	os.WriteFile(filepath.Join(bin, "shtool"), []byte(`#!/bin/sh
read -r args
printf '{"zero":"%s","beside":"%s","home":"%s"}\n' "$0" "$(cat "$(dirname "$0")/data.txt")" "$HOME"
`), 0o755)
	os.WriteFile(filepath.Join(bin, "pytool.py"), []byte(`#!/usr/bin/env python3
import json, os, sys
args = json.load(sys.stdin)
with open(os.path.join(os.path.dirname(__file__), "data.txt")) as f:
    beside = f.read()
print(json.dumps({"zero": __file__, "beside": beside, "home": os.environ["HOME"], "greeting": "hello " + args.get("name", "")}))
`), 0o755)
	h, err := loadHost(t, dir, `{"name":"shtool","command":["./tools/bin/shtool"]},
		{"name":"pytool","command":["./tools/bin/pytool.py"],"schema":{"type":"object","properties":{"name":{"type":"string"}}}}`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ tool, file, args, greeting string }{
		{"shtool", "shtool", `{}`, ""},
		{"pytool", "pytool.py", `{"name":"ada"}`, "hello ada"},
	} {
		r, err := h.Call(context.Background(), Request{Tool: c.tool, Args: json.RawMessage(c.args)})
		if err != nil || !r.OK() {
			t.Fatalf("%s: %v %+v", c.tool, err, r.Err)
		}
		var got struct{ Zero, Beside, Home, Greeting string }
		json.Unmarshal(r.Output, &got)
		want := filepath.Join(bin, c.file)
		if got.Zero != want || got.Beside != "beside me" || got.Home != "/" || got.Greeting != c.greeting {
			t.Errorf("%s: %s, want $0 %s, the file beside it, HOME /", c.tool, r.Output, want)
		}
	}
}
