package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // the call or the check failed
	exitUsage  = 2 // bad flags, arguments or configuration
	// exitNeedsApproval ends an agent run in which tool calls were refused
	// because they needed approval and nobody could give it.
	exitNeedsApproval = 3
	exitInterrupted   = 130 // stopped by SIGINT or SIGTERM
)

const usage = `agentcli runs the tools of a tools.json manifest safely.

Usage:
  agentcli -prompt TEXT [-tools FILE] [flags]
        Run the agent loop against an OpenAI-compatible endpoint (goagent's
        flags and environment variables); the answer goes to stdout.
  agentcli mcp [-tools FILE] [-http ADDR] [flags]
        Serve the vetted tools to MCP clients over stdio (or streamable HTTP).
  agentcli mcp config [-tools FILE] [-http ADDR]
        Print client configuration (mcpServers JSON, VS Code mcp.json).
  agentcli tools [-tools FILE] [-json]
        List the vetted tools.
  agentcli call [flags] NAME ['JSON' | -]
        Run one call. The result goes to stdout (exit 0); a failure goes to
        stderr as {"error":"...","code":"..."} (exit 1). JSON defaults to {};
        "-" reads it from stdin.
  agentcli tool test [-tools FILE] [-json] [-runs N] [-seed N] [NAME...]
        Check tools against the tool contract with inputs made from their
        schemas; exit 1 when an error is found.
  agentcli tool new NAME [-lang go|python|sh]
        Write a working tool skeleton, its manifest entry and a test.
  agentcli audit verify [-head HASH] [FILE]
        Check the audit log's hash chain; FILE defaults to the log in use.
  agentcli security audit [-tools F] [-json] [-fix]
        Report the setup's footguns (permissions, policy, sandbox levels,
        secrets, MCP auth); exit 1 while a critical one remains. -fix
        tightens permissions, nothing else.

Run "agentcli COMMAND -h" for a command's flags, "agentcli -h" for the
agent loop's (as goagent's agentcli -h prints them), "agentcli help" for
this list.
`

// run is the whole program: main only wires it to the process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "tools":
		return cmdTools(rest, stdout, stderr)
	case "call":
		return cmdCall(ctx, rest, stdin, stdout, stderr)
	case "audit":
		return cmdAudit(rest, stdout, stderr)
	case "mcp":
		return cmdMCP(ctx, rest, stdin, stdout, stderr)
	case "security":
		return cmdSecurity(rest, stdout, stderr)
	case "tool":
		return cmdTool(ctx, rest, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if strings.HasPrefix(cmd, "-") {
		return runChat(ctx, args, stdin, stdout, stderr)
	}
	fmt.Fprintf(stderr, "agentcli: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

// parse parses args with fs, allowing flags after positional arguments
// (agentcli call NAME '{}' -tools x.json). Everything after "--" is
// positional.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if args = fs.Args(); len(args) == 0 {
			return append(positional, tail...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// newFlagSet is a subcommand's flag set: errors and -h go to stderr,
// with usage (the lines before "Flags:") above the flags.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags is parse for a subcommand: when it fails, ok is false and
// code is the exit status, 0 for -h and 2 for a bad flag (the flag
// package has said why on the flag set's output).
func parseFlags(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	pos, err := parse(fs, args)
	switch {
	case err == nil:
		return pos, exitOK, true
	case errors.Is(err, flag.ErrHelp):
		return nil, exitOK, false
	}
	return nil, exitUsage, false
}

// usageError reports a mistake in how agentcli was called.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// fail prints err and returns the exit status it calls for.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "agentcli: %v\n", err)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}
