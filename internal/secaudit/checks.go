package secaudit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/toolhost/toolhost/internal/audit"
	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/netaddr"
	"github.com/toolhost/toolhost/internal/policy"
	"github.com/toolhost/toolhost/internal/sandbox/confine"
)

// MaxTimeout is the longest timeoutSec that passes without a finding.
const MaxTimeout = 600 * time.Second

// Options say what to audit.
type Options struct {
	// Manifest is the tools.json file.
	Manifest string
	// Policy is the policy file the host runs with (-policy), or "".
	Policy string
	// Audit is the audit log; "" means audit.DefaultPath().
	Audit string
	// HTTP is the address "agentcli mcp -http" serves, or "" for none.
	HTTP string
	// NoAuth is "agentcli mcp -no-auth": loopback served without a token.
	NoAuth bool
	// TokenFile, JWTSecretFile and JWTPublicKey are the MCP HTTP auth
	// flags; with the environment variables AGENTCLI_MCP_TOKEN and
	// AGENTCLI_MCP_JWT_SECRET they say whether auth is configured.
	TokenFile, JWTSecretFile, JWTPublicKey string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// StrictCheck says why this machine cannot provide the strict
	// sandbox level (nil when it can); nil means confine.Check.
	StrictCheck func() error
	// Containment is how a host would contain tool processes here, as
	// sandbox.Launcher reports it: ContainmentID one of the sandbox's
	// Containment ids, Containment its description, or ContainmentErr why
	// calls cannot be contained. Empty ContainmentID skips the check.
	ContainmentID  string
	Containment    string
	ContainmentErr error
	// MountsErr says why tools at level limits cannot have mounts of
	// their own here (sandbox.Launcher.PrivateMounts); checked only with
	// a ContainmentID.
	MountsErr error
	// Euid is the user agentcli runs as; nil means os.Geteuid.
	Euid func() int
}

// shells are the programs that run whatever command they are given:
// shells and script interpreters.
var shells = map[string]bool{
	"sh": true, "bash": true, "zsh": true, "dash": true, "ksh": true, "fish": true,
	"python": true, "python3": true, "node": true, "perl": true, "ruby": true, "php": true, "pwsh": true,
}

// commandProps are input property names that suggest a command line; they
// are compared ignoring case.
var commandProps = []string{"command", "cmd", "script", "shell", "commandLine"}

// tool is what the checks need of a tool, from manifest.Load or from the
// lenient reading.
type tool struct {
	name    string
	command []string
	program string // absolute, as written; "" when there is no command
	real    string // program with symbolic links resolved, or program
	timeout time.Duration
	env     []string
	sha256  string
	level   string
	user    string // the sandbox's "user"
	network bool
	schema  json.RawMessage
	marks   []policy.Mark
	vetted  *manifest.Tool // from manifest.Load; nil from the lenient reading
	// resident: the tool serves its calls from one long-lived process.
	resident bool
}

// auditor collects the findings of one run.
type auditor struct {
	opts     Options
	path     string // the manifest, absolute
	dir      string // its folder
	realDir  string // its folder with symbolic links resolved
	dirs     map[string]bool
	findings []*Finding
}

// Run audits the setup opts describe. Problems of the setup are findings;
// the error is for a manifest that cannot be read at all or a policy file
// that does not load.
func Run(opts Options) (*Report, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.StrictCheck == nil {
		opts.StrictCheck = confine.Check
	}
	if opts.Euid == nil {
		opts.Euid = os.Geteuid
	}
	path, err := filepath.Abs(opts.Manifest)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var filePolicy *policy.Policy
	if opts.Policy != "" {
		if filePolicy, err = policy.Load(opts.Policy); err != nil {
			return nil, err
		}
	}
	a := &auditor{opts: opts, path: path, dir: filepath.Dir(path), dirs: map[string]bool{}}
	a.realDir = resolve(a.dir)

	tools, manifestMode, hasPolicy := a.load()
	a.checkPrograms(tools)
	a.checkManifestFile()
	a.checkPolicies(manifestMode, hasPolicy, filePolicy)
	for _, t := range tools {
		a.checkTool(t)
	}
	a.checkAudit()
	a.checkHTTP()
	a.checkContainment()

	r := &Report{Version: Version, Manifest: path, Findings: a.findings, Fixed: []Change{}, Containment: opts.Containment}
	if opts.ContainmentErr != nil {
		r.Containment = "unavailable: " + opts.ContainmentErr.Error()
	}
	if r.Findings == nil {
		r.Findings = []*Finding{}
	}
	r.finish()
	return r, nil
}

func (a *auditor) add(id string, sev Severity, subject, found, fix string) *Finding {
	f := &Finding{ID: id, Severity: sev, Subject: subject, Found: found, Fix: fix}
	a.findings = append(a.findings, f)
	return f
}

// fixWith makes f fixable by a change of permissions.
func (f *Finding) fixWith(path string, clear, set fs.FileMode) {
	f.chmod = &chmod{path: path, clear: clear, set: set}
	f.Fixable = true
}

// load reads the manifest: with manifest.Load when it passes, leniently
// (after a manifest-invalid finding) when it does not. It returns the
// tools, the mode of the manifest's policy, and whether it has one.
func (a *auditor) load() ([]*tool, policy.Mode, bool) {
	m, err := manifest.Load(a.path)
	if err == nil {
		var tools []*tool
		for _, t := range m.Tools {
			tools = append(tools, &tool{
				name: t.Name, command: t.Command, program: a.programPath(t.Command[0]), real: t.Program.Path,
				timeout: t.Timeout, env: t.EnvPassthrough, sha256: t.Program.SHA256,
				level: t.Sandbox.Level, user: t.Sandbox.User, network: t.Sandbox.Network, schema: t.InputSchema, marks: t.Marks,
				vetted: t, resident: t.Resident != nil,
			})
		}
		if m.Policy == nil {
			return tools, "", false
		}
		return tools, m.Policy.Mode, true
	}
	// The subject names the file: the message need not start with it.
	a.add(ManifestInvalid, Critical, a.path, oneLine(strings.TrimPrefix(err.Error(), a.path+": ")),
		"correct each problem listed: agentcli refuses this manifest until then (the perm-* findings can be fixed with -fix)")
	return a.lenient()
}

// rawTool is the little of a tool the lenient reading looks at.
type rawTool struct {
	Name           string          `json:"name"`
	Command        []string        `json:"command"`
	TimeoutSec     float64         `json:"timeoutSec"`
	EnvPassthrough []string        `json:"envPassthrough"`
	SHA256         string          `json:"sha256"`
	Schema         json.RawMessage `json:"schema"`
	Resident       json.RawMessage `json:"resident"`
	Sandbox        struct {
		Level   string `json:"level"`
		User    string `json:"user"`
		Network bool   `json:"network"`
	} `json:"sandbox"`
}

// lenient reads what it can of a manifest that does not load. Tools that
// do not decode are skipped: the manifest-invalid finding names them.
func (a *auditor) lenient() ([]*tool, policy.Mode, bool) {
	data, err := os.ReadFile(a.path)
	if err != nil {
		return nil, "", false
	}
	var raw struct {
		Tools  []json.RawMessage `json:"tools"`
		Policy json.RawMessage   `json:"policy"`
	}
	if json.Unmarshal(data, &raw) != nil {
		return nil, "", false
	}
	var tools []*tool
	for _, b := range raw.Tools {
		var rt rawTool
		if json.Unmarshal(b, &rt) != nil {
			continue
		}
		t := &tool{
			name: rt.Name, command: rt.Command, timeout: time.Duration(rt.TimeoutSec * float64(time.Second)),
			sha256: rt.SHA256, level: rt.Sandbox.Level, user: rt.Sandbox.User, network: rt.Sandbox.Network, schema: rt.Schema,
			resident: len(rt.Resident) > 0 && string(rt.Resident) != "null",
		}
		if t.level == "" {
			t.level = manifest.LevelLimits
		}
		for _, e := range rt.EnvPassthrough {
			t.env = append(t.env, strings.ToUpper(e))
		}
		t.marks, _ = policy.Marks(rt.Schema)
		if len(rt.Command) > 0 && rt.Command[0] != "" {
			t.program = a.programPath(rt.Command[0])
			t.real = resolve(t.program)
		}
		tools = append(tools, t)
	}
	hasPolicy := len(raw.Policy) > 0 && string(raw.Policy) != "null"
	var pol struct {
		Mode policy.Mode `json:"mode"`
	}
	json.Unmarshal(raw.Policy, &pol)
	return tools, pol.Mode, hasPolicy
}

// programPath is command[0] as an absolute path: a relative one is
// resolved against the manifest's folder.
func (a *auditor) programPath(cmd0 string) string {
	if filepath.IsAbs(cmd0) {
		return filepath.Clean(cmd0)
	}
	return filepath.Join(a.dir, cmd0)
}

// checkPrograms looks at the programs and the folders holding them
// (perm-tool-binary, perm-tools-folder). A program shared by several
// tools, and a folder shared by several programs, is reported once.
//
// The folders are the one holding the program as written and the one
// holding it once symbolic links are resolved, each with its parents up
// to and including the manifest's folder when it is beneath it. Whoever
// can write to one of them can swap the program. A folder with the sticky
// bit (like /tmp) is excepted, as manifest.Load excepts it: others may
// add entries there but not rename or delete those they do not own.
func (a *auditor) checkPrograms(tools []*tool) {
	var order []string
	names := map[string][]string{}
	var folders []string
	for _, t := range tools {
		if t.program == "" {
			continue
		}
		if _, seen := names[t.real]; !seen {
			order = append(order, t.real)
		}
		names[t.real] = append(names[t.real], t.name)
		folders = append(folders, chain(filepath.Dir(t.program), a.dir)...)
		folders = append(folders, chain(filepath.Dir(t.real), a.realDir)...)
	}
	for _, p := range order {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue // manifest-invalid says so
		}
		if perm := fi.Mode().Perm(); perm&0o022 != 0 {
			a.add(PermToolBinary, Critical, strings.Join(names[p], ", ")+": "+p,
				fmt.Sprintf("mode %s: writable by %s, who could replace what the tool runs", octal(fi.Mode()), writers(perm)),
				"chmod go-w "+p).fixWith(p, 0o022, 0)
		}
	}
	for _, d := range folders {
		a.checkFolder(PermToolsFolder, resolve(d), "folder of a tool program", "swap the program")
	}
}

// checkFolder reports dir under id when others can write to it and no
// sticky bit stops them. A folder is looked at once per run.
func (a *auditor) checkFolder(id, dir, what, could string) {
	if a.dirs[dir] {
		return
	}
	a.dirs[dir] = true
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() || fi.Mode()&fs.ModeSticky != 0 {
		return
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		a.add(id, Critical, dir,
			fmt.Sprintf("mode %s: a %s writable by %s, who could %s", octal(fi.Mode()), what, writers(perm), could),
			"chmod go-w "+dir).fixWith(dir, 0o022, 0)
	}
}

// checkManifestFile reports a manifest others can change (perm-manifest),
// and its folder when checkPrograms has not looked at it already.
func (a *auditor) checkManifestFile() {
	real := resolve(a.path)
	if fi, err := os.Stat(real); err == nil {
		if perm := fi.Mode().Perm(); perm&0o022 != 0 {
			a.add(PermManifest, Critical, real,
				fmt.Sprintf("mode %s: the manifest is writable by %s, who could add or change tools", octal(fi.Mode()), writers(perm)),
				"chmod go-w "+real).fixWith(real, 0o022, 0)
		}
	}
	a.checkFolder(PermManifest, filepath.Dir(real), "manifest's folder", "replace the manifest")
}

// checkPolicies looks at the -policy file's permissions (perm-policy) and
// at the policies' modes (mode-bypass, no-policy).
func (a *auditor) checkPolicies(manifestMode policy.Mode, hasPolicy bool, file *policy.Policy) {
	if hasPolicy && manifestMode == policy.ModeBypass {
		a.add(ModeBypass, Critical, a.path+` ("policy")`,
			`mode "bypass": every call that no rule denies runs without asking`,
			`set "mode" to "default" (ask) or "strict" (deny), with "allow" rules for the tools that may run unasked`)
	}
	if file == nil {
		if !hasPolicy {
			a.add(NoPolicy, Warn, a.path,
				`no policy: the manifest has no "policy" and no -policy was given, so every call asks for approval (fine at a terminal, a wall of NEEDS_APPROVAL in CI)`,
				`add a "policy" to the manifest (or pass -policy FILE) with rules that allow the tools that may run unasked`)
		}
		return
	}
	path, err := filepath.Abs(a.opts.Policy)
	if err != nil {
		path = a.opts.Policy
	}
	if file.Mode == policy.ModeBypass {
		a.add(ModeBypass, Critical, path,
			`mode "bypass": every call that no rule denies runs without asking`,
			`set "mode" to "default" (ask) or "strict" (deny), with "allow" rules for the tools that may run unasked`)
	}
	real := resolve(path)
	if fi, err := os.Stat(real); err == nil {
		if perm := fi.Mode().Perm(); perm&0o022 != 0 {
			a.add(PermPolicy, Critical, real,
				fmt.Sprintf("mode %s: the policy is writable by %s, who could allow anything", octal(fi.Mode()), writers(perm)),
				"chmod go-w "+real).fixWith(real, 0o022, 0)
		}
	}
}

// sameUserAsHost says which user a tool at level outside strict runs as
// when that user's terminals are open to it: agentcli's own user (at
// level none, or as an ordinary user, who cannot switch users) or root;
// "" when it runs as another user (a user of the call's own, or a named
// one, when agentcli runs as root).
func sameUserAsHost(level, user string, euid int) string {
	switch {
	case euid != 0:
		return "your own user" // who cannot switch to another
	case user == "root" || user == "0" || strings.HasPrefix(user, "0:"):
		return "root"
	case level == manifest.LevelNone:
		return "root"
	}
	return ""
}

// checkTool runs the checks of one tool's settings.
func (a *auditor) checkTool(t *tool) {
	if t.vetted != nil && t.level == "strict" && (t.vetted.Sandbox.User == "root" || t.vetted.Sandbox.User == "0") {
		a.add(StrictRoot, Warn, t.name,
			"sandbox level strict as root: Landlock and seccomp hold, but the tool keeps root's capabilities within them (it may write what its grants reach as root, whoever owns it)",
			`drop "user": "root" unless the tool must write files others cannot`)
	}
	if t.vetted != nil {
		var re *host.RunnableError
		if err := host.CheckRunnable(t.vetted, ""); errors.As(err, &re) {
			a.add(ProgramUnrunnable, Critical, t.name+": "+re.Path,
				re.Problem(), re.Fix+" (agentcli refuses this tool until then)")
		}
	}
	if t.level == manifest.LevelNone {
		a.add(LevelNone, Warn, t.name,
			"sandbox level none: the tool runs without resource limits or no_new_privs, as the host's own user",
			`set "sandbox": {"level": "limits"} (or "strict")`)
	}
	if t.level != manifest.LevelStrict {
		if who := sameUserAsHost(t.level, t.user, a.opts.Euid()); who != "" {
			a.add(TerminalReachable, Warn, t.name,
				"runs as "+who+" outside strict: it has no controlling terminal, but it may open a terminal of that user's (/dev/pts/N) by path and write to it",
				`set "sandbox": {"level": "strict"}, where Landlock keeps /dev/pts closed`)
		}
	}
	var secrets []string
	for _, e := range t.env {
		if host.LooksSecret(e) {
			secrets = append(secrets, e)
		}
	}
	if len(secrets) > 0 && (t.level != manifest.LevelStrict || t.network) {
		how := "level " + t.level
		if t.level == manifest.LevelStrict {
			how = `level strict with "network": true`
		}
		a.add(SecretsWithNetwork, Critical, t.name,
			fmt.Sprintf("passes %s and can reach the network (%s): a prompt-injected call can send it anywhere", strings.Join(secrets, ", "), how),
			fmt.Sprintf(`set "sandbox": {"level": "strict"} without "network": true, or stop passing %s`, strings.Join(secrets, ", ")))
	}
	if t.resident && t.level == manifest.LevelNone {
		a.add(ResidentLevelNone, Critical, t.name,
			"resident at sandbox level none: one long-lived process, unbounded and as the host's own user, serves every call, so whatever one call leaves in it (files, memory, a changed program state) reaches the next",
			`set "sandbox": {"level": "limits"} (or "strict"), or drop "resident"`)
	}
	if t.resident && len(secrets) > 0 {
		a.add(ResidentSecrets, Warn, t.name,
			fmt.Sprintf("resident and passed %s: one long-lived process serves every call, so a call that gets it to reveal or misuse the secret keeps it for the calls after", strings.Join(secrets, ", ")),
			fmt.Sprintf(`drop "resident" (a process per call) or stop passing %s`, strings.Join(secrets, ", ")))
	}
	if t.level == manifest.LevelStrict {
		if err := a.opts.StrictCheck(); err != nil {
			a.add(StrictUnavailable, Critical, t.name,
				"level strict, which this machine cannot provide: "+err.Error(),
				`run the host on Linux 6.2 or later with Landlock and seccomp enabled, or lower the tool to "level": "limits"`)
		}
	}
	if why := commandTaking(t); why != "" && !hasCommandMark(t.marks) {
		a.add(CommandUnguarded, Warn, t.name,
			why+` and no argument is marked "x-command": true, so the host's command guard never sees the commands`,
			`mark the argument that holds the command with "x-command": true in the tool's schema`)
	}
	switch {
	case t.timeout <= 0:
		a.add(TimeoutMissing, Info, t.name,
			"no timeoutSec: the host's default applies (-tool-timeout, 30s unless changed)",
			`set "timeoutSec" to what the tool needs`)
	case t.timeout > MaxTimeout:
		a.add(TimeoutLong, Warn, t.name,
			fmt.Sprintf("timeoutSec %v: more than %v, a stuck call holds a slot that long", t.timeout.Seconds(), MaxTimeout.Seconds()),
			fmt.Sprintf(`lower "timeoutSec" to %v or less`, MaxTimeout.Seconds()))
	}
	if t.program == "" {
		return
	}
	bin := filepath.Join(a.dir, "tools", "bin")
	realBin := resolve(bin)
	if !policy.Within(t.program, bin) || !(policy.Within(t.real, realBin) || policy.Within(t.real, bin)) {
		a.add(BinaryOutsideToolbin, Info, t.name+": "+t.real,
			"the program is outside "+bin+string(filepath.Separator)+", where a manifest's own programs live",
			`keep the tool's own programs in `+bin+` (run as "./tools/bin/NAME"); pin any other with "sha256"`)
	}
	if t.sha256 == "" {
		fix := `add "sha256" with the program's digest`
		if sum, err := digest(t.real); err == nil {
			fix = fmt.Sprintf(`add "sha256": %q (the program's digest now: check it is the program you expect)`, sum)
		}
		a.add(BinaryUnpinned, Info, t.name+": "+t.real,
			"no sha256: a changed program would run unnoticed", fix)
	}
}

// commandTaking says why t looks like it runs commands, or "".
func commandTaking(t *tool) string {
	var progs []string
	if len(t.command) > 0 {
		progs = append(progs, t.command[0])
		if filepath.Base(t.command[0]) == "env" {
			// env [-i] [NAME=VALUE]... PROGRAM
			for _, arg := range t.command[1:] {
				if !strings.HasPrefix(arg, "-") && !strings.Contains(arg, "=") {
					progs = append(progs, arg)
					break
				}
			}
		}
	}
	for _, p := range append(progs, t.real) {
		if base := filepath.Base(p); shells[base] {
			return fmt.Sprintf("its program %s is a shell or interpreter", base)
		}
	}
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(t.schema, &schema) == nil {
		for name := range schema.Properties {
			for _, c := range commandProps {
				if strings.EqualFold(name, c) {
					return fmt.Sprintf("its input has a %q property", name)
				}
			}
		}
	}
	return ""
}

func hasCommandMark(marks []policy.Mark) bool {
	for _, m := range marks {
		if m.Command {
			return true
		}
	}
	return false
}

// checkAudit looks at the audit log and its folder (perm-audit), as
// audit.Open would: it refuses both when others can change them.
func (a *auditor) checkAudit() {
	path := a.opts.Audit
	if path == "" {
		var err error
		if path, err = audit.DefaultPath(); err != nil {
			return
		}
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		if perm := fi.Mode().Perm(); perm&0o022 != 0 {
			f := a.add(PermAudit, Critical, dir,
				fmt.Sprintf("mode %s: the audit log's folder is writable by %s, who could delete or replace the log", octal(fi.Mode()), writers(perm)),
				"chmod 700 "+dir)
			if fi.Mode()&fs.ModeSticky != 0 {
				// A shared folder like /tmp: not ours to close.
				f.Fix = "keep the log in a folder of your own (-audit), not a shared one like " + dir
			} else {
				f.fixWith(dir, 0o777, 0o700)
			}
		}
	}
	// Lstat: the host opens the log without following symbolic links.
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	switch perm := fi.Mode().Perm(); {
	case perm&0o022 != 0:
		a.add(PermAudit, Critical, path,
			fmt.Sprintf("mode %s: the audit log is writable by %s, who could rewrite it", octal(fi.Mode()), writers(perm)),
			"chmod 600 "+path).fixWith(path, 0o777, 0o600)
	case perm&0o044 != 0:
		// The host refuses to open such a log, so nothing would run.
		a.add(PermAudit, Critical, path,
			fmt.Sprintf("mode %s: the audit log is readable by %s (it must be 0600: agentcli refuses to open it)", octal(fi.Mode()), readers(perm)),
			"chmod 600 "+path).fixWith(path, 0o777, 0o600)
	}
}

// checkHTTP reports MCP over HTTP off loopback without auth
// (mcp-http-no-auth).
// checkContainment reports a machine where tool processes cannot be
// contained (every call is refused, or runs uncontained with
// -allow-uncontained), and the pid namespace backend's one process bound
// for all calls together.
func (a *auditor) checkContainment() {
	switch {
	case a.opts.ContainmentID == "":
	case a.opts.ContainmentErr != nil:
		a.add(Uncontained, Critical, "containment",
			oneLine(a.opts.ContainmentErr.Error()),
			"run agentcli as root, in a delegated cgroup v2 (systemd-run --user --scope -p Delegate=yes agentcli ...), or where user namespaces are allowed")
	case a.opts.ContainmentID == "pid-namespace" && os.Geteuid() != 0:
		a.add(ContainmentShared, Info, "containment",
			"each call runs in a pid namespace of its own (nothing it starts outlives it), but one RLIMIT_NPROC bounds the processes of all calls together",
			"for a bound per call, run agentcli in a delegated cgroup v2: systemd-run --user --scope -p Delegate=yes agentcli ...")
	}
	if a.opts.ContainmentID != "" && a.opts.MountsErr != nil {
		a.add(MountsUnavailable, Warn, "mounts",
			"tools at level limits get no private /tmp and can read the workspace's protected files: "+oneLine(a.opts.MountsErr.Error()),
			"run agentcli where it may make mount namespaces (as root, or as an ordinary user where user namespaces are allowed), or give tools level strict")
	}
}

func (a *auditor) checkHTTP() {
	addr := a.opts.HTTP
	if addr == "" || a.authConfigured() {
		return
	}
	if netaddr.IsLoopback(addr) {
		if !a.opts.NoAuth {
			return // agentcli mcp makes a token itself
		}
		a.add(MCPHTTPLoopbackNoAuth, Warn, "-http "+addr,
			"MCP over HTTP on loopback with -no-auth: every local process, the server's own tools included, can call every tool and answer the approvals the gate asks for",
			"drop -no-auth: agentcli mcp then makes a bearer token (or give -token-file F, or AGENTCLI_MCP_TOKEN)")
		return
	}
	a.add(MCPHTTPNoAuth, Critical, "-http "+addr,
		"MCP over HTTP off loopback without auth: anyone who can reach the port could call every tool",
		"listen on 127.0.0.1, or configure auth: -token-file F, -jwt-secret-file F, -jwt-public-key F, or AGENTCLI_MCP_TOKEN / AGENTCLI_MCP_JWT_SECRET")
}

func (a *auditor) authConfigured() bool {
	o := a.opts
	return o.TokenFile != "" || o.JWTSecretFile != "" || o.JWTPublicKey != "" ||
		strings.TrimSpace(o.Getenv("AGENTCLI_MCP_TOKEN")) != "" ||
		strings.TrimSpace(o.Getenv("AGENTCLI_MCP_JWT_SECRET")) != ""
}

// chain returns dir and its parents up to and including root when dir is
// beneath root, or dir alone.
func chain(dir, root string) []string {
	if !policy.Within(dir, root) {
		return []string{dir}
	}
	var out []string
	for {
		out = append(out, dir)
		if dir == root || dir == filepath.Dir(dir) {
			return out
		}
		dir = filepath.Dir(dir)
	}
}

// resolve follows p's symbolic links, or returns p when it cannot.
func resolve(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// digest is the SHA-256 of a regular file, in lower-case hex.
func digest(path string) (string, error) {
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// oneLine joins the lines of a multi-line message with "; ", or a space
// after a line ending in a colon ("2 problems: tools[0] ...; tools[1] ...").
func oneLine(s string) string {
	var sb strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if sb.Len() > 0 {
			if strings.HasSuffix(sb.String(), ":") {
				sb.WriteString(" ")
			} else {
				sb.WriteString("; ")
			}
		}
		sb.WriteString(line)
	}
	return sb.String()
}
