package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every floor path entry has cases, in the forms a model could use to
// dodge it: other folders, letter case, dot files with suffixes.
func TestFloorPaths(t *testing.T) {
	own := []string{"/srv/toolhost/audit", "/srv/project/tools.json"}
	cases := map[string]string{ // path -> entry id ("" = not protected)
		"/w/.env": "path-dotenv", "/w/sub/.env.local": "path-dotenv", "/w/.ENV": "path-dotenv", "/w/.envrc": "path-dotenv",
		"/w/.git/config": "path-git", "/w/a/.git": "path-git",
		"/home/u/.ssh/id_ed25519": "path-ssh", "/home/u/.gnupg/x": "path-gnupg", "/home/u/.aws/credentials": "path-aws",
		"/home/u/.kube/config": "path-kube", "/home/u/.docker/config.json": "path-docker", "/home/u/.netrc": "path-netrc",
		"/home/u/.git-credentials": "path-credentials", "/home/u/.config/gh/hosts.yml": "path-credentials",
		"/home/u/.bashrc": "path-shell-startup", "/home/u/.zshenv": "path-shell-startup", "/home/u/.profile": "path-shell-startup",
		"/home/u/.config/fish/config.fish": "path-shell-startup",
		"/etc/shadow":                      "path-etc", "/etc": "path-etc", "/proc/1/environ": "path-proc", "/sys/kernel": "path-sys",
		"/dev/sda": "path-dev", "/boot/vmlinuz": "path-boot", "/run/docker.sock": "path-docker-socket", "/var/run/docker.sock": "path-docker-socket-var",
		"/srv/toolhost/audit/audit.jsonl": "path-host", "/srv/project/tools.json": "path-host",
		"/home/u/.gitconfig": "path-git-config", "/w/.config/git/config": "path-git-config",
		"/w/.husky/pre-commit": "path-git-hooks", "/w/sub/.githooks/pre-push": "path-git-hooks",
		"/w/.vscode/tasks.json": "path-editor-tasks", "/home/u/.bash_aliases": "path-shell-startup",
		"/w/certs/server.key": "path-private-keys", "/w/tls/CERT.PEM": "path-private-keys", "/w/backup/id_rsa.old": "path-private-keys",
		"/w/id_ed25519": "path-private-keys", "/w/secrets/db.txt": "path-secrets-folder", "/w/deploy/credentials": "path-secrets-folder",
		"/w/.mcp.json": "path-mcp-config", "/home/u/.claude.json": "path-mcp-config",
		"/w/.vscode/settings.json": "", "/w/keyboard.go": "", "/w/.key": "", "/w/secretsanta.txt": "", "/w/pem.go": "",
		// Not protected: look-alikes.
		"/w/env": "", "/w/.environment-notes": "", "/w/my.env": "", "/w/.github/workflows/ci.yml": "", "/w/gitignore": "",
		"/w/.gitignore": "", "/etcetera/x": "", "/w/dev/notes": "", "/home/u/.config/fishing": "", "/srv/project/tools.json.bak": "",
		"/w/src/main.go": "",
	}
	seen := map[string]bool{}
	for p, want := range cases {
		f := FloorPath(p, own)
		got := ""
		if f != nil {
			got = f.ID
			if f.Category != CategoryProtectedPath || f.Reason == "" {
				t.Errorf("%s: finding %+v", p, f)
			}
		}
		if got != want {
			t.Errorf("FloorPath(%s) = %q, want %q", p, got, want)
		}
		seen[got] = true
	}
	for _, e := range FloorPaths() {
		if !seen[e.ID] {
			t.Errorf("floor entry %s (%s) has no test case", e.ID, e.Path)
		}
	}
	if f := Contains("/"); f == nil {
		t.Error("a grant of / must be refused: it contains /etc")
	}
	if f := Contains("/home/u/project"); f != nil {
		t.Errorf("Contains(/home/u/project) = %+v", f)
	}
}

func TestMarks(t *testing.T) {
	marks, err := Marks([]byte(`{"type":"object","properties":{
		"src":{"type":"string","x-path":"read"},
		"opts":{"type":"object","properties":{"out":{"type":"string","x-path":"write"}}},
		"files":{"type":"array","items":{"type":"string","x-path":"read"}},
		"cmd":{"x-command":true},
		"plain":{"type":"string"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range marks {
		got[m.Field()] = m.Path
		if m.Command {
			got[m.Field()] = "command"
		}
	}
	want := map[string]string{"/src": "read", "/opts/out": "write", "/files/*": "read", "/cmd": "command"}
	if len(got) != len(want) {
		t.Errorf("marks %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("mark %s = %q, want %q", k, got[k], v)
		}
	}
	var files Mark
	for _, m := range marks {
		if m.Field() == "/files/*" {
			files = m
		}
	}
	ptrs, vals := files.Values(map[string]any{"files": []any{"a", "b"}})
	if strings.Join(ptrs, ",") != "/files/0,/files/1" || len(vals) != 2 {
		t.Errorf("values %v %v", ptrs, vals)
	}
	if _, err := Marks([]byte(`{"properties":{"p":{"x-path":"rw"}}}`)); err == nil || !strings.Contains(err.Error(), "/p: x-path") {
		t.Errorf("bad x-path: %v", err)
	}
	for _, schema := range []string{
		`{"properties":{"p":{"$ref":"#/$defs/path"}},"$defs":{"path":{"type":"string","x-path":"read"}}}`,
		`{"properties":{"p":{"anyOf":[{"type":"string","x-path":"read"}]}}}`,
		`{"additionalProperties":{"x-command":true}}`,
		`{"x-path":"read"}`,
	} {
		if _, err := Marks([]byte(schema)); err == nil || !strings.Contains(err.Error(), "is not enforced here") {
			t.Errorf("Marks(%s) = %v, want a mark refused where it is not enforced", schema, err)
		}
	}
}

func TestPathGuard(t *testing.T) {
	root := t.TempDir()
	ws := filepath.Join(root, "ws")
	extra := filepath.Join(root, "extra")
	os.MkdirAll(filepath.Join(ws, "sub"), 0o755)
	os.MkdirAll(extra, 0o755)
	os.WriteFile(filepath.Join(ws, "sub", "a.txt"), nil, 0o644)
	os.Symlink(root, filepath.Join(ws, "up"))
	os.Symlink("/etc/passwd", filepath.Join(ws, "pw"))
	os.Symlink(filepath.Join(root, "nowhere"), filepath.Join(ws, "dangling"))
	os.Symlink(filepath.Join(ws, "sub"), filepath.Join(ws, "inside"))
	os.Symlink("/etc/ssl", filepath.Join(ws, "etcssl"))
	os.Symlink("/etc/cron.d/zz-toolhost-test", filepath.Join(ws, "cron"))
	ps := &Paths{Workspace: ws, Access: "read", Read: []string{extra}}
	cases := []struct {
		path  string
		write bool
		want  string // finding id, "" = allowed
	}{
		{"sub/a.txt", false, ""},
		{"inside/a.txt", false, ""},
		{"sub/new.txt", false, ""},
		{"sub/a.txt", true, "path-outside"}, // read-only workspace
		{"../ws/sub/a.txt", false, ""},
		{"../outside.txt", false, "path-outside"},
		{"up/secret", false, "path-outside"},
		{"pw", false, "path-etc"},
		{"dangling", true, "path-outside"},      // where a write through it lands
		{"etcssl/../shadow", false, "path-etc"}, // ".." after the link: /etc/shadow
		{"cron", true, "path-etc"},              // a link to nothing in /etc
		{"sub/../sub/a.txt", false, ""},
		{"~/x", false, "path-unresolved"},
		{extra + "/f", false, ""},
		{extra + "/f", true, "path-outside"},
		{".env", false, "path-dotenv"},
		{"sub/.git/HEAD", false, "path-git"},
		{"/etc/hosts", false, "path-etc"},
	}
	for _, c := range cases {
		_, f := ps.Check(c.path, c.write)
		got := ""
		if f != nil {
			got = f.ID
		}
		if got != c.want {
			t.Errorf("Check(%q, write=%v) = %q (%v), want %q", c.path, c.write, got, f, c.want)
		}
	}
	ps.Access = "write"
	if _, f := ps.Check("sub/new/deeper.txt", true); f != nil {
		t.Errorf("write in a writable workspace: %v", f)
	}
}

func TestPathCandidatesAndNames(t *testing.T) {
	for in, want := range map[string][]string{
		"file:///etc/shadow":     {"file:///etc/shadow", "/etc/shadow"},
		"--output=/etc/cron.d/x": {"--output=/etc/cron.d/x", "/etc/cron.d/x"},
		"@/etc/shadow":           {"@/etc/shadow", "/etc/shadow"},
		"hello world":            nil,
		"key=value":              nil,
	} {
		if got := PathCandidates(in); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("PathCandidates(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"~/.ssh/id_rsa": "path-ssh", "~/notes": "", "/etc/x": "path-etc", "a/.ENV": "path-dotenv"} {
		got := ""
		if f := FloorName(in); f != nil {
			got = f.ID
		}
		if got != want {
			t.Errorf("FloorName(%q) = %q, want %q", in, got, want)
		}
	}
}
