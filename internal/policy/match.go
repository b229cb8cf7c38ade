package policy

// The matcher: compiled signature lists, and the normalized text they
// are matched against, with what each pattern may check around a match.

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// compiled returns the floor and the denylist, compiled on first use:
// compiling their regular expressions takes milliseconds that programs
// which never check a command should not pay when they start.
var compiled = sync.OnceValue(func() *lists {
	return &lists{floor: newList(floorSignatures()), deny: newList(denySignatures())}
})

type lists struct{ floor, deny *list }

// signature is a floor or denylist entry: it matches when one of its
// patterns does.
type signature struct {
	Finding
	raw  bool // match the lower-cased raw command, not the normalized one
	pats []pat
}

// pat is one pattern of a signature: the literal kw, checked for what comes
// before and after it, then re, anchored right after kw (nil matches
// anything). Looking for literals first and then running short anchored
// expressions costs little however long the command is.
type pat struct {
	sig     int    // index of the signature in its list
	id      int    // index of the pattern in its index
	kw      string // the keyword
	word    bool   // kw must start a command word (see commandWordAt)
	prev    string // when set, the byte before kw must be one of these
	badPrev string // the byte before kw must not be one of these
	next    byte   // what must follow kw: 's' white space, 'e' a word's end
	// check, when set, is a further condition on where kw is.
	check func(t *text, i int) bool
	// need, when set, lists literals one of which must occur in the text
	// re sees: a cheap test that spares most runs of re.
	need []string
	wide bool // re may match across ; && || (else it sees one command)
	// reach says how far a failed run of re rules out later runs at the
	// same keyword (see reachOf); reachSpace that it does so only when
	// white space follows the keyword.
	reach      int
	reachSpace bool
	re         *regexp.Regexp
}

// startsAt checks what comes before and right after the keyword at t.s[i].
func (p *pat) startsAt(t *text, i int) bool {
	s := t.s
	if i == 0 {
		if p.prev != "" {
			return false
		}
	} else {
		c := s[i-1]
		if strings.IndexByte(p.badPrev, c) >= 0 || p.prev != "" && strings.IndexByte(p.prev, c) < 0 {
			return false
		}
	}
	if j := i + len(p.kw); p.next == 's' && (j == len(s) || !isSpace[s[j]]) ||
		p.next == 'e' && j < len(s) && !isEnd[s[j]] {
		return false
	}
	return (!p.word || commandWordAt(t, i)) && (p.check == nil || p.check(t, i))
}

// list is a compiled list of signatures.
type list struct {
	sigs      []signature
	norm, raw index // patterns of the normalized and of the raw command
}

func newList(sigs []signature) *list {
	l := &list{sigs: sigs}
	for i := range sigs {
		x := &l.norm
		if sigs[i].raw {
			x = &l.raw
		}
		for j := range sigs[i].pats {
			p := &sigs[i].pats[j]
			p.sig = i
			x.add(p)
		}
	}
	return l
}

func (l *list) findings() []Finding {
	out := make([]Finding, len(l.sigs))
	for i, s := range l.sigs {
		out[i] = s.Finding
	}
	return out
}

// first returns the first signature matching the normalized command norm
// or, for raw signatures, the lower-cased raw command lower.
func (l *list) first(norm, lower string) *Finding {
	return l.firstIn(&text{s: norm}, &text{s: lower})
}

// firstIn is first on texts, which may be shared between lists.
func (l *list) firstIn(norm, lower *text) *Finding {
	i := l.raw.first(lower, l.norm.first(norm, len(l.sigs)))
	if i == len(l.sigs) {
		return nil
	}
	f := l.sigs[i].Finding
	return &f
}

// index finds patterns in a text.
type index struct {
	// words holds the command word patterns by the first letter of their
	// keyword (a-z, then _), grouped by the keyword's leading letters.
	words [27][]wordPats
	// lits holds the other patterns by the first byte of their keyword,
	// grouped by keyword; firsts lists the first bytes in use.
	lits   [256][][]*pat
	firsts []byte
	n      int // number of patterns
}

type wordPats struct {
	key  string // leading letters of the keywords
	pats []*pat
}

func (x *index) add(p *pat) {
	p.id = x.n
	x.n++
	if k := letters(p.kw); p.word && k != "" {
		ws := &x.words[slot(k[0])]
		for i := range *ws {
			if (*ws)[i].key == k {
				(*ws)[i].pats = append((*ws)[i].pats, p)
				return
			}
		}
		*ws = append(*ws, wordPats{k, []*pat{p}})
		return
	}
	c := p.kw[0]
	for i, g := range x.lits[c] {
		if g[0].kw == p.kw {
			x.lits[c][i] = append(g, p)
			return
		}
	}
	if x.lits[c] == nil {
		x.firsts = append(x.firsts, c)
	}
	x.lits[c] = append(x.lits[c], []*pat{p})
}

// slot returns where words starting with the letter or underscore c are.
func slot(c byte) int {
	if c == '_' {
		return 26
	}
	return int(c - 'a')
}

// letters returns the leading run of letters and underscores of s.
func letters(s string) string {
	n := 0
	for n < len(s) && (s[n] >= 'a' && s[n] <= 'z' || s[n] == '_') {
		n++
	}
	return s[:n]
}

// first returns the index of the first signature, below best, with a
// pattern matching s; best when there is none.
func (x *index) first(t *text, best int) int {
	s := t.s
	if s == "" {
		return best
	}
	t.n, t.fails = x.n, t.fails[:0] // pattern ids are the index's
	// Command words: look each word of s up.
	for i := 0; i < len(s); i++ {
		if wordEnd[s[i]] || i > 0 && !isBoundary[s[i-1]] {
			continue
		}
		e := i + 1
		for e < len(s) && !wordEnd[s[e]] {
			e++
		}
		// The command word starts after the folder, if any; in an
		// assignment (name=value), the name is the word.
		w := s[i:e]
		if k := strings.IndexByte(w, '='); k >= 0 {
			w = w[:k]
		}
		b := i + strings.LastIndexByte(w, '/') + 1
		if k := letters(s[b:e]); k != "" {
			for _, ws := range x.words[slot(k[0])] {
				if ws.key != k {
					continue
				}
				for _, p := range ws.pats {
					if p.sig >= best {
						break
					}
					if strings.HasPrefix(s[b:], p.kw) && t.matches(p, b) {
						best = p.sig
						break
					}
				}
			}
		}
		i = e
	}
	// Other keywords: one scan for each first byte.
	ascii := true
	for i := 0; i < len(s) && ascii; i++ {
		ascii = s[i] < utf8.RuneSelf
	}
	for _, c := range x.firsts {
		groups := x.lits[c]
		if ascii && c >= utf8.RuneSelf || !slices.ContainsFunc(groups, func(g []*pat) bool { return g[0].sig < best }) {
			continue
		}
		for off := 0; off < len(s); {
			i := strings.IndexByte(s[off:], c)
			if i < 0 {
				break
			}
			i += off
			for _, g := range groups {
				if kw := g[0].kw; g[0].sig >= best || len(kw) > 1 && (i+1 >= len(s) || s[i+1] != kw[1]) || !strings.HasPrefix(s[i:], kw) {
					continue
				}
				for _, p := range g {
					if p.sig >= best {
						break
					}
					if t.matches(p, i) {
						best = p.sig
						break
					}
				}
			}
			off = i + 1
		}
	}
	return best
}

// text is a command being matched, with what matching learns about it on
// the way. Together with the reach of failed runs, this keeps matching
// linear in the length of the command, whatever it holds.
type text struct {
	s      string
	n      int                // number of patterns in the index
	pos    []positions        // of literals and byte sets, once needed
	posBuf [8]positions       // room for pos
	fails  []int32            // by pattern id: up to where failed runs rule out runs
	cmds   map[int]*simpleCmd // by where they start, once needed
}

// positions are where a literal or the bytes of a set occur in a text.
type positions struct {
	key string
	at  []int
}

// Byte sets for text.next and text.prev; their names start with a NUL to
// set them apart from literals.
const (
	setSeparators = "\x00;" // ; and also && and || (see text.positions)
	setBoundaries = "\x00 \t\n;&|(`{'\""
	setWordEnds   = "\x00 \t\n;&|(){}<>`'\""
	setCmdSeps    = "\x00;&|()`{}\n"
)

// reachBreaks are, for each kind of reach, the bytes that end what a failed
// run rules out.
var reachBreaks = [...]string{
	reachArgs:  "\x00;&|<>()`",
	reachStage: "\x00;&|",
	reachList:  "\x00;&",
	reachBrace: "\x00}",
	reachSubst: "\x00)`",
}

// positions returns, sorted, where the literal key occurs in t, or, for a
// byte set, where its bytes do (for setSeparators: ; and the first byte of
// && and ||).
func (t *text) positions(key string) []int {
	for _, p := range t.pos {
		if p.key == key {
			return p.at
		}
	}
	s := t.s
	var ps []int
	switch {
	case key == setSeparators:
		for j := 0; j < len(s); j++ {
			switch c := s[j]; {
			case c == ';':
				ps = append(ps, j)
			case (c == '&' || c == '|') && j+1 < len(s) && s[j+1] == c:
				ps = append(ps, j)
				j++
			}
		}
	case key[0] == 0:
		set := byteSet(key[1:])
		n := 0
		for j := 0; j < len(s); j++ {
			if set[s[j]] {
				n++
			}
		}
		ps = make([]int, 0, n)
		for j := 0; j < len(s); j++ {
			if set[s[j]] {
				ps = append(ps, j)
			}
		}
	default:
		for off := 0; ; {
			j := strings.Index(s[off:], key)
			if j < 0 {
				break
			}
			ps = append(ps, off+j)
			off += j + 1
		}
	}
	if t.pos == nil {
		t.pos = t.posBuf[:0]
	}
	t.pos = append(t.pos, positions{key, ps})
	return ps
}

// next returns the first position at or after i of key (see positions), or
// len(t.s).
func (t *text) next(key string, i int) int {
	ps := t.positions(key)
	if k := sort.SearchInts(ps, i); k < len(ps) {
		return ps[k]
	}
	return len(t.s)
}

// prev returns the last position before i of key (see positions), or -1.
func (t *text) prev(key string, i int) int {
	ps := t.positions(key)
	if k := sort.SearchInts(ps, i); k > 0 {
		return ps[k-1]
	}
	return -1
}

// matches reports whether p matches at t.s[i]. Unless p is wide, its
// expression sees the text up to the next ; && or || only.
func (t *text) matches(p *pat, i int) bool {
	if len(t.fails) > 0 && i < int(t.fails[p.id]) || !p.startsAt(t, i) {
		return false
	}
	a, end := i+len(p.kw), len(t.s)
	if !p.wide {
		end = max(a, t.next(setSeparators, a))
	}
	if p.need != nil && !slices.ContainsFunc(p.need, func(n string) bool { return t.next(n, a)+len(n) <= end }) {
		t.fail(p, end) // nothing up to end has what p needs
		return false
	}
	if p.re == nil || p.re.MatchString(t.s[a:end]) {
		return true
	}
	if p.reach == reachEnd {
		t.fail(p, end)
	} else if p.reach != 0 && (!p.reachSpace || a < len(t.s) && isSpace[t.s[a]]) {
		t.fail(p, min(end, t.next(reachBreaks[p.reach], a)))
	}
	return false
}

// fail records that p cannot match at its keyword before end.
// Short texts skip the bookkeeping: it pays only on long ones.
func (t *text) fail(p *pat, end int) {
	if len(t.s) < 512 {
		return
	}
	if len(t.fails) == 0 {
		t.fails = slices.Grow(t.fails, t.n)[:t.n]
		clear(t.fails)
	}
	t.fails[p.id] = int32(end)
}

// Kinds of reach: when a run of a pattern's expression at a keyword fails,
// runs at later occurrences of the keyword fail too, as long as the part of
// the expression that skips arguments could have skipped to them: up to
// the end of what the expression sees (reachEnd) or to the first byte of
// the kind's reachBreaks. This holds for expressions that go on with
// argUnits, [^;&|]*, stages, [^;&]*, [^)`]*, .* or forkBody right after the
// keyword (and white space): the run at the earlier keyword passes through
// every state a run at the later one would start in.
const (
	reachEnd = iota + 1
	reachArgs
	reachStage
	reachList
	reachBrace
	reachSubst
)

// reachOf returns the kind of reach of a pattern followed by tail, and
// whether white space must follow the keyword for it; 0 when tail has none.
func reachOf(tail string) (int, bool) {
	switch {
	case alternates(tail):
		return 0, false
	case strings.HasPrefix(tail, `\s+`+argUnits):
		return reachArgs, true
	case strings.HasPrefix(tail, `\s[^;&|]*`), strings.HasPrefix(tail, stages):
		return reachStage, true
	case strings.HasPrefix(tail, `\s[^;&]*`):
		return reachList, true
	case strings.HasPrefix(tail, `\s.*`):
		return reachEnd, true
	case strings.HasPrefix(tail, `\s[^)`+"`"+`]*`):
		return reachSubst, true
	case strings.HasPrefix(tail, forkBody):
		return reachBrace, false
	}
	return 0, false
}

// isBoundary holds the bytes after which a word may start; wordEnd those
// that end a word; isSpace white space; isEnd what wEnd matches; cmdSep
// the bytes that separate simple commands.
var (
	isBoundary = byteSet(setBoundaries[1:])
	wordEnd    = byteSet(setWordEnds[1:])
	isSpace    = byteSet(" \t\n\r\f\v")
	isEnd      = byteSet(" \t\n\r\f\v;&|)<>`}")
	cmdSep     = byteSet(setCmdSeps[1:])
)

func byteSet(chars string) (set [256]bool) {
	for i := 0; i < len(chars); i++ {
		set[chars[i]] = true
	}
	return set
}

// commandWordAt reports whether a command word may start at t.s[i]: at the
// start or after a boundary, possibly behind a folder ending in "bin/",
// "./" or "../", and not as the argument of a word that only looks
// commands up.
func commandWordAt(t *text, i int) bool {
	s, j := t.s, i
	if j > 0 && s[j-1] == '/' {
		k := t.prev(setBoundaries, i) + 1
		dir := strings.TrimRight(s[k:j], "/")
		if !strings.HasSuffix(dir, "bin") && !strings.HasSuffix(dir, ".") {
			return false
		}
		j = k
	}
	if j > 0 && !isBoundary[s[j-1]] {
		return false
	}
	w, k := previousWord(t, j)
	if w == "-v" {
		w, _ = previousWord(t, k)
		return w != "command"
	}
	return !lookups[w]
}

// lookups are the commands that only print what their arguments are.
var lookups = map[string]bool{
	"which": true, "type": true, "man": true, "whatis": true, "whereis": true,
	"apropos": true, "info": true, "help": true, "getent": true,
}

// previousWord returns the base name of the word before the white space
// before t.s[j], and where it starts; "" when there is none.
func previousWord(t *text, j int) (string, int) {
	e := j
	for e > 0 && (t.s[e-1] == ' ' || t.s[e-1] == '\t') {
		e--
	}
	if e == j {
		return "", j
	}
	b := t.prev(setBoundaries, e) + 1
	return base(t.s[b:e]), b
}

// assignment reports whether the word w assigns a variable.
func assignment(w string) bool {
	k := strings.IndexByte(w, '=')
	if k <= 0 || w[0] >= '0' && w[0] <= '9' {
		return false
	}
	for i := 0; i < k; i++ {
		if c := w[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// base returns the last element of the path p.
func base(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

// pipedInto reports whether the command word at t.s[i] reads a pipe: a |
// (not || or >|) or |& comes before it, with only white space, ( {, wrapper
// commands (sudo, env, ...), their options and variable assignments
// between.
func pipedInto(t *text, i int) bool {
	s := t.s
	k := separatorBefore(t, i)
	for k >= 0 && (s[k] == '(' || s[k] == '{') {
		k = separatorBefore(t, k)
	}
	switch {
	case k < 0:
		return false
	case s[k] == '|':
		return k == 0 || s[k-1] != '|' && s[k-1] != '>'
	case s[k] == '&':
		return k > 0 && s[k-1] == '|' && (k < 2 || s[k-2] != '|')
	}
	return false
}

// commandStart reports whether the word at t.s[i] is where a command
// starts: at the start or after ; & | ( { or a backtick, with only white
// space, wrapper commands, their options and variable assignments between.
func commandStart(t *text, i int) bool {
	return separatorBefore(t, i) != -2
}

// separatorBefore walks back from the word at t.s[i] over white space,
// wrapper commands, options, numbers and variable assignments, and returns
// the index of the separator (see cmdSep) it reaches, -1 at the start,
// -2 when it reaches another word.
func separatorBefore(t *text, i int) int {
	s := t.s
	j := t.prev(setBoundaries, i) + 1
	for {
		for j > 0 && isSpace[s[j-1]] {
			j--
		}
		if j == 0 {
			return -1
		}
		if cmdSep[s[j-1]] {
			return j - 1
		}
		k := t.prev(setWordEnds, j) + 1
		w := s[k:j]
		if w == "" {
			return -2
		}
		if !wrapperWords[base(w)] && w[0] != '-' && (w[0] < '0' || w[0] > '9') && !assignment(w) {
			// the user or group argument of sudo -u or -g
			p := k
			for p > 0 && isSpace[s[p-1]] {
				p--
			}
			if p < 3 || s[p-3:p] != " -u" && s[p-3:p] != " -g" {
				return -2
			}
		}
		j = k
	}
}

// writtenAt reports whether the word containing t.s[i] names a file that
// is written: the target of a redirection (> >> >| &> 2>), a dd of=
// operand, an argument of tee, sed -i, truncate or an editor, or the last
// argument of cp, mv, install, ln or rsync.
func writtenAt(t *text, i int) bool {
	s := t.s
	b, e := t.prev(setWordEnds, i)+1, t.next(setWordEnds, i)
	if strings.HasPrefix(s[b:], "of=") {
		return true
	}
	j := b
	for j > 0 && isSpace[s[j-1]] {
		j--
	}
	if j > 0 && (s[j-1] == '>' || j > 1 && s[j-1] == '|' && s[j-2] == '>') {
		return true
	}
	c := t.command(t.prev(setCmdSeps, b) + 1)
	switch {
	case writeCommands[c.name]:
		return true
	case c.name == "sed":
		return c.inPlace
	case lastArgCommands[c.name]:
		rest := strings.TrimLeft(s[e:t.next(setCmdSeps, e)], " \t")
		return rest == "" || strings.HasPrefix(strings.TrimLeft(rest, "0123456789&"), ">")
	}
	return false
}

// simpleCmd is what writtenAt needs to know of a simple command.
type simpleCmd struct {
	name    string // the command, without wrappers and folder
	inPlace bool   // an option of sed that edits in place
}

// command returns the simple command that starts at t.s[k].
func (t *text) command(k int) *simpleCmd {
	if c, ok := t.cmds[k]; ok {
		return c
	}
	args := fields(t.s[k:t.next(setCmdSeps, k)])
	n := 0
	for n < len(args) && (wrapperWords[base(args[n])] || args[n][0] == '-' || assignment(args[n])) {
		if args[n] == "-u" || args[n] == "-g" {
			n++ // sudo's user or group
		}
		n++
	}
	c := &simpleCmd{}
	if n < len(args) {
		c.name = base(args[n])
		for _, a := range args[n+1:] {
			c.inPlace = c.inPlace || a == "--in-place" || strings.HasPrefix(a, "--in-place=") ||
				len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.IndexByte(letters(a[1:]), 'i') >= 0
		}
	}
	if t.cmds == nil {
		t.cmds = map[int]*simpleCmd{}
	}
	t.cmds[k] = c
	return c
}

// substituted reports whether the command word at t.s[i] starts a command
// substitution: $( or a backtick comes before it (see separatorBefore).
func substituted(t *text, i int) bool {
	k := separatorBefore(t, i)
	return k >= 0 && (t.s[k] == '`' || t.s[k] == '(' && k > 0 && t.s[k-1] == '$')
}

// functionBody reports whether the { at t.s[i] starts the body of a
// function defined with the keyword function and no parentheses.
func functionBody(t *text, i int) bool {
	_, k := previousWord(t, i)
	w, _ := previousWord(t, k)
	return w == "function"
}

// writeCommands write the files all their arguments name, lastArgCommands
// the one their last argument names.
var (
	writeCommands = map[string]bool{
		"tee": true, "sponge": true, "truncate": true, "vi": true, "vim": true, "nvim": true,
		"nano": true, "emacs": true, "ed": true, "pico": true,
	}
	lastArgCommands = map[string]bool{
		"cp": true, "mv": true, "install": true, "ln": true, "rsync": true, "ddrescue": true, "dcfldd": true,
	}
)
