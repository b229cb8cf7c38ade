// Package secaudit checks a toolhost setup for footguns: files others can
// change, a policy that lets everything through, tools that hold secrets and
// reach the network, command-taking tools without a command guard, and the
// like. Each finding has a stable check id, a severity, what it concerns,
// what was found and how to fix it.
//
// Fix tightens permissions and does nothing else: it removes group and other
// write permission from tool programs, the folders holding them, the
// manifest and the policy file, and sets the audit log's folder to 0700 and
// the log to 0600. Everything else is for a person to decide.
//
// The checks do not depend on manifest.Load alone, since it refuses the very
// permissions they look for: when the manifest does not load, the load error
// is a finding of its own (manifest-invalid) and the other checks run on a
// lenient reading of the raw JSON.
package secaudit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
)

// Version is the version of the report format.
const Version = 1

// Severity says how bad a finding is.
type Severity string

// Severities, worst first.
const (
	// Critical findings are holes: the exit status of "agentcli security
	// audit" is 1 while one remains.
	Critical Severity = "critical"
	// Warn findings are risky choices that may be deliberate.
	Warn Severity = "warn"
	// Info findings are hardening left undone.
	Info Severity = "info"
)

// rank orders severities, worst first.
func (s Severity) rank() int {
	switch s {
	case Critical:
		return 0
	case Warn:
		return 1
	}
	return 2
}

// Check ids. They are stable: scripts and CI match on them.
const (
	ManifestInvalid       = "manifest-invalid"          // critical: the manifest does not load
	PermToolBinary        = "perm-tool-binary"          // critical: a program others can change
	PermToolsFolder       = "perm-tools-folder"         // critical: a folder of a program others can change
	PermManifest          = "perm-manifest"             // critical: a manifest (or its folder) others can change
	PermPolicy            = "perm-policy"               // critical: a policy file others can change
	PermAudit             = "perm-audit"                // critical: an audit folder others can change; warn: a log others can read
	ModeBypass            = "mode-bypass"               // critical: a policy in mode bypass
	NoPolicy              = "no-policy"                 // warn: no policy at all
	LevelNone             = "level-none"                // warn: a tool at sandbox level none
	SecretsWithNetwork    = "secrets-with-network"      // critical: a tool with a secret and the network
	CommandUnguarded      = "command-unguarded"         // warn: a command-taking tool without a command guard
	TimeoutMissing        = "timeout-missing"           // info: no timeoutSec
	TimeoutLong           = "timeout-long"              // warn: timeoutSec over MaxTimeout
	BinaryOutsideToolbin  = "binary-outside-toolbin"    // info: a program outside tools/bin/
	BinaryUnpinned        = "binary-unpinned"           // info: a program without sha256
	StrictUnavailable     = "strict-unavailable"        // critical: a strict tool on a machine that cannot confine it
	MCPHTTPNoAuth         = "mcp-http-no-auth"          // critical: MCP over HTTP off loopback without auth
	Uncontained           = "uncontained"               // critical: tool processes cannot be contained here
	ProgramUnrunnable     = "program-unrunnable"        // critical: the tool's user cannot run its program
	MCPHTTPLoopbackNoAuth = "mcp-http-loopback-no-auth" // warn: MCP over HTTP on loopback without auth
	StrictRoot            = "strict-root"               // warn: a tool at level strict running as root
	ResidentSecrets       = "resident-secrets"          // warn: a resident tool that is passed a secret
	ResidentLevelNone     = "resident-level-none"       // critical: a resident tool at sandbox level none
	TerminalReachable     = "terminal-reachable"        // warn: a tool that may open the user's terminal by path
	MountsUnavailable     = "mounts-unavailable"        // warn: the limits level's own mounts cannot be made here
	ContainmentShared     = "containment-shared"        // info: one process bound for all calls (pid namespace backend)
)

// Finding is one problem found.
type Finding struct {
	// ID is the check's stable id, e.g. "perm-tool-binary".
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	// Subject is what the finding is about: a tool's name, a path, or
	// both ("fs_read_file: /x/tools/bin/fs_read_file").
	Subject string `json:"subject"`
	// Found says what is wrong, e.g. "mode 0777: writable by group and
	// others".
	Found string `json:"found"`
	// Fix says what to do about it, e.g. "chmod go-w /x/tools/bin/x".
	Fix string `json:"fix"`
	// Fixable is true when Fix can fix it (a change of permissions).
	Fixable bool `json:"fixable"`
	// Fixed is true when Fix fixed it.
	Fixed bool `json:"fixed"`

	chmod *chmod // what Fix does; nil when it cannot fix this
}

// chmod is a change of permissions: the new mode is the old one without
// clear, plus set.
type chmod struct {
	path       string
	clear, set fs.FileMode
}

// Change is one change of permissions that Fix made.
type Change struct {
	// ID is the check id of the finding fixed.
	ID string `json:"id"`
	// Path is the file or folder changed.
	Path string `json:"path"`
	// From and To are the modes before and after, in octal ("0777").
	From string `json:"from"`
	To   string `json:"to"`
}

// Summary counts the findings that remain (not fixed) by severity.
type Summary struct {
	Critical int `json:"critical"`
	Warn     int `json:"warn"`
	Info     int `json:"info"`
}

// Report is the result of an audit (schemas/security-audit.schema.json).
type Report struct {
	// Version is the report format's version, 1.
	Version int `json:"version"`
	// Manifest is the absolute path of the manifest audited.
	Manifest string `json:"manifest"`
	// Containment says how tool processes are contained on this machine
	// for this user, or why they cannot be; "" when not checked.
	Containment string `json:"containment,omitempty"`
	// Findings are the problems found, worst first: those that remain,
	// then those Fix fixed.
	Findings []*Finding `json:"findings"`
	// Fixed are the changes Fix made, in order.
	Fixed []Change `json:"fixed"`
	// Summary counts the findings that remain.
	Summary Summary `json:"summary"`
}

// Critical reports whether a critical finding remains.
func (r *Report) Critical() bool { return r.Summary.Critical > 0 }

// finish sorts the findings, worst first and the fixed ones last (keeping
// the order of the checks otherwise), and counts them.
func (r *Report) finish() {
	slices.SortStableFunc(r.Findings, func(a, b *Finding) int {
		if a.Fixed != b.Fixed {
			if a.Fixed {
				return 1
			}
			return -1
		}
		return a.Severity.rank() - b.Severity.rank()
	})
	r.Summary = Summary{}
	for _, f := range r.Findings {
		if f.Fixed {
			continue
		}
		switch f.Severity {
		case Critical:
			r.Summary.Critical++
		case Warn:
			r.Summary.Warn++
		default:
			r.Summary.Info++
		}
	}
}

// Fix tightens the permissions r's findings call for, marks those findings
// Fixed, and records the changes in r.Fixed. It changes nothing else. A
// finding whose file already has the permissions wanted counts as fixed
// with no change. Fix goes on past a failure and returns every error,
// joined; the findings it could not fix stay unfixed.
func Fix(r *Report) ([]Change, error) {
	var changes []Change
	var errs []error
	for _, f := range r.Findings {
		if f.chmod == nil || f.Fixed {
			continue
		}
		c, changed, err := f.chmod.apply()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.ID, err))
			continue
		}
		f.Fixed = true
		if changed {
			c.ID = f.ID
			changes = append(changes, c)
		}
	}
	r.Fixed = append(r.Fixed, changes...)
	r.finish()
	return changes, errors.Join(errs...)
}

// RunFix runs the checks, fixes what Fix can, and runs the checks again.
// The report holds what remains, followed by the findings fixed (Fixed
// true), and the changes made. When some permissions could not be changed
// the report comes with the error, and those findings remain.
func RunFix(opts Options) (*Report, error) {
	first, err := Run(opts)
	if err != nil {
		return nil, err
	}
	changes, fixErr := Fix(first)
	r, err := Run(opts)
	if err != nil {
		return nil, err
	}
	for _, f := range first.Findings {
		if f.Fixed {
			r.Findings = append(r.Findings, f)
		}
	}
	r.Fixed = append(r.Fixed, changes...)
	r.finish()
	return r, fixErr
}

// apply makes the change, unless the mode is already what it should be.
func (c *chmod) apply() (Change, bool, error) {
	fi, err := os.Stat(c.path)
	if err != nil {
		return Change{}, false, err
	}
	old := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	mode := old&^c.clear | c.set
	if mode == old {
		return Change{}, false, nil
	}
	if err := os.Chmod(c.path, mode); err != nil {
		return Change{}, false, err
	}
	return Change{Path: c.path, From: octal(old), To: octal(mode)}, true, nil
}

// octal writes a mode the way chmod takes it: "0755", "1777".
func octal(m fs.FileMode) string {
	n := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	return fmt.Sprintf("%04o", n)
}

// writers names who besides the owner may write under perm.
func writers(perm fs.FileMode) string {
	return who(perm&0o020 != 0, perm&0o002 != 0)
}

// readers names who besides the owner may read under perm.
func readers(perm fs.FileMode) string {
	return who(perm&0o040 != 0, perm&0o004 != 0)
}

func who(group, others bool) string {
	switch {
	case group && others:
		return "group and others"
	case group:
		return "group"
	}
	return "others"
}
