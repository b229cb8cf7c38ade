package toolcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/policy"
	"github.com/toolhost/toolhost/protocol"
)

// Options configure a check of one tool.
type Options struct {
	// Seed makes the inputs; the same seed gives the same inputs.
	Seed uint64
	// Runs is how many times each input is run (at least 1): more runs
	// find a tool that answers the same input differently.
	Runs int
	// MaxInputs bounds the valid inputs; 0 means DefaultMaxInputs.
	MaxInputs int
	// Workspace is the folder h runs the tool in, which the check
	// watches for changes by a read-only tool. It must be h's workspace.
	Workspace string
	// MaxOutput and MaxArgs are the host's default caps of output and
	// arguments, for tools that set none.
	MaxOutput, MaxArgs int64
	// SigtermAfter is how long the SIGTERM check lets the tool wait for
	// the rest of its input before the host stops it; 0 means 500 ms.
	SigtermAfter time.Duration
}

// caller is who the checker's calls are recorded as in the audit log.
var caller = host.Caller{Frontend: "tooltest"}

// approveAll answers the gate for the person who runs the check: running
// the tool is what they asked for. Denials (the floor, deny rules) stand.
func approveAll(context.Context, host.ApprovalRequest) (bool, error) { return true, nil }

// checker holds one tool's check in progress.
type checker struct {
	h      *host.Host
	t      *manifest.Tool
	o      Options
	maxOut int64
	rep    ToolReport
	byID   map[string]int // index in rep.Findings
	// outcomes maps an input to how its first run ended, for Flaky.
	outcomes map[string]string
	// ran counts the runs that reached the tool.
	ran int
}

// Tool checks the tool t of h's manifest: its manifest entry, then runs
// of it with inputs made from its input schema (valid ones Runs times
// each, and a few invalid ones as the host would never pass), for a
// resident tool each valid input once more served resident, then a run
// that holds its input open to see what it does on SIGTERM. A problem is
// reported once, with the first input that showed it and how many runs
// did. Cancelling ctx stops the check between runs.
func Tool(ctx context.Context, h *host.Host, t *manifest.Tool, o Options) ToolReport {
	start := time.Now()
	c := &checker{h: h, t: t, o: o, byID: map[string]int{}, outcomes: map[string]string{}}
	c.rep = ToolReport{Name: t.Name, Findings: []Finding{}}
	c.maxOut = t.MaxOutputBytes
	if c.maxOut <= 0 {
		c.maxOut = o.MaxOutput
	}
	if c.o.Runs < 1 {
		c.o.Runs = 1
	}
	for _, p := range manifestProblems(t) {
		c.report(p, nil, nil)
	}
	if !h.CountsLeftovers() {
		c.skip(ProcessLeftover, "this machine contains calls in a pid namespace of their own, which ends a tool's leftover processes with it, uncounted; run agentcli tool test as root, or in a delegated cgroup v2 (systemd-run --user --scope -p Delegate=yes), to check")
	}
	maxArgs := t.MaxArgsBytes
	if maxArgs <= 0 {
		maxArgs = o.MaxArgs
	}
	valid, invalid := Inputs(t.InputSchema, t.Input, o.Seed, o.MaxInputs, maxArgs)
	c.rep.Inputs = len(valid) + len(invalid)
	readOnly := t.Annotations != nil && t.Annotations.ReadOnlyHint != nil && *t.Annotations.ReadOnlyHint

	if len(valid) == 0 {
		c.report(problem{NoValidInput, Error, "could not be checked with valid input: no input made from its schema passes the schema (a pattern, say), so its successes and SIGTERM were not tried; add an example to the schema (\"examples\": [{...}])"}, nil, nil)
	}
	for _, in := range valid {
		for range c.o.Runs {
			if !c.more(ctx) || !c.run(ctx, in, true, readOnly) {
				goto done
			}
		}
	}
	if t.Resident != nil {
		c.resident(ctx, valid, readOnly)
	}
	for _, in := range invalid {
		if !c.more(ctx) || !c.run(ctx, in, false, readOnly) {
			goto done
		}
	}
	if len(valid) > 0 && c.more(ctx) {
		c.sigterm(ctx, valid[0])
	}
done:
	if _, unrunnable := c.byID[LaunchFailed]; c.ran == 0 && ctx.Err() == nil && !unrunnable {
		c.report(problem{RunRefused, Error, "could not be checked: the gate refused every input (see the inputs not checked); tool test cannot check a tool the policy denies"}, nil, nil)
	}
	c.rep.Runs = c.ran
	c.rep.DurationMs = float64(time.Since(start).Microseconds()) / 1000
	return c.rep
}

// Unrunnable is the report on t when no host can run it at all: its
// manifest's problems, and err.
func Unrunnable(t *manifest.Tool, err error) ToolReport {
	c := &checker{t: t, byID: map[string]int{}}
	c.rep = ToolReport{Name: t.Name, Findings: []Finding{}}
	for _, p := range manifestProblems(t) {
		c.report(p, nil, nil)
	}
	c.report(problem{LaunchFailed, Error, "cannot be run: " + err.Error()}, nil, nil)
	return c.rep
}

// more reports whether the check goes on: not when it was cancelled, nor
// after the tool timed out twice (each timeout costs its whole timeout;
// the rest of the inputs are listed as not checked).
func (c *checker) more(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	if i, ok := c.byID[Timeout]; ok && c.rep.Findings[i].Count >= 2 {
		c.skip("the remaining inputs", "the tool timed out twice; each more timeout would cost its whole timeout")
		return false
	}
	return true
}

// redact hides the secrets the host knows of (passed-through variables
// that look secret, -redact patterns) in what the tool printed, as the
// host does in any result, error or log.
func (c *checker) redact(s string) string {
	if c.h == nil {
		return s
	}
	return c.h.Redact(s)
}

// report records p, seen with input in (nil for the manifest's own
// problems) and the run's result.
func (c *checker) report(p problem, in *Input, res *host.Result) {
	if i, ok := c.byID[p.id]; ok {
		c.rep.Findings[i].Count++
		return
	}
	f := Finding{ID: p.id, Severity: p.severity, Message: c.redact(c.t.Name + " " + p.msg)}
	if in != nil {
		f.Input, f.Why, f.Count = in.JSON, in.Why, 1
	}
	if res != nil && res.Outcome != nil {
		f.Did = didOf(res.Outcome, c.redact)
	}
	c.byID[p.id] = len(c.rep.Findings)
	c.rep.Findings = append(c.rep.Findings, f)
}

func (c *checker) skip(check, reason string) {
	for _, s := range c.rep.Skipped {
		if s.Check == check {
			return
		}
	}
	if len(reason) > 300 {
		reason = cutText(reason, 300)
	}
	c.rep.Skipped = append(c.rep.Skipped, Skipped{Check: check, Reason: reason})
}

// run runs the tool once with in and checks what it did. It returns false
// when the tool cannot be run at all, which ends the check.
func (c *checker) run(ctx context.Context, in Input, valid, readOnly bool) bool {
	var before snapshot
	if readOnly {
		before = snap(c.o.Workspace)
	}
	res, err := c.call(ctx, in, &host.Probe{Unvalidated: !valid})
	if err != nil {
		c.report(problem{LaunchFailed, Error, "could not be run: " + err.Error()}, &in, nil)
		return false
	}
	if res.Outcome == nil {
		return c.refused(in, res.Err)
	}
	c.ran++
	if res.Outcome.Cancelled {
		return false // the check was interrupted: nothing to learn
	}
	for _, p := range classify(c.t, res.Outcome, valid || in.Lenient, c.maxOut) {
		c.report(p, &in, res)
	}
	if res.Outcome.ExitCode != 0 || res.Outcome.Signal != 0 {
		if names := missingEnv(c.t, res.Outcome.Stderr); len(names) > 0 {
			c.report(problem{EnvMissing, Warning, fmt.Sprintf("failed and its standard error names %s, which it is not given: the host passes only PATH, HOME, TMPDIR and the names in envPassthrough; add %s to envPassthrough", strings.Join(names, ", "), names[0])}, &in, res)
		}
	}
	if readOnly {
		if change := before.diff(snap(c.o.Workspace)); change != "" {
			c.report(problem{ReadOnlyChanged, Error, "is annotated read-only (readOnlyHint) but changed its workspace: " + change + "; clients may run read-only tools without asking"}, &in, res)
		}
	}
	if valid {
		key := string(in.JSON)
		got := outcomeKey(res)
		if first, ok := c.outcomes[key]; !ok {
			c.outcomes[key] = got
		} else if first != got {
			c.report(flaky(first, got, ""), &in, res)
		}
	}
	return true
}

// resident runs each valid input once more, served by the tool's
// resident process, and compares how it ended (success, or the failure's
// code) with a one-shot run: a tool must end alike both ways. A run that
// differs is checked against a fresh one-shot run of the same input, so
// that a tool that is flaky, or whose earlier runs changed its workspace,
// is not taken for one whose modes disagree. The pass stops at a process
// that does not start, crashes or times out (the rest of the inputs are
// listed as not checked); inputs that timed out one-shot are not tried.
func (c *checker) resident(ctx context.Context, valid []Input, readOnly bool) {
	stop := func(why string) { c.skip("resident runs of the remaining inputs", why) }
	for _, in := range valid {
		first, ok := c.outcomes[string(in.JSON)]
		if !ok || first == "failure "+protocol.CodeTimeout {
			continue
		}
		if !c.more(ctx) {
			return
		}
		var before snapshot
		if readOnly {
			before = snap(c.o.Workspace)
		}
		res, err := c.call(ctx, in, &host.Probe{Resident: true})
		if err != nil || ctx.Err() != nil {
			return
		}
		served := Input{JSON: in.JSON, Why: in.Why + ", served resident"}
		switch code := errCode(res); {
		case code == protocol.CodeSandboxUnavailable || code == protocol.CodeLaunchFailed && runtime.GOOS != "linux":
			// Resident tools run where the sandbox does: not the tool's fault.
			c.skip(ResidentMode, code+": "+res.Err.Message)
			return
		case code == protocol.CodeLaunchFailed:
			c.report(problem{ResidentMode, Error, "is resident (\"resident\" in its manifest entry) but its process does not start so: " + res.Err.Message}, nil, nil)
			return
		case code == protocol.CodeTimeout:
			c.ran++
			c.report(problem{Timeout, Error, "did not finish within its timeout served resident: " + res.Err.Message}, &served, res)
			stop("the tool timed out served resident")
			return
		case res.Outcome != nil && res.Outcome.Lost && code != protocol.CodeMemoryLimit && code != protocol.CodeOutputLimit:
			// Its process ended mid-call: a crash. One the host ended at
			// a bound it enforces (memory, output) is compared below, as
			// a one-shot run's end is.
			c.ran++
			c.report(problem{ResidentMode, Error, "crashed served resident (one-shot it ended " + first + "): " + cutText(res.Err.Message, 300) + "; a crash fails every call its process serves at the time"}, &served, res)
			stop("the tool's resident process crashed")
			return
		}
		c.ran++
		// What it returned is read as a one-shot run's is.
		if res.Outcome != nil {
			for _, p := range classify(c.t, res.Outcome, true, c.maxOut) {
				c.report(p, &served, res)
			}
		}
		if readOnly {
			if change := before.diff(snap(c.o.Workspace)); change != "" {
				c.report(problem{ReadOnlyChanged, Error, "is annotated read-only (readOnlyHint) but changed its workspace served resident: " + change + "; clients may run read-only tools without asking"}, &served, res)
			}
		}
		got := outcomeKey(res)
		if got == first {
			continue
		}
		// Each way once more: the tool may answer differently each time,
		// or by the state its earlier runs left.
		again, err := c.call(ctx, in, &host.Probe{})
		if err != nil || again.Outcome == nil || ctx.Err() != nil {
			return
		}
		c.ran++
		if now := outcomeKey(again); now != first {
			c.report(flaky(first, now, ""), &in, again)
			continue
		}
		res2, err := c.call(ctx, in, &host.Probe{Resident: true})
		if err != nil || ctx.Err() != nil {
			return
		}
		c.ran++
		if got2 := outcomeKey(res2); got2 != got {
			c.report(flaky(got, got2, " served resident"), &served, res2)
			continue
		}
		why := ""
		if res.Err != nil {
			why = ": " + cutText(res.Err.Message, 300)
		}
		c.report(problem{ResidentMode, Warning, fmt.Sprintf("ended the same input differently served resident than one-shot, twice each way (%s one-shot, %s resident%s): a tool must end alike both ways", first, got, why)}, &served, res)
	}
}

// errCode is the code of res's failure, "" for a success.
func errCode(res *host.Result) string {
	if res.Err == nil {
		return ""
	}
	return res.Err.Code
}

// call runs the tool once with in, as the person who runs the check.
func (c *checker) call(ctx context.Context, in Input, probe *host.Probe) (*host.Result, error) {
	return c.h.Call(ctx, host.Request{Tool: c.t.Name, Args: in.JSON, Caller: caller, Approver: approveAll, Probe: probe})
}

// flaky is the finding of an input that ended first, then then (runs
// made how says).
func flaky(first, then, how string) problem {
	return problem{Flaky, Warning, fmt.Sprintf("answered the same input differently from run to run%s (%s, then %s): a model cannot rely on a retry", how, first, then)}
}

// outcomeKey sums up how a run ended: success, or the failure's code.
func outcomeKey(res *host.Result) string {
	if res.Err == nil {
		return "success"
	}
	return "failure " + res.Err.Code
}

// refused handles a call the host did not run. Refusals of an input (the
// floor, a guard, a deny rule) skip the input; a tool that cannot be
// launched ends the check.
func (c *checker) refused(in Input, e *protocol.Error) bool {
	if e == nil {
		return true
	}
	switch e.Code {
	case protocol.CodeDenied, protocol.CodeNeedsApproval, protocol.CodeInvalidArgs:
		c.skip("input "+in.Why, e.Code+": "+e.Message)
		return true
	case protocol.CodeCancelled:
		return false
	}
	c.report(problem{LaunchFailed, Error, "could not be run: " + e.Code + ": " + e.Message}, &in, nil)
	return false
}

// sigterm runs the tool with in while holding its standard input open, as
// a slow client would, until the host stops it with SIGTERM: it must exit
// within the kill grace.
func (c *checker) sigterm(ctx context.Context, in Input) {
	after := c.o.SigtermAfter
	if after <= 0 {
		after = 500 * time.Millisecond
	}
	res, err := c.call(ctx, in, &host.Probe{Timeout: after, HoldStdin: true})
	if err != nil || res.Outcome == nil {
		c.skip(SigtermIgnored, "the run that tests SIGTERM did not start")
		return
	}
	c.ran++
	out := res.Outcome
	switch {
	case !out.TimedOut:
		c.skip(SigtermIgnored, fmt.Sprintf("the tool answered within %v without waiting for the end of its input, so it was never sent SIGTERM", after))
	case out.GraceExpired:
		c.report(problem{SigtermIgnored, Error, fmt.Sprintf("did not exit within the kill grace (%v) after SIGTERM, sent while it waited for the end of its input, and was killed with SIGKILL: on SIGTERM, stop, write the envelope and exit", c.h.KillGrace())}, &Input{JSON: in.JSON, Why: in.Why + ", standard input held open"}, res)
	}
}

// Manifest checks only the manifest entries, without running anything.
func manifestProblems(t *manifest.Tool) []problem {
	var ps []problem
	add := func(id string, sev Severity, format string, a ...any) {
		ps = append(ps, problem{id, sev, fmt.Sprintf(format, a...)})
	}
	if strings.TrimSpace(t.Description) == "" {
		add(NoDescription, Warning, "has no description: a model chooses tools by their descriptions")
	}
	var root map[string]any
	json.Unmarshal(t.InputSchema, &root)
	for _, name := range sortedKeys(propertiesOf(root)) {
		ps2, _ := propertiesOf(root)[name].(map[string]any)
		if d, _ := ps2["description"].(string); strings.TrimSpace(d) == "" {
			add(ArgNoDescription, Warning, "argument %q has no description: a model fills in arguments from their descriptions", name)
			break
		}
	}
	if where := untyped(root, ""); where != "" {
		add(SchemaNoType, Warning, "input schema at %s has no \"type\": a model (and the input generator) has to guess what to send", where)
	}
	if t.OutputSchema != nil {
		var out map[string]any
		json.Unmarshal(t.OutputSchema, &out)
		if where := untyped(out, ""); where != "" {
			add(SchemaNoType, Warning, "output schema at %s has no \"type\"", where)
		}
	}
	if a := t.Annotations; a != nil {
		ro := a.ReadOnlyHint != nil && *a.ReadOnlyHint
		switch {
		case ro && a.DestructiveHint != nil && *a.DestructiveHint:
			add(Annotations, Warning, "is annotated both read-only and destructive (readOnlyHint and destructiveHint): a read-only tool destroys nothing; clients may trust either")
		case ro && a.IdempotentHint != nil && !*a.IdempotentHint:
			add(Annotations, Warning, "is annotated read-only but not idempotent: a tool that changes nothing gives the same effect each time")
		case ro && t.Sandbox.Workspace == manifest.WorkspaceWrite:
			add(Annotations, Warning, "is annotated read-only but its sandbox lets it write the workspace (\"workspace\": \"write\"): grant read only")
		case ro && slices.ContainsFunc(t.Marks, func(m policy.Mark) bool { return m.Path == "write" }):
			add(Annotations, Warning, "is annotated read-only but marks an argument as a path it writes (\"x-path\": \"write\")")
		}
	}
	return ps
}

// untyped finds a schema in s (itself, or a property's, an array's items,
// at any depth) that has no "type" and no enum, const or $ref to stand for
// one, and says where.
func untyped(s map[string]any, at string) string {
	if s == nil {
		return ""
	}
	_, typed := s["type"]
	for _, k := range []string{"enum", "const", "$ref", "anyOf", "oneOf", "allOf"} {
		if _, ok := s[k]; ok {
			typed = true
		}
	}
	if !typed {
		return orRoot(at)
	}
	for _, name := range sortedKeys(propertiesOf(s)) {
		p, _ := propertiesOf(s)[name].(map[string]any)
		if w := untyped(p, at+"/properties/"+name); w != "" {
			return w
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		return untyped(items, at+"/items")
	}
	return ""
}
