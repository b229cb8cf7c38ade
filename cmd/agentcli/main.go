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

	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/sandbox"
)

// needsContainment reports whether the command runs tools or says how they
// are contained: every command but help and audit verify.
func needsContainment(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "audit", "help", "-h", "-help", "--help":
		return false
	}
	return true
}

func main() {
	// An ordinary user without a cgroup of their own gets each tool
	// contained in a pid namespace: agentcli runs itself again in a user
	// namespace where it may start them (see sandbox.EnterUserNamespace).
	if needsContainment(os.Args[1:]) {
		if code, ran := sandbox.EnterUserNamespace(); ran {
			os.Exit(code)
		}
	}
	// What running tools asks of the whole process (close-on-exec of what
	// it inherited, subreaping, reaping), done here, once, before anything
	// starts a child; every launcher shares it.
	sandbox.Supervise()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(host.GCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
