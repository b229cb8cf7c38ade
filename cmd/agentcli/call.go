package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/rs/zerolog"

	"github.com/toolhost/toolhost/host"
	"github.com/toolhost/toolhost/protocol"
)

// maxStdinArgs bounds arguments read from stdin with "-".
const maxStdinArgs = protocol.MaxInput

func cmdCall(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agentcli call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: agentcli call [flags] NAME ['JSON' | -]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var hf hostFlags
	hf.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if err := hf.check(); err != nil {
		return fail(stderr, err)
	}
	if len(pos) < 1 || len(pos) > 2 {
		return fail(stderr, usagef("call wants a tool name and at most one JSON argument, got %d arguments", len(pos)))
	}
	name, input := pos[0], json.RawMessage("{}")
	if len(pos) == 2 {
		input = json.RawMessage(pos[1])
		if pos[1] == "-" {
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

	res, err := h.Call(host.WithCaller(ctx, host.Caller{Frontend: "cli"}), name, input)
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
