// Package policy decides whether a tool call may run: the floor that
// nothing turns off, the rules of a policy, and the mode for the calls no
// rule matched; and the guards for arguments marked as paths or commands.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"golang.org/x/text/unicode/norm"

	"github.com/toolhost/toolhost/schemas"
)

// Decision is what the gate says about a call.
type Decision string

const (
	Allow Decision = "allow"
	Ask   Decision = "ask"
	Deny  Decision = "deny"
)

// Mode decides the calls no rule matched.
type Mode string

const (
	ModeDefault Mode = "default" // ask
	ModeStrict  Mode = "strict"  // deny
	ModeBypass  Mode = "bypass"  // allow
)

// ParseMode checks a mode's name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeDefault, ModeStrict, ModeBypass:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q (default, strict or bypass)", s)
}

// Rule matches a tool name and, optionally, argument values.
type Rule struct {
	// ID names the rule in decisions; default rules[N].
	ID string `json:"id"`
	// Tool is words matched on word boundaries against the tool's name;
	// "*" matches every tool.
	Tool string `json:"tool"`
	// Args maps argument names (or JSON pointers) to words their values
	// must contain, on word boundaries.
	Args     map[string]string `json:"args"`
	Decision Decision          `json:"decision"`
	Reason   string            `json:"reason"`

	tool []string
	args []argMatch
}

type argMatch struct {
	pointer []string
	words   []string
}

// Policy is a parsed policy. The zero value is mode default with no rules.
type Policy struct {
	Mode     Mode   `json:"mode"`
	Rules    []Rule `json:"rules"`
	Commands struct {
		// Allow are the commands a command argument may run in strict
		// mode.
		Allow []string `json:"allow"`
		// Deny are commands a command argument may never run, in any
		// mode, matched on the parsed command (see Shell).
		Deny []string `json:"deny"`
	} `json:"commands"`
	Paths struct {
		// Deny are glob patterns of paths the floor protects too (see
		// DenyPaths).
		Deny []string `json:"deny"`
	} `json:"paths"`

	denyWords [][]string
}

// DenyWords returns the entries of commands.deny, each split into words.
func (p *Policy) DenyWords() [][]string { return p.denyWords }

// policySchema checks a policy against the manifest schema's definition.
var policySchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource("manifest.schema.json", bytes.NewReader(schemas.Manifest)); err != nil {
		return nil, err
	}
	return c.Compile("manifest.schema.json#/$defs/policy")
})

// Parse reads a policy object; source names it in errors.
func Parse(data []byte, source string) (*Policy, error) {
	schema, err := policySchema()
	if err != nil {
		return nil, fmt.Errorf("policy schema: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("policy %s: not JSON: %w", source, err)
	}
	if err := schema.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			leaf := ve
			for len(leaf.Causes) > 0 {
				leaf = leaf.Causes[0]
			}
			return nil, fmt.Errorf("policy %s: %s: %s", source, orRoot(leaf.InstanceLocation), leaf.Message)
		}
		return nil, fmt.Errorf("policy %s: %w", source, err)
	}
	var p Policy
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("policy %s: %w", source, err)
	}
	if p.Mode == "" {
		p.Mode = ModeDefault
	}
	for i, e := range p.Commands.Deny {
		w := fields(e)
		if len(w) == 0 {
			return nil, fmt.Errorf("policy %s: commands.deny[%d]: no words", source, i)
		}
		p.denyWords = append(p.denyWords, w)
	}
	for i, pat := range p.Paths.Deny {
		if _, err := filepath.Match(pat, ""); err != nil {
			return nil, fmt.Errorf("policy %s: paths.deny[%d]: %q is not a glob pattern: %v", source, i, pat, err)
		}
	}
	ids := map[string]bool{}
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.ID == "" {
			r.ID = "rules[" + strconv.Itoa(i) + "]"
		}
		if ids[r.ID] {
			return nil, fmt.Errorf("policy %s: rules[%d]: id %q is used twice", source, i, r.ID)
		}
		ids[r.ID] = true
		if r.Tool != "*" {
			if r.tool = Words(r.Tool); len(r.tool) == 0 {
				return nil, fmt.Errorf("policy %s: rules[%d] (%s): tool %q has no words to match", source, i, r.ID, r.Tool)
			}
		}
		keys := make([]string, 0, len(r.Args))
		for k := range r.Args {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			w := Words(r.Args[k])
			if len(w) == 0 {
				return nil, fmt.Errorf("policy %s: rules[%d] (%s): args.%s has no words to match", source, i, r.ID, k)
			}
			r.args = append(r.args, argMatch{pointer: pointer(k), words: w})
		}
	}
	return &p, nil
}

func orRoot(s string) string {
	if s == "" {
		return "(root)"
	}
	return s
}

// Load reads a policy file.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return Parse(data, path)
}

// pointer splits an argument key: a JSON pointer ("/a/b") or a top-level
// name.
func pointer(k string) []string {
	if !strings.HasPrefix(k, "/") {
		return []string{k}
	}
	parts := strings.Split(k[1:], "/")
	for i, p := range parts {
		parts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(p)
	}
	return parts
}

// Verdict is the gate's decision and what made it.
type Verdict struct {
	Decision Decision
	// By is what decided: "floor:ID", "rule:ID", "guard:ID" or "mode:MODE".
	By string
	// Reason explains it.
	Reason string
}

// Decide applies the rules and then the mode (the floor and the guards
// are the caller's, before this). Deny beats ask beats allow.
//
// commands are the command arguments as Shell parsed them, by the JSON
// pointer of their value ("/command"). A rule's words for such an
// argument are matched against the parsed command: an allow rule matches
// only one simple command whose leading words are the rule's words (a
// "git status" rule allows git status -s, never curl ... | sh # git
// status); a deny or ask rule matches when its words appear in the text or
// in any command found in it (git pu\sh is git push).
func (p *Policy) Decide(tool string, args map[string]any, commands ...map[string]*ShellFindings) Verdict {
	toolWords := Words(tool)
	var cmds map[string]*ShellFindings
	if len(commands) > 0 {
		cmds = commands[0]
	}
	var ask, allow *Rule
	for i := range p.Rules {
		r := &p.Rules[i]
		if !r.matches(toolWords, args, cmds) {
			continue
		}
		switch r.Decision {
		case Deny:
			return Verdict{Deny, "rule:" + r.ID, r.why("denies")}
		case Ask:
			if ask == nil {
				ask = r
			}
		case Allow:
			if allow == nil {
				allow = r
			}
		}
	}
	switch {
	case ask != nil:
		return Verdict{Ask, "rule:" + ask.ID, ask.why("asks")}
	case allow != nil:
		return Verdict{Allow, "rule:" + allow.ID, allow.why("allows")}
	}
	mode := p.Mode
	if mode == "" {
		mode = ModeDefault
	}
	switch mode {
	case ModeBypass:
		return Verdict{Allow, "mode:bypass", "no policy rule matched and mode bypass allows"}
	case ModeStrict:
		return Verdict{Deny, "mode:strict", "no policy rule matched and mode strict denies"}
	}
	return Verdict{Ask, "mode:default", "no policy rule matched and mode default asks"}
}

// MayAsk reports whether a call of tool can end in the policy asking: its
// rules and mode ask whatever the arguments, or a rule that asks matches
// some arguments (and none denies the tool whatever they are). why says
// which.
func (p *Policy) MayAsk(tool string) (ask bool, why string) {
	v := p.Decide(tool, nil)
	switch v.Decision {
	case Ask:
		return true, v.Reason
	case Deny:
		return false, ""
	}
	words := Words(tool)
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Decision == Ask && len(r.args) > 0 && (r.tool == nil || containsRun(words, r.tool)) {
			return true, r.why("asks for some arguments")
		}
	}
	return false, ""
}

func (r *Rule) why(what string) string {
	s := fmt.Sprintf("rule %s %s", r.ID, what)
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s
}

func (r *Rule) matches(tool []string, args map[string]any, cmds map[string]*ShellFindings) bool {
	if r.tool != nil && !containsRun(tool, r.tool) {
		return false
	}
	for _, a := range r.args {
		v, at, ok := lookup(args, a.pointer)
		if !ok {
			return false
		}
		if sf := cmds[at]; sf != nil {
			if !r.matchesCommand(sf, a.words, v) {
				return false
			}
			continue
		}
		if !containsRun(Words(valueText(v)), a.words) {
			return false
		}
	}
	return true
}

// matchesCommand matches a rule's words against a parsed command (see
// Decide).
func (r *Rule) matchesCommand(sf *ShellFindings, want []string, v any) bool {
	if r.Decision == Allow {
		if len(sf.Simple) < len(want) {
			return false
		}
		for i, w := range want {
			if got := Words(sf.Simple[i]); len(got) != 1 || got[0] != w {
				return false
			}
		}
		return true
	}
	if containsRun(Words(valueText(v)), want) {
		return true
	}
	for _, c := range sf.Calls {
		if containsRun(Words(strings.Join(c, " ")), want) {
			return true
		}
	}
	return false
}

// lookup finds the value at ptr, and its pointer with the keys as args
// spells them.
func lookup(v any, ptr []string) (any, string, bool) {
	at := ""
	for _, k := range ptr {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, k, ok = field(x, k); !ok {
				return nil, "", false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, "", false
			}
			v = x[i]
		default:
			return nil, "", false
		}
		at += "/" + k
	}
	return v, at, true
}

// valueText is the text of a value for matching: strings as they are,
// other scalars as JSON, arrays and objects as their parts' texts joined
// by spaces.
func valueText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = valueText(e)
		}
		return strings.Join(parts, " ")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, 0, 2*len(x))
		for _, k := range keys {
			parts = append(parts, k, valueText(x[k]))
		}
		return strings.Join(parts, " ")
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

// Words splits s into lower-case words for matching on word boundaries:
// runs of letters and digits, after Unicode compatibility normalization
// (full-width letters become ASCII) with invisible format characters
// removed, so that neither look-alikes nor zero-width joiners split or
// hide a word. Anything else, "_" included, separates words: a rule for
// "read" matches fs_read_file and read, never readlink.
func Words(s string) []string {
	s = norm.NFKC.String(s)
	s = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// containsRun reports whether want appears in words as a contiguous run.
func containsRun(words, want []string) bool {
	for i := 0; i+len(want) <= len(words); i++ {
		if slices.Equal(words[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

// FoldKey maps s to a canonical form under Unicode simple case folding:
// each rune becomes the smallest rune of its folding orbit, so "K", "k"
// and the Kelvin sign, or "s" and "ſ", become the same. Decoders such as
// Go's encoding/json match object keys this way, so a rule or a guard
// that names an argument must find it under any such spelling.
func FoldKey(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}

// field returns the member of obj whose key folds to the same as k (the
// host refuses objects with two such keys, so there is at most one).
func field(obj map[string]any, k string) (any, string, bool) {
	if v, ok := obj[k]; ok {
		return v, k, true
	}
	fk := FoldKey(k)
	for key, v := range obj {
		if FoldKey(key) == fk {
			return v, key, true
		}
	}
	return nil, "", false
}
