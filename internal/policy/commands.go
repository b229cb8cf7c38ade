package policy

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
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

// NormalizeCommand returns the form of s that patterns are matched against,
// so that spelling tricks cannot dodge them:
//
//   - ANSI-C quoted strings ($'\x72\x6d') are decoded;
//   - format characters (zero-width spaces and joiners, bidirectional
//     controls, soft hyphens) and control characters other than tab and
//     newline are removed;
//   - the text is put in Unicode NFKC form (full-width letters become ASCII)
//     and lower-cased;
//   - every single and double quote is removed ('r'm, r""m, "rm" and $"rm"
//     become rm), so quoted words count as much as unquoted ones;
//   - a backslash is removed before a character with no special meaning to
//     the shell (r\m becomes rm), with the newline or quote after it, and
//     turns into a space before white space; before a shell operator, $ or
//     another backslash it stays (an escaped operator is no operator);
//   - a newline becomes ";", tabs and other white space become a space, runs
//     of spaces become one, and the ends are trimmed;
//   - unless escaped, $IFS, ${IFS} and ${IFS...} become a space, and $@,
//     $*, ${@} and ${*} (empty outside a function) are removed.
//
// Shell operators ($( ` | ; & > < and parentheses) are kept.
func NormalizeCommand(s string) string {
	s = decodeANSIC(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 || c >= 0x7f) && c != '\n' {
			s = strings.ToLower(norm.NFKC.String(strings.Map(visible, s)))
			break
		}
	}
	return expand(tidy(s))
}

// expand replaces $IFS and the like with a space and removes $@ and $*
// (empty outside a function), unless escaped, until none is left.
func expand(s string) string {
	for strings.IndexByte(s, '$') >= 0 {
		var b strings.Builder
		last := 0
		for _, m := range emptyExpansion.FindAllStringIndex(s, -1) {
			if m[0] > 0 && s[m[0]-1] == '\\' {
				continue
			}
			b.WriteString(s[last:m[0]])
			if strings.Contains(s[m[0]:m[1]], "ifs") {
				b.WriteByte(' ')
			}
			last = m[1]
		}
		if last == 0 {
			break
		}
		b.WriteString(s[last:])
		s = strings.Join(strings.Fields(b.String()), " ")
	}
	return s
}

// emptyExpansion matches the expansions expand replaces.
var emptyExpansion = regexp.MustCompile(`\$(?:\{(?:ifs[^}]*|[@*])\}|ifs|[@*])`)

// visible maps tab to a space and drops format characters and control
// characters other than newline.
func visible(r rune) rune {
	switch {
	case r >= 0x20 && r < 0x7f:
		return r
	case r == '\t':
		return ' '
	case r == '\n':
		return r
	case r < 0x20, r >= 0x7f && r <= 0x9f, unicode.Is(unicode.Cf, r):
		return -1
	}
	return r
}

// decodeANSIC replaces each $'...' string of s by the text it stands for.
func decodeANSIC(s string) string {
	i := strings.Index(s, "$'")
	if i < 0 {
		return s
	}
	var b strings.Builder
	for i >= 0 {
		b.WriteString(s[:i])
		s = s[i+2:]
		for len(s) > 0 && s[0] != '\'' {
			if s[0] != '\\' || len(s) == 1 {
				b.WriteByte(s[0])
				s = s[1:]
				continue
			}
			n := ansiCEscape(&b, s[1:])
			s = s[1+n:]
		}
		if len(s) > 0 {
			s = s[1:] // the closing quote
		}
		i = strings.Index(s, "$'")
	}
	b.WriteString(s)
	return b.String()
}

// ansiCEscape writes what the escape sequence at the start of t (the text
// after a backslash inside $'...') stands for and returns its length.
func ansiCEscape(b *strings.Builder, t string) int {
	switch c := t[0]; c {
	case 'a':
		b.WriteByte('\a')
	case 'b':
		b.WriteByte('\b')
	case 'e', 'E':
		b.WriteByte(0x1b)
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'v':
		b.WriteByte('\v')
	case '\\', '\'', '"', '?':
		b.WriteByte(c)
	case 'c':
		if len(t) > 1 {
			b.WriteByte(t[1] & 0x1f)
			return 2
		}
		b.WriteString(`\c`)
	case 'x', 'u', 'U':
		width := 2
		switch c {
		case 'u':
			width = 4
		case 'U':
			width = 8
		}
		v, n := digits(t[1:], 16, width)
		switch {
		case n == 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == 'x':
			b.WriteByte(byte(v))
		default:
			b.WriteRune(rune(v))
		}
		return 1 + n
	default:
		if c >= '0' && c <= '7' {
			v, n := digits(t, 8, 3)
			b.WriteByte(byte(v))
			return n
		}
		b.WriteByte('\\')
		b.WriteByte(c)
	}
	return 1
}

// digits reads up to width digits of the given base from the start of t.
func digits(t string, base, width int) (v, n int) {
	for ; n < width && n < len(t); n++ {
		d := digitValue(t[n])
		if d < 0 || d >= base {
			break
		}
		v = v*base + d
	}
	return v, n
}

// digitValue returns the value of the hexadecimal digit c, or -1.
func digitValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// tidy lower-cases ASCII letters, removes quotes, handles backslashes as
// NormalizeCommand says, turns newlines into ";" and runs of white space
// into one space, and trims the ends.
func tidy(s string) string {
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain[c] {
			if space {
				b = append(b, ' ')
				space = false
			}
			b = append(b, lower[c])
			continue
		}
		switch {
		case c == '\'' || c == '"':
			continue
		case c == '$' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\''):
			continue // $"..." is a quoted string too
		case c == '\\' && i+1 < len(s):
			i++
			switch n := s[i]; {
			case n == '\n', n == '\'', n == '"':
				continue // a line continuation; an escaped quote goes like quotes
			case n == ' ':
				space = len(b) > 0 // an escaped space counts as a space
				continue
			case special[n]:
				if space {
					b = append(b, ' ')
					space = false
				}
				b = append(b, '\\', n) // the escaped byte is no operator
				continue
			default:
				c = lower[n]
			}
		case c == '\n':
			b = append(b, ';')
			space = false
			continue
		case c == ' ':
			space = len(b) > 0
			continue
		case c >= utf8.RuneSelf:
			if r, n := utf8.DecodeRuneInString(s[i:]); unicode.IsSpace(r) {
				space = len(b) > 0
				i += n - 1
				continue
			}
		}
		if space {
			b = append(b, ' ')
			space = false
		}
		b = append(b, c)
	}
	return string(b)
}

// special holds the bytes a backslash is kept before; plain
// the ASCII bytes tidy has nothing to do with but lower-casing; lower maps
// bytes to lower case.
var (
	special = byteSet(";&|<>()$`\\")
	plain   = byteSet("!#%()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~&")
	lower   = func() (m [256]byte) {
		for i := range m {
			m[i] = byte(i)
			if i >= 'A' && i <= 'Z' {
				m[i] += 'a' - 'A'
			}
		}
		return m
	}()
)

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

// denySignatures returns the signatures DenyCommand refuses after the
// floor: specific ones first, then broad ones.
func denySignatures() []signature {
	return []signature{
		// data-destruction
		sig("rm-system-folder", CategoryDestruction, "recursive delete of a system folder or of a home folder's sensitive folders",
			needing("/ ~", recursive("rm", rmFlag, sysTargets))),
		sig("rm-here", CategoryDestruction, "recursive delete of the current or the parent folder or of everything in it",
			needing(". *", recursive("rm", rmFlag, hereTargets))),
		sig("find-delete-root", CategoryDestruction, "find deleting files from the root, home or a system folder",
			needing("-delete -exec", words("find", `\s+`+argUnits+`(?:`+rootTargets+`|`+sysTargets+`)\s+`+argUnits+
				`(?:-delete|-exec(?:dir)?\s+`+anyDir+`(?:rm|shred|unlink))`+wEnd))),
		sig("shred", CategoryDestruction, "overwrites files so that they cannot be recovered",
			words("shred", wEnd)),
		sig("truncate-system-file", CategoryDestruction, "truncates a system file or a file of the home folder's settings",
			words("truncate", `\s+`+argUnits+`(?:/+(?:etc|boot|usr|bin|sbin|lib|lib64|var/log)/|(?:~|\$home)/+\.)`)),
		sig("chmod-recursive-system", CategoryDestruction, "recursive permission change of the root, home or a system folder",
			needing("-", recursive("chmod", recFlag, rootTargets+`|`+sysTargets))),
		sig("chown-recursive-system", CategoryDestruction, "recursive owner change of the root, home or a system folder",
			needing("-", recursive("chown chgrp", recFlag, rootTargets+`|`+sysTargets))),
		sig("git-clean-force", CategoryDestruction, "git clean deleting untracked files",
			needing("clean", words("git", `\s+`+argUnits+`clean\s+`+argUnits+`(?:-[a-z]*f[a-z]*|--force)`+wEnd))),
		sig("git-reset-hard", CategoryDestruction, "git reset --hard discarding uncommitted work",
			needing("--hard", words("git", `\s+`+argUnits+`reset\s+`+argUnits+`--hard`+wEnd))),
		sig("git-push-force", CategoryDestruction, "force push or remote branch deletion that rewrites shared history",
			needing("push", words("git", `\s+`+argUnits+`push\s+`+argUnits+
				`(?:-[a-z]*[fd][a-z]*|--force(?:-with-lease|-if-includes)?(?:=`+wChar+`*)?|--mirror|--delete|\+`+wChar+`+|:`+wChar+`+)`+wEnd))),
		sig("move-to-dev-null", CategoryDestruction, "moves files onto /dev/null",
			words("mv", `\s+`+argUnits+`/dev/null`+wEnd)),
		sig("startup-file-overwrite", CategoryDestruction, "overwrites a shell startup file of a home folder",
			op(">", ">", `\|?\s*`+startupFile+wEnd)),
		sig("system-file-overwrite", CategoryDestruction, "overwrites a file in a system folder",
			op(">", ">", `\|?\s*/+(?:etc|boot|usr|bin|sbin|lib|lib32|lib64)/`)),
		sig("drop-database", CategoryDestruction, "drops a database or deletes all of its data",
			words("drop", `\s+(?:database|schema|table|keyspace)`+wEnd),
			words("dropdb flushall flushdb", wEnd),
			lit("dropdatabase(", "")),
		sig("partition-edit", CategoryDestruction, "edits a disk's partition table",
			words("fdisk sfdisk gdisk sgdisk parted cfdisk", `(?:\s+-[^l\s]`+wChar+`*)*\s+/dev/`)),
		sig("crontab-remove", CategoryDestruction, "removes all of a user's scheduled jobs",
			words("crontab", `\s+`+argUnits+`-[a-z]*r`+wEnd)),

		// remote-execution
		sig("curl-pipe-interpreter", CategoryRemoteExec, "downloaded content piped into a script interpreter",
			needing("|", words(downloaders, stages+pipeInto+interpreters+stdinProgram))),
		sig("download-then-run", CategoryRemoteExec, "downloads a file and then runs it",
			needing("; &&", wide(words(downloaders, `\s[^;&|]*(?:;|&&)\s*`+wrappers+`(?:`+anyDir+shells+`|chmod\s+(?:[ugoa]*\+[rw]*x|[0-7]*[1357][0-7]*)|\.{1,2}/`+wChar+`+)`+wEnd)))),
		sig("netcat-pipe-shell", CategoryRemoteExec, "network input piped into a shell or an interpreter",
			words("nc ncat netcat telnet openssl socat", stages+pipeCode)),
		sig("netcat-exec", CategoryRemoteExec, "netcat running a program for a network peer",
			words("nc ncat netcat", `\s+`+argUnits+`(?:-[a-z]*[ec]|--(?:sh-|lua-)?exec)(?:$|[\s=/;&|)])`)),
		sig("socat-exec", CategoryRemoteExec, "socat running a program for a network peer",
			words("socat", `\s[^;&|]*(?:exec|system):`)),
		sig("dev-tcp", CategoryRemoteExec, "network connection through the shell's /dev/tcp or /dev/udp, as reverse shells use",
			lit("/dev/tcp/", ""), lit("/dev/udp/", "")),
		sig("reverse-shell-fifo", CategoryRemoteExec, "named pipe wired to a network client, as reverse shells use",
			wide(words("mkfifo mknod", `\s.*?[\s;&|(](?:nc|ncat|netcat|telnet|openssl|socat)`+wEnd))),
		sig("ssh-remote", CategoryRemoteExec, "runs a shell or commands on a remote host over ssh",
			words("ssh", `(?:\s+-`+wChar+`+)*\s+[^-\s;&|<>()`+"`"+`]`)),
		sig("xterm-display", CategoryRemoteExec, "opens a terminal on a remote X display",
			words("xterm", `\s+`+argUnits+`-display`+wEnd)),

		// code-injection
		sig("source-stream", CategoryInjection, "sources shell code from a stream",
			needing("<( /dev/ /proc/", words("source .", `\s+(?:<\(|/dev/stdin|/dev/fd/[0-9]|/proc/self/fd/[0-9])`))),
		sig("python-inline", CategoryInjection, "runs inline Python code",
			words("python pypy", `[0-9.]*(?:\s+-[a-z]+)*\s+-[a-z]*c`)),
		sig("perl-inline", CategoryInjection, "runs inline Perl code",
			words("perl", `[0-9.]*`+options+`\s+-[a-z]*e`)),
		sig("ruby-inline", CategoryInjection, "runs inline Ruby code",
			words("ruby", `[0-9.]*`+options+`\s+-[a-z]*e`)),
		sig("node-inline", CategoryInjection, "runs inline JavaScript code",
			words("node nodejs bun", options+`\s+(?:-[a-z]*[ep]|--eval|--print)(?:$|[\s=;&|)])`),
			words("deno", `\s+eval`+wEnd)),
		sig("php-inline", CategoryInjection, "runs inline PHP code",
			words("php", `[0-9.]*`+options+`\s+-[a-z]*r`+wEnd)),
		sig("awk-system", CategoryInjection, "awk program running shell commands",
			needing("system getline |&", wide(words("awk gawk mawk nawk", `\s.*?(?:system\s*\(|\|\s*getline|\|&)`)))),
		sig("find-exec-shell", CategoryInjection, "find running a shell or interpreter with inline code",
			needing("-exec -ok", words("find", `\s[^;&|]*-(?:exec|execdir|ok|okdir)\s+`+wrappers+anyDir+`(?:`+shells+`|`+interpreters+`)\s+-[a-z]*[ce]`+wEnd))),
		sig("xargs-shell", CategoryInjection, "xargs running a shell or interpreter with inline code",
			words("xargs", `\s+`+argUnits+anyDir+`(?:`+shells+`|`+interpreters+`)\s+-[a-z]*[ce]`+wEnd)),
		sig("ld-preload", CategoryInjection, "preloads a library into the programs started",
			words("ld_preload= ld_audit=", ""),
			lit("/etc/ld.so.preload", "")),
		sig("shell-hook-variable", CategoryInjection, "sets a variable whose value the shell runs as code",
			words("bash_env= prompt_command=", ""),
			words("ps4=", wChar+`*(?:\$\(|`+"`"+`)`)),
		sig("git-config-exec", CategoryInjection, "git setting or variable that makes git run a command",
			needing("-c", words("git", `\s+`+argUnits+`-c\s*(?:core\.(?:sshcommand|pager|editor|fsmonitor|hookspath|gitproxy|askpass)`+
				`|alias\.[^=\s]*=!|[a-z]+\.[^=\s]*\.(?:command|textconv|clean|smudge|driver|process)|protocol\.ext\.allow)`)),
			words("git_ssh_command= git_ssh= git_proxy_command= git_external_diff= git_askpass=", "")),
		sig("startup-file-write", CategoryInjection, "writes a shell startup file, which later shells run",
			writes("/", ".bashrc .bash_profile .bash_login .bash_logout .profile .zshrc .zprofile .zshenv .zlogin .cshrc .tcshrc .kshrc", wEnd)),

		// privilege-escalation
		sig("sudoers-file", CategoryPrivilege, "touches the sudo configuration",
			lit("/etc/sudoers", "")),
		sig("visudo", CategoryPrivilege, "edits the sudo configuration",
			words("visudo", wEnd)),
		sig("setuid-bit", CategoryPrivilege, "sets the setuid or setgid bit",
			words("chmod", `\s+`+argUnits+`(?:[ugoa]*[+=][rwxt]*s[rwxt]*|0*[2467][0-7]{3})`+wEnd)),
		sig("setcap", CategoryPrivilege, "grants file capabilities",
			words("setcap", wEnd)),
		sig("chown-root", CategoryPrivilege, "gives files to root",
			words("chown chgrp", `\s+`+argUnits+`(?:(?:root|0)(?:[:.]`+wChar+`*)?|[^\s:;&|]*:(?:root|0|wheel|sudo))`+wEnd)),
		sig("admin-group-add", CategoryPrivilege, "adds a user to an administrators' group",
			words("usermod", `\s+`+argUnits+`-[a-z]*g\s*(?:`+wChar+`*,)?`+adminGroup+`(?:,|`+wEnd+`)`),
			words("gpasswd", `\s+`+argUnits+`-[a-z]*a\s+`+wChar+`+\s+`+adminGroup+wEnd),
			words("adduser addgroup", `\s+`+wChar+`+\s+`+adminGroup+wEnd)),
		sig("user-account-change", CategoryPrivilege, "creates, deletes or changes user accounts or passwords",
			words("useradd userdel adduser deluser chpasswd newusers chage vipw vigr groupadd groupdel passwd", wEnd)),
		sig("shadow-file", CategoryPrivilege, "touches the password hashes",
			lit("/etc/shadow", ""), lit("/etc/gshadow", "")),
		sig("passwd-file-write", CategoryPrivilege, "writes the user or group database",
			writes(pathStart, "/etc/passwd /etc/group", wEnd)),
		sig("authorized-keys-write", CategoryPrivilege, "writes ssh authorized keys, which grant logins",
			writes("/"+pathStart, ".ssh/authorized_keys", `2?`+wEnd)),
		sig("nsenter", CategoryPrivilege, "enters other processes' namespaces",
			words("nsenter", wEnd)),
		sig("unshare", CategoryPrivilege, "creates new namespaces, as container escapes use",
			words("unshare", wEnd)),
		sig("privileged-container", CategoryPrivilege, "container with host privileges",
			needing("--privileged --cap-add --pid --userns --security-opt", words("docker podman nerdctl", `\s[^;&|]*?\s(?:--privileged|--cap-add[=\s]+(?:all|sys_admin|sys_module|sys_ptrace|sys_rawio|dac_read_search)`+
				`|--pid[=\s]+host|--userns[=\s]+host|--security-opt[=\s]+(?:apparmor|seccomp|label)[=:]\s*(?:unconfined|disable))`+wEnd))),
		sig("container-host-mount", CategoryPrivilege, "container mounting the host's root, system folders or container socket",
			needing("-v --volume --mount", words("docker podman nerdctl", `\s[^;&|]*?\s(?:-v|--volume|--mount)[=\s]+(?:type=bind,)?(?:src=|source=)?`+
				`(?:/+|/+(?:etc|root|boot|proc|sys|dev|run|usr|bin|sbin|lib|home|var/run)/*|/+(?:var/)?run/docker\.sock|~/*|\$home/*)(?::|,|`+wEnd+`)`))),

		// network-manipulation
		sig("iptables", CategoryNetwork, "changes or reads the packet filter rules",
			words("iptables ip6tables ebtables arptables", `(?:-legacy|-nft)?(?:-restore|-save)?`+wEnd)),
		sig("nftables", CategoryNetwork, "changes or reads the nftables rules",
			words("nft", wEnd)),
		sig("firewall-change", CategoryNetwork, "changes or stops the firewall",
			words("ufw", options+`\s+(?:disable|enable|reset|allow|deny|reject|limit|delete|insert|prepend|default|route)`+wEnd),
			words("firewall-cmd", `\s[^;&|]*--(?:add|remove|set|reload|complete-reload|panic|new|delete|change)`),
			needing("stop disable mask kill", words("systemctl", `\s+`+argUnits+`(?:stop|disable|mask|kill)\s+`+argUnits+firewallUnit+wEnd)),
			words("service", `\s+`+firewallUnit+`\s+stop`+wEnd),
			words("pfctl", wEnd)),
		sig("ip-config-change", CategoryNetwork, "changes routes, links, addresses or network namespaces",
			words("ip", `(?:\s+-`+wChar+`+(?:\s+[a-z0-9_-]+)?){0,4}\s+[a-z]+\s+(?:add|del|delete|change|chg|replace|set|flush|append|exec|attach)`+wEnd)),
		sig("ifconfig-change", CategoryNetwork, "changes a network interface",
			words("ifconfig", `\s+`+wChar+`+\s+(?:down|up|promisc|-promisc|hw|inet6?|netmask|mtu|add|del|broadcast|pointopoint|-?arp|[0-9])`)),
		sig("route-change", CategoryNetwork, "changes the routing table",
			words("route", options+`\s+(?:add|del|delete|change|flush|replace)`+wEnd)),
		sig("traffic-control", CategoryNetwork, "changes traffic shaping or filtering",
			words("tc", options+`\s+(?:qdisc|class|filter|action|chain)\s+(?:add|del|delete|change|replace|link)`+wEnd)),
		sig("arp-change", CategoryNetwork, "changes the ARP table",
			words("arp", `\s+`+argUnits+`-[a-z]*[sdf]`+wEnd)),
		sig("sysctl-network", CategoryNetwork, "changes a kernel network setting",
			words("sysctl", `\s+`+argUnits+`net\.`+wChar+`*=`)),
		sig("hosts-file-write", CategoryNetwork, "writes the hosts file",
			writes(pathStart, "/etc/hosts", `(?:\.allow|\.deny)?`+wEnd)),
		sig("network-config-write", CategoryNetwork, "writes the resolver or network configuration",
			writes(pathStart, "/etc/", `(?:resolv\.conf|nsswitch\.conf|systemd/resolved\.conf)`+wEnd+`|(?:network|netplan|networkmanager|dhcp)/|sysconfig/network`)),
		sig("networkmanager-change", CategoryNetwork, "changes NetworkManager connections or devices",
			words("nmcli", `\s+`+argUnits+`(?:modify|mod|down|up|delete|del|add|off|reload|disconnect|import|set|hostname)`+wEnd)),

		// kernel-modules
		sig("insmod", CategoryKernel, "loads a kernel module",
			words("insmod", wEnd)),
		sig("rmmod", CategoryKernel, "unloads a kernel module",
			words("rmmod", wEnd)),
		sig("modprobe", CategoryKernel, "loads or unloads kernel modules",
			words("modprobe", wEnd)),
		sig("depmod", CategoryKernel, "rebuilds the kernel module index",
			words("depmod", wEnd)),
		sig("kexec", CategoryKernel, "loads or boots another kernel",
			words("kexec", wEnd)),
		sig("sysctl-kernel", CategoryKernel, "changes kernel settings",
			words("sysctl", `\s+`+argUnits+`(?:(?:kernel|vm|fs|dev|user|abi|debug)\.`+wChar+`*=|(?:-[a-z]*p|--system|--load)(?:$|[\s=;&|)]))`)),
		sig("kernel-tunable-write", CategoryKernel, "writes kernel settings under /proc/sys or /sys",
			writes(pathStart, "/proc/sys/ /sys/", "")),
		sig("sysrq-trigger", CategoryKernel, "drives the kernel's magic SysRq keys (crash, reboot)",
			lit("/proc/sysrq-trigger", "")),
		sig("system-power", CategoryKernel, "shuts down or restarts the machine",
			words("reboot shutdown halt poweroff telinit", wEnd),
			words("init", `\s+[06]`+wEnd),
			words("systemctl", `\s+`+argUnits+`(?:reboot|poweroff|halt|kexec|soft-reboot|suspend|hibernate|rescue|emergency|isolate)`+wEnd)),
		sig("boot-config", CategoryKernel, "changes the boot loader or the initial ramdisk",
			words("grub-install grub2-install update-grub update-grub2 grub-mkconfig grub2-mkconfig update-initramfs mkinitcpio dracut efibootmgr", wEnd)),

		// evasion
		rawSig("ifs-separator", CategoryEvasion, "$IFS used as a word separator to hide a command",
			lit("$ifs", ""), lit("${ifs", "")),
		rawSig("ansi-c-escape", CategoryEvasion, "$'...' string spelling printable characters as escapes",
			wide(lit("$'", `[^']*?\\(?:x[2-7][0-9a-f]|u0{0,2}[2-7][0-9a-f](?:[^0-9a-f]|$)|0?[4-7][0-7]|1[0-7][0-7])`))),
		rawSig("escaped-printf-exec", CategoryEvasion, "printf or echo decoding escapes into code that is run",
			needing("|", words("printf echo", `\s[^;&]*?`+printableEscape+`[^;&]*?`+pipeCode)),
			withCheck(substituted, words("printf echo", `\s[^)`+"`"+`]*?`+printableEscape))),
		sig("decode-exec", CategoryEvasion, "decoded or transformed payload run as code",
			needing("|", words("base64 base32 basenc xxd rev tr uudecode openssl gunzip gzip zcat bzcat xzcat unxz bunzip2 zstd", stages+pipeCode)),
			words("eval", `\s[^;&]*?(?:base64|base32|basenc|xxd|rev|openssl|gunzip|zcat|uudecode)`+wEnd)),
		sig("history-disable", CategoryEvasion, "clears or turns off the shell history",
			words("history", `\s+-[a-z]*[cd]`),
			words("unset", `\s+`+argUnits+`hist(?:file|size|filesize|control)`+wEnd),
			words("histfile=", ""),
			words("histsize= histfilesize=", `0*`+wEnd),
			words("set", `\s+\+o\s+history`+wEnd)),
		sig("history-file", CategoryEvasion, "touches a shell history file",
			lit(".bash_history", ""), lit(".zsh_history", ""), lit(".sh_history", "")),
		sig("expansion-in-word", CategoryEvasion, "expansion glued inside a word to hide it",
			after("abcdefghijklmnopqrstuvwxyz0123456789", "$", `(?:\{[^}\s]{0,64}\}|[0-9#?!$-])[a-z0-9_]`)),
		rawSig("empty-quotes-in-word", CategoryEvasion, "empty quotes inside a word to hide it",
			after("abcdefghijklmnopqrstuvwxyz0123456789/", "''", `[a-z0-9/._-]`),
			after("abcdefghijklmnopqrstuvwxyz0123456789/", `""`, `[a-z0-9/._-]`),
			words(`'' ""`, `[a-z]`)),
		rawSig("invisible-characters", CategoryEvasion, "invisible format characters inside the command",
			invisible()),
		rawSig("fullwidth-characters", CategoryEvasion, "full-width letters or shell symbols that normalize to ASCII",
			runes("ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｀｜＄＆＜＞＼", "")),
		sig("glob-command-path", CategoryEvasion, "command path spelled with wildcards to hide it",
			withCheck(commandStart, words("/", `[^/\s;&|<>()`+"`"+`]*[?*\[][^/\s;&|<>()`+"`"+`]*/`)),
			withCheck(commandStart, lit("bin/", `[^/\s;&|<>()`+"`"+`]*[?*\[]`))),
		sig("variable-command", CategoryEvasion, "command name taken from a variable",
			withCheck(commandStart, words("$", `[a-z_{0-9@*]`))),

		// broad entries last, so that the specific ones above explain first
		sig("pipe-to-shell", CategoryInjection, "output piped into a shell, which runs it as code",
			withCheck(pipedInto, words(shellWords, wEnd))),
		sig("pipe-to-interpreter", CategoryInjection, "output piped into a script interpreter, which runs it as code",
			withCheck(pipedInto, words(interpreterWords, `[0-9.]*`+stdinProgram))),
		sig("sudo", CategoryPrivilege, "runs a command as another user with sudo",
			words("sudo sudoedit", wEnd)),
		sig("su", CategoryPrivilege, "switches user with su",
			words("su runuser", wEnd)),
		sig("doas", CategoryPrivilege, "runs a command as another user with doas",
			words("doas", wEnd)),
		sig("pkexec", CategoryPrivilege, "runs a command as another user with polkit",
			words("pkexec run0", wEnd)),
		sig("eval", CategoryInjection, "eval runs a string as shell code",
			words("eval", wEnd)),
		sig("command-substitution", CategorySubstitution, "command substitution $(...)",
			op("$(", "", `(?:[^(]|$)`)),
		sig("backtick-substitution", CategorySubstitution, "command substitution with backticks",
			op("`", "", "")),
		sig("process-substitution-in", CategorySubstitution, "process substitution <(...)",
			op("<(", "", "")),
		sig("process-substitution-out", CategorySubstitution, "process substitution >(...)",
			op(">(", "", "")),
	}
}

// invisible returns patterns for invisible format characters: zero-width
// spaces, word joiners, byte order marks, soft hyphens, direction marks and
// bidirectional controls anywhere, and zero-width (non-)joiners before
// ASCII, which legitimate text (emoji, scripts that use them) never puts
// there.
func invisible() []pat {
	return join(
		runes("\u00ad\u180e\u200b\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069", ""),
		runes("\u200c\u200d", `[\x21-\x7e]`))
}

// runes returns a pattern for each character of chars anywhere, followed by
// tail.
func runes(chars, tail string) []pat {
	p := newPat("", tail)
	var ps []pat
	for _, r := range chars {
		p.kw = string(r)
		ps = append(ps, p)
	}
	return ps
}
