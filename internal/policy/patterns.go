package policy

// The pattern language the signatures are written in.

import (
	"regexp"
	"strings"
)

// wrapperWords are the commands that run their arguments as a command.
var wrapperWords = map[string]bool{
	"sudo": true, "doas": true, "env": true, "command": true, "exec": true, "nohup": true, "time": true,
	"nice": true, "stdbuf": true, "setsid": true, "timeout": true, "xargs": true, "busybox": true,
}

// Building blocks of the patterns. They match normalized (lower-case) text.
const (
	// wEnd is the end of a word.
	wEnd = `(?:$|[\s;&|)<>` + "`" + `}])`
	// cmdEnd is the end of a simple command.
	cmdEnd = `\s*(?:$|[;&|)` + "`" + `}])`
	// wChar is a character of a plain word.
	wChar = `[^\s;&|<>()` + "`" + `]`
	// argUnits is any number of plain words, each followed by white space.
	argUnits = `(?:` + wChar + `+\s+)*`
	// options is any number of options (words starting with "-").
	options = `(?:\s+-` + wChar + `*)*`
	// wrappers are command prefixes that run the next word as a command.
	// Their options, variable assignments and numbers are skipped.
	wrappers = `(?:(?:` + wChar + `*/)?(?:sudo|doas|env|command|exec|nohup|time|nice|stdbuf|setsid|timeout|xargs|busybox)` +
		`(?:\s+-[ug]\s+` + wChar + `+|\s+(?:-|[a-z_]+=|[0-9])` + wChar + `*)*\s+)*`
	// anyDir is an optional folder before a command word.
	anyDir = `(?:` + wChar + `*/)?`
	// shells are the shell programs.
	shells = `(?:(?:ba|z|da|k|mk|c|tc|fi|a)?sh|\$\{?shell\}?|\$0)`
	// shellWords lists the shells as words.
	shellWords = "sh bash zsh dash ksh mksh csh tcsh fish ash"
	// interpreterWords lists the script interpreters as words.
	interpreterWords = "python pypy perl ruby node nodejs php lua tclsh deno bun pwsh osascript"
	// interpreters are the script interpreters.
	interpreters = `(?:python[0-9.]*|pypy[0-9.]*|perl[0-9.]*|ruby[0-9.]*|node|nodejs|php[0-9.]*|lua[0-9.]*|tclsh[0-9.]*|deno|bun|pwsh|osascript)`
	// stdinProgram is the rest of an interpreter call that reads its
	// program from standard input: only flags, or "-".
	stdinProgram = `(?:\s+-[a-z]*)*` + cmdEnd
	// pipeInto is a pipe into a command, through wrappers and a folder.
	pipeInto = `\|&?\s*[({]?\s*` + wrappers + anyDir
	// pipeCode is a pipe into a shell or an interpreter reading code.
	pipeCode = pipeInto + `(?:` + shells + wEnd + `|` + interpreters + stdinProgram + `)`
	// stages is the rest of a command and further pipeline stages (not ||).
	stages = `(?:\s[^;&|]*)?(?:\|&?[^;&|][^;&|]*)*`
	// downloaders lists the programs that fetch URLs, as words.
	downloaders = "curl wget wget2 fetch aria2c http https xh"
	// downloader is one of them.
	downloader = `(?:curl|wget2?|fetch|aria2c|https?|xh)`
	// rmFlag is rm's recursive flag.
	rmFlag = `-[a-z]*r[a-z]*|--r[a-z-]*`
	// recFlag is chmod's and chown's recursive flag.
	recFlag = `-[a-z]*r[a-z]*|--recursive`
	// rootTargets are the root and home folders and everything in them.
	rootTargets = `(?:/|~/*|\$\{?home\}?/*)/*(?:\*/*)?|\{(?:[^}]*,)?(?:/|~|\$home)/*(?:,[^}]*)?\}`
	// sysTargets are system folders, their direct subfolders, other users'
	// homes and sensitive folders of the home folder.
	sysTargets = `/+(?:bin|boot|dev|etc|home|lib[a-z0-9]*|media|mnt|opt|proc|root|run|sbin|snap|srv|sys|usr|var)(?:/+[^\s;&|<>()/` + "`" + `]+)?/*\*?` +
		`|~[a-z_][a-z0-9_.-]*/*\*?|(?:~|\$\{?home\}?)/+\.(?:ssh|gnupg|config|local|aws|kube|docker)/*`
	// hereTargets are the current and parent folders and everything in them.
	hereTargets = `(?:\.{1,2}/+)*(?:\.{1,2}|\*|\.\*)/*`
	// blockDevice is the name of a disk, partition or memory device in
	// /dev/.
	blockDevice = `(?:[shv]d|xvd|[?*\[]|nvme|mmcblk|md[0-9]|dm-|loop|nbd|zram|ram[0-9]|sr[0-9]|fd[0-9]|root|k?mem|port|mapper/|disk/)` + wChar + `*`
	// pathStart are the bytes a path may follow in a written word.
	pathStart = " \t>="
	// startupFile is a shell startup file of a home folder.
	startupFile = `(?:~|\$home|\$\{home\}|/root|/home/` + wChar + `+)/+\.(?:bashrc|bash_profile|bash_login|bash_logout|profile|zshrc|zprofile|zshenv|zlogin|cshrc|tcshrc|kshrc|inputrc)`
	// adminGroup is a group whose members are or can become root.
	adminGroup = `(?:sudo|wheel|admin|root|adm|docker|lxd|disk|shadow)`
	// forkBody is a function body that runs commands in the background
	// twice or in a pipe: with the function calling itself, a fork bomb.
	forkBody = `[^}]*(?:\|[^}&]*|[^&}]&[^&}][^}&]*)&(?:[^&]|$)`
	// firewallUnit is a firewall service.
	firewallUnit = `(?:ufw|firewalld|iptables|ip6tables|nftables|netfilter-persistent)(?:\.service)?`
	// printableEscape is a backslash escape of a printable ASCII character.
	printableEscape = `\\(?:x[2-7][0-9a-f]|0?[4-7][0-7]|1[0-7][0-7])`
)

// words returns patterns for each command word of the space-separated
// list, followed by tail. They share one regular expression.
func words(list, tail string) []pat {
	ws := strings.Fields(list)
	p := newPat("", tail)
	p.word = true
	ps := make([]pat, len(ws))
	for i, w := range ws {
		ps[i] = p
		ps[i].kw = w
	}
	return ps
}

// lit returns a pattern for kw anywhere, followed by tail.
func lit(kw, tail string) []pat {
	return []pat{newPat(kw, tail)}
}

// op returns a pattern for the operator kw, followed by tail, when not
// escaped and not right after a byte of badPrev.
func op(kw, badPrev, tail string) []pat {
	p := newPat(kw, tail)
	p.badPrev = `\` + badPrev
	return []pat{p}
}

// after returns a pattern for kw right after a byte of prev, followed by
// tail.
func after(prev, kw, tail string) []pat {
	p := newPat(kw, tail)
	p.prev = prev
	return []pat{p}
}

// newPat returns a pattern for kw followed by tail.
func newPat(kw, tail string) pat {
	p := pat{kw: kw, re: anchored(tail), next: nextOf(tail)}
	p.reach, p.reachSpace = reachOf(tail)
	return p
}

// nextOf returns what must follow a keyword for tail to match: 's' when
// tail starts with white space, 'e' when it is the end of a word, 0 when
// this is not known.
func nextOf(tail string) byte {
	switch {
	case tail == wEnd:
		return 'e'
	case len(tail) > 2 && tail[:2] == `\s` && tail[2] != '*' && tail[2] != '?' && !alternates(tail):
		return 's'
	}
	return 0
}

// alternates reports whether the expression re has alternatives at its top
// level, which may start differently from its first one.
func alternates(re string) bool {
	depth, class := 0, false
	for i := 0; i < len(re); i++ {
		switch c := re[i]; {
		case c == '\\':
			i++
		case class:
			class = c != ']'
		case c == '[':
			class = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			return true
		}
	}
	return false
}

// anchored compiles re to match at the start of a text only; nil for "".
func anchored(re string) *regexp.Regexp {
	if re == "" {
		return nil
	}
	return regexp.MustCompile(`^(?:` + re + `)`)
}

// recursive returns patterns for the command words of list given a flag
// and a target argument, in either order.
func recursive(list, flag, target string) []pat {
	return words(list, flagAndTarget(flag, target))
}

// flagAndTarget matches the arguments of a command that include a flag and
// a target, in either order.
func flagAndTarget(flag, target string) string {
	f, t := `(?:`+flag+`)`, `(?:`+target+`)`
	return `\s+` + argUnits + `(?:` + f + `\s+` + argUnits + t + `|` + t + `\s+` + argUnits + f + `)` + wEnd
}

// writes returns patterns for each keyword of the space-separated list,
// followed by tail, in a word that a command writes to (see writtenAt),
// right after a byte of prev. They share one regular expression.
func writes(prev, list, tail string) []pat {
	p := newPat("", tail)
	p.prev, p.check = prev, writtenAt
	var ps []pat
	for _, kw := range strings.Fields(list) {
		p.kw = kw
		ps = append(ps, p)
	}
	return ps
}

// needing marks patterns that can only match where one of the
// space-separated literals occurs in the text their expression sees: a
// cheap test that spares most runs of the expression.
func needing(literals string, ps []pat) []pat {
	for i := range ps {
		ps[i].need = strings.Fields(literals)
	}
	return ps
}

// withCheck adds the condition check to patterns.
func withCheck(check func(t *text, i int) bool, ps []pat) []pat {
	for i := range ps {
		ps[i].check = check
	}
	return ps
}

// wide marks patterns that may match across ; && and ||.
func wide(ps []pat) []pat {
	for i := range ps {
		ps[i].wide = true
	}
	return ps
}

func join(groups ...[]pat) []pat {
	var ps []pat
	for _, g := range groups {
		ps = append(ps, g...)
	}
	return ps
}

func sig(id, category, reason string, groups ...[]pat) signature {
	return signature{Finding: Finding{ID: id, Category: category, Reason: reason}, pats: join(groups...)}
}

func rawSig(id, category, reason string, groups ...[]pat) signature {
	s := sig(id, category, reason, groups...)
	s.raw = true
	return s
}

// floorSignatures returns the signatures that are always refused.
func floorSignatures() []signature {
	return []signature{
		sig("rm-root", CategoryDestruction, "recursive delete of the root folder or the home folder",
			needing("/ ~ $", recursive("rm", rmFlag, rootTargets)),
			needing("--no-p", words("rm", `\s+`+argUnits+`--no-p[a-z-]*`+wEnd)),
			needing("rm", wide(words("cd", `\s+(?:/+|~/*|\$\{?home\}?/*)\s*(?:;|&&)\s*`+wrappers+anyDir+`rm`+flagAndTarget(rmFlag, hereTargets))))),
		sig("fork-bomb", CategoryDestruction, "fork bomb that fills the process table",
			wide(after("( ", "){", forkBody)), wide(after("( ", ") {", forkBody)),
			wide(withCheck(functionBody, after(" ", "{", forkBody))),
			wide(words("while until", `\s+(?:true|false|:|1)\s*;\s*do\s+[^;&]*[^&;]&\s*(?:;\s*)?done`))),
		sig("curl-pipe-shell", CategoryRemoteExec, "downloaded content piped into a shell",
			needing("|", words(downloaders, stages+pipeInto+shells+wEnd))),
		sig("download-exec-shell", CategoryRemoteExec, "downloaded content run by a shell through substitution",
			needing("$( ` <(", words(shellWords+" eval source .", options+`(?:\s+|\s*<{1,3}\s*)(?:\$\(|`+"`"+`|<\()\s*`+wrappers+anyDir+downloader+wEnd))),
		sig("block-device-write", CategoryDestruction, "write to a disk, partition or memory device",
			writes(pathStart, "/dev/", blockDevice+wEnd)),
		sig("format-filesystem", CategoryDestruction, "creates or wipes a file system, swap area or disk",
			words("mkfs mke2fs mkswap mkntfs mkdosfs mkexfatfs wipefs blkdiscard", `(?:\.[a-z0-9]+)?`+wEnd)),
		sig("device-wipe", CategoryDestruction, "overwrites a disk or partition",
			words("shred wipe scrub", `\s+`+argUnits+`/dev/`+blockDevice+wEnd)),
	}
}
