package policy

import (
	"fmt"
	"path/filepath"
	"strings"
)

// CategoryProtectedPath is the category of the floor's protected files and
// folders.
const CategoryProtectedPath = "protected-path"

// protectedName is a file or folder protected wherever it appears: a path
// is protected when one of its components (or a run of them, for entries
// with a slash) matches.
type protectedName struct {
	id       string
	names    []string // exact names, or a run of components joined by "/"
	prefix   string   // names starting with prefix match too
	prefixes []string // and names starting with any of these
	suffixes []string // and names ending with any of these
	reason   string
	example  string
}

var protectedNames = []protectedName{
	{id: "dotenv", names: []string{".env", ".envrc"}, prefix: ".env.", reason: "environment files hold secrets", example: ".env.local"},
	{id: "git", names: []string{".git"}, reason: "the repository's history, hooks and configuration (a hook is code that runs)", example: ".git/config"},
	{id: "ssh", names: []string{".ssh"}, reason: "SSH keys and configuration", example: ".ssh/id_ed25519"},
	{id: "gnupg", names: []string{".gnupg"}, reason: "GnuPG keys", example: ".gnupg/private-keys-v1.d"},
	{id: "aws", names: []string{".aws"}, reason: "AWS credentials", example: ".aws/credentials"},
	{id: "kube", names: []string{".kube"}, reason: "Kubernetes credentials", example: ".kube/config"},
	{id: "docker", names: []string{".docker"}, reason: "Docker registry credentials", example: ".docker/config.json"},
	{id: "netrc", names: []string{".netrc", "_netrc"}, reason: "machine passwords", example: ".netrc"},
	{id: "credentials", names: []string{".git-credentials", ".npmrc", ".pypirc", ".pgpass", ".config/gh", ".config/gcloud", ".azure"}, reason: "stored credentials of common tools", example: ".git-credentials"},
	{id: "shell-startup", names: []string{".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".bash_aliases", ".profile", ".zshrc", ".zshenv", ".zprofile", ".zlogin", ".zlogout", ".cshrc", ".tcshrc", ".login", ".kshrc", ".config/fish"},
		reason: "shell start-up files run code in every new shell", example: ".bashrc"},
	{id: "git-config", names: []string{".gitconfig", ".config/git"}, reason: "git configuration runs code (aliases, core.fsmonitor, core.hooksPath) and holds credential helpers", example: ".config/git/config"},
	{id: "git-hooks", names: []string{".husky", ".githooks"}, reason: "git hooks are code that runs on commits and pushes", example: ".husky/pre-commit"},
	{id: "editor-tasks", names: []string{".vscode/tasks.json"}, reason: "tasks the editor runs", example: ".vscode/tasks.json"},
	{id: "private-keys", prefixes: []string{"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"}, suffixes: []string{".key", ".pem"},
		reason: "private keys and certificates", example: "server.key"},
	{id: "secrets-folder", names: []string{"secrets", "credentials"}, reason: "folders and files named for secrets", example: "secrets/db.txt"},
	{id: "mcp-config", names: []string{".mcp.json", ".claude.json"}, reason: "MCP client configuration: which servers run, with which tokens", example: ".mcp.json"},
}

// protectedRoot is a folder protected with everything beneath it.
type protectedRoot struct {
	id, path, reason string
}

var protectedRoots = []protectedRoot{
	{"etc", "/etc", "system configuration, password hashes"},
	{"proc", "/proc", "other processes' memory, environment and command lines"},
	{"sys", "/sys", "kernel and device settings"},
	{"dev", "/dev", "devices (disks, memory, terminals)"},
	{"boot", "/boot", "the kernel and boot loader"},
	{"docker-socket", "/run/docker.sock", "the Docker socket (root on the machine)"},
	{"docker-socket-var", "/var/run/docker.sock", "the Docker socket (root on the machine)"},
}

// FloorEntry describes one protected path entry of the floor, for
// documentation and the self-audit.
type FloorEntry struct {
	ID, Path, Reason string
}

// FloorPaths lists the floor's protected names and folders.
func FloorPaths() []FloorEntry {
	var out []FloorEntry
	for _, n := range protectedNames {
		var parts []string
		parts = append(parts, n.names...)
		if n.prefix != "" {
			parts = append(parts, n.prefix+"*")
		}
		for _, x := range n.prefixes {
			parts = append(parts, x+"*")
		}
		for _, x := range n.suffixes {
			parts = append(parts, "*"+x)
		}
		p := strings.Join(parts, ", ")
		out = append(out, FloorEntry{ID: "path-" + n.id, Path: p, Reason: n.reason})
	}
	for _, r := range protectedRoots {
		out = append(out, FloorEntry{ID: "path-" + r.id, Path: r.path, Reason: r.reason})
	}
	return out
}

// ProtectedName reports the floor entry that protects the file or folder
// name wherever it appears, or nil.
func ProtectedName(name string) *Finding {
	for i := range protectedNames {
		n := &protectedNames[i]
		if n.matchName(name) {
			return n.finding()
		}
	}
	return nil
}

func (n *protectedName) matchName(name string) bool {
	name = strings.ToLower(name) // case-insensitive file systems
	for _, x := range n.names {
		if x == name {
			return true
		}
	}
	if n.prefix != "" && strings.HasPrefix(name, n.prefix) {
		return true
	}
	for _, x := range n.prefixes {
		if strings.HasPrefix(name, x) {
			return true
		}
	}
	for _, x := range n.suffixes {
		if strings.HasSuffix(name, x) && len(name) > len(x) {
			return true
		}
	}
	return false
}

func (n *protectedName) finding() *Finding {
	return &Finding{ID: "path-" + n.id, Category: CategoryProtectedPath, Reason: n.reason}
}

// FloorPath reports the floor entry protecting the absolute path p (which
// the caller has resolved, symbolic links followed), or nil. own are the
// host's own files and folders (its manifest, policy, audit log and tool
// programs), protected with everything beneath them.
func FloorPath(p string, own []string) *Finding {
	p = filepath.Clean(p)
	for _, r := range protectedRoots {
		if Within(p, r.path) {
			return &Finding{ID: "path-" + r.id, Category: CategoryProtectedPath, Reason: r.reason + " (" + r.path + ")"}
		}
	}
	for _, o := range own {
		if o != "" && Within(p, o) {
			return &Finding{ID: "path-host", Category: CategoryProtectedPath, Reason: "the host's own configuration, policy, audit log or tools (" + o + ")"}
		}
	}
	return ProtectedNames(p)
}

// ProtectedNames reports the floor entry protecting a name in path p, a
// path of either kind (absolute or relative, with slashes): one of its
// components, or a run of them (.config/gh), wherever they appear. It
// ignores the floor's fixed folders (/etc), so that it may judge paths
// relative to a workspace. Tools that walk a workspace skip what it
// reports, at any depth.
func ProtectedNames(p string) *Finding {
	parts := strings.Split(strings.ToLower(filepath.ToSlash(p)), "/")
	for i := range protectedNames {
		n := &protectedNames[i]
		for j, part := range parts {
			if n.matchName(part) {
				return n.finding()
			}
			for _, x := range n.names {
				if strings.Contains(x, "/") && strings.HasPrefix(strings.Join(parts[j:], "/")+"/", x+"/") {
					return n.finding()
				}
			}
		}
	}
	return nil
}

// Contains reports the floor entry strictly beneath the absolute folder
// p, for grants: a grant of / or of a home folder would reach /etc or
// ~/.ssh. Only the fixed folders are checked; protected names below p are
// the caller's to exclude.
func Contains(p string) *Finding {
	p = filepath.Clean(p)
	for _, r := range protectedRoots {
		if p != r.path && Within(r.path, p) {
			return &Finding{ID: "path-" + r.id, Category: CategoryProtectedPath, Reason: r.reason + " (" + r.path + ")"}
		}
	}
	return nil
}

// Within reports whether the clean, absolute path p is base or beneath it.
func Within(p, base string) bool {
	if base == "/" {
		return true
	}
	return p == base || strings.HasPrefix(p, base+"/")
}

// DenyPaths are a policy's paths.deny patterns, ready to match absolute
// paths.
type DenyPaths struct {
	names []string // patterns without a slash: any component
	paths []string // absolute patterns
}

// NewDenyPaths compiles paths.deny patterns; relative ones with a slash
// are taken from the workspace. Patterns were checked by Parse.
func NewDenyPaths(patterns []string, workspace string) *DenyPaths {
	d := &DenyPaths{}
	for _, p := range patterns {
		switch {
		case !strings.Contains(p, "/"):
			d.names = append(d.names, strings.ToLower(p))
		case filepath.IsAbs(p):
			d.paths = append(d.paths, filepath.Clean(p))
		default:
			d.paths = append(d.paths, filepath.Join(workspace, p))
		}
	}
	return d
}

// Match reports the pattern protecting the absolute path p (a match or
// something beneath one), or nil.
func (d *DenyPaths) Match(p string) *Finding {
	if d == nil {
		return nil
	}
	p = filepath.Clean(p)
	comps := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for _, n := range d.names {
		for _, c := range comps {
			if ok, _ := filepath.Match(n, strings.ToLower(c)); ok {
				return denied(n)
			}
		}
	}
	for _, pat := range d.paths {
		k := strings.Count(pat, "/")
		if k > len(comps) {
			continue
		}
		if ok, _ := filepath.Match(pat, "/"+strings.Join(comps[:k], "/")); ok {
			return denied(pat)
		}
	}
	return nil
}

// Beneath reports whether a pattern with a slash may match something
// strictly beneath the folder dir, which a grant of dir would then reach.
// (Name patterns are the caller's to check on each name it grants.)
func (d *DenyPaths) Beneath(dir string) bool {
	if d == nil {
		return false
	}
	for _, pat := range d.paths {
		// The folders before the pattern's first wildcard.
		lit := pat
		if i := strings.IndexAny(pat, "*?[\\"); i >= 0 {
			lit = filepath.Dir(pat[:i+1])
		}
		if Within(lit, dir) && lit != dir || Within(dir, lit) && strings.ContainsAny(pat, "*?[") {
			return true
		}
	}
	return false
}

func denied(pattern string) *Finding {
	return &Finding{ID: "path-policy", Category: CategoryProtectedPath, Reason: fmt.Sprintf("the policy's paths.deny protects it (%s)", pattern)}
}
