package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"
	openai "github.com/sashabaranov/go-openai"

	"github.com/toolhost/toolhost/internal/audit"
	"github.com/toolhost/toolhost/internal/chat"
	"github.com/toolhost/toolhost/internal/hideproc"
	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/manifest"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "v0.0.0-dev"

// runChat is the agent loop: agentcli -prompt "..." with goagent's flags.
func runChat(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agentcli", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f chatFlags
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: agentcli -prompt TEXT [flags]  (goagent-compatible agent loop)\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), "\nThe other commands (mcp, tools, call, tool, audit, security): agentcli help\n")
	}
	// -h or --help anywhere, even where a flag's value goes (-prompt -h),
	// is a request for help, as in goagent: it never reaches the model.
	if slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "--help" || a == "-help" }) {
		fs.SetOutput(stdout)
		fs.Usage()
		return exitOK
	}
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if len(pos) > 0 {
		return fail(stderr, usagef("unexpected argument %q (the prompt goes in -prompt)", pos[0]))
	}
	if f.version {
		fmt.Fprintf(stdout, "agentcli version %s (commit %s, built %s)\n", version, buildSetting("vcs.revision", 7), buildSetting("vcs.time", 0))
		return exitOK
	}
	cfg, err := f.resolve(os.Getenv)
	if err != nil {
		return fail(stderr, err)
	}
	prep, err := f.resolvePrep(cfg, os.Getenv)
	if err != nil {
		return fail(stderr, err)
	}
	if !f.quiet {
		for _, w := range cfg.warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
	}
	if f.state.dryRun {
		if f.prompt == "" && f.promptFile == "" && f.loadMessages == "" {
			return fail(stderr, usagef("-prompt is required (or -prompt-file, or -load-messages)"))
		}
		if err := f.state.printDryRun(stdout, cfg.model, cfg.baseURL, f.tools); err != nil {
			return fail(stderr, err)
		}
		return exitOK
	}
	if f.printConfig {
		return printConfig(stdout, stderr, &f, cfg, prep)
	}
	if f.capabilities {
		return printCapabilities(stdout, stderr, f.tools)
	}

	messages, err := f.messages(stdin)
	if err != nil {
		return fail(stderr, err)
	}
	if f.debug {
		// goagent's first -debug line.
		fmt.Fprintf(stderr, "effective timeouts: http-timeout=%s source=%s; prep-http-timeout=%s source=%s; tool-timeout=%s source=%s; timeout=%s source=%s\n",
			cfg.httpTimeout, cfg.sourceWord("httpTimeout"), prep.httpTimeout, prep.sources["httpTimeout"],
			cfg.toolTimeout, cfg.sourceWord("toolTimeout"), time.Duration(f.timeout), cfg.sourceWord("timeout"))
	}
	if f.prep.dryRn {
		return printPrepSeed(stdout, stderr, messages)
	}
	hf := f.host
	hf.tools, hf.toolTimeout, hf.debug = f.tools, cfg.toolTimeout, f.debug
	hf.redact = append(hf.redact, goagentRedact(os.Getenv("GOAGENT_REDACT"))...)
	hf.toolPath = callerPath(os.Getenv("PATH"))
	if err := hf.check(); err != nil {
		return fail(stderr, err)
	}
	log := logger(stderr, f.debug, zerolog.WarnLevel)
	if cfg.apiKey != "" {
		// The key is hidden from agentcli's command line and environment
		// as /proc shows them, where tools could read it (the flag's
		// value shares the command line's memory: it is copied first).
		cfg.apiKey = strings.Clone(cfg.apiKey)
		if err := hideproc.Hide(cfg.apiKey); err != nil {
			fmt.Fprintf(stderr, "warning: the API key stays readable in agentcli's /proc entries, where tools running as your user can find it (results still redact it): %v\n", err)
		}
		// A tool may still find the key (in a file, say): it is
		// redacted from results, errors, logs and the audit log like any
		// secret a tool is given.
		hf.redact = append(hf.redact, regexp.MustCompile(regexp.QuoteMeta(cfg.apiKey)))
	}
	if prep.enabled && prep.apiKey != "" && prep.apiKey != cfg.apiKey {
		prep.apiKey = strings.Clone(prep.apiKey)
		if err := hideproc.Hide(prep.apiKey); err != nil {
			fmt.Fprintf(stderr, "warning: the pre-stage's API key stays readable in agentcli's /proc entries, where tools running as your user can find it (results still redact it): %v\n", err)
		}
		hf.redact = append(hf.redact, regexp.MustCompile(regexp.QuoteMeta(prep.apiKey)))
	}
	h, alog, err := hf.openChat(log)
	var le *manifest.LoadError
	switch {
	case err != nil && (errors.As(err, &le) || errors.Is(err, iofs.ErrNotExist)):
		// goagent's status for a manifest it cannot load is 1.
		fmt.Fprintf(stderr, "error: tools manifest: %s\n", host.ForTerminal(err.Error()))
		return exitFailed
	case err != nil:
		return fail(stderr, err)
	}
	defer alog.Close()
	defer h.Close()

	// newClient is a chat client for a server, its key and its wait and
	// retry policy.
	newClient := func(baseURL, key string, timeout time.Duration, retries int, backoff time.Duration) *openai.Client {
		transport := &chat.Transport{
			Client:     &http.Client{},
			Timeout:    timeout,
			Retries:    retries,
			Backoff:    backoff,
			MaxBackoff: max(backoff*16, 2*time.Second),
		}
		if f.debug {
			transport.Debug = stderr
			transport.Redact = h.Redact // the keys are among its secrets
		}
		oc := openai.DefaultConfig(key)
		oc.BaseURL = baseURL
		oc.HTTPClient = transport
		return openai.NewClientWithConfig(oc)
	}

	// Progress lines only with -verbose: by default goagent writes nothing
	// but the answer.
	var progress io.Writer
	if f.verbose && !f.quiet {
		progress = stderr
	}
	approver := terminalApprover(stdin, stderr)
	// Before the first request, the pre-stage's included.
	if approver == nil {
		// Never silent, -quiet or not: every call of these would fail.
		if names, why := h.MayAsk(); len(names) > 0 {
			fmt.Fprintf(stderr, "warning: %s\n", host.ForTerminal(noApproverWarning(names, why)))
		}
	}
	if prep.enabled && f.loadMessages == "" {
		var code int
		if messages, code = f.runPrep(ctx, prep, hf, h, approver, newClient, messages, progress, stdout, stderr); code != exitOK {
			return code
		}
	}
	// goagent's -print-messages and -save-messages: the messages the loop
	// starts with, before the first request.
	if f.printMessages {
		if b, err := chat.MarshalMessages(messages, f.loadedChannels); err == nil {
			fmt.Fprintf(stderr, "%s\n", b)
		}
	}
	if f.saveMessages != "" {
		if err := chat.SaveMessages(f.saveMessages, messages, f.loadedChannels); err != nil {
			fmt.Fprintf(stderr, "error: -save-messages: %v\n", err)
			return exitUsage
		}
	}
	if f.maxSteps < 1 {
		// goagent's loop runs no step at all, and says so.
		fmt.Fprintf(stderr, "info: %s\n", (&chat.StepLimitError{Steps: f.maxSteps}).Error())
		return exitFailed
	}
	res, runErr := chat.Run(ctx, chat.Options{
		Client: newClient(cfg.baseURL, cfg.apiKey, cfg.httpTimeout, cfg.retries, cfg.retryBackoff), Host: h, Approver: approver, Model: cfg.model,
		Temperature: cfg.temperature, TopP: cfg.topP, MaxSteps: f.maxSteps, Stream: f.stream,
		Parallel: hf.maxConcurrent, Progress: progress, Verbose: f.verbose, Warn: stderr,
		Channels: f.loadedChannels, OnChannel: f.channelPrinter(stdout, stderr),
	}, messages)
	answer, transcript := res.Answer, res.Messages

	code = exitOK
	if f.saveTranscript != "" {
		if err := chat.SaveMessages(f.saveTranscript, transcript, res.Channels); err != nil {
			fmt.Fprintf(stderr, "error: -save-transcript: %v\n", err)
			code = exitUsage
		}
	}
	if err := alog.Flush(); err != nil {
		fmt.Fprintf(stderr, "error: audit log: %v\n", err)
		return exitFailed
	}
	var stepErr *chat.StepLimitError
	switch {
	case runErr == nil:
		switch f.routes["final"] {
		case "stderr":
			fmt.Fprintln(stderr, answer)
		case "omit":
		default:
			fmt.Fprintln(stdout, answer)
		}
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "error: interrupted; running tools were stopped")
		return exitInterrupted
	case errors.As(runErr, &stepErr):
		fmt.Fprintf(stderr, "info: %s\n", host.ForTerminal(runErr.Error()))
		code = exitFailed
	default:
		fmt.Fprintf(stderr, "error: %s\n", host.ForTerminal(runErr.Error()))
		code = exitFailed
	}
	if len(res.NeedsApproval) > 0 {
		// The model answered (or failed) without the tools it asked for.
		fmt.Fprintf(stderr, "error: calls of %s were refused: they need approval and nobody could give it here (pre-approve with -approve %s, add a policy rule that allows them, or use -mode bypass)\n",
			host.ForTerminal(strings.Join(res.NeedsApproval, ", ")), host.ForTerminal(strings.Join(res.NeedsApproval, ",")))
		return exitNeedsApproval
	}
	return code
}

// channelPrinter shows what the model says on channels other than the
// final one, as goagent does: only with -verbose, each to its route
// (critic and confidence as -channel-route says; every other channel,
// and those by default, to stderr), one trimmed text per message.
func (f *chatFlags) channelPrinter(stdout, stderr io.Writer) func(channel, text string) {
	if !f.verbose {
		return nil
	}
	return func(channel, text string) {
		w := stderr
		switch f.routes[channel] {
		case "stdout":
			w = stdout
		case "omit":
			return
		}
		fmt.Fprintln(w, host.ForTerminal(strings.TrimSpace(text)))
	}
}

// callerPath is the PATH the agent loop's tools get: the caller's, as
// goagent passes it (so a tool that runs programs finds the caller's),
// without the entries that would make a tool run whatever is in its
// working folder: relative ones ("", ".", "bin"). "" (the host's
// default) when none is left.
func callerPath(path string) string {
	var keep []string
	for _, dir := range filepath.SplitList(path) {
		if dir = filepath.Clean(dir); filepath.IsAbs(dir) && !slices.Contains(keep, dir) {
			keep = append(keep, dir)
		}
	}
	return strings.Join(keep, string(filepath.ListSeparator))
}

// noApproverWarning says, before the first request, which offered tools
// the policy may ask about when nobody can answer, and how to let them run.
func noApproverWarning(names, why []string) string {
	detail := names[0] + " (" + why[0] + ")"
	if len(names) > 1 {
		detail += " and " + strings.Join(names[1:], ", ")
	}
	return fmt.Sprintf("nobody can approve tool calls here (stdin is not a terminal), and the policy asks before running %s: those calls will fail NEEDS_APPROVAL. To let them run, pre-approve them with -approve %s, add a policy rule that allows them, or use -mode bypass",
		detail, strings.Join(names, ","))
}

// messages builds the conversation from the prompt flags or a saved one.
func (f *chatFlags) messages(stdin io.Reader) ([]openai.ChatCompletionMessage, error) {
	readStdin := sync1(func() ([]byte, error) { return io.ReadAll(io.LimitReader(stdin, chat.MaxTranscript)) })
	switch {
	case f.prompt != "" && f.promptFile != "":
		return nil, usagef("-prompt and -prompt-file are mutually exclusive")
	case f.systemFile != "" && f.set["system"] && f.system != defaultSystem:
		return nil, usagef("-system and -system-file are mutually exclusive")
	}
	var msgs []openai.ChatCompletionMessage
	if f.loadMessages != "" {
		loaded, channels, err := chat.LoadMessages(f.loadMessages)
		if err != nil {
			return nil, fmt.Errorf("-load-messages: %w", err)
		}
		msgs, f.loadedChannels = loaded, channels
	} else {
		system := f.system
		if f.systemFile != "" {
			s, err := readMaybeFile(f.systemFile, readStdin)
			if err != nil {
				return nil, fmt.Errorf("-system-file: %w", err)
			}
			system = s
		}
		if strings.TrimSpace(system) != "" {
			msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Content: system})
		}
		for _, path := range f.developerFiles {
			s, err := readMaybeFile(path, readStdin)
			if err != nil {
				return nil, fmt.Errorf("-developer-file: %w", err)
			}
			if strings.TrimSpace(s) != "" {
				msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleDeveloper, Content: s})
			}
		}
		for _, s := range f.developer {
			if strings.TrimSpace(s) != "" {
				msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleDeveloper, Content: s})
			}
		}
	}
	prompt := f.prompt
	if f.promptFile != "" {
		s, err := readMaybeFile(f.promptFile, readStdin)
		if err != nil {
			return nil, fmt.Errorf("-prompt-file: %w", err)
		}
		prompt = s
	}
	if prompt != "" {
		msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser, Content: prompt})
	} else if f.loadMessages == "" {
		return nil, usagef("-prompt is required (or -prompt-file, or -load-messages)")
	}
	if f.prep.systemFile != "" && bool(f.prep.enabled) && f.loadMessages == "" {
		s, err := readMaybeFile(f.prep.systemFile, readStdin)
		if err != nil {
			return nil, fmt.Errorf("-prep-system-file: %w", err)
		}
		f.prep.system = s
	}
	return msgs, chat.Validate(msgs)
}

// sync1 makes fn run at most once: stdin can be read only once, by
// whichever of the -*-file flags names it first.
func sync1(fn func() ([]byte, error)) func() ([]byte, error) {
	var done bool
	var data []byte
	var err error
	return func() ([]byte, error) {
		if done {
			return nil, errors.New("stdin is already used by another -*-file flag")
		}
		done = true
		data, err = fn()
		return data, err
	}
}

// openChat is open for the agent loop: without -tools, a host with no
// tools.
func (f *hostFlags) openChat(log zerolog.Logger) (*host.Host, *audit.Log, error) {
	if f.tools != "" {
		return f.open(log)
	}
	return f.openWith(manifest.Empty(), log)
}

func printConfig(stdout, stderr io.Writer, f *chatFlags, c *chatConfig, p *prepConfig) int {
	var temperature any = c.temperatureNote
	if c.temperature != nil {
		temperature = *c.temperature
	}
	var topP any = "(omitted)"
	if c.topP != nil {
		topP = *c.topP
	}
	// The *Source keys speak goagent's words (flag, env, default), for
	// scripts written against it; "sources" says exactly where from.
	src := c.sourceWord
	out := map[string]any{
		"model": c.model, "modelSource": src("model"),
		"baseURL": c.baseURL, "baseURLSource": src("baseURL"),
		"apiKey": maskKey(c.apiKey), "apiKeySource": src("apiKey"),
		"httpTimeout": c.httpTimeout.String(), "httpTimeoutSource": src("httpTimeout"),
		"toolTimeout": c.toolTimeout.String(), "toolTimeoutSource": src("toolTimeout"),
		"timeout": f.timeout.String(), "timeoutSource": src("timeout"),
		"httpRetries": c.retries, "httpRetriesSource": src("httpRetries"),
		"httpRetryBackoff": c.retryBackoff.String(), "httpRetryBackoffSource": src("httpRetryBackoff"),
		"temperature": temperature, "temperatureSource": src("temperature"),
		"topP": topP, "maxSteps": f.maxSteps, "stream": f.stream, "tools": f.tools,
		"image":           f.image.resolved(f.set, os.Getenv, c),
		"prep":            f.prep.resolved(p, f.tools),
		"prepHTTPTimeout": p.httpTimeout.String(), "prepHTTPTimeoutSource": p.sources["httpTimeout"],
		"sources": c.sources,
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return exitOK
}

// sourceWord says where a setting came from in goagent's words: flag,
// env, default (or empty, for a key that is not set).
func (c *chatConfig) sourceWord(key string) string {
	switch s := c.sources[key]; {
	case strings.HasPrefix(s, "flag"):
		return "flag"
	case strings.HasPrefix(s, "env"):
		return "env"
	case s == "none":
		return "empty"
	}
	return "default"
}

// printCapabilities lists the tools offered, in goagent's words on
// stdout: a header, then "- NAME: DESCRIPTION" by name, or "No tools
// enabled". Unlike goagent it refuses a manifest it cannot load.
func printCapabilities(stdout, stderr io.Writer, tools string) int {
	var list []*manifest.Tool
	if tools != "" {
		m, err := manifest.Load(tools)
		if err != nil {
			return fail(stderr, err)
		}
		list = append(list, m.Tools...)
	}
	fmt.Fprintln(stdout, "Capabilities (enabled tools):")
	if len(list) == 0 {
		fmt.Fprintln(stdout, "No tools enabled")
		return exitOK
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	for _, t := range list {
		fmt.Fprintf(stdout, "- %s: %s\n", t.Name, host.ForTerminal(t.Description))
	}
	fmt.Fprintln(stderr, "note: these tools run local programs, each contained by agentcli at its sandbox level; agentcli tools -json shows how")
	return exitOK
}

// buildSetting reads a setting of the binary's build info, cut to n
// characters (0: all); "unknown" when absent.
func buildSetting(key string, n int) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == key && s.Value != "" {
				if n > 0 && len(s.Value) > n {
					return s.Value[:n]
				}
				return s.Value
			}
		}
	}
	return "unknown"
}
