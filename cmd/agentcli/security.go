package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"text/tabwriter"

	"github.com/toolhost/toolhost/internal/sandbox"
	"github.com/toolhost/toolhost/internal/secaudit"
)

const securityUsage = "agentcli security audit [-tools F] [-policy F] [-audit F] [-http ADDR [-no-auth]] [-token-file F] [-jwt-secret-file F] [-jwt-public-key F] [-json] [-fix]"

const securityHelp = `Report the footguns of a setup, one line per finding (severity, check id,
subject, what was found, the fix), worst first, then a summary line.
-fix tightens permissions and nothing else (chmod go-w on programs, their
folders, the manifest and the policy; 0700 on the audit log's folder, 0600
on the log), then audits again. Exit status: 0 when no critical finding
remains, 1 when one does, 2 for usage errors.

Flags:`

// cmdSecurity runs "agentcli security audit": exit status 0 when no critical
// finding remains, 1 when one does, 2 for usage errors.
func cmdSecurity(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "audit" {
		return fail(stderr, usagef("usage: %s", securityUsage))
	}
	fs := flag.NewFlagSet("agentcli security audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\n%s\n", securityUsage, securityHelp)
		fs.PrintDefaults()
	}
	var o secaudit.Options
	fs.StringVar(&o.Manifest, "tools", "tools.json", "the tools manifest")
	fs.StringVar(&o.Policy, "policy", "", "the policy file the host runs with (-policy), if any")
	fs.StringVar(&o.Audit, "audit", "", "the audit log (default "+defaultAuditPath()+")")
	fs.StringVar(&o.HTTP, "http", "", "the address \"agentcli mcp -http\" serves, if any")
	fs.BoolVar(&o.NoAuth, "no-auth", false, "the -no-auth of \"agentcli mcp\" (loopback without a token)")
	fs.StringVar(&o.TokenFile, "token-file", "", "the -token-file of \"agentcli mcp\" (auth is also configured by env AGENTCLI_MCP_TOKEN)")
	fs.StringVar(&o.JWTSecretFile, "jwt-secret-file", "", "the -jwt-secret-file of \"agentcli mcp\" (or env AGENTCLI_MCP_JWT_SECRET)")
	fs.StringVar(&o.JWTPublicKey, "jwt-public-key", "", "the -jwt-public-key of \"agentcli mcp\"")
	asJSON := fs.Bool("json", false, "print the report as JSON (schemas/security-audit.schema.json)")
	fix := fs.Bool("fix", false, "tighten permissions (chmod, nothing else), then audit again")
	pos, code, ok := parseFlags(fs, args[1:])
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return fail(stderr, usagef("security audit takes no arguments, got %q", pos))
	}
	if o.HTTP != "" {
		if _, _, err := net.SplitHostPort(o.HTTP); err != nil {
			return fail(stderr, usagef("-http %q: %v", o.HTTP, err))
		}
	}
	o.Getenv = os.Getenv
	o.ContainmentID, o.Containment, o.ContainmentErr = containment()
	o.MountsErr = sandbox.CheckPrivateMounts()

	var r *secaudit.Report
	var err error
	if *fix {
		r, err = secaudit.RunFix(o)
	} else {
		r, err = secaudit.Run(o)
	}
	if r == nil {
		return fail(stderr, err)
	}
	if err != nil {
		// Some permissions could not be changed: their findings remain.
		fmt.Fprintf(stderr, "agentcli: security audit -fix: %v\n", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fail(stderr, err)
		}
	} else {
		printSecurityReport(stdout, r, *fix)
	}
	if r.Critical() {
		return exitFailed
	}
	return exitOK
}

// printSecurityReport writes one line per change made, then one line per
// finding that remains, worst first, then a summary line.
func printSecurityReport(w io.Writer, r *secaudit.Report, fixed bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range r.Fixed {
		fmt.Fprintf(tw, "fixed\t%s\t%s: mode %s -> %s\n", c.ID, c.Path, c.From, c.To)
	}
	fixable := 0
	for _, f := range r.Findings {
		if f.Fixed {
			continue
		}
		if f.Fixable {
			fixable++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s: %s; fix: %s\n", f.Severity, f.ID, f.Subject, f.Found, f.Fix)
	}
	tw.Flush()
	s := r.Summary
	fmt.Fprintf(w, "%s: %d critical, %d warn, %d info", r.Manifest, s.Critical, s.Warn, s.Info)
	if r.Containment != "" {
		fmt.Fprintf(w, " (containment: %s)", r.Containment)
	}
	if fixed {
		fmt.Fprintf(w, "; %d fixed by -fix", len(r.Fixed))
	} else if fixable > 0 {
		fmt.Fprintf(w, "; %d fixable with -fix", fixable)
	}
	fmt.Fprintln(w)
}
