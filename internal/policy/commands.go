package policy

import (
	"strings"
)

// Finding says why a command is refused.
type Finding struct {
	ID       string // stable id, kebab-case, e.g. "rm-root", "curl-pipe-shell"
	Category string // one of the Category* constants
	Reason   string // one human sentence, e.g. "recursive delete of the root folder"
}

// Categories of findings.
const (
	CategoryDestruction  = "data-destruction"
	CategoryRemoteExec   = "remote-execution"
	CategoryInjection    = "code-injection"
	CategorySubstitution = "substitution" // command and process substitution
	CategoryPrivilege    = "privilege-escalation"
	CategoryNetwork      = "network-manipulation"
	CategoryKernel       = "kernel-modules"
	CategoryEvasion      = "evasion"
	// CategoryAllowlist is the category of a strict-mode refusal of a
	// command that no allowlist entry names.
	CategoryAllowlist = "allowlist"
)

// NotAllowlisted is the ID of AllowCommand's refusals that are not floor
// matches.
const NotAllowlisted = "not-allowlisted"

// FloorCommand reports whether cmd matches one of the floor's dangerous
// command signatures; nil when none matches. The floor can never be turned
// off. Like DenyCommand and AllowCommand, it takes time linear in the
// length of cmd, whatever cmd holds, so it may check any string.
func FloorCommand(cmd string) *Finding {
	return compiled().floor.firstIn(&text{s: NormalizeCommand(cmd)}, &text{})
}

// DenyCommand checks cmd against the floor signatures and then the
// denylist; nil when nothing matches. Denylist entries are tried in the
// order Denylist returns them (specific ones before broad ones such as
// "sudo" or "command-substitution") and the first match is returned. Most
// entries look at the normalized command (see NormalizeCommand); the
// evasion entries that look for the tricks normalization undoes look at the
// lower-cased raw command.
//
// A command word matches wherever a word may start: at the beginning, after
// white space, ; & | ( { or a backtick, also behind a folder ending in
// "bin/", "./" or "../" (/usr/bin/sudo), but not right after a word that
// only looks commands up (which, type, man, whatis, whereis, apropos, info,
// help, getent, command -v). Words inside quoted strings count: the model
// can always remove the quotes.
func DenyCommand(cmd string) *Finding {
	c := compiled()
	n := &text{s: NormalizeCommand(cmd)}
	if f := c.floor.firstIn(n, &text{}); f != nil {
		return f
	}
	return c.deny.firstIn(n, &text{s: strings.ToLower(cmd)})
}

// AllowCommand reports whether cmd is allowed by an allowlist (used in
// strict mode); nil means allowed. Each entry is a word sequence such as
// "git status" or "ls". cmd is allowed when it matches no floor signature;
// is a single simple command: no ; & | newline, no redirection < >, no
// parentheses, no substitution $( ` <( >(, no $ at all (variables) and no
// evasion trick (see Denylist), all checked on the normalized command; and
// its leading words, as the shell parses them (quotes and escapes
// resolved, so g\it status is git status), equal an entry's words
// exactly, byte for byte ("git status -s" matches "git status", "git
// statusx", "GIT status" and "/usr/bin/git status" do not, "ls" does not
// allow "lsof"). The denylist is not applied: an allowlist entry is an
// explicit choice. A floor match is returned as is; other refusals have the
// ID NotAllowlisted and the category CategorySubstitution,
// CategoryInjection, CategoryEvasion or, for commands no entry names,
// CategoryAllowlist.
func AllowCommand(cmd string, allow []string) *Finding {
	c := compiled()
	n := NormalizeCommand(cmd)
	if f := c.floor.firstIn(&text{s: n}, &text{}); f != nil {
		return f
	}
	refuse := func(category, reason string) *Finding {
		return &Finding{ID: NotAllowlisted, Category: category, Reason: reason}
	}
	switch {
	case strings.Contains(n, "$(") || strings.Contains(n, "`") ||
		strings.Contains(n, "<(") || strings.Contains(n, ">("):
		return refuse(CategorySubstitution, "command or process substitution is not allowed in strict mode")
	case strings.Contains(n, "$"):
		return refuse(CategoryInjection, "variable expansion is not allowed in strict mode")
	case strings.ContainsAny(n, ";&|"):
		return refuse(CategoryInjection, "chained or piped commands are not allowed in strict mode")
	case strings.ContainsAny(n, "<>"):
		return refuse(CategoryInjection, "redirection is not allowed in strict mode")
	case strings.ContainsAny(n, "()"):
		return refuse(CategoryInjection, "subshells and function definitions are not allowed in strict mode")
	}
	if i := c.deny.raw.first(&text{s: strings.ToLower(cmd)}, len(c.deny.sigs)); i < len(c.deny.sigs) {
		return refuse(CategoryEvasion, c.deny.sigs[i].Reason)
	}
	// The words as the shell reads them: quotes and escapes resolved.
	sf := (&Shell{}).Check(cmd)
	if sf.Floor != nil {
		return sf.Floor
	}
	words := sf.Simple
	if words == nil {
		return refuse(CategoryInjection, "the command is not one simple command of plain words")
	}
	for _, entry := range allow {
		want := fields(entry)
		if len(want) == 0 || len(want) > len(words) {
			continue
		}
		same := true
		for i, w := range want {
			if words[i] != w {
				same = false
				break
			}
		}
		if same {
			return nil
		}
	}
	return refuse(CategoryAllowlist, "the command is not on the allowlist")
}

// fields splits s at spaces and tabs, the shell's word separators.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' })
}

// Denylist returns a copy of the denylist entries, in the order DenyCommand
// tries them.
func Denylist() []Finding { return compiled().deny.findings() }

// FloorSignatures returns a copy of the floor's command signatures, in the
// order they are tried.
func FloorSignatures() []Finding { return compiled().floor.findings() }
