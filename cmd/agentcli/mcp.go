package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/toolhost/toolhost/internal/hideproc"
	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/mcpserve"
	"github.com/toolhost/toolhost/internal/netaddr"
)

// mcpFlags are the flags of "agentcli mcp".
type mcpFlags struct {
	host                      hostFlags
	httpAddr                  string
	tokenFile                 string
	jwtSecretFile, jwtKeyFile string
	jwtIssuer, jwtAudience    string
	origins                   []string
	rate                      float64
	burst, maxInFlight        int
	maxBody                   int64
	watch                     bool
	noAuth                    bool
	// tokenNote says where the token made for HTTP without auth is.
	tokenNote string
}

func (f *mcpFlags) register(fs *flag.FlagSet) {
	f.host.register(fs)
	fs.StringVar(&f.httpAddr, "http", "", "serve streamable HTTP on ADDR (e.g. 127.0.0.1:8080) instead of stdio")
	fs.StringVar(&f.tokenFile, "token-file", "", "bearer tokens, one per line: \"ID TOKEN\" or \"TOKEN\" (also env AGENTCLI_MCP_TOKEN)")
	fs.StringVar(&f.jwtSecretFile, "jwt-secret-file", "", "accept HS256 JWTs signed with the secret in this file (also env AGENTCLI_MCP_JWT_SECRET)")
	fs.StringVar(&f.jwtKeyFile, "jwt-public-key", "", "accept RS256 JWTs signed for this PEM public key")
	fs.StringVar(&f.jwtIssuer, "jwt-issuer", "", "required JWT issuer (iss)")
	fs.StringVar(&f.jwtAudience, "jwt-audience", "", "required JWT audience (aud)")
	fs.Func("allow-origin", "a browser origin allowed besides loopback ones, e.g. https://app.example.com (repeatable)", func(s string) error {
		f.origins = append(f.origins, s)
		return nil
	})
	fs.Float64Var(&f.rate, "rate", mcpserve.DefaultRate, "requests per second per client (HTTP)")
	fs.IntVar(&f.burst, "burst", mcpserve.DefaultBurst, "burst of requests per client (HTTP)")
	fs.IntVar(&f.maxInFlight, "max-inflight", mcpserve.DefaultMaxInFlight, "requests served at once (HTTP)")
	fs.Int64Var(&f.maxBody, "max-body", mcpserve.DefaultMaxBody, "largest request body in bytes (HTTP)")
	fs.BoolVar(&f.watch, "watch", true, "reload the manifest when it changes")
	fs.BoolVar(&f.noAuth, "no-auth", false, "with -http on loopback: serve without a token (every local process, the server's own tools included, may then call tools)")
}

// localTokenPath is where "agentcli mcp -http" keeps the token it makes
// when no auth is configured: in toolhost's configuration folder, which
// the floor keeps from tools.
func localTokenPath() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration folder for the bearer token (set XDG_CONFIG_HOME, or give -token-file): %w", err)
	}
	return filepath.Join(d, "toolhost", "mcp-token"), nil
}

// httpOptions reads the credentials named by the flags and environment.
func (f *mcpFlags) httpOptions(getenv func(string) string) (mcpserve.HTTPOptions, error) {
	o := mcpserve.HTTPOptions{AllowOrigins: f.origins, Rate: f.rate, Burst: f.burst, MaxBody: f.maxBody, MaxInFlight: f.maxInFlight}
	if f.tokenFile != "" {
		tokens, err := mcpserve.LoadTokens(f.tokenFile)
		if err != nil {
			return o, fmt.Errorf("-token-file: %w", err)
		}
		o.Tokens = tokens
	}
	if t := strings.TrimSpace(getenv("AGENTCLI_MCP_TOKEN")); t != "" {
		o.Tokens = append(o.Tokens, mcpserve.Token{ID: "env", Secret: t})
	}
	secret := []byte(strings.TrimSpace(getenv("AGENTCLI_MCP_JWT_SECRET")))
	// Tools running as this user could read them in /proc/PID/environ.
	if err := hideproc.Hide(strings.TrimSpace(getenv("AGENTCLI_MCP_TOKEN")), string(secret)); err != nil {
		fmt.Fprintf(os.Stderr, "warning: the credentials given in the environment stay readable in agentcli's /proc/PID/environ, where tools running as your user can find them: %v\n", err)
	}
	if f.jwtSecretFile != "" {
		b, err := os.ReadFile(f.jwtSecretFile)
		if err != nil {
			return o, fmt.Errorf("-jwt-secret-file: %w", err)
		}
		secret = []byte(strings.TrimSpace(string(b)))
	}
	var key []byte
	if f.jwtKeyFile != "" {
		b, err := os.ReadFile(f.jwtKeyFile)
		if err != nil {
			return o, fmt.Errorf("-jwt-public-key: %w", err)
		}
		key = b
	}
	if len(secret) > 0 || len(key) > 0 {
		o.JWT = &mcpserve.JWTConfig{Secret: secret, PublicKey: key, Issuer: f.jwtIssuer, Audience: f.jwtAudience}
	}
	return o, nil
}

func cmdMCP(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "config" {
		return cmdMCPConfig(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("agentcli mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f mcpFlags
	f.register(fs)
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return fail(stderr, usagef("mcp takes no arguments, got %q (did you mean \"agentcli mcp config\"?)", pos))
	}
	if err := f.host.check(); err != nil {
		return fail(stderr, err)
	}
	httpOpts, err := f.httpOptions(os.Getenv)
	if err != nil {
		return fail(stderr, err)
	}
	if f.noAuth && (f.httpAddr == "" || !netaddr.IsLoopback(f.httpAddr)) {
		return fail(stderr, usagef("-no-auth is for -http on a loopback address only"))
	}
	if f.httpAddr != "" && netaddr.IsLoopback(f.httpAddr) && !f.noAuth && len(httpOpts.Tokens) == 0 && httpOpts.JWT == nil {
		// Even on loopback: another local process, or a tool of this
		// server, could otherwise call tools and answer approvals. (Off
		// loopback, auth must be configured: CheckListen refuses.)
		path, err := localTokenPath()
		if err != nil {
			return fail(stderr, err)
		}
		tokens, created, err := mcpserve.LocalToken(path)
		if err != nil {
			return fail(stderr, fmt.Errorf("the bearer token for HTTP: %w", err))
		}
		httpOpts.Tokens = tokens
		f.tokenNote = "; clients send the bearer token in " + path
		if created {
			f.tokenNote += " (made now)"
		}
	}
	if f.httpAddr != "" {
		if err := mcpserve.CheckListen(f.httpAddr, httpOpts); err != nil {
			return fail(stderr, err)
		}
	}
	// A client that goes away leaves a broken pipe on stdout: writing to
	// it must fail rather than kill the process before the audit records
	// of the calls it was running are written. (A signal with a handler is
	// reset at exec, so tools still get the default.)
	sigpipe := make(chan os.Signal, 1)
	signal.Notify(sigpipe, syscall.SIGPIPE)
	defer signal.Stop(sigpipe)
	log := logger(stderr, f.host.debug, zerolog.InfoLevel)
	// Taken before the manifest is read: an edit made while it loads is
	// then seen by the watcher.
	since := manifest.VersionOf(f.host.tools)
	h, alog, err := f.host.open(log)
	if err != nil {
		return fail(stderr, err)
	}
	defer alog.Close()
	defer h.Close()
	// However the server ends, running tools die at once: a client that
	// went away, or SIGTERM, must not wait on a grace period.
	defer h.Shutdown()

	srv := mcpserve.New(mcpserve.Options{Host: h, Name: "toolhost", Version: version, Logger: log})
	if f.watch {
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		go manifest.Watch(wctx, f.host.tools, since, 0, func(m *manifest.Manifest, err error) {
			if err != nil {
				log.Error().Err(err).Str("manifest", f.host.tools).Msg("reload refused; still serving the previous tools")
				return
			}
			srv.Reload(m)
			log.Info().Str("manifest", f.host.tools).Int("tools", len(m.Tools)).Msg("reloaded")
		})
	}
	containment, cerr := h.Containment()
	if cerr != nil {
		containment = "UNAVAILABLE: " + cerr.Error()
	}
	where := "stdio"
	if f.httpAddr != "" {
		where = "http://" + f.httpAddr + "/mcp"
	}
	// The banner says the server is up: over HTTP, once it listens.
	banner := func(where string) {
		fmt.Fprintf(stderr, "agentcli: serving %d tools from %s over MCP %s (workspace %s, audit %s, containment %s)%s; client configuration: agentcli mcp config -tools %s\n",
			len(h.Manifest().Tools), h.Manifest().Path, where, h.Workspace(), alog.Path(), containment, f.tokenNote, f.host.tools)
		if f.noAuth {
			fmt.Fprintln(stderr, "agentcli: WARNING: -no-auth: every local process, the server's own tools included, may call tools and answer approvals")
		}
	}
	// The library's plain-text lines (the log package's) go through the
	// JSON logger too.
	stdlog.SetFlags(0)
	stdlog.SetOutput(mcpserve.LogWriter(log))

	if f, ok := stdin.(*os.File); ok && where == "stdio" && isatty.IsTerminal(f.Fd()) {
		fmt.Fprintln(stderr, `agentcli: stdin is a terminal: an MCP client starts this command itself (see "agentcli mcp config"); to try it by hand, paste JSON-RPC messages one per line, e.g. {"jsonrpc":"2.0","id":1,"method":"tools/list"}; Ctrl-D or Ctrl-C stops`)
	}
	if f.httpAddr != "" {
		httpOpts.Ready = func(addr string) { banner("http://" + addr + "/mcp") }
		err = srv.ServeHTTP(ctx, f.httpAddr, httpOpts)
	} else {
		banner(where)
		if f, ok := stdin.(*os.File); ok {
			var restore func()
			stdin, restore = pollable(f)
			defer restore()
		}
		err = srv.ServeStdio(ctx, stdin, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "agentcli: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// cmdMCPConfig prints client configuration for this binary and manifest.
func cmdMCPConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agentcli mcp config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tools := fs.String("tools", "tools.json", "the tools manifest")
	workspace := fs.String("workspace", ".", "the folder tools run in")
	httpAddr := fs.String("http", "", "configure clients for streamable HTTP at ADDR instead of stdio")
	name := fs.String("name", "toolhost", "the server's name in the client configuration")
	bearer := fs.Bool("bearer", false, "with -http: send a bearer token (VS Code asks for it; desktop clients get a placeholder to replace)")
	if _, code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *bearer && *httpAddr == "" {
		return fail(stderr, usagef("-bearer needs -http: stdio needs no token"))
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return fail(stderr, err)
	}
	manifestPath, err1 := filepath.Abs(*tools)
	ws, err2 := filepath.Abs(*workspace)
	if err := errors.Join(err1, err2); err != nil {
		return fail(stderr, err)
	}
	if _, err := os.Stat(manifestPath); err != nil {
		return fail(stderr, fmt.Errorf("-tools: %w", err))
	}
	args2 := []string{"mcp", "-tools", manifestPath, "-workspace", ws}
	var desktop, vscode map[string]any
	if *httpAddr != "" {
		url := "http://" + *httpAddr + "/mcp"
		d := map[string]any{"url": url}
		v := map[string]any{"type": "http", "url": url}
		vscode = map[string]any{"servers": map[string]any{*name: v}}
		if *bearer {
			d["headers"] = map[string]string{"Authorization": "Bearer REPLACE_WITH_TOKEN"}
			v["headers"] = map[string]string{"Authorization": "Bearer ${input:" + *name + "-token}"}
			vscode["inputs"] = []map[string]any{{"type": "promptString", "id": *name + "-token",
				"description": "bearer token for " + *name, "password": true}}
		}
		desktop = map[string]any{"mcpServers": map[string]any{*name: d}}
	} else {
		desktop = map[string]any{"mcpServers": map[string]any{*name: map[string]any{"command": exe, "args": args2}}}
		vscode = map[string]any{"servers": map[string]any{*name: map[string]any{"type": "stdio", "command": exe, "args": args2}}}
	}
	d, _ := json.MarshalIndent(desktop, "", "  ")
	v, _ := json.MarshalIndent(vscode, "", "  ")
	fmt.Fprintf(stdout, "Desktop clients (Claude Desktop, Cursor, ...): merge into their mcpServers configuration:\n%s\n\nVS Code: .vscode/mcp.json:\n%s\n\nFor the user running it here, %s\n", d, v, containmentLine())
	return exitOK
}
