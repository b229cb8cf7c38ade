package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/toolhost/toolhost/internal/manifest"
)

// toolInfo is one tool in "agentcli tools -json".
type toolInfo struct {
	Name         string                `json:"name"`
	Description  string                `json:"description,omitempty"`
	InputSchema  json.RawMessage       `json:"inputSchema"`
	OutputSchema json.RawMessage       `json:"outputSchema,omitempty"`
	Annotations  *manifest.Annotations `json:"annotations,omitempty"`
	Command      []string              `json:"command"`
	Program      string                `json:"program"`
	SHA256       string                `json:"sha256,omitempty"`
	TimeoutSec   float64               `json:"timeoutSec,omitempty"`
	Env          []string              `json:"envPassthrough,omitempty"`
	Sandbox      manifest.Sandbox      `json:"sandbox"`
	// Resident is the tool's resident settings, defaults filled in;
	// absent for a tool that runs a process per call.
	Resident *manifest.Resident `json:"resident,omitempty"`
}

func cmdTools(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agentcli tools", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tools := fs.String("tools", "tools.json", "the tools manifest")
	asJSON := fs.Bool("json", false, "print the tools as JSON")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return fail(stderr, usagef("tools takes no arguments, got %q", pos))
	}
	m, err := manifest.Load(*tools)
	if err != nil {
		return fail(stderr, err)
	}
	if *asJSON {
		list := make([]toolInfo, 0, len(m.Tools))
		for _, t := range m.Tools {
			list = append(list, toolInfo{
				Name: t.Name, Description: t.Description, InputSchema: t.InputSchema,
				OutputSchema: t.OutputSchema, Annotations: t.Annotations, Command: t.Command,
				Program: t.Program.Path, SHA256: t.Program.SHA256, TimeoutSec: t.Timeout.Seconds(),
				Env: t.EnvPassthrough, Sandbox: t.Sandbox, Resident: t.Resident,
			})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(list); err != nil {
			return fail(stderr, err)
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSANDBOX\tRUNS\tDESCRIPTION")
	for _, t := range m.Tools {
		desc, _, _ := strings.Cut(t.Description, "\n")
		if len(desc) > 80 {
			desc = desc[:77] + "..."
		}
		runs := "per-call"
		if t.Resident != nil {
			runs = "resident"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Sandbox.Level, runs, desc)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\n%d tools vetted from %s\n%s\n", len(m.Tools), m.Path, containmentLine())
	return exitOK
}
