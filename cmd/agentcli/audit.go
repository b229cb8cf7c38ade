package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/toolhost/toolhost/internal/audit"
)

func cmdAudit(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		return fail(stderr, usagef("usage: agentcli audit verify [-head HASH] [FILE]"))
	}
	fs := flag.NewFlagSet("agentcli audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	head := fs.String("head", "", "a hash recorded earlier that the log must still contain")
	pos, code, ok := parseFlags(fs, args[1:])
	if !ok {
		return code
	}
	if len(pos) > 1 {
		return fail(stderr, usagef("audit verify takes at most one file, got %q", pos))
	}
	path := ""
	var err error
	if len(pos) == 1 {
		path = pos[0]
	} else if path, err = audit.DefaultPath(); err != nil {
		return fail(stderr, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return fail(stderr, err)
	}
	defer f.Close()
	rep, err := audit.Verify(f, audit.VerifyOptions{Head: *head})
	if err != nil {
		var ve *audit.VerifyError
		if errors.As(err, &ve) {
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
			fmt.Fprintf(stderr, "%s: FAILED after %d good records\n", path, rep.Records)
			return exitFailed
		}
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "%s: ok, %d records, head %s\n", path, rep.Records, rep.Head)
	return exitOK
}
