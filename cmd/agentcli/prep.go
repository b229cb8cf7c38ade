package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	openai "github.com/sashabaranov/go-openai"

	"github.com/toolhost/toolhost/internal/chat"
	"github.com/toolhost/toolhost/internal/host"
)

// runPrep runs goagent's pre-stage on messages and returns the messages
// the loop starts with. A failed pre-stage is said on stderr, in
// goagent's two lines, and the loop goes on with messages unchanged; only
// a fault of the host (its audit log) ends the run, with exit status 1.
//
// hf are the host flags the loop's host was opened with (its redactions,
// tools' PATH and timeout): -prep-tools gets a host of its own from them.
func (f *chatFlags) runPrep(ctx context.Context, prep *prepConfig, hf hostFlags, h *host.Host, approver host.Approver,
	newClient func(string, string, time.Duration, int, time.Duration) *openai.Client,
	messages []openai.ChatCompletionMessage, progress, stdout, stderr io.Writer) ([]openai.ChatCompletionMessage, int) {
	ph := h
	if f.prep.allowExternal && f.prep.tools != "" && f.prep.tools != f.tools {
		// The pre-stage's own manifest, vetted like any, its calls
		// redacted like the loop's.
		hf.tools = f.prep.tools
		other, alog, err := hf.open(zerolog.Nop())
		if err != nil {
			fmt.Fprintf(stderr, "error: -prep-tools: %s\n", host.ForTerminal(err.Error()))
			return nil, exitFailed
		}
		defer alog.Close()
		defer other.Close()
		ph = other
	}
	wd, _ := os.Getwd()
	root := prepCacheRoot(wd)
	cache := &chat.PrepCache{Dir: filepath.Join(root, ".goagent", "cache", "prep"), Trusted: root, TTL: prep.cacheTTL, Bust: f.prep.bust,
		Key: map[string]any{"base_url": prep.baseURL, "retries": prep.retries, "backoff": prep.backoff.String()}}
	cfg, err := os.UserConfigDir()
	if err == nil {
		cache.Secret, err = chat.PrepSecret(filepath.Join(cfg, "toolhost", "prep-cache.key"))
	}
	if err != nil {
		// Unsigned entries cannot be trusted: no cache, out loud.
		fmt.Fprintf(stderr, "warning: the pre-stage cache is off: its key: %v\n", err)
		cache = nil
	}
	opts := chat.PrepOptions{
		Client:   newClient(prep.baseURL, prep.apiKey, prep.httpTimeout, prep.retries, prep.backoff),
		Host:     ph,
		Approver: approver,
		Model:    prep.model, Temperature: prep.temperature, TopP: prep.topP,
		System:   f.prep.system,
		External: f.prep.allowExternal,
		Cache:    cache,
		OnChannel: func(channel, text string) {
			if f.verbose {
				fmt.Fprintln(stderr, host.ForTerminal(text))
			}
		},
		Warn: stderr,
	}
	res, err := chat.Prep(ctx, opts, messages)
	if err != nil {
		if errors.Is(err, chat.ErrHostFault) {
			fmt.Fprintf(stderr, "error: %s\n", host.ForTerminal(err.Error()))
			return nil, exitFailed
		}
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "error: interrupted; running tools were stopped")
			return nil, exitInterrupted
		}
		msg := host.ForTerminal(err.Error())
		fmt.Fprintf(stderr, "error: prep call failed: %s\n", msg)
		fmt.Fprintf(stderr, "WARN: pre-stage failed; skipping (reason: %s)\n", strings.Join(strings.Fields(msg), " "))
		return messages, exitOK
	}
	if progress != nil {
		switch {
		case res.Cached:
			fmt.Fprintf(progress, "pre-stage: from the cache in %s\n", opts.Cache.Dir)
		case res.Merged:
			fmt.Fprintln(progress, "pre-stage: the messages were revised")
		default:
			fmt.Fprintf(progress, "pre-stage: %s; the messages are unchanged\n", res.Ignored)
		}
	}
	return res.Messages, exitOK
}

// printPrepSeed is -prep-dry-run: the messages the pre-stage would start
// from, as one line of JSON, and no request.
func printPrepSeed(stdout, stderr io.Writer, messages []openai.ChatCompletionMessage) int {
	type seed struct {
		Content string `json:"content"`
		Role    string `json:"role"`
	}
	out := make([]seed, len(messages))
	for i, m := range messages {
		out[i] = seed{m.Content, m.Role}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return exitOK
}
