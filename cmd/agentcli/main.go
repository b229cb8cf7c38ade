// Command agentcli runs the tools of a tools.json manifest safely: every
// call is an argv-only child process with a minimal environment, a
// timeout, output caps and a cgroup of its own, its input and output
// checked against JSON Schemas, and every call recorded in a hash-chained
// audit log.
//
//	agentcli -prompt TEXT [-tools FILE] ...    the agent loop (goagent's flags)
//	agentcli tools [-tools FILE] [-json]      list the vetted tools
//	agentcli call [flags] NAME ['JSON']        run one call
//	agentcli audit verify [-head HASH] [FILE]  check the audit log
//
// Run "agentcli help" for the flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/toolhost/toolhost/host"
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(host.GCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
