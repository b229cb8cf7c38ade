package host

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/policy"
	"github.com/toolhost/toolhost/internal/sandbox"
	"github.com/toolhost/toolhost/internal/sandbox/confine"
	"github.com/toolhost/toolhost/protocol"
)

// Default resource limits of the limits and strict levels; a tool's
// sandbox.limits overrides each. CPU seconds default to twice the timeout
// (at least 10): a tool that burns two cores for its whole timeout is
// stopped either way.
const (
	DefaultMemoryMB   = 8192
	DefaultOpenFiles  = 1024
	DefaultProcesses  = 4096
	DefaultFileSizeMB = 1024
	minCPUSec         = 10
)

// NobodyUID is the user (and group) tools run as when the host runs as
// root and neither the system's "nobody" nor the manifest names another.
const NobodyUID = 65534

// systemRead are what a strict tool may always read (and execute) when
// they exist: programs, libraries, and the few files in /etc that
// programs read to start (the rest of /etc stays closed).
var systemRead = []string{
	"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
	"/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/mime.types",
	"/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/alternatives",
	"/dev/zero", "/dev/urandom", "/dev/random",
}

// systemNetRead are added for a strict tool with network.
var systemNetRead = []string{"/etc/resolv.conf", "/etc/gai.conf", "/etc/host.conf", "/etc/services", "/etc/protocols"}

// confinement is the computed sandbox of one tool.
type confinement struct {
	// conf is nil for level none. Its Landlock (strict) lacks the
	// workspace's entries, listed at each call.
	conf *confine.Config
	// err, when set, fails every call of the tool: a level this machine
	// cannot provide (SANDBOX_UNAVAILABLE) or a bad grant (DENIED).
	err *errorCode
	// read and write are the resolved grants, for path arguments.
	read, write []string
	// keep is what stays visible under the limits level's private
	// temporary folders: the grants, and the files the command names (an
	// interpreter's script) with their folders, as the program's is.
	keep []string
	// ownUser runs the tool as a user of the call's own (see
	// sandbox.Spec.OwnUser); conf.User then stands for those users.
	ownUser bool
}

type errorCode struct{ code, msg string }

// confineTool computes t's sandbox on this host.
func (h *Host) confineTool(t *manifest.Tool, p *prepared, ts *toolset) confinement {
	own := ts.own
	sb := t.Sandbox
	var c confinement
	fail := func(code, format string, args ...any) confinement {
		return confinement{err: &errorCode{code, fmt.Sprintf(format, args...)}}
	}
	for _, list := range []struct {
		in  []string
		out *[]string
	}{{sb.Read, &c.read}, {sb.Write, &c.write}} {
		for _, g := range list.in {
			abs := g
			if !filepath.IsAbs(g) {
				abs = filepath.Join(h.workspace, g)
			}
			if r, err := filepath.EvalSymlinks(abs); err == nil {
				abs = r
			} else {
				return fail(protocol.CodeDenied, "%s: granted path %s: %v", t.Name, g, err)
			}
			if f := policy.FloorPath(abs, own); f != nil {
				return fail(protocol.CodeDenied, "%s: granted path %s is protected by the floor (%s: %s)", t.Name, g, f.ID, f.Reason)
			}
			if f := ts.deny.Match(abs); f != nil {
				return fail(protocol.CodeDenied, "%s: granted path %s is protected: %s", t.Name, g, f.Reason)
			}
			if ts.deny.Beneath(abs) {
				return fail(protocol.CodeDenied, "%s: granted path %s holds paths the policy's paths.deny protects", t.Name, g)
			}
			if f := policy.Contains(abs); f != nil {
				return fail(protocol.CodeDenied, "%s: granted path %s contains a folder protected by the floor (%s: %s)", t.Name, g, f.ID, f.Reason)
			}
			if policy.Within(h.workspace, abs) {
				// It would grant the workspace whole, .env and .git
				// included; "workspace" grants it minus those.
				return fail(protocol.CodeDenied, "%s: granted path %s holds the workspace: set \"workspace\" to read or write instead", t.Name, g)
			}
			if holdsOwn(abs, own) {
				return fail(protocol.CodeDenied, "%s: granted path %s holds the host's own files (manifest, tools, policy or audit log)", t.Name, g)
			}
			*list.out = append(*list.out, abs)
		}
	}
	if sb.Level == manifest.LevelNone {
		return c
	}
	c.keep = append(append([]string(nil), c.read...), c.write...)
	for _, a := range t.Command[1:] {
		if !filepath.IsAbs(a) {
			continue
		}
		if fi, err := os.Stat(a); err == nil && fi.Mode().IsRegular() {
			dir := filepath.Dir(filepath.Clean(a))
			if slices.Contains(privateTmp, dir) {
				dir = filepath.Clean(a) // not the whole of /tmp
			}
			c.keep = append(c.keep, dir)
		}
	}
	if err := limitsCheck(); err != nil {
		return fail(protocol.CodeSandboxUnavailable, "%s needs the %s sandbox, which this machine cannot provide: %v", t.Name, sb.Level, err)
	}
	conf := &confine.Config{NoNewPrivs: true}
	lim := sb.Limits
	cpu := lim.CPUSec
	if cpu == 0 {
		cpu = max(int64(math.Ceil(2*p.timeout.Seconds())), minCPUSec)
	}
	mb := func(v, def int64) uint64 {
		if v == 0 {
			v = def
		}
		return uint64(v) << 20
	}
	or := func(v, def int64) uint64 {
		if v == 0 {
			return uint64(def)
		}
		return uint64(v)
	}
	// The call's processes together, where the containment can tell.
	conf.MemoryBytes = int64(mb(lim.MemoryMB, DefaultMemoryMB))
	conf.Rlimits = []confine.Rlimit{
		{Resource: rlimitCPU, Value: uint64(cpu)},
		{Resource: rlimitAS, Value: mb(lim.MemoryMB, DefaultMemoryMB)},
		{Resource: rlimitNofile, Value: or(lim.OpenFiles, DefaultOpenFiles)},
		{Resource: rlimitFsize, Value: mb(lim.FileSizeMB, DefaultFileSizeMB)},
		{Resource: rlimitCore, Value: 0},
	}
	if os.Geteuid() == 0 && sb.User != "root" && sb.User != "0" {
		u, err := lookupUser(sb.User)
		if err != nil {
			return fail(protocol.CodeSandboxUnavailable, "%s: user %q: %v", t.Name, sb.User, err)
		}
		conf.User = u
		c.ownUser = sb.User == ""
		// Counts every process of that user, so only for a user of the
		// tools' own: the host's user has its whole session.
		conf.Rlimits = append(conf.Rlimits, confine.Rlimit{Resource: rlimitNproc, Value: or(lim.Processes, DefaultProcesses)})
	}
	if sb.Level == manifest.LevelStrict {
		if err := strictCheck(); err != nil {
			return fail(protocol.CodeSandboxUnavailable, "%s needs the strict sandbox, which this machine cannot provide: %v", t.Name, err)
		}
		ll := &confine.Landlock{Network: sb.Network, Read: c.read, Write: append(append([]string(nil), c.write...), "/dev/null")}
		ll.Optional = systemRead
		if sb.Network {
			ll.Optional = append(append([]string(nil), systemRead...), systemNetRead...)
		}
		conf.Landlock = ll
		conf.Seccomp = &confine.Seccomp{Network: sb.Network}
	}
	c.conf = conf
	return c
}

// strictCheck and limitsCheck report what the strict and limits levels
// lack here; tests replace them.
var (
	strictCheck = confine.Check
	limitsCheck = confine.CheckLimits
)

// CheckRunnable reports why the user t runs as on this host cannot start
// its program (a *RunnableError), with path the tools' PATH ("" means
// DefaultPath); nil when it can. Host.New refuses such a tool; it is
// exported for "agentcli security audit".
func CheckRunnable(t *manifest.Tool, path string) error {
	if path == "" {
		path = DefaultPath
	}
	var runAs *confine.User
	sb := t.Sandbox
	if os.Geteuid() == 0 && sb.Level != manifest.LevelNone && sb.User != "root" && sb.User != "0" {
		u, err := lookupUser(sb.User)
		if err != nil {
			return fmt.Errorf("%s: user %q: %w", t.Name, sb.User, err)
		}
		runAs = u
	}
	return checkRunnable(t.Name, t.Program.Path, isScript(t.Program.Path) && !t.Program.Pinned(), runAs, path)
}

// lookupUser resolves a manifest's user: "" is a user of the call's own
// (the first of sandbox.OwnUserBase's ids stands for them), "nobody" the
// system's.
func lookupUser(spec string) (*confine.User, error) {
	if spec == "" {
		return &confine.User{UID: sandbox.OwnUserBase, GID: sandbox.OwnUserBase}, nil
	}
	if spec == "nobody" {
		if u, err := user.Lookup("nobody"); err == nil {
			return userIDs(u.Uid, u.Gid)
		}
		return &confine.User{UID: NobodyUID, GID: NobodyUID}, nil
	}
	if uid, gid, ok := strings.Cut(spec, ":"); ok {
		return userIDs(uid, gid)
	}
	if _, err := strconv.ParseUint(spec, 10, 32); err == nil {
		return userIDs(spec, spec)
	}
	u, err := user.Lookup(spec)
	if err != nil {
		return nil, err
	}
	return userIDs(u.Uid, u.Gid)
}

func userIDs(uid, gid string) (*confine.User, error) {
	u, err1 := strconv.ParseUint(uid, 10, 32)
	g, err2 := strconv.ParseUint(gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	if u == 0 {
		return nil, errors.New("is root; write \"root\" to keep root")
	}
	return &confine.User{UID: uint32(u), GID: uint32(g)}, nil
}

// forCall returns the confinement of one call: under strict, the
// workspace's entries as they are now are added to Landlock's grants,
// except those the floor protects and the host's own paths. A rule on a
// symbolic link would grant its target, so a link is granted only when
// it resolves inside the workspace to something that may be granted; and
// an entry holding one of the host's own paths (tools/bin) is opened one
// level at a time around it.
//
// Under limits, the tool gets mounts of its own (see confine.Mounts):
// empty /tmp, /var/tmp and /dev/shm, and the workspace's protected files
// hidden, at any depth, but .git (git needs it; strict hides it too) and
// tools/bin (the tools run from there).
func (h *Host) forCall(t *manifest.Tool, c *confinement, ts *toolset) (*confine.Config, error) {
	conf := c.conf
	if conf != nil && conf.Landlock == nil && t.Sandbox.Level == manifest.LevelLimits {
		return h.withMounts(conf, c, ts), nil
	}
	if conf == nil || conf.Landlock == nil || t.Sandbox.Workspace == manifest.WorkspaceNone {
		return conf, nil
	}
	cp, ll := *conf, *conf.Landlock
	write := t.Sandbox.Workspace == manifest.WorkspaceWrite
	ll.DirsWrite = write
	ll.Read = append([]string(nil), ll.Read...)
	ll.Write = append([]string(nil), ll.Write...)
	// Folders holding a protected name at any depth are granted entry by
	// entry, around it.
	found, err := h.scanProtected(ts)
	if err != nil {
		return nil, fmt.Errorf("%w; grant the tool sub-folders (\"workspace\": \"none\" and \"read\"/\"write\" grants) instead of the whole workspace", err)
	}
	if err := h.grantDir(&ll, h.workspace, write, ts, found.holds, 0); err != nil {
		return nil, err
	}
	cp.Landlock = &ll
	return &cp, nil
}

// scanProtected finds what the floor and the policy's paths.deny protect
// in the workspace, at any depth (see protIndex).
func (h *Host) scanProtected(ts *toolset) (*protScan, error) {
	return h.protected.scan(h.workspace, ts.indexKey, func(p string) bool {
		return policy.FloorPath(p, ts.own) != nil || ts.deny.Match(p) != nil
	})
}

// privateTmp are the folders the limits level covers with its own.
var privateTmp = []string{"/tmp", "/var/tmp", "/dev/shm"}

// withMounts adds the limits level's own mounts to conf (see forCall).
func (h *Host) withMounts(conf *confine.Config, c *confinement, ts *toolset) *confine.Config {
	m := &confine.Mounts{Tmp: privateTmp, Keep: c.keep}
	for _, r := range conf.Rlimits {
		if r.Resource == rlimitFsize {
			m.TmpBytes = int64(min(r.Value, 1<<40))
		}
	}
	found, err := h.scanProtected(ts)
	var paths []string
	if err != nil {
		// Too large to index: what is protected at the top is hidden.
		h.indexWarn.Do(func() {
			h.log.Warn().Err(err).Msg("only the workspace's top-level protected files are hidden from tools at level limits")
		})
		entries, _ := os.ReadDir(h.workspace)
		for _, e := range entries {
			if p := filepath.Join(h.workspace, e.Name()); policy.ProtectedName(e.Name()) != nil || ts.deny.Match(p) != nil {
				paths = append(paths, p)
			}
		}
	} else {
		paths = found.paths
	}
	for _, p := range paths {
		if filepath.Base(p) != ".git" && p != ts.toolsBin {
			m.Hide = append(m.Hide, p)
		}
	}
	cp := *conf
	cp.Mounts = m
	return &cp
}

// grantDir lets the tool list dir and grants its entries (see forCall).
func (h *Host) grantDir(ll *confine.Landlock, dir string, write bool, ts *toolset, holds map[string]bool, depth int) error {
	own := ts.own
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	ll.Dirs = append(ll.Dirs, dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if policy.ProtectedName(e.Name()) != nil {
			continue
		}
		if e.Type()&os.ModeSymlink != 0 {
			r, err := filepath.EvalSymlinks(p)
			if err != nil || !policy.Within(r, h.workspace) || r == h.workspace || holds[r] {
				continue // dangling, leading out, or to a folder holding protected names: not granted
			}
			p = r
		}
		if policy.FloorPath(p, own) != nil || ts.deny.Match(p) != nil {
			continue
		}
		if holdsOwn(p, own) || ts.deny.Beneath(p) || holds[p] {
			if fi, err := os.Stat(p); err == nil && fi.IsDir() && depth < 64 {
				if err := h.grantDir(ll, p, write, ts, holds, depth+1); err != nil {
					return err
				}
			}
			continue
		}
		if write {
			ll.Write = append(ll.Write, p)
		} else {
			ll.Read = append(ll.Read, p)
		}
	}
	return nil
}

// holdsOwn reports whether one of the host's own paths is beneath dir.
func holdsOwn(dir string, own []string) bool {
	for _, o := range own {
		if policy.Within(o, dir) && o != dir {
			return true
		}
	}
	return false
}

// ownPaths are the host's own files and folders, protected by the floor:
// the manifest and its tools folder, the policy file, the audit log's
// folder (only the log itself when that folder holds the workspace) and
// toolhost's configuration folder.
func (h *Host) ownPaths(m *manifest.Manifest) []string {
	var own []string
	if m != nil && m.Path != "" {
		own = append(own, realPath(m.Path), realPath(filepath.Join(filepath.Dir(m.Path), "tools", "bin")))
	}
	if h.opts.PolicyFile != "" {
		own = append(own, realPath(h.opts.PolicyFile))
	}
	if p := h.opts.Audit.Path(); p != "" {
		log := realPath(p)
		if dir := filepath.Dir(log); policy.Within(h.workspace, dir) {
			own = append(own, log)
		} else {
			own = append(own, dir)
		}
	}
	if d, err := os.UserConfigDir(); err == nil {
		own = append(own, realPath(filepath.Join(d, "toolhost")))
	}
	return own
}

// realPath is p made absolute with its symbolic links resolved (those of
// its folder, for a path that does not exist yet): paths are compared once
// their links are resolved.
func realPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	if r, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
		return filepath.Join(r, filepath.Base(p))
	}
	return p
}
