package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/toolhost/toolhost/internal/audit"
	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/policy"
	"github.com/toolhost/toolhost/internal/sandbox"
)

// hostFlags are the flags of every command that runs tools.
type hostFlags struct {
	tools            string
	workspace        string
	auditPath        string
	debug            bool
	toolTimeout      time.Duration
	maxConcurrent    int
	maxProcs         int
	killGrace        time.Duration
	allowUncontained bool
	redact           []*regexp.Regexp
	policyFile       string
	mode             policy.Mode
	approve          []string
	countLeftovers   bool   // agentcli tool test: see sandbox.Options.CountLeftovers
	toolPath         string // the tools' PATH; "" is host.DefaultPath
}

func (f *hostFlags) register(fs *flag.FlagSet) {
	f.registerLaunch(fs)
	fs.StringVar(&f.workspace, "workspace", ".", "the folder tools run in")
	fs.IntVar(&f.maxConcurrent, "max-concurrent", sandbox.DefaultMaxConcurrent, "tool processes running at once")
	fs.StringVar(&f.policyFile, "policy", "", "a policy file, used instead of the manifest's policy")
	fs.Func("mode", "the gate's mode for calls no rule matched: default (ask), strict (deny) or bypass (allow); overrides the policy's", func(s string) error {
		m, err := policy.ParseMode(s)
		f.mode = m
		return err
	})
	fs.Func("approve", "pre-approve a tool for this run wherever the gate would ask (repeatable, or comma-separated)", func(s string) error {
		for name := range strings.SplitSeq(s, ",") {
			if name = strings.TrimSpace(name); name == "" {
				return fmt.Errorf("empty tool name in %q", s)
			}
			f.approve = append(f.approve, name)
		}
		return nil
	})
	fs.Func("redact", "a regular expression redacted from results, errors and logs (repeatable)", func(s string) error {
		re, err := regexp.Compile(s)
		if err != nil {
			return err
		}
		f.redact = append(f.redact, re)
		return nil
	})
}

// registerLaunch registers the flags of how tools are launched and
// recorded, which every command that runs tools has (tool test has only
// these).
func (f *hostFlags) registerLaunch(fs *flag.FlagSet) {
	fs.StringVar(&f.tools, "tools", "tools.json", "the tools manifest")
	fs.StringVar(&f.auditPath, "audit", "", "the audit log (default "+defaultAuditPath()+")")
	fs.BoolVar(&f.debug, "debug", false, "log details to stderr")
	fs.DurationVar(&f.toolTimeout, "tool-timeout", host.DefaultTimeout, "timeout of tools without timeoutSec")
	fs.IntVar(&f.maxProcs, "max-procs", sandbox.DefaultMaxProcs, "processes and threads one call may have")
	fs.DurationVar(&f.killGrace, "kill-grace", sandbox.DefaultKillGrace, "time between SIGTERM and SIGKILL")
	fs.BoolVar(&f.allowUncontained, "allow-uncontained", false, "run tools even where no cgroup can contain them (unsafe)")
}

func defaultAuditPath() string {
	p, err := audit.DefaultPath()
	if err != nil {
		return "none: " + err.Error()
	}
	return p
}

// logger writes to stderr: readable on a terminal, JSON lines otherwise.
func logger(stderr io.Writer, debug bool, quietLevel zerolog.Level) zerolog.Logger {
	level := quietLevel
	if debug {
		level = zerolog.DebugLevel
	}
	w := stderr
	if f, ok := stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: "15:04:05"}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// open loads the manifest and starts a host. The caller closes both.
func (f *hostFlags) open(log zerolog.Logger) (*host.Host, *audit.Log, error) {
	m, err := manifest.Load(f.tools)
	if err != nil {
		return nil, nil, err
	}
	return f.openWith(m, log)
}

// openWith starts a host serving m. The caller closes both.
func (f *hostFlags) openWith(m *manifest.Manifest, log zerolog.Logger) (*host.Host, *audit.Log, error) {
	alog, err := f.openAudit()
	if err != nil {
		return nil, nil, err
	}
	h, err := f.newHost(m, alog, log)
	if err != nil {
		alog.Close()
		return nil, nil, err
	}
	return h, alog, nil
}

// openAudit opens the audit log -audit names, or the default one.
func (f *hostFlags) openAudit() (*audit.Log, error) {
	path := f.auditPath
	if path == "" {
		var err error
		if path, err = audit.DefaultPath(); err != nil {
			return nil, err
		}
	}
	return audit.Open(path)
}

// newHost starts a host serving m that records its calls in alog. The
// caller closes it.
func (f *hostFlags) newHost(m *manifest.Manifest, alog *audit.Log, log zerolog.Logger) (*host.Host, error) {
	var pol *policy.Policy
	if f.policyFile != "" {
		var err error
		if pol, err = policy.Load(f.policyFile); err != nil {
			return nil, err
		}
	}
	for _, name := range f.approve {
		if m.Lookup(name) == nil {
			return nil, fmt.Errorf("-approve %s: no such tool in %s", name, m.Path)
		}
	}
	h, err := host.New(m, host.Options{
		Policy:         pol,
		PolicyFile:     f.policyFile,
		Mode:           f.mode,
		Approve:        f.approve,
		Workspace:      f.workspace,
		Path:           f.toolPath,
		Audit:          alog,
		Logger:         log,
		DefaultTimeout: f.toolTimeout,
		Redact:         f.redact,
		Sandbox: sandbox.Options{
			Supervisor:       sandbox.Supervise(),
			MaxConcurrent:    f.maxConcurrent,
			MaxProcs:         f.maxProcs,
			KillGrace:        f.killGrace,
			AllowUncontained: f.allowUncontained,
			CountLeftovers:   f.countLeftovers,
		},
	})
	if err != nil {
		return nil, err
	}
	if how, err := h.Containment(); err == nil {
		log.Debug().Str("containment", how).Str("audit", alog.Path()).Str("workspace", h.Workspace()).Msg("host ready")
	}
	return h, nil
}

// containment says how a host would contain tool processes on this
// machine for this user: a Containment id and its description, or why
// calls cannot be contained.
func containment() (id, how string, err error) {
	l, err := sandbox.New(sandbox.Options{MaxConcurrent: 1})
	if err != nil {
		return sandbox.ContainmentNone, "", err
	}
	defer l.Close()
	how, err = l.Containment()
	return l.ContainmentID(), how, err
}

// containmentLine is containment in one line for people.
func containmentLine() string {
	_, how, err := containment()
	if err != nil {
		return "tool calls cannot be contained here and will be refused: " + err.Error()
	}
	return "tool processes are contained by: " + how
}

func (f *hostFlags) check() error {
	switch {
	case f.toolTimeout <= 0:
		return fmt.Errorf("-tool-timeout must be positive")
	case f.maxConcurrent <= 0:
		return fmt.Errorf("-max-concurrent must be positive")
	case f.maxProcs <= 0:
		return fmt.Errorf("-max-procs must be positive")
	case f.killGrace <= 0:
		return fmt.Errorf("-kill-grace must be positive")
	}
	return nil
}
