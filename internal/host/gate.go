package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/toolhost/toolhost/internal/audit"
	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/policy"
	"github.com/toolhost/toolhost/protocol"
)

// ApprovalRequest is a call the gate wants a person to approve.
type ApprovalRequest struct {
	Tool string
	// Args are the validated arguments.
	Args json.RawMessage
	// Reason says which rule (or mode) asks, and why.
	Reason string
}

// Approver asks whoever can answer (a person at a terminal, an MCP
// client) whether a call may run. An error means nobody could answer; the
// call then fails NEEDS_APPROVAL. An error wrapping ErrAskedLater means
// the question was put and the answer will come with a new call.
type Approver func(ctx context.Context, req ApprovalRequest) (bool, error)

// ErrAskedLater is an approver's answer when the question goes out with
// the call's result and the answer comes with the call made again (MCP
// input requests): the call ends NEEDS_APPROVAL, saying so.
var ErrAskedLater = errors.New("the question is put to the caller, whose answer comes with the call made again")

// Summary shows the arguments for a person to judge: each top-level
// argument on its own, long values cut to their first 200 bytes with
// their size, so that a long one cannot push another (the path a write
// goes to) out of sight.
func (r ApprovalRequest) Summary() string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(r.Args, &obj) != nil {
		return cut(string(r.Args), 500)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	// Short values first: paths and names before contents.
	slices.SortFunc(keys, func(a, b string) int {
		if la, lb := len(obj[a]), len(obj[b]); la != lb {
			return la - lb
		}
		return strings.Compare(a, b)
	})
	if len(keys) == 0 {
		return "no arguments"
	}
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := string(obj[k])
		if len(v) > 200 {
			v = fmt.Sprintf("%s… (%d bytes)", cut(v, 200), len(v))
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ", ")
}

// MayAsk names the tools whose calls the gate may put to an approver:
// those the policy may ask about (see policy.Policy.MayAsk) and that were
// not pre-approved (Options.Approve), in manifest order, each with why.
// Without an approver, such calls fail NEEDS_APPROVAL.
func (h *Host) MayAsk() (names, why []string) {
	ts := h.tools.Load()
	for _, t := range ts.m.Tools {
		if slices.Contains(h.opts.Approve, t.Name) {
			continue
		}
		if ask, reason := ts.policy.MayAsk(t.Name); ask {
			names, why = append(names, t.Name), append(why, reason)
		}
	}
	return names, why
}

// defaultPolicy is the policy of a manifest without one: no rules, mode
// default (every call asks).
var defaultPolicy = &policy.Policy{Mode: policy.ModeDefault}

// policyFor returns the policy in force for m.
func (h *Host) policyFor(m *manifest.Manifest) *policy.Policy {
	p := defaultPolicy
	switch {
	case h.opts.Policy != nil:
		p = h.opts.Policy
	case m.Policy != nil:
		p = m.Policy
	}
	if h.opts.Mode != "" && h.opts.Mode != p.Mode {
		cp := *p
		cp.Mode = h.opts.Mode
		p = &cp
	}
	return p
}

// BuiltinPath judges a path a call served in agentcli itself would read
// (Request.Builtin: the pre-stage's), an absolute path with its links
// resolved: refused where the floor protects it (the host's own files
// included), where the policy's paths.deny does, and whatever it is in
// mode strict, where nothing no rule allows may run. nil lets it be
// read.
func (h *Host) BuiltinPath(p string) *protocol.Error {
	ts := h.tools.Load()
	if ts.policy.Mode == policy.ModeStrict {
		return protocol.Errorf(protocol.CodeDenied, "the pre-stage's built-in tools do not run in mode strict (no rule allows them)")
	}
	if f := policy.FloorPath(p, ts.own); f != nil {
		return protocol.Errorf(protocol.CodeDenied, "%s is protected (floor:%s: %s)", p, f.ID, f.Reason)
	}
	if f := ts.deny.Match(p); f != nil {
		return protocol.Errorf(protocol.CodeDenied, "%s is denied by the policy's paths.deny (%s)", p, f.Reason)
	}
	return nil
}

// verdict is the gate's answer on a call: its decision, what made it
// (floor:ID, guard:ID, rule:ID, policy:…, mode:MODE), and, when the call
// may not run, the error it fails with.
type verdict struct {
	decision audit.Decision
	rule     string
	err      *protocol.Error
}

// gate decides whether a call with validated args may run: the floor,
// then the guards of marked arguments, then the policy's rules and mode,
// then approval.
func (h *Host) gate(ctx context.Context, ts *toolset, p *prepared, args any, stdin []byte, approve Approver, frontend string) verdict {
	t := p.tool
	obj, _ := args.(map[string]any)
	pol := ts.policy
	deny := func(by string, f *policy.Finding, what string) verdict {
		return verdict{audit.Denied, by, protocol.Errorf(protocol.CodeDenied, "%s denied by %s (%s): %s", t.Name, by, what, f.Reason)}
	}
	paths := &policy.Paths{Workspace: h.workspace, Access: t.Sandbox.Workspace, Read: p.sandbox.read, Write: p.sandbox.write, Own: ts.own, Deny: ts.deny}

	// The floor's paths: every string of the arguments that looks like a
	// path, marked or not. (Its command signatures apply to arguments
	// marked as commands, below: elsewhere such text is data, such as a
	// script a tool writes to a file.)
	var floor func(at string, v any) (string, *policy.Finding)
	floor = func(at string, v any) (string, *policy.Finding) {
		switch x := v.(type) {
		case string:
			for _, c := range policy.PathCandidates(x) {
				abs, err := paths.Resolve(c)
				if err != nil {
					// Unresolvable ("~/.ssh/x"): its names still count.
					if f := policy.FloorName(c); f != nil {
						return at, f
					}
					continue
				}
				if f := paths.Floor(abs); f != nil {
					return at, f
				}
			}
		case map[string]any:
			for k, e := range x {
				if w, f := floor(at+"/"+k, e); f != nil {
					return w, f
				}
			}
		case []any:
			for i, e := range x {
				if w, f := floor(fmt.Sprintf("%s/%d", at, i), e); f != nil {
					return w, f
				}
			}
		}
		return "", nil
	}
	if at, f := floor("", obj); f != nil {
		return deny("floor:"+f.ID, f, "argument "+at)
	}

	// The guards of marked arguments.
	var commands map[string]*policy.ShellFindings
	for _, m := range t.Marks {
		ptrs, vals := m.Values(obj)
		for i, v := range vals {
			if m.Path != "" {
				for _, p := range pathStrings(v) {
					if _, f := paths.Check(p, m.Path == "write"); f != nil {
						prefix := "guard:"
						if f.Category == policy.CategoryProtectedPath {
							prefix = "floor:"
						}
						return deny(prefix+f.ID, f, "argument "+ptrs[i])
					}
				}
				if _, isObj := v.(map[string]any); isObj {
					f := &policy.Finding{ID: "path-not-string", Category: policy.CategoryPathGuard, Reason: "a path argument must be a string (or an array of strings)"}
					return deny("guard:"+f.ID, f, "argument "+ptrs[i])
				}
			}
			if m.Command {
				cmd := commandText(v)
				if f := policy.FloorCommand(cmd); f != nil {
					return deny("floor:"+f.ID, f, "argument "+ptrs[i]+", "+f.Category)
				}
				sf := parseCommand(&policy.Shell{Paths: paths, Deny: pol.DenyWords()}, v)
				if commands == nil {
					commands = map[string]*policy.ShellFindings{}
				}
				commands[ptrs[i]] = &sf
				switch {
				case sf.Floor != nil:
					return deny("floor:"+sf.Floor.ID, sf.Floor, "argument "+ptrs[i]+", "+sf.Floor.Category)
				case sf.Rule != nil:
					return deny("policy:commands.deny", sf.Rule, "argument "+ptrs[i])
				}
				var f *policy.Finding
				if pol.Mode == policy.ModeStrict {
					f = policy.AllowCommand(cmd, pol.Commands.Allow)
				} else if f = policy.DenyCommand(cmd); f == nil {
					f = sf.Deny
				}
				if f != nil {
					return deny("guard:"+f.ID, f, "argument "+ptrs[i]+", "+f.Category)
				}
			}
		}
	}

	// The rules, then the mode.
	v := pol.Decide(t.Name, obj, commands)
	switch v.Decision {
	case policy.Allow:
		return verdict{audit.Allowed, v.By, nil}
	case policy.Deny:
		return verdict{audit.Denied, v.By, protocol.Errorf(protocol.CodeDenied, "%s denied (%s)", t.Name, v.Reason)}
	}
	if slices.Contains(h.opts.Approve, t.Name) {
		return verdict{audit.Approved, v.By + " (-approve)", nil}
	}
	why := ""
	if approve != nil {
		yes, err := approve(ctx, ApprovalRequest{Tool: t.Name, Args: stdin, Reason: v.Reason})
		switch {
		case err == nil && yes:
			return verdict{audit.Approved, v.By, nil}
		case err == nil:
			return verdict{audit.Declined, v.By, protocol.Errorf(protocol.CodeDenied, "%s: the call was declined (%s)", t.Name, v.Reason)}
		}
		if errors.Is(err, ErrAskedLater) {
			return verdict{audit.NeedsApproval, v.By, protocol.Errorf(protocol.CodeNeedsApproval,
				"%s needs approval (%s): %v", t.Name, v.Reason, err)}
		}
		h.log.Debug().Err(err).Str("tool", t.Name).Msg("approval could not be asked")
		why = fmt.Sprintf(" (%v)", err)
	}
	return verdict{audit.NeedsApproval, v.By, protocol.Errorf(protocol.CodeNeedsApproval,
		"%s needs approval (%s), and nobody can approve it here%s: %s", t.Name, v.Reason, why, approvalAdvice(frontend, t.Name))}
}

// approvalAdvice says, to whoever reads a NEEDS_APPROVAL message, what
// can let the call run. An MCP client (and the model behind it) cannot
// pass flags: the advice is for the server's operator, or the client.
func approvalAdvice(frontend, tool string) string {
	if frontend == "mcp" {
		return fmt.Sprintf("the operator of this MCP server can start it with -approve %s or add a policy rule that allows it; or use an MCP client that can ask its user (elicitation)", tool)
	}
	return fmt.Sprintf("pre-approve it with -approve %s, or add a policy rule that allows it", tool)
}

// pathStrings are the strings of a path argument: the string, or the
// strings of an array (at any depth).
func pathStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, pathStrings(e)...)
		}
		return out
	}
	return nil
}

// parseCommand checks a command argument as its tool will run it: a
// string as a shell command line, an argv array as literal words.
func parseCommand(sh *policy.Shell, v any) policy.ShellFindings {
	if x, ok := v.([]any); ok {
		argv := make([]string, len(x))
		for i, e := range x {
			argv[i] = fmt.Sprint(e)
		}
		return sh.CheckArgv(argv)
	}
	return sh.Check(commandText(v))
}

// commandText is a command argument as one line: a string as it is, an
// argv array joined by spaces.
func commandText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			parts = append(parts, fmt.Sprint(e))
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprint(v)
}
