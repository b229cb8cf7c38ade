package main

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// prepFlags are goagent's pre-stage flags (-prep-*).
type prepFlags struct {
	enabled                    boolValue
	model, baseURL, apiKey     string
	httpTimeout                flexDuration
	httpRetries                int
	httpRetryBackoff           time.Duration
	temp                       flexFloat
	topP                       float64
	profile                    string
	system, systemFile, tools  string
	allowExternal, bust, dryRn bool
}

func (p *prepFlags) register(fs *flag.FlagSet) {
	p.enabled = true
	p.temp = -1 // not given: inherit
	fs.Var(&p.enabled, "prep-enabled", "run the pre-stage, a request that may rewrite the system message and add developer messages (give a value: -prep-enabled=false)")
	fs.StringVar(&p.model, "prep-model", "", "the pre-stage's model (env OAI_PREP_MODEL; default -model)")
	fs.StringVar(&p.baseURL, "prep-base-url", "", "the pre-stage's API base URL (env OAI_PREP_BASE_URL; default -base-url)")
	fs.StringVar(&p.apiKey, "prep-api-key", "", "the pre-stage's API key (env OAI_PREP_API_KEY, OAI_API_KEY, OPENAI_API_KEY; default -api-key)")
	fs.Var(&p.httpTimeout, "prep-http-timeout", "the pre-stage's wait bound (env OAI_PREP_HTTP_TIMEOUT; default -http-timeout)")
	fs.IntVar(&p.httpRetries, "prep-http-retries", 0, "the pre-stage's retries (env OAI_PREP_HTTP_RETRIES; 0: -http-retries)")
	fs.DurationVar(&p.httpRetryBackoff, "prep-http-retry-backoff", 0, "the pre-stage's first wait between retries (env OAI_PREP_HTTP_RETRY_BACKOFF; default -http-retry-backoff)")
	fs.Var(&p.temp, "prep-temp", "the pre-stage's temperature (env OAI_PREP_TEMP; default -temp)")
	fs.Float64Var(&p.topP, "prep-top-p", 0, "the pre-stage's top_p; when set, no temperature is sent (env OAI_PREP_TOP_P)")
	fs.StringVar(&p.profile, "prep-profile", "", "the pre-stage's temperature by name: deterministic (0.1), general, creative or reasoning (1.0)")
	fs.StringVar(&p.system, "prep-system", "", "a system message sent in the pre-stage only (env OAI_PREP_SYSTEM)")
	fs.StringVar(&p.systemFile, "prep-system-file", "", "read it from a file, - for stdin (env OAI_PREP_SYSTEM_FILE)")
	fs.StringVar(&p.tools, "prep-tools", "", "with -prep-tools-allow-external: the manifest whose tools the pre-stage may call (default -tools)")
	fs.BoolVar(&p.allowExternal, "prep-tools-allow-external", false, "let the pre-stage call the manifest's tools (through the gate) rather than the built-in read-only ones")
	fs.BoolVar(&p.bust, "prep-cache-bust", false, "do not read the pre-stage cache (it is still written)")
	fs.BoolVar(&p.dryRn, "prep-dry-run", false, "print the pre-stage's seed messages (system and prompt) as JSON and exit")
}

// prepConfig is the pre-stage's resolved configuration.
type prepConfig struct {
	enabled                bool
	model, baseURL, apiKey string
	httpTimeout, backoff   time.Duration
	retries                int
	temperature, topP      *float64
	cacheTTL               time.Duration
	sources                map[string]string
}

// prepProfiles are goagent's named pre-stage temperatures.
var prepProfiles = map[string]float64{"deterministic": 0.1, "general": 1, "creative": 1, "reasoning": 1}

// resolvePrep applies goagent's precedence to the pre-stage's settings:
// flag, then its environment variables, then the main setting.
func (f *chatFlags) resolvePrep(c *chatConfig, getenv func(string) string) (*prepConfig, error) {
	p := &f.prep
	r := &prepConfig{enabled: bool(p.enabled), sources: map[string]string{}}
	env := envLookup(getenv)
	badEnv := c.badEnv
	str := func(key, flagName, flagVal string, envNames []string, inherit string) string {
		if f.set[flagName] && flagVal != "" {
			r.sources[key] = "flag"
			return flagVal
		}
		for _, e := range envNames {
			if v, ok := env(e); ok {
				r.sources[key] = "env:" + e
				return v
			}
		}
		r.sources[key] = "inherit"
		return inherit
	}
	r.model = str("model", "prep-model", p.model, []string{"OAI_PREP_MODEL"}, c.model)
	r.baseURL = strings.TrimRight(str("baseURL", "prep-base-url", p.baseURL, []string{"OAI_PREP_BASE_URL"}, c.baseURL), "/")
	// goagent's order: the environment's keys come before -api-key.
	r.apiKey = str("apiKey", "prep-api-key", p.apiKey, []string{"OAI_PREP_API_KEY", "OAI_API_KEY", "OPENAI_API_KEY"}, c.apiKey)
	if r.apiKey == "" {
		r.sources["apiKey"] = "empty"
	}

	r.httpTimeout, r.sources["httpTimeout"] = c.httpTimeout, "inherit"
	if d := time.Duration(p.httpTimeout); f.set["prep-http-timeout"] && d > 0 {
		r.httpTimeout, r.sources["httpTimeout"] = d, "flag"
	} else if v, ok := env("OAI_PREP_HTTP_TIMEOUT"); ok {
		if d, err := parseFlexDuration(v); err != nil || d <= 0 {
			badEnv("OAI_PREP_HTTP_TIMEOUT", v, "a positive duration")
		} else {
			r.httpTimeout, r.sources["httpTimeout"] = d, "env"
		}
	}
	// 0 means inherit, from the flag as from the environment.
	r.retries, r.sources["httpRetries"] = c.retries, "inherit"
	if f.set["prep-http-retries"] && p.httpRetries > 0 {
		r.retries, r.sources["httpRetries"] = p.httpRetries, "flag"
	} else if v, ok := env("OAI_PREP_HTTP_RETRIES"); ok {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			badEnv("OAI_PREP_HTTP_RETRIES", v, "a number of 0 or more")
		} else if n > 0 {
			r.retries, r.sources["httpRetries"] = n, "env"
		}
	}
	r.backoff, r.sources["httpRetryBackoff"] = c.retryBackoff, "inherit"
	if f.set["prep-http-retry-backoff"] && p.httpRetryBackoff > 0 {
		r.backoff, r.sources["httpRetryBackoff"] = p.httpRetryBackoff, "flag"
	} else if v, ok := env("OAI_PREP_HTTP_RETRY_BACKOFF"); ok {
		if d, err := parseFlexDuration(v); err != nil || d <= 0 {
			badEnv("OAI_PREP_HTTP_RETRY_BACKOFF", v, "a positive duration")
		} else {
			r.backoff, r.sources["httpRetryBackoff"] = d, "env"
		}
	}

	// Sampling, in goagent's order: top_p, temperature, profile, -temp.
	noTemp := strings.HasPrefix(strings.ToLower(r.model), "o3") || strings.HasPrefix(strings.ToLower(r.model), "o4")
	topP, topPSource := p.topP, "flag"
	if !(f.set["prep-top-p"] && topP > 0) {
		topP, topPSource = 0, ""
		if v, ok := env("OAI_PREP_TOP_P"); ok {
			if t, err := strconv.ParseFloat(v, 64); err != nil {
				badEnv("OAI_PREP_TOP_P", v, "a number")
			} else if t > 0 {
				topP, topPSource = t, "env"
			}
		}
	}
	temp, tempSource := float64(p.temp), "flag"
	if !(f.set["prep-temp"] && temp >= 0) {
		temp, tempSource = -1, ""
		if v, ok := env("OAI_PREP_TEMP"); ok {
			if t, err := strconv.ParseFloat(v, 64); err != nil {
				badEnv("OAI_PREP_TEMP", v, "a number")
			} else if t >= 0 {
				temp, tempSource = t, "env"
			}
		}
	}
	// goagent's words: top_p not set is "inherit"; a temperature
	// inherited says where -temp came from.
	r.sources["temperature"], r.sources["top_p"] = "omitted:one-knob", "inherit"
	switch {
	case topP > 0:
		r.topP, r.sources["top_p"] = &topP, topPSource
	case noTemp:
		r.sources["temperature"] = "unsupported"
	case temp >= 0:
		r.temperature, r.sources["temperature"] = &temp, tempSource
	case p.profile != "":
		if t, ok := prepProfiles[strings.ToLower(strings.TrimSpace(p.profile))]; ok {
			r.temperature, r.sources["temperature"] = &t, "profile "+p.profile
		} else {
			c.warnings = append(c.warnings, fmt.Sprintf("-prep-profile %q is not deterministic, general, creative or reasoning; the pre-stage sends no temperature, as goagent does", p.profile))
		}
	default:
		r.temperature, r.sources["temperature"] = c.temperature, c.sourceWord("temperature")
	}

	// The environment's values count before the check, as in goagent;
	// the file is read with the other -*-file flags (messages).
	if p.system == "" {
		p.system = strings.TrimSpace(getenv("OAI_PREP_SYSTEM"))
	}
	if p.systemFile == "" {
		p.systemFile = strings.TrimSpace(getenv("OAI_PREP_SYSTEM_FILE"))
	}
	if p.system != "" && p.systemFile != "" {
		return nil, usagef("-prep-system and -prep-system-file are mutually exclusive (the environment's OAI_PREP_SYSTEM and OAI_PREP_SYSTEM_FILE count)")
	}

	r.cacheTTL = 10 * time.Minute
	if v, ok := env("GOAGENT_PREP_CACHE_TTL"); ok {
		if d, err := time.ParseDuration(v); err != nil {
			badEnv("GOAGENT_PREP_CACHE_TTL", v, "a Go duration (e.g. 10m)")
		} else {
			r.cacheTTL = d // 0 or less: never expires
		}
	}
	if !r.enabled {
		for name := range f.set {
			if strings.HasPrefix(name, "prep-") && name != "prep-enabled" && name != "prep-dry-run" {
				c.warnings = append(c.warnings, fmt.Sprintf("-%s has no effect: -prep-enabled=false turns the pre-stage off", name))
				break
			}
		}
	}
	return r, nil
}

// prepCacheRoot is the folder goagent's cache lies under: the nearest
// folder at or above dir with a go.mod, else dir.
func prepCacheRoot(dir string) string {
	for d := dir; ; {
		if fi, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && !fi.IsDir() {
			return d
		}
		up := filepath.Dir(d)
		if up == d {
			return dir
		}
		d = up
	}
}

// boolValue is a boolean flag that needs its value (-prep-enabled=false),
// as goagent's does.
type boolValue bool

func (b *boolValue) String() string { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) Set(s string) error {
	v, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not true or false", s)
	}
	*b = boolValue(v)
	return nil
}

// flexFloat is a number given with spaces around it allowed, as goagent
// reads some of its numbers.
type flexFloat float64

func (v *flexFloat) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }
func (v *flexFloat) Set(s string) error {
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	*v = flexFloat(n)
	return nil
}

// resolved is the "prep" object of -print-config: goagent's keys, and
// what this agentcli adds (the system message, tools and cache).
func (p *prepFlags) resolved(r *prepConfig, mainTools string) map[string]any {
	num := func(v *float64, source string) (string, string) {
		switch {
		case v != nil:
			return strconv.FormatFloat(*v, 'g', -1, 64), source
		case source == "unsupported":
			return "(omitted:unsupported)", source
		}
		return "(omitted)", source
	}
	temp, tempSource := num(r.temperature, r.sources["temperature"])
	topP, topPSource := num(r.topP, r.sources["top_p"])
	tools := "builtin"
	if p.allowExternal {
		tools = cmp.Or(p.tools, mainTools, "(none)") + " (external)"
	}
	ttl := r.cacheTTL.String()
	if r.cacheTTL <= 0 {
		ttl = "never expires"
	}
	return map[string]any{
		"enabled": r.enabled,
		"model":   r.model, "modelSource": r.sources["model"],
		"baseURL": r.baseURL, "baseURLSource": r.sources["baseURL"],
		"apiKeyPresent": r.apiKey != "", "apiKeySource": r.sources["apiKey"],
		"httpTimeout": r.httpTimeout.String(), "httpTimeoutSource": r.sources["httpTimeout"],
		"httpRetries": r.retries, "httpRetriesSource": r.sources["httpRetries"],
		"httpRetryBackoff": r.backoff.String(), "httpRetryBackoffSource": r.sources["httpRetryBackoff"],
		"sampling": map[string]any{"temperature": temp, "temperatureSource": tempSource, "top_p": topP, "top_pSource": topPSource},
		"system":   p.system, "systemFile": p.systemFile, "tools": tools,
		"cacheBust": p.bust, "cacheTTL": ttl,
	}
}
