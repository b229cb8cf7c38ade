package toolcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/sandbox"
	"github.com/toolhost/toolhost/protocol"
)

// The checks, by their stable ids.
const (
	StdoutEmpty       = "stdout.empty"
	StdoutNotJSON     = "stdout.not-json"
	StdoutTwoValues   = "stdout.two-values"
	StdoutTrailing    = "stdout.trailing-text"
	StdoutInvalidUTF8 = "stdout.invalid-utf8"
	OutputSchema      = "output.schema"
	OutputOverCap     = "output.over-cap"
	OutputNearCap     = "output.near-cap"
	OutputEscapes     = "output.escapes"
	EnvelopeOnStdout  = "failure.envelope-on-stdout"
	EnvelopeExitZero  = "failure.exit-zero"
	FailureSilent     = "failure.silent"
	FailureNoEnvelope = "failure.no-envelope"
	FailureBadCode    = "failure.bad-code"
	FailureStdout     = "failure.stdout"
	CrashSignal       = "crash.signal"
	Timeout           = "timeout"
	SigtermIgnored    = "sigterm.ignored"
	MemoryLimit       = "limit.memory"
	ProcessLeftover   = "process.leftover"
	StderrFlood       = "stderr.flood"
	ReadOnlyChanged   = "readonly.changed-workspace"
	EnvMissing        = "env.missing"
	InvalidAccepted   = "input.invalid-accepted"
	Flaky             = "run.flaky"
	LaunchFailed      = "launch.failed"
	RunRefused        = "run.refused"
	NoValidInput      = "input.none-valid"
	NoDescription     = "manifest.description"
	ArgNoDescription  = "manifest.arg-description"
	SchemaNoType      = "manifest.schema-type"
	Annotations       = "manifest.annotations"
	ResidentMode      = "resident.mode"
)

// Checks lists every check's id.
var Checks = []string{
	StdoutEmpty, StdoutNotJSON, StdoutTwoValues, StdoutTrailing, StdoutInvalidUTF8,
	OutputSchema, OutputOverCap, OutputNearCap, OutputEscapes,
	EnvelopeOnStdout, EnvelopeExitZero, FailureSilent, FailureNoEnvelope, FailureBadCode, FailureStdout,
	CrashSignal, Timeout, SigtermIgnored, MemoryLimit, ProcessLeftover, StderrFlood,
	ReadOnlyChanged, EnvMissing, InvalidAccepted, Flaky, LaunchFailed, RunRefused, NoValidInput,
	NoDescription, ArgNoDescription, SchemaNoType, Annotations, ResidentMode,
}

// StderrFloodBytes is how much standard error one run may write before
// it counts as a flood: what the host keeps of it (the rest is cut out).
const StderrFloodBytes = sandbox.DefaultMaxStderr

// nearCap is the share of its output cap past which a result is near it.
const nearCap = 0.75

// problem is one check's verdict on one run.
type problem struct {
	id       string
	severity Severity
	msg      string
}

// classify checks one run of t against the contract. valid says the
// input was one the schema accepts; maxOut is the tool's output cap.
func classify(t *manifest.Tool, out *sandbox.Outcome, valid bool, maxOut int64) []problem {
	var ps []problem
	add := func(id string, sev Severity, format string, a ...any) {
		ps = append(ps, problem{id, sev, fmt.Sprintf(format, a...)})
	}
	if out.StderrBytes > StderrFloodBytes {
		add(StderrFlood, Warning, "wrote %d bytes to standard error in one run; the host keeps %d of them (the first and last halves), so the middle of its log is lost: log less, or to a file", out.StderrBytes, StderrFloodBytes)
	}
	if out.Leftovers > 0 {
		add(ProcessLeftover, Error, "left %d process(es) running after it exited; the host killed them: wait for what you start, or stop it before exiting", out.Leftovers)
	}
	switch {
	case out.Cancelled:
		return ps
	case out.OutputLimit:
		add(OutputOverCap, Error, "wrote more than its output cap of %d bytes to standard output and was killed (raise maxOutputBytes, or make the result smaller)", maxOut)
		return ps
	case out.MemoryLimit:
		add(MemoryLimit, Error, "went past its memory bound (sandbox.limits.memoryMB) and was killed")
		return ps
	case out.TimedOut:
		within := "the host's default timeout (-tool-timeout)"
		if t.Timeout > 0 {
			within = fmt.Sprintf("its timeout (timeoutSec %g)", t.Timeout.Seconds())
		}
		add(Timeout, Error, "did not finish within %s and was stopped: answer sooner, or declare a longer timeoutSec", within)
		if out.GraceExpired {
			add(SigtermIgnored, Error, "did not exit on SIGTERM within the kill grace and was killed with SIGKILL: on SIGTERM, stop, write the envelope and exit")
		}
		return ps
	case out.Signal != 0:
		add(CrashSignal, Error, "was killed by signal %d (%s), which the host did not send: a crash, or one of its resource limits (CPU time, file size)", int(out.Signal), out.Signal)
		return ps
	}

	if out.ExitCode == 0 {
		return append(ps, classifySuccess(t, out, valid, maxOut)...)
	}
	return append(ps, classifyFailure(out)...)
}

func classifySuccess(t *manifest.Tool, out *sandbox.Outcome, valid bool, maxOut int64) []problem {
	var ps []problem
	add := func(id string, sev Severity, format string, a ...any) {
		ps = append(ps, problem{id, sev, fmt.Sprintf(format, a...)})
	}
	stdout := out.Stdout
	if len(jsonTrim(stdout)) == 0 {
		if env := lastEnvelope(out.Stderr); env != nil {
			add(EnvelopeExitZero, Error, "printed an error envelope (code %q) on standard error but exited 0, which means success: exit 1 after printing it", env.Code)
		} else {
			add(StdoutEmpty, Error, "exited 0 with nothing on standard output: a success must print one JSON value")
		}
		return ps
	}
	if !utf8.Valid(stdout) {
		add(StdoutInvalidUTF8, Error, "printed invalid UTF-8 on standard output: JSON text must be UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(stdout))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		add(StdoutNotJSON, Error, "exited 0 but its output is not JSON: %v (it starts %q)", err, prefix(stdout))
		return ps
	}
	if rest := jsonTrim(stdout[dec.InputOffset():]); len(rest) > 0 {
		var second any
		if json.NewDecoder(bytes.NewReader(rest)).Decode(&second) == nil {
			add(StdoutTwoValues, Error, "printed more than one JSON value on standard output (the second starts %q): print exactly one", prefix(rest))
		} else {
			add(StdoutTrailing, Error, "printed text after its JSON value (%q): print exactly one JSON value and nothing else", prefix(rest))
		}
		return ps
	}
	if isEnvelope(v) {
		// A warning: a result may look like this on purpose.
		add(EnvelopeOnStdout, Warning, "printed what looks like an error envelope on standard output and exited 0, so the host takes it for a result: to fail, print the envelope on standard error and exit 1")
		return ps
	}
	if t.Output != nil {
		if err := t.Output.Validate(v); err != nil {
			add(OutputSchema, Error, "returned a result its output schema refuses: %s", manifest.DescribeSchemaError(err))
		}
	}
	if maxOut > 0 && float64(out.StdoutBytes) > nearCap*float64(maxOut) {
		add(OutputNearCap, Warning, "wrote %d bytes, %d%% of its output cap (%d): a slightly larger answer will fail OUTPUT_LIMIT; bound the result (a limit argument, a truncated flag)", out.StdoutBytes, out.StdoutBytes*100/maxOut, maxOut)
	}
	if where, r := escapeIn(v, ""); where != "" {
		add(OutputEscapes, Warning, "returned a control character (%U) in the string at %s: terminal escape sequences in results can rewrite what a person sees; the host removes them, so the model sees something else than the tool meant", r, where)
	}
	if !valid {
		add(InvalidAccepted, Warning, "succeeded on an input its schema refuses: run without the host's validation (by hand, or by another host) it would act on bad input; check the input and fail with code BAD_INPUT")
	}
	return ps
}

func classifyFailure(out *sandbox.Outcome) []problem {
	var ps []problem
	add := func(id string, sev Severity, format string, a ...any) {
		ps = append(ps, problem{id, sev, fmt.Sprintf(format, a...)})
	}
	if len(jsonTrim(out.Stdout)) > 0 {
		var v any
		if json.Unmarshal(jsonTrim(out.Stdout), &v) == nil && isEnvelope(v) {
			add(EnvelopeOnStdout, Error, "printed its error envelope on standard output: the host reads a failure's envelope from the last line of standard error")
		} else {
			add(FailureStdout, Warning, "wrote to standard output and then failed (exit %d): the host drops a failed call's output; write nothing there on failure", out.ExitCode)
		}
	}
	if len(bytes.TrimSpace(out.Stderr)) == 0 {
		if len(ps) == 0 || ps[0].id != EnvelopeOnStdout {
			add(FailureSilent, Error, "failed (exit %d) with nothing on standard error: say why, as the envelope {\"error\":\"...\",\"code\":\"...\"} on its last line", out.ExitCode)
		}
		return ps
	}
	env := lastEnvelope(out.Stderr)
	if env == nil {
		add(FailureNoEnvelope, Error, "failed (exit %d) but the last line of standard error is not the envelope {\"error\":\"...\",\"code\":\"...\"} (it is %q): the caller gets the raw text and code TOOL_ERROR", out.ExitCode, prefix(lastLine(out.Stderr)))
		return ps
	}
	if env.Code != "" && !protocol.ValidToolCode(env.Code) { // the code is optional
		why := "it is not upper-case letters, digits and underscores starting with a letter"
		if protocol.IsHostCode(env.Code) {
			why = "it is the host's own code, which tools may not use"
		}
		add(FailureBadCode, Error, "failed with code %q, which the host replaces with TOOL_ERROR: %s", env.Code, why)
	}
	return ps
}

// envelope is the failure envelope as the checker reads it.
type envelope struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// lastEnvelope is the envelope on the last non-empty line of stderr, or nil.
func lastEnvelope(stderr []byte) *envelope {
	line := bytes.TrimSpace(lastLine(stderr))
	var env envelope
	var raw map[string]json.RawMessage
	if json.Unmarshal(line, &raw) != nil || raw["error"] == nil || json.Unmarshal(line, &env) != nil || env.Error == "" {
		return nil
	}
	return &env
}

// isEnvelope reports whether v looks like the failure envelope: an object
// with a string "error" and a string "code", and nothing else.
func isEnvelope(v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 2 {
		return false
	}
	_, e := m["error"].(string)
	_, c := m["code"].(string)
	return e && c
}

// jsonTrim trims white space as JSON and the host count it: space, tab,
// carriage return and newline (not form feeds or Unicode spaces).
func jsonTrim(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }

func lastLine(b []byte) []byte {
	b = bytes.TrimRight(b, " \t\r\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

// prefix is the start of b, cut at a character's start, for a message.
func prefix(b []byte) string {
	return cutText(strings.ToValidUTF8(string(b[:min(len(b), 64)]), "\uFFFD"), 48)
}

// escapeIn finds a control character other than tab, newline and
// carriage return (C0, DEL or C1) in any string of v, and says where
// (a JSON pointer).
func escapeIn(v any, at string) (string, rune) {
	switch x := v.(type) {
	case string:
		for _, r := range x {
			if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0x7f && r <= 0x9f) {
				return orRoot(at), r
			}
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if w, r := escapeIn(k, at); w != "" {
				return w + " (a key)", r
			}
			if w, r := escapeIn(x[k], at+"/"+k); w != "" {
				return w, r
			}
		}
	case []any:
		for i, e := range x {
			if w, r := escapeIn(e, fmt.Sprintf("%s/%d", at, i)); w != "" {
				return w, r
			}
		}
	}
	return "", 0
}

func orRoot(at string) string {
	if at == "" {
		return "the root"
	}
	return at
}

// envName is a word that may name an environment variable.
var (
	envName  = regexp.MustCompile(`\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|\b[A-Z][A-Z0-9]{2,}\b`)
	envWords = regexp.MustCompile(`(?i)environ|\benv\b|variable|not set|unset|keyerror|missing|undefined|required|empty`)
)

// missingEnv names the variables a failed run's stderr mentions as
// missing that the tool is not given: words that look like variable
// names, on a line that speaks of the environment, that are set in
// agentcli's own environment or hold an underscore, and are none of the
// tool's variables or its envelope's code.
func missingEnv(t *manifest.Tool, stderr []byte) []string {
	given := map[string]bool{"PATH": true, "HOME": true, "TMPDIR": true}
	for _, n := range t.EnvPassthrough {
		given[n] = true
	}
	if env := lastEnvelope(stderr); env != nil {
		given[env.Code] = true
	}
	var out []string
	for line := range strings.SplitSeq(string(stderr), "\n") {
		if !envWords.MatchString(line) {
			continue
		}
		for _, name := range envName.FindAllString(line, -1) {
			_, set := os.LookupEnv(name)
			if given[name] || slices.Contains(out, name) || (!set && !strings.Contains(name, "_")) {
				continue
			}
			out = append(out, name)
		}
	}
	return out
}
