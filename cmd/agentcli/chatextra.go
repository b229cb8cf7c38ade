package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// goagent flags whose features goagent's agentcli parses but does not use
// in its loop: saved state (-state-*, -dry-run) and image settings
// (-image-*). They are accepted here with goagent's meaning, and said
// out loud when they change nothing.

// stateFlags are goagent's -state-* flags and -dry-run.
type stateFlags struct {
	dir, scope             string
	refine                 bool
	refineText, refineFile string
	dryRun                 bool
}

func (s *stateFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.dir, "state-dir", "", "goagent's state folder (env AGENTCLI_STATE_DIR): made (mode 0700) and shown by -dry-run; no state is kept between runs, as in goagent")
	fs.StringVar(&s.scope, "state-scope", "", "goagent's state scope (env AGENTCLI_STATE_SCOPE; default a hash of model, base URL and tools file)")
	fs.BoolVar(&s.refine, "state-refine", false, "goagent's state refinement (needs -state-dir); shown by -dry-run")
	fs.StringVar(&s.refineText, "state-refine-text", "", "goagent's refinement text (needs -state-dir)")
	fs.StringVar(&s.refineFile, "state-refine-file", "", "goagent's refinement file (needs -state-dir)")
	fs.BoolVar(&s.dryRun, "dry-run", false, "print goagent's state plan as JSON and exit")
}

// resolve applies the environment, checks the refinement flags and makes
// the state folder, as goagent does whatever the mode.
func (s *stateFlags) resolve(set map[string]bool, getenv func(string) string) error {
	if !set["state-dir"] {
		s.dir = strings.TrimSpace(getenv("AGENTCLI_STATE_DIR"))
	}
	if !set["state-scope"] {
		s.scope = strings.TrimSpace(getenv("AGENTCLI_STATE_SCOPE"))
	}
	if s.dir == "" {
		if s.refine || s.refineText != "" || s.refineFile != "" {
			return usagef("state refinement (-state-refine, -state-refine-text, -state-refine-file) needs -state-dir")
		}
		return nil
	}
	if rest, ok := strings.CutPrefix(s.dir, "~"); ok && (rest == "" || rest[0] == '/') {
		home, err := os.UserHomeDir()
		if err != nil {
			return usagef("-state-dir %s: %v", s.dir, err)
		}
		s.dir = home + rest
	}
	s.dir = filepath.Clean(s.dir)
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return usagef("creating -state-dir %q: %v", s.dir, err)
	}
	return nil
}

// scopeKey is the scope given, or goagent's default: a hash of the model,
// the base URL and the tools file's content.
func (s *stateFlags) scopeKey(model, baseURL, toolsFile string) string {
	if s.scope != "" {
		return s.scope
	}
	toolset := ""
	if data, err := os.ReadFile(toolsFile); err == nil && toolsFile != "" {
		sum := sha256.Sum256(data)
		toolset = hex.EncodeToString(sum[:])
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(model) + "|" + strings.TrimSpace(baseURL) + "|" + toolset))
	return hex.EncodeToString(sum[:])
}

// printDryRun prints goagent's state plan: what a run would do with its
// state folder (nothing is kept; the plan says so).
func (s *stateFlags) printDryRun(w io.Writer, model, baseURL, toolsFile string) error {
	var sample [4]byte
	rand.Read(sample[:])
	type plan struct {
		Action        string `json:"action"`
		StateDir      string `json:"state_dir"`
		ScopeKey      string `json:"scope_key"`
		Refine        bool   `json:"refine"`
		HasRefineText bool   `json:"has_refine_text"`
		HasRefineFile bool   `json:"has_refine_file"`
		Notes         string `json:"notes"`
	}
	p := plan{Action: "none", StateDir: s.dir, ScopeKey: s.scopeKey(model, baseURL, toolsFile),
		Refine: s.refine, HasRefineText: s.refineText != "", HasRefineFile: s.refineFile != "",
		Notes: "no -state-dir: nothing would be restored or saved"}
	switch {
	case s.dir == "":
	case s.refine || s.refineText != "" || s.refineFile != "":
		p.Action, p.Notes = "refine", "a state bundle would be refined and saved in the state folder; this agentcli, like goagent's, keeps none"
	default:
		p.Action, p.Notes = "restore_or_save", "a state bundle would be restored from, or saved to, the state folder; this agentcli, like goagent's, keeps none"
	}
	b, err := json.MarshalIndent(map[string]any{"hint": map[string]string{"sample_short_sha": hex.EncodeToString(sample[:])}, "plan": p}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// imageFlags are goagent's -image-* flags, shown by -print-config.
type imageFlags struct {
	baseURL, apiKey, model               string
	httpTimeout, httpRetryBackoff        flexDuration
	httpRetries, n                       int
	size, quality, style, responseFormat string
	transparentBackground                bool
}

func (im *imageFlags) register(fs *flag.FlagSet) {
	const shown = " (goagent's image settings: shown by -print-config; the agent loop makes no image calls, as in goagent)"
	fs.StringVar(&im.baseURL, "image-base-url", "", "image API base URL (env OAI_IMAGE_BASE_URL; default -base-url)"+shown)
	fs.StringVar(&im.apiKey, "image-api-key", "", "image API key (env OAI_IMAGE_API_KEY, then OPENAI_API_KEY; default -api-key)"+shown)
	fs.StringVar(&im.model, "image-model", "", "image model (env OAI_IMAGE_MODEL; default gpt-image-1)"+shown)
	fs.Var(&im.httpTimeout, "image-http-timeout", "image request timeout (env OAI_IMAGE_HTTP_TIMEOUT; default -http-timeout)"+shown)
	fs.IntVar(&im.httpRetries, "image-http-retries", 0, "image request retries (env OAI_IMAGE_HTTP_RETRIES; default -http-retries)"+shown)
	fs.Var(&im.httpRetryBackoff, "image-http-retry-backoff", "image retry backoff (env OAI_IMAGE_HTTP_RETRY_BACKOFF; default -http-retry-backoff)"+shown)
	fs.IntVar(&im.n, "image-n", 0, "images per request (env OAI_IMAGE_N; default 1)"+shown)
	fs.StringVar(&im.size, "image-size", "", "image size (env OAI_IMAGE_SIZE; default 1024x1024)"+shown)
	fs.StringVar(&im.quality, "image-quality", "", "image quality (env OAI_IMAGE_QUALITY; default standard)"+shown)
	fs.StringVar(&im.style, "image-style", "", "image style (env OAI_IMAGE_STYLE; default natural)"+shown)
	fs.StringVar(&im.responseFormat, "image-response-format", "", "url or b64_json (env OAI_IMAGE_RESPONSE_FORMAT; default url)"+shown)
	fs.BoolVar(&im.transparentBackground, "image-transparent-background", false, "transparent background (env OAI_IMAGE_TRANSPARENT_BACKGROUND)"+shown)
}

// resolved returns the image settings as goagent's -print-config shows
// them (its "image" object), with where each came from: the flag, the
// environment, a default, or inherited from the chat settings.
func (im *imageFlags) resolved(set map[string]bool, getenv func(string) string, c *chatConfig) map[string]any {
	env := envLookup(getenv)
	str := func(flagName, flagVal, envName, def, defSource string) (string, string) {
		if set[flagName] {
			return flagVal, "flag"
		}
		if v, ok := env(envName); ok {
			return v, "env"
		}
		return def, defSource
	}
	out := map[string]any{}
	out["baseURL"], out["baseURLSource"] = str("image-base-url", im.baseURL, "OAI_IMAGE_BASE_URL", c.baseURL, "inherit")
	key, keySource := str("image-api-key", im.apiKey, "OAI_IMAGE_API_KEY", "", "")
	if keySource == "" {
		if v, ok := env("OPENAI_API_KEY"); ok {
			key, keySource = v, "env"
		} else {
			key, keySource = c.apiKey, "inherit"
		}
	}
	if key == "" {
		keySource = "empty" // goagent's word for no key at all
	}
	out["apiKey"], out["apiKeySource"] = maskKey(key), keySource
	out["model"], _ = str("image-model", im.model, "OAI_IMAGE_MODEL", "gpt-image-1", "default")
	timeout, timeoutSource := c.httpTimeout, "inherit"
	if set["image-http-timeout"] {
		timeout, timeoutSource = time.Duration(im.httpTimeout), "flag"
	} else if v, ok := env("OAI_IMAGE_HTTP_TIMEOUT"); ok {
		if d, err := parseFlexDuration(v); err == nil && d > 0 {
			timeout, timeoutSource = d, "env"
		}
	}
	out["httpTimeout"], out["httpTimeoutSource"] = timeout.String(), timeoutSource
	retries, retriesSource := c.retries, "inherit"
	if set["image-http-retries"] {
		retries, retriesSource = im.httpRetries, "flag"
	} else if v, ok := env("OAI_IMAGE_HTTP_RETRIES"); ok {
		if n, err := strconv.Atoi(v); err == nil {
			retries, retriesSource = n, "env"
		}
	}
	out["httpRetries"], out["httpRetriesSource"] = retries, retriesSource
	backoff, backoffSource := c.retryBackoff, "inherit"
	if set["image-http-retry-backoff"] {
		backoff, backoffSource = time.Duration(im.httpRetryBackoff), "flag"
	} else if v, ok := env("OAI_IMAGE_HTTP_RETRY_BACKOFF"); ok {
		if d, err := parseFlexDuration(v); err == nil && d >= 0 {
			backoff, backoffSource = d, "env"
		}
	}
	out["httpRetryBackoff"], out["httpRetryBackoffSource"] = backoff.String(), backoffSource
	n := 1
	if set["image-n"] {
		n = max(im.n, 1)
	} else if v, ok := env("OAI_IMAGE_N"); ok {
		if k, err := strconv.Atoi(v); err == nil && k >= 1 {
			n = k
		}
	}
	out["n"] = n
	out["size"], _ = str("image-size", im.size, "OAI_IMAGE_SIZE", "1024x1024", "default")
	out["quality"], _ = str("image-quality", im.quality, "OAI_IMAGE_QUALITY", "standard", "default")
	out["style"], _ = str("image-style", im.style, "OAI_IMAGE_STYLE", "natural", "default")
	out["response_format"], _ = str("image-response-format", im.responseFormat, "OAI_IMAGE_RESPONSE_FORMAT", "url", "default")
	transparent := im.transparentBackground
	if !set["image-transparent-background"] {
		if v, ok := env("OAI_IMAGE_TRANSPARENT_BACKGROUND"); ok {
			transparent, _ = strconv.ParseBool(v)
		}
	}
	out["transparent_background"] = transparent
	return out
}

// goagentRedact reads GOAGENT_REDACT: patterns split on "," or ";", each a
// regular expression when it compiles as one, else literal text. goagent
// hides them in its tool audit lines; here they are redacted everywhere
// secrets are (results, errors, logs, the audit log).
func goagentRedact(v string) []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' }) {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		re, err := regexp.Compile(p)
		if err != nil {
			re = regexp.MustCompile(regexp.QuoteMeta(p))
		}
		out = append(out, re)
	}
	return out
}
