package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Programs the parsed checks know by name.
var (
	shellNames = set("sh bash dash zsh ksh mksh ash yash posh rbash fish csh tcsh")
	// interpreters, with the short options that give them code inline.
	interpreterInline = map[string]string{
		"python": "c", "pypy": "c", "perl": "eE", "ruby": "e", "node": "ep", "nodejs": "ep",
		"bun": "ep", "php": "r", "lua": "e", "luajit": "e", "rscript": "e", "osascript": "e",
		"tclsh": "", "wish": "", "jshell": "", "irb": "", "deno": "",
	}
	downloaderNames = set("curl wget fetch aria2c axel http https xh lynx links w3m elinks lwp-download lwp-request get ftp tftp nc ncat netcat socat telnet scp rsync sftp")
	decoderNames    = set("base64 base32 basenc xxd uudecode openssl gunzip zcat bzcat xzcat unxz bunzip2 zstd rev")
	formatNames     = set("mkfs mke2fs mkswap mkntfs mkdosfs mkexfatfs wipefs blkdiscard")
	// harmlessPaths are devices a command may name although /dev is
	// protected: they hold nothing and reach nothing.
	harmlessPaths = set("/dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/stdin /dev/stdout /dev/stderr /dev/fd/0 /dev/fd/1 /dev/fd/2")
)

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// interpreter returns the interpreter name is (python3.12 is python).
func interpreter(name string) (string, bool) {
	n := strings.ToLower(strings.TrimRight(name, "0123456789.-"))
	_, ok := interpreterInline[n]
	return n, ok
}

// wrapper describes a program that runs the command its arguments name.
type wrapper struct {
	valued  string   // short options that take a value
	long    []string // long options that take a value as the next word
	fixed   int      // words before the command (timeout's duration)
	assigns bool     // NAME=VALUE words before the command (env)
	stop    string   // short options with which nothing is run (command -v)
	code    string   // short option whose value is shell code (su -c)
	joined  bool     // the command words are joined and run by sh -c (watch)
}

var wrapperTable = map[string]wrapper{
	"env":       {valued: "uCS", long: []string{"--unset", "--chdir", "--split-string"}, assigns: true, code: "S"},
	"nice":      {valued: "n", long: []string{"--adjustment"}},
	"ionice":    {valued: "cnpPu", long: []string{"--class", "--classdata"}, stop: "pPu"},
	"timeout":   {valued: "sk", long: []string{"--signal", "--kill-after"}, fixed: 1},
	"nohup":     {},
	"time":      {valued: "fo", long: []string{"--format", "--output"}},
	"command":   {stop: "vV"},
	"builtin":   {},
	"exec":      {valued: "a"},
	"setsid":    {},
	"stdbuf":    {valued: "ioe", long: []string{"--input", "--output", "--error"}},
	"unbuffer":  {},
	"chrt":      {fixed: 1, stop: "p"},
	"taskset":   {fixed: 1, stop: "p"},
	"flock":     {valued: "wEc", long: []string{"--timeout", "--conflict-exit-code", "--command"}, fixed: 1, code: "c"},
	"xargs":     {valued: "IiLlnPsdEa", long: []string{"--arg-file", "--delimiter", "--max-args", "--max-procs", "--max-lines", "--replace", "--max-chars", "--eof"}},
	"strace":    {valued: "oeEpPsSuIbXaU", long: []string{"--output", "--expr", "--user", "--attach"}},
	"ltrace":    {valued: "oeEpsSuaAlLnx", long: []string{"--output"}},
	"sudo":      {valued: "ugCDhpTrtUc", long: []string{"--user", "--group", "--chdir", "--host", "--prompt", "--close-from", "--role", "--type", "--other-user", "--command-timeout"}},
	"doas":      {valued: "uC"},
	"su":        {valued: "cgGsw", long: []string{"--command", "--group", "--shell", "--whitelist-environment"}, code: "c", fixed: 1},
	"runuser":   {valued: "cgGsuw", long: []string{"--command", "--group", "--shell", "--user"}, code: "c"},
	"chroot":    {long: []string{"--userspec", "--groups"}, fixed: 1},
	"nsenter":   {valued: "tSGwr", long: []string{"--target", "--setuid", "--setgid", "--wd", "--root"}},
	"unshare":   {valued: "S G R w", long: []string{"--setuid", "--setgid", "--root", "--wd"}},
	"watch":     {valued: "ndq", long: []string{"--interval", "--differences", "--equexit"}, joined: true},
	"busybox":   {},
	"toybox":    {},
	"catchsegv": {},
	"valgrind":  {},
	"fakeroot":  {valued: "sil", long: []string{"--lib", "--faked"}},
	"nocache":   {},
	"rlwrap":    {},
	"numactl":   {valued: "CNmpiP", long: []string{"--physcpubind", "--cpunodebind", "--membind", "--preferred", "--interleave"}},
	"prlimit":   {valued: "p", long: []string{"--pid"}},
	"cgexec":    {valued: "g"},
	"script":    {valued: "cEIOBTm", long: []string{"--command", "--log-in", "--log-out", "--log-io", "--log-timing", "--echo", "--logging-format"}, code: "c"},
	"parallel":  {valued: "jSaI", long: []string{"--jobs", "--sshlogin", "--arg-file"}, joined: true},
	"systemd-run": {valued: "pEMuH", long: []string{"--property", "--setenv", "--machine", "--unit", "--uid", "--gid",
		"--working-directory", "--description", "--slice", "--host"}},
	"dbus-run-session": {},
	"ssh-agent":        {valued: "aEPt"},
	"firejail":         {},
	"doas-keepenv":     {},
}

// shortOption reports the kind of a short option cluster's letters for
// wrapper w: whether the next word is the value of its last option, and
// whether it holds a stop or code option (and the code glued to it).
func (w wrapper) cluster(opt string) (needsValue, stop bool, code string, isCode bool) {
	for j := 1; j < len(opt); j++ {
		l := opt[j]
		if strings.IndexByte(w.stop, l) >= 0 {
			stop = true
		}
		if strings.IndexByte(w.valued, l) >= 0 {
			isCode = w.code != "" && strings.IndexByte(w.code, l) >= 0
			if j+1 < len(opt) {
				return false, stop, opt[j+1:], isCode
			}
			return true, stop, "", isCode
		}
	}
	return false, stop, "", false
}

// inner returns the commands c runs through a wrapper, and the words it
// gives a shell as code (su -c, watch); nothing when c is not a wrapper
// or runs nothing.
func inner(c *call) (calls []*call, code []word) {
	name := c.name()
	if name == "find" {
		return findExec(c), nil
	}
	if name == "busybox" || name == "toybox" {
		if len(c.words) > 1 {
			return []*call{{words: c.words[1:], in: c.in, hdoc: c.hdoc, redir: c.redir}}, nil
		}
		return nil, nil
	}
	w, ok := wrapperTable[name]
	if !ok {
		return nil, nil
	}
	fixed := w.fixed
	ws := c.words[1:]
	for i := 0; i < len(ws); i++ {
		s := ws[i].s
		switch {
		case s == "--":
			return wrapped(c, w, ws[i+1:], fixed, code)
		case strings.HasPrefix(s, "--"):
			opt, _, hasValue := strings.Cut(s, "=")
			if opt == "--command" && w.code != "" {
				if hasValue {
					return nil, append(code, word{s: s[len(opt)+1:], lit: ws[i].lit, subst: ws[i].subst})
				} else if i+1 < len(ws) {
					return nil, append(code, ws[i+1])
				}
				return nil, code
			}
			if !hasValue && slices.Contains(w.long, opt) {
				i++
			}
		case len(s) > 1 && s[0] == '-':
			needs, stop, glued, isCode := w.cluster(s)
			if stop {
				return nil, code
			}
			if isCode {
				switch {
				case glued != "":
					code = append(code, word{s: glued, lit: ws[i].lit, subst: ws[i].subst})
				case i+1 < len(ws):
					code = append(code, ws[i+1])
				}
				if name == "env" {
					// env -S splits its value into the command.
					i++
					continue
				}
				return nil, code
			}
			if needs {
				i++
			}
		case w.assigns && strings.Contains(s, "=") && !strings.HasPrefix(s, "="):
		case fixed > 0:
			fixed--
		default:
			return wrapped(c, w, ws[i:], 0, code)
		}
	}
	return nil, code
}

// wrapped makes the command a wrapper runs of its remaining words.
func wrapped(c *call, w wrapper, rest []word, fixed int, code []word) ([]*call, []word) {
	if fixed > 0 {
		if fixed >= len(rest) {
			return nil, code
		}
		rest = rest[fixed:]
	}
	if len(rest) == 0 {
		return nil, code
	}
	if w.joined {
		parts := make([]string, len(rest))
		lit := true
		var subst []*syntax.Stmt
		for i, r := range rest {
			parts[i], lit = r.s, lit && r.lit
			subst = append(subst, r.subst...)
		}
		return nil, append(code, word{s: strings.Join(parts, " "), lit: lit, subst: subst})
	}
	in := &call{words: rest, in: c.in, hdoc: c.hdoc, redir: c.redir}
	if c.name() == "xargs" {
		in.fromStdin = true
	}
	return []*call{in}, code
}

// findExec returns the commands of find's -exec, -execdir, -ok and
// -okdir.
func findExec(c *call) []*call {
	var out []*call
	for i := 1; i < len(c.words); i++ {
		switch c.words[i].s {
		case "-exec", "-execdir", "-ok", "-okdir":
			j := i + 1
			for j < len(c.words) && c.words[j].s != ";" && c.words[j].s != "+" {
				j++
			}
			if j > i+1 {
				out = append(out, &call{words: c.words[i+1 : j]})
			}
			i = j
		}
	}
	return out
}

// codeWord checks a word that a shell will run as code.
func (a *analyzer) codeWord(w word, depth int) {
	if a.downloads(w.subst) {
		a.floor(&Finding{ID: "download-exec-shell", Category: CategoryRemoteExec, Reason: "downloaded content run by a shell through substitution"})
	}
	if !w.lit {
		a.deny("shell-code-built", CategoryInjection, "a shell runs code built at run time, which cannot be checked before it runs")
		return
	}
	a.code(w.s, depth)
}

// call checks a simple command and what it runs.
func (a *analyzer) call(c *call, depth int) {
	lits := make([]string, len(c.words))
	for i, w := range c.words {
		if w.lit {
			lits[i] = w.s
		}
	}
	a.out.Calls = append(a.out.Calls, lits)
	layers := []*call{c}
	for n := 0; n < len(layers) && n < 64; n++ {
		a.layer(layers[n], depth)
		ins, code := inner(layers[n])
		for _, w := range code {
			a.codeWord(w, depth)
		}
		layers = append(layers, ins...)
	}
	for _, w := range c.words {
		a.wordSubst(w, depth)
		a.pathWord(w, false)
	}
}

// layer checks one command of a call: the call itself or the command a
// wrapper runs.
func (a *analyzer) layer(c *call, depth int) {
	if len(c.words) == 0 {
		return
	}
	head := c.words[0]
	if !head.lit {
		a.deny("variable-command", CategoryEvasion, "the command's name is built at run time, which hides what runs")
		return
	}
	name := c.name()
	a.rules(c)
	a.executes(c)
	switch {
	case name == "cd" || name == "pushd":
		a.cd(c)
	case name == "rm":
		a.rm(c)
	case shellNames[name]:
		a.shell(c, depth)
	case name == "eval":
		code := make([]string, 0, len(c.words)-1)
		lit := true
		for _, w := range c.words[1:] {
			code, lit = append(code, w.s), lit && w.lit
		}
		a.codeWord(word{s: strings.Join(code, " "), lit: lit, subst: substOf(c.words[1:])}, depth)
	case name == "source" || name == ".":
		if len(c.words) > 1 {
			a.script(c.words[1], "source")
		}
	case name == "alias":
		for _, w := range c.words[1:] {
			if _, v, ok := strings.Cut(w.s, "="); ok && w.lit {
				a.code(v, depth)
			}
		}
	case name == "sed" || name == "gsed":
		a.sed(c)
	case name == "chmod":
		a.chmod(c)
	case formatNames[strings.SplitN(name, ".", 2)[0]]:
		a.floor(&Finding{ID: "format-filesystem", Category: CategoryDestruction, Reason: "creates or wipes a file system, swap area or disk"})
	default:
		if n, ok := interpreter(name); ok {
			a.interpreter(c, n)
		}
	}
	a.records(c)
}

func substOf(ws []word) (out []*syntax.Stmt) {
	for _, w := range ws {
		out = append(out, w.subst...)
	}
	return out
}

// rules applies the policy's commands.deny: an entry matches a command
// whose name is its first word and whose arguments hold its other words,
// in order (git push matches git -C repo push --force).
func (a *analyzer) rules(c *call) {
	if a.out.Rule != nil {
		return
	}
	name := c.name()
	for _, r := range a.sh.Deny {
		if len(r) == 0 || filepath.Base(r[0]) != name {
			continue
		}
		k := 1
		for _, w := range c.words[1:] {
			if k < len(r) && w.s == r[k] {
				k++
			}
		}
		if k == len(r) {
			a.out.Rule = &Finding{ID: "commands-deny", Category: CategoryPolicy, Reason: fmt.Sprintf("the policy's commands.deny lists %q", strings.Join(r, " "))}
			return
		}
	}
}

// CategoryPolicy is the category of refusals by a policy's own lists.
const CategoryPolicy = "policy"

// cd follows the current folder, for relative paths.
func (a *analyzer) cd(c *call) {
	if len(c.words) != 2 || !c.words[1].lit || c.words[1].tilde || c.words[1].glob || a.sh.Paths == nil {
		a.cwd = ""
		return
	}
	if a.cwd == "" {
		return
	}
	ps := *a.sh.Paths
	ps.Workspace = a.cwd
	abs, err := ps.Resolve(c.words[1].s)
	if err != nil {
		a.cwd = ""
		return
	}
	a.cwd = abs
}

// pathWord checks a word that may name a path.
func (a *analyzer) pathWord(w word, redirect bool) {
	if !w.lit {
		if strings.HasPrefix(strings.ToLower(w.known), "/dev/") && !harmlessPaths[filepath.Clean(w.known)] {
			a.deny("dev-path-built", CategoryEvasion, "a /dev/ path built at run time, as hidden /dev/tcp connections are")
		}
		// What is written before the expansion is named anyway
		// (~/.ssh/$f).
		if i := strings.LastIndexByte(w.known, '/'); i >= 0 {
			if f := FloorName(w.known[:i]); f != nil {
				a.floor(f)
			}
		}
		return
	}
	for _, c := range PathCandidates(w.s) {
		a.checkPath(c, w.glob)
	}
	if w.s == "" || LooksLikePath(w.s) || strings.ContainsRune(w.s, 0) {
		return
	}
	// A plain name is a path when it is a redirection's target or names
	// a file where the command runs.
	exists := false
	if a.cwd != "" {
		_, err := os.Lstat(filepath.Join(a.cwd, w.s))
		exists = err == nil
	}
	if redirect || exists {
		a.checkPath("./"+w.s, w.glob)
	}
}

func (a *analyzer) checkPath(p string, glob bool) {
	if harmlessPaths[filepath.Clean(p)] {
		return
	}
	if f := FloorName(p); f != nil {
		a.floor(f)
		return
	}
	if glob {
		a.dotGlob(p)
	}
	if a.sh.Paths == nil {
		return
	}
	bases := []string{a.cwd}
	if a.cwd == "" {
		bases = []string{a.sh.Paths.Workspace, "/"}
	}
	for _, base := range bases {
		ps := *a.sh.Paths
		ps.Workspace = base
		abs, err := ps.Resolve(p)
		if err != nil {
			continue
		}
		if f := ps.Floor(abs); f != nil && !harmlessPaths[abs] {
			a.floor(f)
			return
		}
		if glob {
			matches, ok := shellGlob(abs, &a.globBudget)
			if !ok {
				a.floor(&Finding{ID: "glob-too-large", Category: CategoryEvasion, Reason: fmt.Sprintf("the command's patterns match more than %d names, too many to check", globBudget)})
				return
			}
			for _, m := range matches {
				if f := ps.Floor(m); f != nil {
					a.floor(f)
					return
				}
			}
		}
	}
}

// dotGlob refuses a pattern whose component starts with a dot and could
// match a protected name (.e* matches .env), whether or not such a file
// exists now.
func (a *analyzer) dotGlob(p string) {
	for _, comp := range strings.Split(p, "/") {
		if !strings.HasPrefix(comp, ".") || !strings.ContainsAny(comp, "*?[") {
			continue
		}
		for _, n := range protectedNames {
			for _, name := range n.names {
				first, _, _ := strings.Cut(name, "/")
				if ok, _ := filepath.Match(strings.ToLower(comp), first); ok {
					a.floor(n.finding())
					return
				}
			}
		}
	}
}

// globBudget is how many folder entries the patterns of one command may
// read.
const globBudget = 50000

// shellGlob expands an absolute pattern as the shell does (a leading dot
// must be matched by a dot), reading at most *budget folder entries; false
// when the budget ran out.
func shellGlob(pattern string, budget *int) ([]string, bool) {
	parts := strings.Split(strings.TrimPrefix(filepath.Clean(pattern), "/"), "/")
	cur := []string{"/"}
	for _, part := range parts {
		var next []string
		if !strings.ContainsAny(part, "*?[") {
			for _, d := range cur {
				next = append(next, filepath.Join(d, part))
			}
			cur = next
			continue
		}
		for _, d := range cur {
			entries, err := os.ReadDir(d)
			if err != nil {
				continue
			}
			for _, e := range entries {
				if *budget--; *budget < 0 {
					return nil, false
				}
				if strings.HasPrefix(e.Name(), ".") && !strings.HasPrefix(part, ".") {
					continue
				}
				if ok, _ := filepath.Match(part, e.Name()); ok {
					next = append(next, filepath.Join(d, e.Name()))
				}
			}
		}
		cur = next
	}
	return cur, true
}

// rm refuses recursive deletes of the root or the home folder, however
// spelled, and of targets nobody can see before it runs.
func (a *analyzer) rm(c *call) {
	recursive, opts := false, true
	var targets []word
	for _, w := range c.words[1:] {
		switch {
		case opts && w.s == "--":
			opts = false
		case opts && strings.HasPrefix(w.s, "--"):
			if w.s == "--recursive" {
				recursive = true
			}
			if strings.HasPrefix(w.s, "--no-preserve") {
				a.floor(rmRoot("--no-preserve-root"))
			}
		case opts && len(w.s) > 1 && w.s[0] == '-':
			if strings.ContainsAny(w.s, "rR") {
				recursive = true
			}
		default:
			targets = append(targets, w)
		}
	}
	if !recursive {
		return
	}
	if c.fromStdin {
		if c.in != nil {
			for _, f := range c.in.prev {
				for _, w := range f.words[1:] {
					if a.rootTarget(w) {
						a.floor(rmRoot(w.s))
						return
					}
				}
			}
		}
		a.deny("rm-unseen-targets", CategoryDestruction, "recursive delete of targets read from standard input, which cannot be checked before it runs")
	}
	for _, t := range targets {
		if !t.lit {
			// What is left with the expansions empty: $X/ and ${X}/*
			// are the root then, $HOME/build is not.
			if rest := strings.TrimRight(filepath.Clean("/"+t.s), "/*."); rest == "" || rest == "~" {
				a.deny("rm-unseen-targets", CategoryDestruction, "recursive delete of a target built at run time that is the root folder when it expands to nothing")
				if strings.HasPrefix(t.known, "/") || strings.HasPrefix(t.known, "~") {
					a.floor(rmRoot(t.known + "..."))
				}
			}
			continue
		}
		if a.rootTarget(t) {
			a.floor(rmRoot(t.s))
		}
	}
}

func rmRoot(target string) *Finding {
	return &Finding{ID: "rm-root", Category: CategoryDestruction, Reason: fmt.Sprintf("recursive delete of the root folder or the home folder (%s)", target)}
}

// rootTarget reports whether w names the root or the home folder, or
// everything in them.
func (a *analyzer) rootTarget(w word) bool {
	if !w.lit {
		return false
	}
	s := w.s
	if w.tilde {
		rest := strings.TrimLeft(strings.TrimPrefix(s, "~"), "/")
		_, user, _ := strings.Cut(strings.TrimPrefix(s, "~"), "/")
		return rest == "" || rest == "*" || rest == ".*" || (strings.IndexByte(s, '/') < 0 && user == "")
	}
	dir, last := s, ""
	if w.glob {
		// The folder before the first pattern component.
		comps := strings.Split(s, "/")
		for i, comp := range comps {
			if strings.ContainsAny(comp, "*?[") {
				dir, last = strings.Join(comps[:i], "/"), comp
				if dir == "" && strings.HasPrefix(s, "/") {
					dir = "/"
				}
				break
			}
		}
	}
	if dir == "" {
		dir = "."
	}
	abs := filepath.Clean(dir)
	if a.sh.Paths != nil && a.cwd != "" {
		ps := *a.sh.Paths
		ps.Workspace = a.cwd
		if r, err := ps.Resolve(dir); err == nil {
			abs = r
		}
	} else if !filepath.IsAbs(dir) {
		return false
	}
	home, _ := os.UserHomeDir()
	if abs != "/" && (home == "" || abs != filepath.Clean(home)) {
		return false
	}
	return !w.glob || last != ""
}

// shell checks what a shell runs: its -c code, its script, or its
// standard input.
func (a *analyzer) shell(c *call, depth int) {
	codeMode := false
	ws := c.words[1:]
	operands := []word(nil)
options:
	for i := 0; i < len(ws); i++ {
		s := ws[i].s
		switch {
		case s == "--" || s == "-":
			operands = ws[i+1:]
			break options
		case s == "-o" || s == "+o" || s == "--rcfile" || s == "--init-file" || s == "-O" || s == "+O":
			i++
		case strings.HasPrefix(s, "--"):
		case len(s) > 1 && (s[0] == '-' || s[0] == '+'):
			if strings.IndexByte(s, 'c') > 0 {
				codeMode = true
			}
		default:
			operands = ws[i:]
			break options
		}
	}
	switch {
	case codeMode && len(operands) > 0:
		a.codeWord(operands[0], depth)
	case codeMode:
	case len(operands) > 0:
		a.script(operands[0], "a shell")
	default:
		a.stdinCode(c, depth, true)
	}
}

// interpreter checks what a script interpreter runs.
func (a *analyzer) interpreter(c *call, name string) {
	inline := interpreterInline[name]
	for _, w := range c.words[1:] {
		s := w.s
		switch {
		case (name == "deno" && s == "eval") || s == "--eval" || s == "--print" || strings.HasPrefix(s, "--eval=") || strings.HasPrefix(s, "--print="):
			a.deny("interpreter-inline", CategoryInjection, fmt.Sprintf("%s runs code given inline", name))
			return
		case strings.HasPrefix(s, "--"):
		case len(s) > 1 && s[0] == '-':
			letters := s[1:]
			if name == "perl" {
				if i := strings.IndexAny(letters, "MmIxdDCi0l"); i >= 0 {
					letters = letters[:i]
				}
			}
			if inline != "" && strings.ContainsAny(letters, inline) {
				a.deny("interpreter-inline", CategoryInjection, fmt.Sprintf("%s runs code given inline", name))
				return
			}
			if name == "python" && strings.HasPrefix(letters, "m") {
				return // a module
			}
		case s == "-":
			a.stdinCode(c, 0, false)
			return
		default:
			a.script(w, name)
			return
		}
	}
	a.stdinCode(c, 0, false)
}

// stdinCode checks a shell or interpreter that runs its standard input:
// a here-document or here-string, a pipe or a redirected file.
func (a *analyzer) stdinCode(c *call, depth int, isShell bool) {
	for _, h := range c.hdoc {
		if !isShell {
			a.deny("interpreter-inline", CategoryInjection, fmt.Sprintf("%s runs code from a here-document or here-string", c.name()))
			continue
		}
		a.codeWord(h, depth)
	}
	for _, r := range c.redir {
		if r.Op == syntax.RdrIn && r.Word != nil {
			a.script(evalWord(r.Word), c.name())
		}
	}
	if c.in == nil {
		return
	}
	downloaded := c.in.download
	switch {
	case isShell && downloaded:
		a.floor(&Finding{ID: "curl-pipe-shell", Category: CategoryRemoteExec, Reason: "downloaded content piped into a shell"})
	case isShell:
		a.deny("pipe-to-shell", CategoryInjection, "output piped into a shell, which runs it as code")
	case downloaded:
		a.deny("curl-pipe-interpreter", CategoryRemoteExec, "downloaded content piped into a script interpreter")
	default:
		a.deny("pipe-to-interpreter", CategoryInjection, "output piped into a script interpreter, which runs it as code")
	}
}

// isDownloader reports whether c, or what it wraps, downloads or decodes.
func (a *analyzer) isDownloader(c *call) bool {
	layers := []*call{c}
	for n := 0; n < len(layers) && n < 64; n++ {
		name := layers[n].name()
		if downloaderNames[name] || decoderNames[name] {
			return true
		}
		ins, _ := inner(layers[n])
		layers = append(layers, ins...)
	}
	return false
}

// downloads reports whether statements run a download.
func (a *analyzer) downloads(sts []*syntax.Stmt) bool {
	found := false
	for _, st := range sts {
		walkCalls(st, func(ws []word) {
			if len(ws) > 0 && downloaderNames[filepath.Base(ws[0].s)] {
				found = true
			}
		})
	}
	return found
}

// script checks a file given to a shell or an interpreter to run.
func (a *analyzer) script(w word, by string) {
	if a.downloads(w.subst) {
		a.floor(&Finding{ID: "download-exec-shell", Category: CategoryRemoteExec, Reason: "downloaded content run by " + by + " through substitution"})
	}
	if a.wasDownloaded(w) {
		a.deny("download-then-run", CategoryRemoteExec, "downloads a file and then runs it")
	}
}

// executes checks a command whose name is a file downloaded before it.
func (a *analyzer) executes(c *call) {
	if strings.Contains(c.words[0].s, "/") && a.wasDownloaded(c.words[0]) {
		a.deny("download-then-run", CategoryRemoteExec, "downloads a file and then runs it")
	}
}

func (a *analyzer) wasDownloaded(w word) bool {
	if len(a.downloaded) == 0 || !w.lit {
		return len(a.downloaded) > 0 && !w.lit
	}
	p := a.abs(w.s)
	for _, d := range a.downloaded {
		if d == "*" || d == p {
			return true
		}
	}
	return false
}

func (a *analyzer) abs(p string) string {
	if filepath.IsAbs(p) || a.cwd == "" {
		return filepath.Clean(p)
	}
	return filepath.Join(a.cwd, p)
}

var execMode = regexp.MustCompile(`^(?:[ugoa]*[+=][rwst]*x|[0-7]*[1357][0-7]{0,2})$`)

// chmod refuses making a downloaded file executable.
func (a *analyzer) chmod(c *call) {
	exec := false
	for _, w := range c.words[1:] {
		if execMode.MatchString(w.s) {
			exec = true
			continue
		}
		if exec && !strings.HasPrefix(w.s, "-") && a.wasDownloaded(w) {
			a.deny("download-then-run", CategoryRemoteExec, "downloads a file and makes it executable")
		}
	}
}

// sed refuses scripts that run commands (GNU sed's e).
func (a *analyzer) sed(c *call) {
	var scripts []string
	ws := c.words[1:]
	explicit := false
	for i := 0; i < len(ws); i++ {
		s := ws[i].s
		switch {
		case s == "-e" || s == "--expression":
			if i+1 < len(ws) {
				scripts = append(scripts, ws[i+1].s)
			}
			explicit = true
			i++
		case strings.HasPrefix(s, "--expression="):
			scripts, explicit = append(scripts, strings.TrimPrefix(s, "--expression=")), true
		case strings.HasPrefix(s, "-e") && !strings.HasPrefix(s, "--"):
			scripts, explicit = append(scripts, s[2:]), true
		case s == "-f" || s == "--file":
			i++
			explicit = true
		case strings.HasPrefix(s, "-"):
		default:
			if !explicit {
				scripts = append(scripts, s)
				explicit = true
			}
		}
	}
	for _, s := range scripts {
		if sedRunsCommands(s) {
			a.deny("sed-exec", CategoryInjection, "a sed script with the e command, which runs shell commands")
			return
		}
	}
}

// sedRunsCommands reports whether a sed script uses e: as a command
// (after an address or at a command's start) or as a flag of s.
func sedRunsCommands(script string) bool {
	for _, cmd := range splitSed(script) {
		cmd = strings.TrimLeft(cmd, " \t")
		cmd = strings.TrimLeft(skipSedAddress(cmd), " \t!")
		if cmd == "" {
			continue
		}
		switch cmd[0] {
		case 'e':
			return true
		case 's':
			if len(cmd) < 2 {
				continue
			}
			delim := cmd[1]
			n, i := 0, 2
			for ; i < len(cmd) && n < 2; i++ {
				switch cmd[i] {
				case '\\':
					i++
				case delim:
					n++
				}
			}
			flags := cmd[i:]
			if j := strings.IndexAny(flags, "w "); j >= 0 {
				flags = flags[:j]
			}
			if strings.Contains(flags, "e") {
				return true
			}
		}
	}
	return false
}

// splitSed splits a sed script at ; and newlines outside s commands,
// roughly: enough to find each command's first letter.
func splitSed(script string) []string {
	return strings.FieldsFunc(script, func(r rune) bool { return r == ';' || r == '\n' || r == '{' || r == '}' })
}

// skipSedAddress drops a leading address: numbers, $, /re/ or \cREc, and
// a second one after a comma or ~.
func skipSedAddress(s string) string {
	for k := 0; k < 2; k++ {
		switch {
		case s == "":
			return s
		case s[0] >= '0' && s[0] <= '9' || s[0] == '$':
			s = strings.TrimLeft(s, "0123456789$")
		case s[0] == '/' || s[0] == '\\':
			delim, i := byte('/'), 1
			if s[0] == '\\' && len(s) > 1 {
				delim, i = s[1], 2
			}
			for ; i < len(s) && s[i] != delim; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			s = s[min(i+1, len(s)):]
			s = strings.TrimLeft(s, "IM")
		}
		if s == "" || (s[0] != ',' && s[0] != '~') {
			return s
		}
		s = s[1:]
	}
	return s
}

// records notes the files a download or decoder writes.
func (a *analyzer) records(c *call) {
	name := c.name()
	if (c.in != nil && c.in.download) || a.isDownloader(c) {
		for _, r := range c.redir {
			if (r.Op == syntax.RdrOut || r.Op == syntax.AppOut || r.Op == syntax.RdrAll || r.Op == syntax.AppAll || r.Op == syntax.RdrClob) && r.Word != nil {
				a.downloadedTo(evalWord(r.Word))
			}
		}
	}
	ws := c.words[1:]
	switch name {
	case "curl":
		for i := 0; i < len(ws); i++ {
			s := ws[i].s
			switch {
			case s == "--output" || s == "-o":
				if i+1 < len(ws) {
					a.downloadedTo(ws[i+1])
				}
				i++
			case strings.HasPrefix(s, "--output="):
				a.downloadedTo(word{s: strings.TrimPrefix(s, "--output="), lit: ws[i].lit})
			case s == "--remote-name" || s == "--remote-name-all" || s == "--remote-header-name":
				a.downloaded = append(a.downloaded, "*")
			case strings.HasPrefix(s, "-") && !strings.HasPrefix(s, "--"):
				if strings.ContainsAny(s, "OJ") {
					a.downloaded = append(a.downloaded, "*")
				}
				if j := strings.IndexByte(s, 'o'); j > 0 {
					if j+1 < len(s) {
						a.downloadedTo(word{s: s[j+1:], lit: ws[i].lit})
					} else if i+1 < len(ws) {
						a.downloadedTo(ws[i+1])
						i++
					}
				}
			}
		}
	case "wget":
		named := false
		for i := 0; i < len(ws); i++ {
			s := ws[i].s
			switch {
			case s == "-O" || s == "--output-document":
				if i+1 < len(ws) && ws[i+1].s != "-" {
					a.downloadedTo(ws[i+1])
				}
				named = true
				i++
			case strings.HasPrefix(s, "--output-document="):
				a.downloadedTo(word{s: strings.TrimPrefix(s, "--output-document="), lit: ws[i].lit})
				named = true
			case strings.HasPrefix(s, "-O") && len(s) > 2:
				if s[2:] != "-" {
					a.downloadedTo(word{s: s[2:], lit: ws[i].lit})
				}
				named = true
			}
		}
		if !named {
			a.downloaded = append(a.downloaded, "*")
		}
	case "aria2c", "axel", "lwp-download", "ftp", "tftp", "scp", "rsync", "sftp", "fetch", "uudecode", "xxd":
		if name == "xxd" && !containsWord(ws, "-r") {
			return
		}
		a.downloaded = append(a.downloaded, "*")
	}
}

func containsWord(ws []word, s string) bool {
	for _, w := range ws {
		if w.s == s {
			return true
		}
	}
	return false
}

func (a *analyzer) downloadedTo(w word) {
	if !w.lit {
		a.downloaded = append(a.downloaded, "*")
		return
	}
	if w.s == "-" || harmlessPaths[w.s] {
		return
	}
	a.downloaded = append(a.downloaded, a.abs(w.s))
}

// walkCalls calls f with the words of every simple command in st.
func walkCalls(st *syntax.Stmt, f func([]word)) {
	syntax.Walk(st, func(n syntax.Node) bool {
		if ce, ok := n.(*syntax.CallExpr); ok {
			ws := make([]word, len(ce.Args))
			for i, w := range ce.Args {
				ws[i] = evalWord(w)
			}
			f(ws)
		}
		return true
	})
}
