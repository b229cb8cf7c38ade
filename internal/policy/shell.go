package policy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	shexpand "mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// Shell checks a command argument the way the shell will run it. The
// text signatures (FloorCommand, DenyCommand) read a command as text;
// Shell parses it with a real shell parser and judges what runs:
//
//   - every simple command, wherever it sits (pipelines, lists, loops,
//     subshells, functions, substitutions, here-documents fed to a shell,
//     the code of sh -c, eval and alias), with its words as the shell
//     reads them: quotes removed, escapes decoded (git pu\sh is git push);
//   - the command behind a wrapper that runs its arguments (env, nice,
//     ionice, timeout, nohup, stdbuf, setsid, xargs, find -exec, flock,
//     watch, busybox, ...), so that curl ... | ionice sh is a pipe into a
//     shell;
//   - every word that can name a path (with what follows file://, @, =,
//     host: and a glued short option such as -T/etc/shadow), resolved
//     through the floor; a glob is expanded in the workspace and a dot
//     glob (.e*) is matched against the protected names;
//   - code that runs code: a download piped, substituted or written to a
//     file and then run; here-documents and here-strings fed to an
//     interpreter; sed's e command; a function that calls itself (a fork
//     bomb of any name); a word whose /dev/ path is built at run time;
//   - recursive deletes whose targets are the root or home folder once
//     ".." and globs are taken as the kernel and the shell take them.
//
// A command that does not parse is refused at the floor: it cannot be
// judged, and the shell would not run it either.
type Shell struct {
	// Paths resolves path words relative to the workspace, the folder the
	// tool runs in; nil checks names only.
	Paths *Paths
	// Deny are the entries of a policy's commands.deny, each a list of
	// words (see Policy.Commands.Deny).
	Deny [][]string
}

// ShellFindings are what Shell found, by who may turn them off.
type ShellFindings struct {
	// Floor: never turned off (the command does not parse, a floor
	// path, a floor signature seen through the parse).
	Floor *Finding
	// Rule: an entry of the policy's commands.deny, applied in every
	// mode.
	Rule *Finding
	// Deny: the denylist's parsed checks, not applied in strict mode,
	// where only allowlisted commands run.
	Deny *Finding
	// Calls are the literal words of every simple command found, in the
	// order the text gives them (a word built at run time is "").
	Calls [][]string
	// Simple are the words of the command when it is one simple command
	// of literal words, with no redirection, assignment or anything else;
	// nil otherwise.
	Simple []string
}

// any reports the first finding, floor first.
func (f *ShellFindings) first() *Finding {
	switch {
	case f.Floor != nil:
		return f.Floor
	case f.Rule != nil:
		return f.Rule
	}
	return f.Deny
}

// maxShellDepth bounds how deep code inside code (sh -c 'sh -c ...') is
// followed; deeper is refused.
const maxShellDepth = 8

// MaxCommandBytes bounds the command Shell checks. Linux refuses a single
// argument of more than 128 KiB to a program (MAX_ARG_STRLEN), so no tool
// can pass a longer command line to a shell whole; twice that leaves room
// for argv arrays.
const MaxCommandBytes = 256 << 10

func tooLong(n int) *Finding {
	return &Finding{ID: "command-too-long", Category: CategoryEvasion, Reason: fmt.Sprintf("the command is %d bytes, more than the %d a command may have", n, MaxCommandBytes)}
}

// Check parses cmd as a bash command line and checks it.
func (s *Shell) Check(cmd string) ShellFindings {
	a := s.analyzer()
	if len(cmd) > MaxCommandBytes {
		a.floor(tooLong(len(cmd)))
		return a.out
	}
	f, err := parseShell(cmd)
	if err != nil {
		a.floor(&Finding{ID: "unparsable-command", Category: CategoryEvasion, Reason: fmt.Sprintf("the command does not parse as a shell command (%v), so it cannot be checked", err)})
		return a.out
	}
	a.file(f, 0)
	a.out.Simple = simple(f)
	return a.out
}

// CheckArgv checks an argv array, which runs without a shell: its words
// are literal.
func (s *Shell) CheckArgv(argv []string) ShellFindings {
	a := s.analyzer()
	if n := len(strings.Join(argv, " ")); n > MaxCommandBytes {
		a.floor(tooLong(n))
		return a.out
	}
	ws := make([]word, len(argv))
	for i, v := range argv {
		ws[i] = word{s: v, lit: true, known: v}
	}
	c := &call{words: ws}
	a.call(c, 0)
	a.out.Simple = slices.Clone(argv)
	return a.out
}

func (s *Shell) analyzer() *analyzer {
	a := &analyzer{sh: s, globBudget: globBudget}
	if s.Paths != nil {
		a.cwd = s.Paths.Workspace
	}
	return a
}

func parseShell(cmd string) (*syntax.File, error) {
	if strings.ContainsRune(cmd, 0) {
		return nil, fmt.Errorf("a NUL byte")
	}
	return syntax.NewParser(syntax.Variant(syntax.LangBash), syntax.KeepComments(false)).Parse(strings.NewReader(cmd), "")
}

// simple returns the words of f when it is one simple command of literal
// words and nothing else.
func simple(f *syntax.File) []string {
	if len(f.Stmts) != 1 {
		return nil
	}
	st := f.Stmts[0]
	ce, ok := st.Cmd.(*syntax.CallExpr)
	if !ok || st.Negated || st.Background || st.Coprocess || len(st.Redirs) > 0 || len(ce.Assigns) > 0 || len(ce.Args) == 0 {
		return nil
	}
	out := make([]string, len(ce.Args))
	for i, w := range ce.Args {
		v := evalWord(w)
		if !v.lit || v.glob || v.tilde || braces(w)[0] != w {
			return nil
		}
		out[i] = v.s
	}
	return out
}

// word is a word of a command as the shell reads it.
type word struct {
	s     string // its value, with the parts built at run time left out
	lit   bool   // no part is built at run time
	known string // the literal text before the first part built at run time
	glob  bool   // an unquoted *, ? or [ makes it a pattern
	tilde bool   // it starts with an unquoted ~
	subst []*syntax.Stmt
	node  *syntax.Word
}

// evalWord reads a word: quotes removed, escapes and $'...' decoded.
func evalWord(w *syntax.Word) word {
	out := word{lit: true, node: w}
	var b strings.Builder
	dynamic := func() {
		if out.lit {
			out.known = b.String()
		}
		out.lit = false
	}
	var parts func(ps []syntax.WordPart, quoted bool)
	parts = func(ps []syntax.WordPart, quoted bool) {
		for i, p := range ps {
			switch x := p.(type) {
			case *syntax.Lit:
				v := x.Value
				if !quoted {
					if i == 0 && b.Len() == 0 && strings.HasPrefix(v, "~") {
						out.tilde = true
					}
					if strings.ContainsAny(unescaped(v), "*?[") {
						out.glob = true
					}
				}
				b.WriteString(unquoteLit(v, quoted))
			case *syntax.SglQuoted:
				if x.Dollar {
					lit, err := shexpand.Literal(nil, &syntax.Word{Parts: []syntax.WordPart{x}})
					if err != nil {
						dynamic()
						continue
					}
					b.WriteString(lit)
					continue
				}
				b.WriteString(x.Value)
			case *syntax.DblQuoted:
				parts(x.Parts, true)
			case *syntax.CmdSubst:
				out.subst = append(out.subst, x.Stmts...)
				dynamic()
			case *syntax.ProcSubst:
				out.subst = append(out.subst, x.Stmts...)
				dynamic()
			default: // parameter and arithmetic expansions, extended globs, braces
				dynamic()
				syntax.Walk(p, func(n syntax.Node) bool {
					switch y := n.(type) {
					case *syntax.CmdSubst:
						out.subst = append(out.subst, y.Stmts...)
					case *syntax.ProcSubst:
						out.subst = append(out.subst, y.Stmts...)
					}
					return true
				})
			}
		}
	}
	parts(w.Parts, false)
	out.s = b.String()
	if out.lit {
		out.known = out.s
	}
	return out
}

// unescaped drops escaped characters from an unquoted literal, leaving
// what the shell treats as special.
func unescaped(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' {
			i++
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// unquoteLit removes the backslashes the shell removes: before any
// character outside quotes, before $ ` " \ and newline inside double
// quotes; an escaped newline disappears.
func unquoteLit(v string, quoted bool) string {
	if !strings.Contains(v, "\\") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' || i+1 == len(v) {
			b.WriteByte(c)
			continue
		}
		n := v[i+1]
		switch {
		case n == '\n':
			i++
		case !quoted || strings.IndexByte("$`\"\\", n) >= 0:
			b.WriteByte(n)
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// call is a simple command: its words, where its input comes from, where
// its output goes.
type call struct {
	words []word
	// stdin: the code a here-document or here-string gives it, or the
	// calls piped into it.
	hdoc  []word
	in    *pipeIn // its pipeline input, or nil
	redir []*syntax.Redirect
	// xargs: the words come partly from standard input.
	fromStdin bool
}

func (c *call) name() string {
	if len(c.words) == 0 {
		return ""
	}
	return filepath.Base(c.words[0].s)
}

type analyzer struct {
	sh  *Shell
	out ShellFindings
	// cwd is where relative paths are, "" once a cd made it unknown.
	cwd string
	// downloaded are files written by a download or a decoder; "*" when
	// their names are not in the command (curl -O, wget URL).
	downloaded []string
	globBudget int
}

func (a *analyzer) floor(f *Finding) {
	if a.out.Floor == nil {
		a.out.Floor = f
	}
}

func (a *analyzer) deny(id, category, reason string) {
	if a.out.Deny == nil {
		a.out.Deny = &Finding{ID: id, Category: category, Reason: reason}
	}
}

func (a *analyzer) file(f *syntax.File, depth int) {
	a.stmts(f.Stmts, depth)
}

func (a *analyzer) stmts(sts []*syntax.Stmt, depth int) {
	for _, st := range sts {
		a.stmt(st, nil, depth)
	}
}

// pipeIn is what a pipeline feeds a command's standard input.
type pipeIn struct {
	prev     []*call // the commands of the stage before
	download bool    // a stage before downloads or decodes
}

// stage is a checked statement as a pipeline stage: its commands (the
// last stage's, for a pipeline) and whether it or a stage before it
// downloads.
type stage struct {
	calls    []*call
	download bool
}

// stmt checks a statement; in is its pipeline input, or nil.
func (a *analyzer) stmt(st *syntax.Stmt, in *pipeIn, depth int) stage {
	if st == nil {
		return stage{}
	}
	var hdoc []word
	for _, r := range st.Redirs {
		a.redirect(r, depth)
		if r.Op == syntax.Hdoc || r.Op == syntax.DashHdoc {
			if r.Hdoc != nil {
				hdoc = append(hdoc, evalWord(r.Hdoc))
			}
		}
		if r.Op == syntax.WordHdoc && r.Word != nil {
			hdoc = append(hdoc, evalWord(r.Word))
		}
	}
	switch x := st.Cmd.(type) {
	case nil: // redirections alone (> f)
	case *syntax.CallExpr:
		for _, as := range x.Assigns {
			a.assign(as, depth)
		}
		c := &call{in: in, hdoc: hdoc, redir: st.Redirs}
		for _, w := range x.Args {
			for _, bw := range braces(w) {
				c.words = append(c.words, evalWord(bw))
			}
		}
		if len(c.words) == 0 {
			return stage{}
		}
		a.call(c, depth)
		return stage{calls: []*call{c}, download: (in != nil && in.download) || a.isDownloader(c)}
	case *syntax.BinaryCmd:
		left := a.stmt(x.X, in, depth)
		if x.Op == syntax.Pipe || x.Op == syntax.PipeAll {
			return a.stmt(x.Y, &pipeIn{prev: left.calls, download: left.download}, depth)
		}
		return a.stmt(x.Y, nil, depth)
	case *syntax.FuncDecl:
		names := x.Names
		if x.Name != nil {
			names = append(names, x.Name)
		}
		for _, n := range names {
			name := n.Value
			recursive := false
			syntax.Walk(x.Body, func(n syntax.Node) bool {
				if ce, ok := n.(*syntax.CallExpr); ok && len(ce.Args) > 0 {
					if w := evalWord(ce.Args[0]); w.s == name || !w.lit {
						recursive = true
					}
				}
				return true
			})
			if recursive {
				a.floor(&Finding{ID: "fork-bomb", Category: CategoryDestruction, Reason: fmt.Sprintf("function %q calls itself, as fork bombs do", name)})
			}
		}
		a.stmt(x.Body, nil, depth)
	default:
		// Compound commands: check every statement and word inside.
		var out stage
		syntax.Walk(st.Cmd, func(n syntax.Node) bool {
			switch y := n.(type) {
			case *syntax.Stmt:
				s := a.stmt(y, in, depth)
				out.calls = append(out.calls, s.calls...)
				out.download = out.download || s.download
				return false
			case *syntax.Word:
				a.wordSubst(evalWord(y), depth)
				return false
			case *syntax.Assign:
				a.assign(y, depth)
				return false
			}
			return true
		})
		return out
	}
	return stage{}
}

// braces returns the words a brace expansion makes of w (or w).
func braces(w *syntax.Word) []*syntax.Word {
	cp := &syntax.Word{Parts: slices.Clone(w.Parts)}
	if !syntax.SplitBraces(cp) {
		return []*syntax.Word{w}
	}
	var out []*syntax.Word
	for bw, err := range shexpand.BracesSeq(nil, cp) {
		if err != nil || len(out) >= 256 {
			return []*syntax.Word{w} // too many: judged as written
		}
		out = append(out, bw)
	}
	return out
}

// assign checks a variable's value: it may be a path used later.
func (a *analyzer) assign(as *syntax.Assign, depth int) {
	if as.Value != nil {
		w := evalWord(as.Value)
		a.wordSubst(w, depth)
		a.pathWord(w, false)
	}
	if as.Array != nil {
		for _, e := range as.Array.Elems {
			if e.Value != nil {
				w := evalWord(e.Value)
				a.wordSubst(w, depth)
				a.pathWord(w, false)
			}
		}
	}
}

// wordSubst checks the substitutions inside a word.
func (a *analyzer) wordSubst(w word, depth int) {
	if len(w.subst) > 0 {
		a.nested(depth, func(d int) { a.stmts(w.subst, d) })
	}
}

// nested runs check one level deeper, refusing beyond maxShellDepth.
func (a *analyzer) nested(depth int, check func(int)) {
	if depth+1 > maxShellDepth {
		a.floor(&Finding{ID: "nesting-too-deep", Category: CategoryEvasion, Reason: fmt.Sprintf("code nested more than %d levels deep cannot be checked", maxShellDepth)})
		return
	}
	check(depth + 1)
}

// code checks text that a shell will run (sh -c, eval, a here-document).
func (a *analyzer) code(text string, depth int) {
	a.nested(depth, func(d int) {
		f, err := parseShell(text)
		if err != nil {
			a.floor(&Finding{ID: "unparsable-command", Category: CategoryEvasion, Reason: fmt.Sprintf("code given to a shell does not parse (%v), so it cannot be checked", err)})
			return
		}
		cwd := a.cwd
		a.file(f, d)
		a.cwd = cwd
	})
}

func (a *analyzer) redirect(r *syntax.Redirect, depth int) {
	if r.Word == nil {
		return
	}
	w := evalWord(r.Word)
	a.wordSubst(w, depth)
	switch r.Op {
	case syntax.Hdoc, syntax.DashHdoc, syntax.WordHdoc:
		if r.Hdoc != nil {
			a.wordSubst(evalWord(r.Hdoc), depth)
		}
		return
	}
	a.pathWord(w, true)
}
