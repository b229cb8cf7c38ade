package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// defaultSystem is goagent's system prompt.
const defaultSystem = "You are a helpful, precise assistant. Use tools when strictly helpful."

// chatFlags are the flags of the agent loop, goagent's names and meanings.
type chatFlags struct {
	prompt, promptFile, system, systemFile string
	developer, developerFiles              []string
	tools                                  string
	model, baseURL, apiKey                 string
	maxSteps                               int
	timeout, httpTimeout, toolTimeout      flexDuration
	httpRetries                            int
	httpRetryBackoff                       flexDuration
	temp, topP                             float64
	debug, quiet, verbose, stream          bool
	capabilities, printConfig, version     bool
	printMessages                          bool
	saveMessages, loadMessages             string
	saveTranscript                         string
	prep                                   prepFlags
	state                                  stateFlags
	image                                  imageFlags
	routes                                 map[string]string // -channel-route: channel → stdout, stderr or omit
	loadedChannels                         map[int]string    // the channels of -load-messages

	// host are the flags shared with "call" (workspace, audit, limits);
	// its -tools, -tool-timeout and -debug are replaced by the ones above.
	host hostFlags

	set map[string]bool // flags given on the command line
}

// register declares the flags on fs. The shared host flags are declared
// first and goagent's -tools and -tool-timeout take their names.
func (f *chatFlags) register(fs *flag.FlagSet) {
	hs := flag.NewFlagSet("host", flag.ContinueOnError)
	f.host.register(hs)
	hs.VisitAll(func(fl *flag.Flag) {
		switch fl.Name {
		case "tools", "tool-timeout", "debug": // goagent's own, below
		default:
			fs.Var(fl.Value, fl.Name, fl.Usage)
		}
	})
	fs.StringVar(&f.prompt, "prompt", "", "the user's message")
	fs.StringVar(&f.promptFile, "prompt-file", "", "read the user's message from a file (- for stdin)")
	fs.StringVar(&f.system, "system", defaultSystem, "the system message")
	fs.StringVar(&f.systemFile, "system-file", "", "read the system message from a file (- for stdin)")
	fs.Func("developer", "a developer message (repeatable)", func(s string) error { f.developer = append(f.developer, s); return nil })
	fs.Func("developer-file", "read a developer message from a file (repeatable)", func(s string) error {
		f.developerFiles = append(f.developerFiles, s)
		return nil
	})
	fs.StringVar(&f.tools, "tools", "", "the tools manifest (none: no tools are offered)")
	fs.StringVar(&f.model, "model", "", "model id (env OAI_MODEL; default oss-gpt-20b)")
	fs.StringVar(&f.baseURL, "base-url", "", "API base URL (env OAI_BASE_URL; default https://api.openai.com/v1)")
	fs.StringVar(&f.apiKey, "api-key", "", "API key (env OAI_API_KEY, then OPENAI_API_KEY)")
	fs.IntVar(&f.maxSteps, "max-steps", 8, "requests to the model before giving up")
	f.timeout = flexDuration(30 * time.Second)
	fs.Var(&f.timeout, "timeout", "deprecated: default of -http-timeout and -tool-timeout")
	fs.Var(&f.httpTimeout, "http-timeout", "bound on each wait for the server (env OAI_HTTP_TIMEOUT; default -timeout)")
	fs.Var(&f.toolTimeout, "tool-timeout", "timeout of tools without timeoutSec (default -timeout)")
	fs.IntVar(&f.httpRetries, "http-retries", 2, "retries of a failed request (env OAI_HTTP_RETRIES)")
	f.httpRetryBackoff = flexDuration(500 * time.Millisecond)
	fs.Var(&f.httpRetryBackoff, "http-retry-backoff", "first wait between retries, doubling (env OAI_HTTP_RETRY_BACKOFF)")
	fs.Float64Var(&f.temp, "temp", 1.0, "sampling temperature (env LLM_TEMPERATURE)")
	fs.Float64Var(&f.topP, "top-p", 0, "nucleus sampling; when set, no temperature is sent")
	fs.BoolVar(&f.debug, "debug", false, "dump requests and responses to stderr, secrets redacted")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines on stderr")
	fs.BoolVar(&f.verbose, "verbose", false, "also print what the model says alongside its tool calls")
	fs.BoolVar(&f.stream, "stream", false, "ask for streamed responses")
	fs.BoolVar(&f.stream, "stream-final", false, "same as -stream (goagent's name)")
	fs.BoolVar(&f.capabilities, "capabilities", false, "list the tools offered and exit")
	fs.BoolVar(&f.printConfig, "print-config", false, "print the resolved configuration as JSON and exit")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	fs.BoolVar(&f.printMessages, "print-messages", false, "print the messages to stderr before the first request")
	fs.StringVar(&f.saveMessages, "save-messages", "", "write the messages the loop starts with to this file as JSON, before the first request (goagent's)")
	fs.StringVar(&f.saveTranscript, "save-transcript", "", "write the whole conversation to this file as JSON when the run ends, also on failure (resume it with -load-messages)")
	fs.StringVar(&f.loadMessages, "load-messages", "", "resume the conversation saved in this file")
	f.prep.register(fs)
	f.state.register(fs)
	f.image.register(fs)
	f.routes = map[string]string{}
	fs.Func("channel-route", "where a Harmony channel goes: final, critic or confidence = stdout, stderr or omit (repeatable; others go to stderr with -verbose)", func(s string) error {
		name, dest, ok := strings.Cut(s, "=")
		name, dest = strings.TrimSpace(name), strings.TrimSpace(dest)
		switch {
		case !ok:
			return fmt.Errorf("invalid -channel-route value %q (expected name=stdout|stderr|omit)", s)
		case name != "final" && name != "critic" && name != "confidence":
			return fmt.Errorf("invalid -channel-route channel %q (allowed: final, critic, confidence)", name)
		case dest != "stdout" && dest != "stderr" && dest != "omit":
			return fmt.Errorf("invalid -channel-route destination %q (allowed: stdout, stderr, omit)", dest)
		}
		f.routes[name] = dest
		return nil
	})
}

// flexDuration is a duration given as Go syntax ("1m30s") or in seconds
// ("90"), as goagent accepts.
type flexDuration time.Duration

func (d *flexDuration) String() string { return time.Duration(*d).String() }
func (d *flexDuration) Set(s string) error {
	v, err := parseFlexDuration(s)
	*d = flexDuration(v)
	return err
}

func parseFlexDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (use 30s, 1m or a number of seconds)", s)
	}
	return d, nil
}

// chatConfig is the resolved configuration: flag, then environment, then
// default, with where each value came from.
type chatConfig struct {
	model, baseURL, apiKey                 string
	httpTimeout, toolTimeout, retryBackoff time.Duration
	retries                                int
	temperature, topP                      *float64
	sources                                map[string]string
	temperatureNote                        string
	warnings                               []string
}

// maxStepsCap is goagent's most steps.
const maxStepsCap = 15

// envLookup reads environment variables through getenv: a value without
// its surrounding spaces, and whether one is set.
func envLookup(getenv func(string) string) func(name string) (string, bool) {
	return func(name string) (string, bool) {
		v := strings.TrimSpace(getenv(name))
		return v, v != ""
	}
}

// badEnv notes a variable whose value cannot be read: goagent runs on
// without it, and so does this loop, saying so.
func (c *chatConfig) badEnv(name, v, what string) {
	c.warnings = append(c.warnings, fmt.Sprintf("%s=%q is not %s; it is ignored, as goagent ignores it", name, v, what))
}

// resolve applies goagent's precedence: flag > environment > default.
func (f *chatFlags) resolve(getenv func(string) string) (*chatConfig, error) {
	c := &chatConfig{sources: map[string]string{}}
	env := envLookup(getenv)
	pick := func(key, flagName, flagVal string, envNames []string, def string) string {
		if f.set[flagName] {
			c.sources[key] = "flag"
			return flagVal
		}
		for _, e := range envNames {
			if v, ok := env(e); ok {
				c.sources[key] = "env " + e
				return v
			}
		}
		c.sources[key] = "default"
		return def
	}
	c.model = pick("model", "model", f.model, []string{"OAI_MODEL"}, "oss-gpt-20b")
	c.baseURL = strings.TrimRight(pick("baseURL", "base-url", f.baseURL, []string{"OAI_BASE_URL"}, "https://api.openai.com/v1"), "/")
	c.apiKey = pick("apiKey", "api-key", f.apiKey, []string{"OAI_API_KEY", "OPENAI_API_KEY"}, "")
	if c.apiKey == "" {
		c.sources["apiKey"] = "none"
	}

	var errs []error
	badEnv := c.badEnv
	// A timeout of 0 or less given as a flag counts as not given, as in
	// goagent.
	dur := func(key, flagName string, flagVal time.Duration, envName string, fallback time.Duration, fallbackSource string) time.Duration {
		if f.set[flagName] && flagVal > 0 {
			c.sources[key] = "flag"
			return flagVal
		}
		if v, ok := env(envName); ok && envName != "" {
			if d, err := parseFlexDuration(v); err != nil || d <= 0 {
				badEnv(envName, v, "a positive duration")
			} else {
				c.sources[key] = "env " + envName
				return d
			}
		}
		c.sources[key] = fallbackSource
		return fallback
	}
	// -timeout (deprecated) is the fallback of both timeouts.
	inherited := "default (-timeout)"
	c.sources["timeout"] = "default"
	if f.set["timeout"] {
		inherited, c.sources["timeout"] = "flag -timeout", "flag"
	}
	timeout := time.Duration(f.timeout)
	if timeout <= 0 {
		timeout, inherited = 90*time.Second, "default" // goagent's last resort
	}
	c.httpTimeout = dur("httpTimeout", "http-timeout", time.Duration(f.httpTimeout), "OAI_HTTP_TIMEOUT", timeout, inherited)
	c.toolTimeout = dur("toolTimeout", "tool-timeout", time.Duration(f.toolTimeout), "", timeout, inherited)
	c.retryBackoff = time.Duration(f.httpRetryBackoff)
	c.sources["httpRetryBackoff"] = "default"
	if f.set["http-retry-backoff"] {
		c.sources["httpRetryBackoff"] = "flag"
	} else if v, ok := env("OAI_HTTP_RETRY_BACKOFF"); ok {
		if d, err := parseFlexDuration(v); err != nil || d < 0 {
			badEnv("OAI_HTTP_RETRY_BACKOFF", v, "a duration")
		} else {
			c.retryBackoff, c.sources["httpRetryBackoff"] = d, "env OAI_HTTP_RETRY_BACKOFF"
		}
	}
	if c.retryBackoff <= 0 {
		c.retryBackoff = 200 * time.Millisecond // goagent's base for a backoff of 0
	}
	c.retries = f.httpRetries
	c.sources["httpRetries"] = "default"
	if f.set["http-retries"] {
		c.sources["httpRetries"] = "flag"
	} else if v, ok := env("OAI_HTTP_RETRIES"); ok {
		if n, err := strconv.Atoi(v); err != nil {
			badEnv("OAI_HTTP_RETRIES", v, "a number")
		} else {
			c.retries, c.sources["httpRetries"] = n, "env OAI_HTTP_RETRIES"
		}
	}
	c.retries = max(c.retries, 0) // fewer than none is none, as in goagent

	temp := f.temp
	c.sources["temperature"] = "default"
	if f.set["temp"] {
		c.sources["temperature"] = "flag"
	} else if v, ok := env("LLM_TEMPERATURE"); ok {
		if t, err := strconv.ParseFloat(v, 64); err != nil {
			badEnv("LLM_TEMPERATURE", v, "a number")
		} else {
			temp, c.sources["temperature"] = t, "env LLM_TEMPERATURE"
		}
	}
	switch {
	case f.topP > 0:
		// One knob at a time (goagent's rule): top_p wins.
		topP := f.topP
		c.topP = &topP
		c.temperatureNote = "(omitted: -top-p is set)"
		c.warnings = append(c.warnings, "-top-p is set; omitting temperature per one-knob rule")
	case strings.HasPrefix(c.model, "o3") || strings.HasPrefix(c.model, "o4"):
		c.temperatureNote = "(omitted: the model takes none)"
	default:
		c.temperature = &temp
	}

	// -temp and -top-p go to the server as given (it judges them), as in
	// goagent; -max-steps is capped at goagent's 15, out loud.
	if f.maxSteps > maxStepsCap {
		c.warnings = append(c.warnings, fmt.Sprintf("-max-steps %d is more than goagent allows; using %d, as goagent does", f.maxSteps, maxStepsCap))
		f.maxSteps = maxStepsCap
	}
	if err := f.state.resolve(f.set, getenv); err != nil {
		errs = append(errs, err)
	} else if f.state.dir != "" && !f.state.dryRun {
		c.warnings = append(c.warnings, fmt.Sprintf("-state-dir %s: this agentcli, like goagent's, keeps no state between runs; the folder is made and -dry-run shows the plan", f.state.dir))
	}
	for name := range f.set {
		if strings.HasPrefix(name, "image-") {
			c.warnings = append(c.warnings, "-image-* settings are shown by -print-config only: the agent loop makes no image calls, as in goagent (an image tool reads its own environment)")
			break
		}
	}
	return c, errors.Join(errs...)
}

// maskKey shows a key's last 4 characters at most, and only when it is
// long enough that they say nothing useful to someone who does not have it.
func maskKey(k string) string {
	switch {
	case k == "":
		return ""
	case len(k) <= 12:
		return "****"
	}
	return "****" + k[len(k)-4:]
}

// readMaybeFile reads a file, or stdin for "-".
func readMaybeFile(path string, stdin func() ([]byte, error)) (string, error) {
	if path == "-" {
		b, err := stdin()
		return string(b), err
	}
	b, err := os.ReadFile(path)
	return string(b), err
}
