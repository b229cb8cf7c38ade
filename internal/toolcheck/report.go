package toolcheck

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/sandbox"
)

// Severity is how bad a finding is: an error breaks the tool contract or
// the tool's own declarations; a warning is a likely problem.
type Severity string

const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Finding is one problem found in a tool. Its ID is stable: scripts and
// the report schema rely on it.
type Finding struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	// Input is the first input that showed the problem (none for the
	// manifest's own problems), Why how it was made.
	Input json.RawMessage `json:"input,omitempty"`
	Why   string          `json:"why,omitempty"`
	// Did is what the tool did with it.
	Did *Did `json:"did,omitempty"`
	// Count is how many runs showed the problem.
	Count int `json:"count,omitempty"`
}

// WriteText writes f for people, each line after indent: its severity,
// id and message, the input, and what the tool did.
func (f *Finding) WriteText(w io.Writer, indent string) {
	fmt.Fprintf(w, "%s%s %s: %s\n", indent, f.Severity, f.ID, host.ForTerminal(f.Message))
	if f.Input != nil {
		fmt.Fprintf(w, "%s    input: %s (%s)", indent, host.ForTerminal(cutText(string(f.Input), 160)), host.ForTerminal(f.Why))
		if f.Count > 1 {
			fmt.Fprintf(w, "; %d runs showed it", f.Count)
		}
		fmt.Fprintln(w)
	}
	d := f.Did
	if d == nil {
		return
	}
	how := "killed by signal " + d.Signal
	if d.Exit != nil {
		how = fmt.Sprintf("exit %d", *d.Exit)
	}
	if d.TimedOut {
		how += ", timed out"
	}
	fmt.Fprintf(w, "%s    did: %s after %.1f ms; %d bytes on stdout, %d on stderr\n", indent, how, d.DurationMs, d.StdoutBytes, d.StderrBytes)
	for _, out := range []struct {
		name string
		e    Ends
	}{{"stdout", d.Stdout}, {"stderr", d.Stderr}} {
		for _, l := range out.e.First {
			fmt.Fprintf(w, "%s    %s| %s\n", indent, out.name, host.ForTerminal(l))
		}
		if len(out.e.Last) > 0 {
			fmt.Fprintf(w, "%s    %s| …\n", indent, out.name)
			for _, l := range out.e.Last {
				fmt.Fprintf(w, "%s    %s| %s\n", indent, out.name, host.ForTerminal(l))
			}
		}
	}
}

// Did is what one run of a tool did, in short.
type Did struct {
	// Exit is the exit status; nil when a signal ended the tool.
	Exit *int `json:"exit,omitempty"`
	// Signal is the signal that ended the tool, if one did: its number
	// and name, "9 (killed)".
	Signal string `json:"signal,omitempty"`
	// TimedOut: the tool did not finish within its timeout.
	TimedOut   bool    `json:"timedOut,omitempty"`
	DurationMs float64 `json:"durationMs"`
	// StdoutBytes and StderrBytes count what the tool wrote to each.
	StdoutBytes int64 `json:"stdoutBytes"`
	StderrBytes int64 `json:"stderrBytes"`
	// Stdout and Stderr are their first and last lines.
	Stdout Ends `json:"stdout"`
	Stderr Ends `json:"stderr"`
}

// Ends are the first and last lines of an output, each cut to
// maxLineShown bytes; Last is empty when First holds every line.
type Ends struct {
	First []string `json:"first,omitempty"`
	Last  []string `json:"last,omitempty"`
}

// Skipped is a check that could not run, and why.
type Skipped struct {
	Check  string `json:"check"`
	Reason string `json:"reason"`
}

// ToolReport is what the checker found in one tool.
type ToolReport struct {
	Name string `json:"name"`
	// Runs counts the tool's runs; Inputs the distinct inputs given.
	Runs       int       `json:"runs"`
	Inputs     int       `json:"inputs"`
	DurationMs float64   `json:"durationMs"`
	Findings   []Finding `json:"findings"`
	Skipped    []Skipped `json:"skipped,omitempty"`
}

// Errors counts the report's findings of severity error.
func (r *ToolReport) Errors() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == Error {
			n++
		}
	}
	return n
}

// Report is the whole run of agentcli tool test, as -json prints it
// (schemas/tooltest-report.schema.json).
type Report struct {
	Version    int          `json:"version"`
	Seed       uint64       `json:"seed"`
	Runs       int          `json:"runs"`
	Tools      []ToolReport `json:"tools"`
	Errors     int          `json:"errors"`
	Warnings   int          `json:"warnings"`
	DurationMs float64      `json:"durationMs"`
}

// Count fills in Errors and Warnings.
func (r *Report) Count() {
	r.Errors, r.Warnings = 0, 0
	for _, t := range r.Tools {
		for _, f := range t.Findings {
			if f.Severity == Error {
				r.Errors++
			} else {
				r.Warnings++
			}
		}
	}
}

const (
	shownLines   = 3
	maxLineShown = 200
)

// didOf sums up out, its lines passed through redact.
func didOf(out *sandbox.Outcome, redact func(string) string) *Did {
	d := &Did{
		TimedOut:    out.TimedOut,
		DurationMs:  float64(out.Duration.Microseconds()) / 1000,
		StdoutBytes: out.StdoutBytes,
		StderrBytes: out.StderrBytes,
		Stdout:      endsOf([]byte(redact(string(out.Stdout)))),
		Stderr:      endsOf([]byte(redact(string(out.Stderr)))),
	}
	if out.Signal != 0 {
		d.Signal = fmt.Sprintf("%d (%s)", int(out.Signal), out.Signal)
	} else {
		exit := out.ExitCode
		d.Exit = &exit
	}
	return d
}

// cutText cuts s to at most n bytes, at a character's start, marking the cut.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// endsOf is the first and last lines of b, invalid UTF-8 shown as U+FFFD.
func endsOf(b []byte) Ends {
	text := strings.TrimRight(strings.ToValidUTF8(string(b), "\uFFFD"), "\n")
	if text == "" {
		return Ends{}
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = cutText(l, maxLineShown)
	}
	if len(lines) <= 2*shownLines {
		return Ends{First: lines}
	}
	return Ends{First: lines[:shownLines], Last: lines[len(lines)-shownLines:]}
}
