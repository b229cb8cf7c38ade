package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/santhosh-tekuri/jsonschema/v5"
	"golang.org/x/sync/semaphore"

	"github.com/toolhost/toolhost/internal/audit"
	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/policy"
	"github.com/toolhost/toolhost/internal/sandbox"
	"github.com/toolhost/toolhost/internal/sandbox/confine"
	"github.com/toolhost/toolhost/protocol"
)

// Defaults for the zero Options fields.
const (
	DefaultTimeout   = 30 * time.Second
	DefaultMaxOutput = 1 << 20
	// DefaultMaxArgs caps a call's arguments for tools without
	// maxArgsBytes.
	DefaultMaxArgs = 1 << 20
	DefaultPath    = "/usr/local/bin:/usr/bin:/bin"
)

// GCPercent is the garbage collection target agentcli runs with
// (runtime/debug.SetGCPercent) unless GOGC is set. The host's live heap is
// a few MiB, so letting it grow 4x between collections costs little memory
// and buys throughput: at 8 concurrent calls the default of 100 spent ~4%
// of the calls' time collecting.
const GCPercent = 400

// decodeBudget bounds the output bytes being decoded at once, across all
// calls: a JSON value in memory takes up to ~30 times its size (an array
// of small numbers), so 16 concurrent 16 MiB outputs could take gigabytes.
const decodeBudget = 16 << 20

// argsBudget bounds the argument bytes being parsed and held at once,
// across all calls: parsed, JSON takes up to ~30 times its size in memory
// (an array of small numbers), and a call holds its parsed arguments until
// its tool has them.
const argsBudget = 32 << 20

// maxMessage bounds error messages passed on to callers.
const maxMessage = 4 << 10

// Options configure a Host. Only Audit is required.
type Options struct {
	// Workspace is the folder tools run in; "" means the current folder.
	Workspace string
	// Audit receives one record per call. Required: a host that cannot
	// account for its calls does not make them.
	Audit *audit.Log
	// Logger receives diagnostics; the zero value logs nothing.
	Logger zerolog.Logger
	// Sandbox configures how processes are launched and contained; its
	// Logger is replaced by Logger.
	Sandbox sandbox.Options
	// DefaultTimeout applies to tools without timeoutSec; 0 means
	// DefaultTimeout.
	DefaultTimeout time.Duration
	// Path and Home are the PATH and HOME every tool gets; "" means
	// DefaultPath and the home folder of the tool's user: the host user's,
	// or, for a tool that runs as another user, that user's in the user
	// database ("/" when it has none).
	Path, Home string
	// Environ is the host environment that envPassthrough names are taken
	// from; nil means os.Environ() when New is called.
	Environ []string
	// Redact are patterns redacted from results, errors, logs and the
	// audit log, besides the values of secret-looking variables passed to
	// tools.
	Redact []*regexp.Regexp
	// Policy, when set, replaces the manifest's policy; PolicyFile is
	// where it was read from (the floor protects it).
	Policy     *policy.Policy
	PolicyFile string
	// Mode, when set, overrides the policy's mode.
	Mode policy.Mode
	// Approve are tools approved for this run wherever the gate would ask.
	Approve []string
}

// Host runs calls against a vetted manifest. It is safe for concurrent use.
type Host struct {
	opts      Options
	homeGiven bool // Options.Home was set
	log       zerolog.Logger
	launcher  *sandbox.Launcher
	workspace string
	tools     atomic.Pointer[toolset]
	idPrefix  string
	seq       atomic.Uint64
	protected protIndex           // see forCall
	indexWarn sync.Once           // the index is too large, said once
	decoding  *semaphore.Weighted // see decodeBudget
	parsing   *semaphore.Weighted // see argsBudget
	// redact removes every secret any tool could be given: a secret one
	// tool receives can come back from another (a file it wrote, say).
	redact atomic.Pointer[redactor]
	// calls counts the calls in flight, audit record included: Close
	// waits for them, so that closing the audit log after Close loses
	// none.
	calls callCount
	// residents are the processes of the resident tools.
	residents residents
}

// callCount counts calls in flight. Unlike a WaitGroup, a call may start
// while Close waits (it is then refused, and recorded).
type callCount struct {
	mu   sync.Mutex
	n    int
	idle *sync.Cond
}

func (c *callCount) add(d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
	if c.n == 0 && c.idle != nil {
		c.idle.Broadcast()
	}
}

// wait returns once no call is in flight.
func (c *callCount) wait() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle == nil {
		c.idle = sync.NewCond(&c.mu)
	}
	for c.n > 0 {
		c.idle.Wait()
	}
}

// toolset is a manifest with what each tool needs at launch computed once.
type toolset struct {
	m      *manifest.Manifest
	byKey  map[string]*prepared
	own    []string // the host's own paths, protected by the floor
	policy *policy.Policy
	deny   *policy.DenyPaths // the policy's paths.deny
	// toolsBin is the manifest's tools/bin, resolved; indexKey names
	// what the workspace index counts as protected (see scanProtected).
	toolsBin, indexKey string
}

type prepared struct {
	tool    *manifest.Tool
	env     []string // the whole environment of the tool
	names   []string // names in env, for the audit log
	argv    []string // the command, redacted, for the audit log
	timeout time.Duration
	maxOut  int64
	sandbox confinement
	// unrunnable says why the tool's user cannot run its program; New
	// refuses such a manifest.
	unrunnable error
	// byPath runs a script by its path (see sandbox.Spec.ByPath); a
	// pinned one runs by descriptor, so the file checked is the file run.
	byPath bool
	// resident serves the calls of a resident tool; nil for a one-shot
	// one.
	resident *residentTool
}

// ErrStopNow, as the cause of a call's cancelled context
// (context.WithCancelCause), kills its tool at once rather than after the
// kill grace: the call ends CANCELLED.
var ErrStopNow = sandbox.ErrStopNow

// New returns a Host serving m. It fails when the workspace is not a
// folder or no audit log is given; containment that is unavailable is
// reported by each call (LAUNCH_FAILED) rather than here.
func New(m *manifest.Manifest, opts Options) (*Host, error) {
	if opts.Audit == nil {
		return nil, errors.New("host: no audit log")
	}
	ws := opts.Workspace
	if ws == "" {
		ws = "."
	}
	ws, err := filepath.Abs(ws)
	if err == nil {
		ws, err = filepath.EvalSymlinks(ws)
	}
	if err != nil {
		return nil, fmt.Errorf("host: workspace: %w", err)
	}
	if fi, err := os.Stat(ws); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("host: workspace %s is not a folder", ws)
	}
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = DefaultTimeout
	}
	if opts.Path == "" {
		opts.Path = DefaultPath
	}
	homeGiven := opts.Home != ""
	if !homeGiven {
		opts.Home, _ = os.UserHomeDir()
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ()
	}
	opts.Sandbox.Logger = opts.Logger
	var id [6]byte
	rand.Read(id[:])
	h := &Host{opts: opts, homeGiven: homeGiven, log: opts.Logger, workspace: ws, idPrefix: hex.EncodeToString(id[:]) + "-",
		decoding: semaphore.NewWeighted(decodeBudget), parsing: semaphore.NewWeighted(argsBudget)}
	h.launcher, err = sandbox.New(opts.Sandbox)
	if err != nil {
		return nil, err
	}
	h.Swap(m)
	var errs []error
	for _, t := range m.Tools {
		if err := h.tools.Load().byKey[t.Name].unrunnable; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		h.launcher.Close()
		return nil, fmt.Errorf("host: %w", errors.Join(errs...))
	}
	return h, nil
}

// Swap makes the host serve m from the next call on; calls in flight
// finish with the tools they started with.
func (h *Host) Swap(m *manifest.Manifest) {
	env := make(map[string]string)
	for _, kv := range h.opts.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	ts := &toolset{m: m, byKey: make(map[string]*prepared, len(m.Tools)), own: h.ownPaths(m), policy: h.policyFor(m)}
	ts.deny = policy.NewDenyPaths(ts.policy.Paths.Deny, h.workspace)
	ts.toolsBin = realPath(filepath.Join(filepath.Dir(m.Path), "tools", "bin"))
	ts.indexKey = strings.Join(ts.policy.Paths.Deny, "\x00") + "\x01" + strings.Join(ts.own, "\x00")
	var all []string
	for _, t := range m.Tools {
		p := &prepared{tool: t, timeout: t.Timeout, maxOut: t.MaxOutputBytes}
		if p.timeout <= 0 {
			p.timeout = h.opts.DefaultTimeout
		}
		if p.maxOut <= 0 {
			p.maxOut = DefaultMaxOutput
		}
		p.sandbox = h.confineTool(t, p, ts)
		var runAs *confine.User
		if p.sandbox.conf != nil {
			runAs = p.sandbox.conf.User
		}
		p.byPath = isScript(t.Program.Path) && !t.Program.Pinned()
		if p.sandbox.err == nil {
			if err := checkRunnable(t.Name, t.Program.Path, p.byPath, runAs, h.opts.Path); err != nil {
				p.sandbox.err = &errorCode{protocol.CodeLaunchFailed, err.Error()}
				p.unrunnable = err
			}
		}
		home := h.opts.Home
		if !h.homeGiven {
			home = toolHome(runAs, home)
		}
		vars := map[string]string{"PATH": h.opts.Path, "HOME": home}
		var secrets []string
		for _, name := range t.EnvPassthrough {
			v, ok := env[name]
			if !ok {
				continue
			}
			vars[name] = v
			if LooksSecret(name) {
				if len(v) < minSecretLen && v != "" {
					h.log.Warn().Str("tool", t.Name).Str("var", name).Msg("secret-looking value too short to redact")
				}
				secrets = append(secrets, v)
			}
		}
		for _, name := range append([]string{"PATH", "HOME"}, t.EnvPassthrough...) {
			if v, ok := vars[name]; ok && !slices.Contains(p.names, name) {
				p.env = append(p.env, name+"="+v)
				p.names = append(p.names, name)
			}
		}
		all = append(all, secrets...)
		if e := p.sandbox.err; e != nil {
			h.log.Warn().Str("tool", t.Name).Str("code", e.code).Msg(e.msg)
		}
		ts.byKey[t.Name] = p
	}
	redact := newRedactor(all, h.opts.Redact)
	for _, p := range ts.byKey {
		for _, a := range p.tool.Command {
			p.argv = append(p.argv, redact.redact(a))
		}
	}
	// Calls in flight may pair the new redactor with the old tools: it
	// covers their secrets only if they are still configured, which is
	// what a reload means.
	h.redact.Store(redact)
	h.residents.swap(h, ts)
	h.tools.Store(ts)
	h.startEager(ts)
}

// Redact removes from s every secret a tool of the current manifest may be
// given and every configured pattern, for text bound for logs or dumps.
func (h *Host) Redact(s string) string { return h.redact.Load().redact(s) }

// Manifest returns the manifest being served.
func (h *Host) Manifest() *manifest.Manifest { return h.tools.Load().m }

// Workspace returns the absolute folder tools run in.
func (h *Host) Workspace() string { return h.workspace }

// Containment describes how tool processes are contained, or why they
// cannot be.
func (h *Host) Containment() (string, error) { return h.launcher.Containment() }

// Shutdown kills every running tool at once and refuses further calls: for
// a server that must exit now. Follow it with Close.
func (h *Host) Shutdown() {
	h.launcher.Shutdown()
	h.residents.retire()
}

// KillGrace is how long a cancelled call's tool has to end after SIGTERM.
func (h *Host) KillGrace() time.Duration { return h.launcher.KillGrace() }

// CountsLeftovers reports whether a call's leftover processes are counted
// (sandbox.Options.CountLeftovers).
func (h *Host) CountsLeftovers() bool { return h.launcher.CountsLeftovers() }

// Close refuses new calls and waits for running ones, until each has
// handed its record to the audit log. Cancel their contexts first, or call
// Shutdown, for a quick exit.
func (h *Host) Close() error {
	h.residents.close()
	err := h.launcher.Close()
	h.calls.wait()
	h.protected.close()
	return err
}

// Request is one call of a tool: all a call takes besides its context.
// Every field but Tool may be left zero.
type Request struct {
	// Tool names the tool.
	Tool string
	// Args is a JSON object; nil or empty means {}.
	Args json.RawMessage
	// Caller says who asks, for the audit log; the zero value is an
	// anonymous caller of frontend "api".
	Caller Caller
	// Approver answers when the gate asks about the call; nil means
	// nobody can, and such a call fails NEEDS_APPROVAL.
	Approver Approver
	// Refusal, when set, is the frontend's own refusal of the call (an
	// MCP client asking for a tool it was never offered): nothing runs,
	// and the audit log records the call with its code and message, like
	// any failed call.
	Refusal *protocol.Error
	// Probe, when set, makes the call a conformance run of the tool
	// (agentcli tool test); nil is an ordinary call.
	Probe *Probe
	// Builtin, when set, serves the call in agentcli itself instead of a
	// tool of the manifest (goagent's pre-stage built-ins): the frontend
	// has decided it may run, nothing is launched, and the call is
	// audited like any other, with rule "builtin". Its output must be
	// redacted already; a failure's message is redacted here.
	Builtin func(ctx context.Context) (json.RawMessage, *protocol.Error)
}

// Probe is what a conformance run changes in a call. Everything else is
// as for any call: the gate (give the Request an Approver to let asked
// calls run), the tool's launch, sandbox and limits, the audit record.
type Probe struct {
	// Unvalidated passes Args to the tool as they are, whether or not
	// they are a JSON object the input schema accepts: to see how the
	// tool fails where no host validates its input. The floor still
	// checks whatever JSON strings they hold.
	Unvalidated bool
	// Timeout, when positive, replaces the tool's timeout.
	Timeout time.Duration
	// HoldStdin keeps the tool's standard input open after the arguments
	// until the call ends (see sandbox.Spec.HoldStdin).
	HoldStdin bool
	// Resident sends the call to a resident tool's process, as a call
	// without a Probe goes; the others run it one-shot. Unvalidated,
	// Timeout and HoldStdin do not apply to it.
	Resident bool
}

// Call runs the call req asks for. A failed call — unknown tool, bad
// arguments, a tool that fails, hangs or misbehaves — is a Result with
// Err set. Every call is handed to the audit log, which writes records
// in call order (Options.Audit.Flush waits for them). The error is for
// faults of the host itself: once the audit log has failed to write,
// every call returns its error and no result, so nothing runs unrecorded
// after the first failure. Cancelling ctx cancels the call (its tool gets
// the kill grace, or none with ErrStopNow as the cause).
func (h *Host) Call(ctx context.Context, req Request) (*Result, error) {
	name, args := req.Tool, req.Args
	h.calls.add(1)
	defer h.calls.add(-1)
	if err := h.opts.Audit.Err(); err != nil {
		// Nothing runs that cannot be recorded.
		return nil, fmt.Errorf("host: %w", err)
	}
	start := time.Now()
	caller := req.Caller
	if caller.Frontend == "" {
		caller.Frontend = "api"
	}
	res := &Result{CallID: h.idPrefix + strconv.FormatUint(h.seq.Add(1), 10)}
	sum := sha256.Sum256(args)
	redact := h.redact.Load()
	rec := &audit.Record{
		Time: start, Call: res.CallID, ArgsSHA256: hex.EncodeToString(sum[:]), BytesIn: int64(len(args)),
		Frontend: redact.clean(cut(caller.Frontend, 64)), Caller: redact.clean(cut(caller.Identity, 256)),
		Tool: redact.clean(cut(name, 256)),
	}

	var out *sandbox.Outcome
	if req.Refusal != nil {
		res.Err = &protocol.Error{Message: req.Refusal.Message, Code: req.Refusal.Code}
	} else if req.Builtin != nil {
		rec.Decision, rec.Rule = audit.Allowed, "builtin"
		res.Output, res.Err = req.Builtin(ctx)
		rec.BytesOut = int64(len(res.Output))
	} else if ts := h.tools.Load(); ts.byKey[name] == nil {
		res.Err = h.UnknownTool(name)
	} else {
		out, res.Output, res.Err = h.run(ctx, ts, ts.byKey[name], redact, args, req.Approver, req.Probe, rec)
	}
	if req.Probe != nil {
		res.Outcome = out
	}

	res.Duration = time.Since(start)
	if res.Err != nil {
		res.Err.Message = cut(redact.clean(res.Err.Message), maxMessage)
		rec.Code, rec.Message = res.Err.Code, cut(res.Err.Message, 1024)
	}
	if out != nil {
		rec.PID, rec.BytesOut, rec.Leftovers, rec.Containment = out.PID, out.StdoutBytes, out.Leftovers, out.Containment
		if out.Signal != 0 {
			rec.Signal = out.Signal.String()
		} else {
			exit := out.ExitCode
			rec.Exit = &exit
		}
	}
	rec.DurationMs = float64(res.Duration.Microseconds()) / 1000
	if err := h.opts.Audit.Append(rec); err != nil {
		h.log.Error().Err(err).Str("call", res.CallID).Msg("audit log failed; result withheld")
		return nil, fmt.Errorf("host: %w", err)
	}
	ev := h.log.Debug()
	if res.Err != nil {
		ev = h.log.Info().Str("code", res.Err.Code).Str("error", res.Err.Message)
	}
	ev.Str("call", res.CallID).Str("tool", rec.Tool).Str("frontend", caller.Frontend).Dur("took", res.Duration).Msg("call")
	return res, nil
}

// UnknownTool is the error of a call of a tool the host does not serve:
// it names the tools it does, so the caller (a model) can correct itself.
func (h *Host) UnknownTool(name string) *protocol.Error {
	names := make([]string, 0, 16)
	for _, t := range h.Manifest().Tools {
		if len(names) == cap(names) {
			names = append(names, "…")
			break
		}
		names = append(names, t.Name)
	}
	return protocol.Errorf(protocol.CodeUnknownTool, "unknown tool %q (available: %s)", cut(name, 64), strings.Join(names, ", "))
}

// run checks the arguments, launches the tool and reads its result.
func (h *Host) run(ctx context.Context, ts *toolset, p *prepared, redact *redactor, args json.RawMessage, approve Approver, probe *Probe, rec *audit.Record) (*sandbox.Outcome, json.RawMessage, *protocol.Error) {
	t := p.tool
	max := t.MaxArgsBytes
	if max <= 0 {
		max = DefaultMaxArgs
	}
	if int64(len(args)) > max {
		return nil, nil, protocol.Errorf(protocol.CodeInvalidArgs, "arguments are %d bytes, over %s's limit of %d (maxArgsBytes in the manifest)", len(args), t.Name, max)
	}
	weight := min(int64(len(args)), argsBudget)
	if err := h.parsing.Acquire(ctx, weight); err != nil {
		return nil, nil, protocol.Errorf(protocol.CodeCancelled, "call cancelled while waiting to parse its arguments")
	}
	defer h.parsing.Release(weight)
	var (
		stdin []byte
		value any
		perr  *protocol.Error
	)
	if probe != nil && probe.Unvalidated {
		stdin = args
		value, _ = protocol.ParseOutput(args) // not JSON: no strings to check
	} else if stdin, value, perr = checkArgs(t.Input, args); perr != nil {
		return nil, nil, perr
	}
	v := h.gate(ctx, ts, p, value, stdin, approve, rec.Frontend)
	rec.Decision, rec.Rule = v.decision, v.rule
	if v.err != nil {
		return nil, nil, v.err
	}
	spec, perr := h.launchSpec(ts, p, stdin, redact.guard())
	if perr != nil {
		return nil, nil, perr
	}
	if probe != nil {
		if probe.Timeout > 0 {
			spec.Timeout = probe.Timeout
		}
		spec.HoldStdin = probe.HoldStdin
	}
	rec.Argv, rec.Env = p.argv, p.names
	if p.resident != nil && (probe == nil || probe.Resident) {
		rec.Resident = true
		out, perr := p.resident.call(ctx, p, spec)
		if perr != nil {
			return out, nil, perr
		}
		h.logStderr(t.Name, redact, out)
		result, perr := h.interpret(p, redact, out)
		return out, result, perr
	}
	if t.Program.Pinned() {
		f, err := t.Program.Open()
		if err != nil {
			var ie *manifest.IntegrityError
			if errors.As(err, &ie) {
				return nil, nil, protocol.Errorf(protocol.CodeIntegrity, "refusing to run %s: %v", t.Name, err)
			}
			return nil, nil, protocol.Errorf(protocol.CodeLaunchFailed, "open %s: %v", t.Program.Path, err)
		}
		defer f.Close()
		spec.Exec = f
	}

	out, err := h.launcher.Launch(ctx, spec)
	if err != nil {
		var ue *sandbox.UncontainedError
		var se *sandbox.UnavailableError
		switch {
		case ctx.Err() != nil:
			return nil, nil, protocol.Errorf(protocol.CodeCancelled, "call cancelled before %s started", t.Name)
		case errors.As(err, &se):
			return nil, nil, protocol.Errorf(protocol.CodeSandboxUnavailable, "%s: %v", t.Name, err)
		case errors.As(err, &ue):
			return nil, nil, protocol.Errorf(protocol.CodeLaunchFailed, "%s: %v", t.Name, err)
		case errors.Is(err, sandbox.ErrClosed):
			return nil, nil, protocol.Errorf(protocol.CodeLaunchFailed, "the host is shutting down")
		}
		return nil, nil, protocol.Errorf(protocol.CodeLaunchFailed, "%v", err)
	}
	if out.Leftovers > 0 {
		h.log.Warn().Str("tool", t.Name).Int("count", out.Leftovers).Msg("killed processes the tool left running")
	}
	h.logStderr(t.Name, redact, out)
	result, perr := h.interpret(p, redact, out)
	return out, result, perr
}

// logStderr logs what a tool wrote to stderr, on success too, for its
// author (-debug).
func (h *Host) logStderr(tool string, redact *redactor, out *sandbox.Outcome) {
	if ev := h.log.Debug(); len(out.Stderr) > 0 && ev.Enabled() {
		ev.Str("tool", tool).Int64("bytes", out.StderrBytes).Str("stderr", redact.clean(string(out.Stderr))).Msg("tool stderr")
	}
}

// launchSpec is how a call of p is launched, but for its pinned program,
// opened by the caller: its confinement for the workspace as it is now,
// its environment, limits and input.
func (h *Host) launchSpec(ts *toolset, p *prepared, stdin []byte, guard int) (*sandbox.Spec, *protocol.Error) {
	t := p.tool
	if e := p.sandbox.err; e != nil {
		return nil, &protocol.Error{Code: e.code, Message: e.msg}
	}
	conf, err := h.forCall(t, &p.sandbox, ts)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeLaunchFailed, "%s: %v", t.Name, err)
	}
	return &sandbox.Spec{
		Path: t.Program.Path, Args: t.Command, Env: p.env, Dir: h.workspace,
		Stdin: stdin, Timeout: p.timeout, MaxStdout: p.maxOut, StderrGuard: guard,
		Confine: conf, ByPath: p.byPath, OwnUser: p.sandbox.ownUser,
	}, nil
}

// interpret turns an Outcome into a result or an error. Secrets are
// redacted from whatever the tool wrote before anything of it is cut or
// quoted, so no piece of a secret survives a cut.
func (h *Host) interpret(p *prepared, redact *redactor, out *sandbox.Outcome) (json.RawMessage, *protocol.Error) {
	t := p.tool
	stderr := redact.redact(string(out.Stderr))
	switch {
	case out.OutputLimit && t.Resident != nil:
		return nil, protocol.Errorf(protocol.CodeOutputLimit, "%s returned more than %d bytes of output", t.Name, p.maxOut)
	case out.OutputLimit:
		return nil, protocol.Errorf(protocol.CodeOutputLimit, "%s wrote more than %d bytes to standard output and was killed", t.Name, p.maxOut)
	case out.MemoryLimit:
		return nil, protocol.Errorf(protocol.CodeMemoryLimit, "%s ran out of memory: it and the processes it started may use %d MiB together (limits.memoryMB), and went past it%s", t.Name, p.sandbox.conf.MemoryBytes>>20, stderrTail(stderr))
	case out.TimedOut && t.Resident != nil && !out.GraceExpired:
		return nil, protocol.Errorf(protocol.CodeTimeout, "%s did not finish within %v; the call was cancelled in its resident process", t.Name, p.timeout)
	case out.TimedOut && t.Resident != nil:
		return nil, protocol.Errorf(protocol.CodeTimeout, "%s did not finish within %v, nor within the kill grace after: its resident process was killed", t.Name, p.timeout)
	case out.TimedOut:
		return nil, protocol.Errorf(protocol.CodeTimeout, "%s did not finish within %v and was killed%s", t.Name, p.timeout, stderrTail(stderr))
	case out.Cancelled && t.Resident != nil:
		return nil, protocol.Errorf(protocol.CodeCancelled, "call cancelled in %s's resident process", t.Name)
	case out.Cancelled:
		return nil, protocol.Errorf(protocol.CodeCancelled, "call cancelled; %s was killed", t.Name)
	case out.ExitCode != 0 || out.Signal != 0:
		return nil, toolFailure(t.Name, stderr, out)
	}
	if len(bytes.Trim(out.Stdout, " \t\r\n")) == 0 {
		// Nothing to decode: say what stderr holds, which is where a
		// tool that meant to fail (or crashed quietly) left its words.
		if env := protocol.ParseFailure([]byte(stderr)); env.Code != "" {
			return nil, protocol.Errorf(protocol.CodeBadOutput, "%s exited 0 with nothing on standard output, but its standard error ends with an error envelope (code %s: %s): a tool that fails must exit with a non-zero status", t.Name, cut(env.Code, 64), cut(env.Message, 512))
		}
		return nil, protocol.Errorf(protocol.CodeBadOutput, "%s exited 0 with nothing on standard output, want one JSON value%s", t.Name, stderrTail(stderr))
	}
	weight := min(int64(len(out.Stdout)), decodeBudget)
	h.decoding.Acquire(context.Background(), weight) // never fails without a deadline
	defer h.decoding.Release(weight)
	v, err := protocol.ParseOutput(out.Stdout)
	if err != nil {
		var oe *protocol.OutputError
		if errors.As(err, &oe) {
			seen := redact.redact(string(out.Stdout[:min(len(out.Stdout), 4096)]))
			return nil, protocol.Errorf(protocol.CodeBadOutput, "%s exited 0 but its output is not one JSON value: %s at byte %d (output starts %q)",
				t.Name, oe.Reason, oe.Offset, cut(seen, 64))
		}
		return nil, protocol.Errorf(protocol.CodeBadOutput, "%s exited 0 but its output is not one JSON value", t.Name)
	}
	if t.Output != nil {
		if err := t.Output.Validate(v); err != nil {
			return nil, protocol.Errorf(protocol.CodeOutputSchema, "%s returned a result that does not match its output schema: %s", t.Name, redact.redact(manifest.DescribeSchemaError(err)))
		}
	}
	// Always re-encoded: the caller gets exactly the value that was
	// validated and cleaned. Passing the bytes on would pass on what the
	// decoder dropped: the first of two equal keys, invalid UTF-8.
	clean, _ := redact.cleanValue(v)
	b, err := encodeJSON(clean)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeBadOutput, "re-encode result: %v", err)
	}
	return b, nil
}

// toolFailure reads a failed tool's envelope. A code the tool may not use
// (malformed, or one of the host's) becomes TOOL_ERROR, so a tool cannot
// pass its failure off as the host's judgement.
func toolFailure(name, stderr string, out *sandbox.Outcome) *protocol.Error {
	env := protocol.ParseFailure([]byte(stderr))
	status := fmt.Sprintf("exit status %d", out.ExitCode)
	if out.Signal != 0 {
		status = fmt.Sprintf("killed by signal %d, %s", int(out.Signal), out.Signal)
		if out.Signal == syscall.SIGKILL || out.Signal == syscall.SIGSEGV {
			status += " (a crash, or a resource limit)"
		}
	}
	code := env.Code
	msg := env.Message
	switch {
	case code == "":
		code = protocol.CodeToolError
	case !protocol.ValidToolCode(code):
		msg = fmt.Sprintf("%s (the tool reported code %q, which tools may not use)", msg, cut(code, 64))
		code = protocol.CodeToolError
	}
	if msg == "" {
		return protocol.Errorf(code, "%s failed (%s) without a message", name, status)
	}
	if env.Code == "" {
		// Not an envelope: the text is whatever the tool printed, whose
		// end (a traceback, the line that says why) matters most.
		return protocol.Errorf(code, "%s failed (%s): %s", name, status, cutMiddle(msg, maxMessage-256))
	}
	return &protocol.Error{Code: code, Message: msg}
}

func stderrTail(stderr string) string {
	s := strings.TrimSpace(stderr)
	if s == "" {
		return ""
	}
	if len(s) > 512 {
		s = "…" + s[len(s)-512:]
	}
	return "; its last output on stderr: " + s
}

// checkArgs decodes args as exactly one JSON object, validates it against
// the input schema, and returns the bytes the tool receives: the validated
// value re-encoded.
func checkArgs(schema *jsonschema.Schema, args json.RawMessage) ([]byte, any, *protocol.Error) {
	if len(bytes.Trim(args, " \t\r\n")) == 0 {
		args = json.RawMessage("{}")
	}
	v, err := protocol.ParseOutput(args)
	if err != nil {
		return nil, nil, protocol.Errorf(protocol.CodeInvalidArgs, "arguments are not JSON: %v", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, nil, protocol.Errorf(protocol.CodeInvalidArgs, "arguments must be a JSON object, got %s", jsonKind(v))
	}
	if err := schema.Validate(v); err != nil {
		return nil, nil, protocol.Errorf(protocol.CodeInvalidArgs, "invalid arguments: %s", manifest.DescribeSchemaError(err))
	}
	if where, a, b := foldCollision("", v); where != "" {
		// encoding/json (and other decoders) match keys without regard
		// to case: a tool could read the one that was not validated.
		return nil, nil, protocol.Errorf(protocol.CodeInvalidArgs, "invalid arguments: %s: keys %q and %q differ only in letter case; a tool may read them as one", where, a, b)
	}
	b, err := encodeJSON(v)
	if err != nil {
		return nil, nil, protocol.Errorf(protocol.CodeInvalidArgs, "arguments: %v", err)
	}
	return b, v, nil
}

// encodeJSON encodes v compactly, without escaping <, > and & (which
// would make each six bytes: arguments up to six times maxArgsBytes).
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// foldCollision finds, anywhere in v, an object with two keys that are
// equal under Unicode case folding, and returns where (a JSON pointer) and
// the two keys.
func foldCollision(at string, v any) (where, a, b string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) > 1 {
			seen := make(map[string]string, len(x))
			for k := range x {
				f := policy.FoldKey(k)
				if other, dup := seen[f]; dup {
					if at == "" {
						at = "(root)"
					}
					return at, min(k, other), max(k, other)
				}
				seen[f] = k
			}
		}
		for k, e := range x {
			if container(e) {
				if w, a, b := foldCollision(at+"/"+escapePointer(k), e); w != "" {
					return w, a, b
				}
			}
		}
	case []any:
		for i, e := range x {
			if container(e) {
				if w, a, b := foldCollision(at+"/"+strconv.Itoa(i), e); w != "" {
					return w, a, b
				}
			}
		}
	}
	return "", "", ""
}

// container reports whether v is an object or an array: what may hold
// keys.
func container(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func escapePointer(k string) string { return pointerEscaper.Replace(k) }

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
}
