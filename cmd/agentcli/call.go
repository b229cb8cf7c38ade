package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/rs/zerolog"

	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/protocol"
)

// maxStdinArgs bounds arguments read from stdin with "-".
const maxStdinArgs = protocol.MaxInput

// parseCall reads "[flags] NAME [JSON [flags]]". The word after NAME is
// always the argument, never a flag, so arguments that a model wrote
// cannot become flags (-audit=..., -workspace=/).
func parseCall(fs *flag.FlagSet, args []string) (name, arg string, err error) {
	if err := fs.Parse(args); err != nil {
		return "", "", err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return "", "", usagef("call wants a tool name")
	}
	name, rest = rest[0], rest[1:]
	if len(rest) > 0 {
		arg, rest = rest[0], rest[1:]
		if strings.HasPrefix(arg, "-") && arg != "-" {
			return "", "", usagef("the argument after the tool name must be JSON or - (for stdin), not %q; put flags before the tool name", arg)
		}
		if err := fs.Parse(rest); err != nil {
			return "", "", err
		}
		if extra := fs.Args(); len(extra) > 0 {
			return "", "", usagef("call wants a tool name and at most one JSON argument; %q is one too many", extra[0])
		}
	}
	return name, arg, nil
}

func cmdCall(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("agentcli call", "Usage: agentcli call [flags] NAME ['JSON' | -]", stderr)
	var hf hostFlags
	hf.register(fs)
	name, arg, err := parseCall(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		var ue *usageError
		if errors.As(err, &ue) {
			return fail(stderr, err)
		}
		return exitUsage
	}
	if err := hf.check(); err != nil {
		return fail(stderr, err)
	}
	input := json.RawMessage("{}")
	if arg != "" {
		input = json.RawMessage(arg)
		if arg == "-" {
			data, err := io.ReadAll(io.LimitReader(stdin, maxStdinArgs+1))
			if err != nil {
				return fail(stderr, fmt.Errorf("read arguments from stdin: %w", err))
			}
			if len(data) > maxStdinArgs {
				return fail(stderr, fmt.Errorf("arguments on stdin exceed %d bytes", maxStdinArgs))
			}
			input = data
		}
	}

	log := logger(stderr, hf.debug, zerolog.WarnLevel)
	h, alog, err := hf.open(log)
	if err != nil {
		return fail(stderr, err)
	}
	defer alog.Close()
	defer h.Close()

	res, err := h.Call(ctx, host.Request{Tool: name, Args: input, Caller: host.Caller{Frontend: "cli"}, Approver: terminalApprover(stdin, stderr)})
	if err == nil {
		// No result leaves this process before its record is written.
		err = alog.Flush()
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s\n", (&protocol.Error{Message: err.Error(), Code: protocol.CodeHostError}).JSON())
		return exitFailed
	}
	if !res.OK() {
		fmt.Fprintf(stderr, "%s\n", res.Err.JSON())
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s\n", res.Output)
	return exitOK
}
