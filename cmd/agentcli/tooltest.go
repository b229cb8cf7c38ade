package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/toolhost/toolhost/internal/audit"
	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/toolcheck"
)

const toolUsage = `Usage:
  agentcli tool test [-tools FILE] [-json] [-runs N] [-seed N] [NAME...]
        Check tools against the tool contract (all of the manifest's when no
        NAME is given). Exit status 0: no error found; 1: an error found;
        2: bad usage, or a manifest that does not load.
  agentcli tool new NAME [-lang go|python|sh] [-tools FILE]
        Write a working tool skeleton and its manifest entry.
`

func cmdTool(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, toolUsage)
		return exitUsage
	}
	switch args[0] {
	case "test":
		return cmdToolTest(ctx, args[1:], stdout, stderr)
	case "new":
		return cmdToolNew(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, toolUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "agentcli: unknown tool command %q\n\n%s", args[0], toolUsage)
	return exitUsage
}

func cmdToolTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("agentcli tool test", "Usage: agentcli tool test [flags] [NAME...]", stderr)
	var hf hostFlags
	hf.registerLaunch(fs)
	asJSON := fs.Bool("json", false, "print the report as JSON (schemas/tooltest-report.schema.json)")
	runs := fs.Int("runs", 1, "run each valid input this many times (a resident tool's once more, served resident)")
	seed := fs.Uint64("seed", 1, "seed of the generated inputs: the same seed gives the same inputs")
	maxInputs := fs.Int("max-inputs", toolcheck.DefaultMaxInputs, "most valid inputs per tool")
	template := fs.String("workspace-from", "", "a folder copied into each tool's scratch workspace (default: an empty one)")
	names, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	hf.maxConcurrent = 2 // a check runs one call at a time; one more for safety
	hf.countLeftovers = true
	switch {
	case *runs < 1:
		return fail(stderr, usagef("-runs must be at least 1, got %d", *runs))
	case *maxInputs < 1:
		return fail(stderr, usagef("-max-inputs must be at least 1, got %d", *maxInputs))
	}
	if err := hf.check(); err != nil {
		return fail(stderr, err)
	}
	if *template != "" {
		if st, err := os.Stat(*template); err != nil || !st.IsDir() {
			return fail(stderr, usagef("-workspace-from %s: not a folder", *template))
		}
	}
	m, err := manifest.Load(hf.tools)
	if err != nil {
		return fail(stderr, err)
	}
	var tools []*manifest.Tool
	var skipped []toolcheck.ToolReport
	for _, name := range names {
		t := m.Lookup(name)
		if t == nil {
			return fail(stderr, usagef("no tool %q in %s (tools: %s)", name, m.Path, strings.Join(toolNames(m), ", ")))
		}
		tools = append(tools, t)
	}
	if len(names) == 0 {
		// Unnamed, a tool that acts on the world outside (mail, payments,
		// other people's APIs) is not fed generated input.
		for _, t := range m.Tools {
			if a := t.Annotations; a != nil && a.OpenWorldHint != nil && *a.OpenWorldHint {
				skipped = append(skipped, toolcheck.ToolReport{Name: t.Name, Findings: []toolcheck.Finding{}, Skipped: []toolcheck.Skipped{{
					Check: "every check", Reason: "annotated openWorldHint: it acts outside this machine, and tool test feeds it made-up input; name it (agentcli tool test " + t.Name + ") to check it anyway"}}})
				continue
			}
			tools = append(tools, t)
		}
	}

	log := logger(stderr, hf.debug, zerolog.ErrorLevel)
	alog, err := hf.openAudit()
	if err != nil {
		return fail(stderr, err)
	}
	defer alog.Close()
	scratch, err := toolcheck.ScratchRoot()
	if err != nil {
		return fail(stderr, err)
	}
	defer os.RemoveAll(scratch)

	start := time.Now()
	rep := toolcheck.Report{Version: 1, Seed: *seed, Runs: *runs, Tools: make([]toolcheck.ToolReport, len(tools))}
	errs := make([]error, len(tools))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8) // most of a check is waiting (timeouts, SIGTERM)
	for i, t := range tools {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			rep.Tools[i], errs[i] = checkTool(ctx, hf, m, t, alog, log, scratch, *template, toolcheck.Options{
				Seed: *seed, Runs: *runs, MaxInputs: *maxInputs, MaxOutput: host.DefaultMaxOutput, MaxArgs: host.DefaultMaxArgs,
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fail(stderr, err)
	}
	if err := alog.Flush(); err != nil {
		return fail(stderr, err)
	}
	rep.DurationMs = float64(time.Since(start).Microseconds()) / 1000
	rep.Tools = append(rep.Tools, skipped...)
	rep.Count()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rep); err != nil {
			return fail(stderr, err)
		}
	} else {
		printToolReport(stdout, &rep)
	}
	switch {
	case ctx.Err() != nil:
		return exitInterrupted
	case rep.Errors > 0:
		return exitFailed
	}
	return exitOK
}

func toolNames(m *manifest.Manifest) []string {
	names := make([]string, 0, len(m.Tools))
	for _, t := range m.Tools {
		names = append(names, t.Name)
	}
	return names
}

// checkTool checks t with a host of its own, serving t alone, whose
// workspace is a fresh folder under scratch.
func checkTool(ctx context.Context, hf hostFlags, m *manifest.Manifest, t *manifest.Tool, alog *audit.Log, log zerolog.Logger, scratch, template string, o toolcheck.Options) (toolcheck.ToolReport, error) {
	dir, err := toolcheck.Scratch(scratch, t.Name, template)
	if err != nil {
		return toolcheck.ToolReport{}, fmt.Errorf("scratch workspace for %s: %w", t.Name, err)
	}
	hf.workspace = dir
	h, err := hf.newHost(m.Only(t), alog, log.With().Str("tool", t.Name).Logger())
	if err != nil {
		// The host vets the tool's program before anything runs.
		return toolcheck.Unrunnable(t, err), nil
	}
	defer h.Close()
	o.Workspace = dir
	return toolcheck.Tool(ctx, h, t, o), nil
}

// printToolReport prints rep for people.
func printToolReport(w io.Writer, rep *toolcheck.Report) {
	runs := 0
	for _, t := range rep.Tools {
		runs += t.Runs
		errs := t.Errors()
		status := "ok"
		if t.Runs == 0 && len(t.Skipped) > 0 {
			status = "not checked"
		}
		if len(t.Findings) > 0 {
			status = fmt.Sprintf("%d error(s), %d warning(s)", errs, len(t.Findings)-errs)
		}
		fmt.Fprintf(w, "%s: %s (%d runs of %d inputs, %.2f s)\n", t.Name, status, t.Runs, t.Inputs, t.DurationMs/1000)
		for _, f := range t.Findings {
			f.WriteText(w, "  ")
		}
		for _, s := range t.Skipped {
			fmt.Fprintf(w, "  not checked: %s: %s\n", host.ForTerminal(s.Check), host.ForTerminal(s.Reason))
		}
	}
	fmt.Fprintf(w, "%d tool(s), %d run(s) in %.2f s: %d error(s), %d warning(s) (inputs from -seed %d)\n",
		len(rep.Tools), runs, rep.DurationMs/1000, rep.Errors, rep.Warnings, rep.Seed)
}
