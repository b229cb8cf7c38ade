// Command fs_search finds lines matching a text or a regular expression in
// the workspace's files.
//
// Input: {"query", "regex"?, "path"?: default ".", "glob"?, "caseSensitive"?:
// default true, "maxResults"?: 1..1000, default 100, "includeHidden"?}.
// Output: {"matches": [{"path", "line", "column", "text"}], "truncated",
// "filesScanned"}. It skips .git, hidden names (unless includeHidden),
// binary files (a NUL byte in the first 8 KiB), files over 4 MiB and
// special files, and never follows symbolic links below path.
package main

import (
	"path"
	"regexp"
	"unicode/utf8"

	"github.com/toolhost/toolhost/protocol"
	"github.com/toolhost/toolhost/protocol/resident"
	"github.com/toolhost/toolhost/tools/internal/workspace"
)

// Limits, as tools.json states them.
const (
	defaultMaxResults = 100
	maxMaxResults     = 1000
	maxQueryLen       = 1000 // characters
	maxGlobLen        = 256  // characters
)

// Tool codes.
const (
	// codeBadInput: an argument is out of its documented range.
	codeBadInput = "BAD_INPUT"
	// codeBadQuery: the query is empty or not a valid regular expression.
	codeBadQuery = "BAD_QUERY"
	// codeBadGlob: the glob is not a valid path.Match pattern.
	codeBadGlob = "BAD_GLOB"
)

type input struct {
	Query string `json:"query"`
	Regex bool   `json:"regex"`
	// Path "" means the workspace root.
	Path string `json:"path"`
	Glob string `json:"glob"`
	// CaseSensitive nil means true.
	CaseSensitive *bool `json:"caseSensitive"`
	// MaxResults 0 means the default.
	MaxResults    int  `json:"maxResults"`
	IncludeHidden bool `json:"includeHidden"`
}

type match struct {
	Path   string `json:"path"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Text   string `json:"text"`
}

type output struct {
	Matches      []match `json:"matches"`
	Truncated    bool    `json:"truncated"`
	FilesScanned int     `json:"filesScanned"`
}

func main() {
	// Resident when the host asks (manifest "resident"), one-shot otherwise.
	resident.Main(workspace.Handler(search))
}

// query is a checked search request.
type query struct {
	re         *regexp.Regexp
	glob       string
	maxResults int
}

// parse checks in and compiles its query.
func parse(in input) (*query, error) {
	q := &query{glob: in.Glob, maxResults: in.MaxResults}
	if q.maxResults == 0 {
		q.maxResults = defaultMaxResults
	}
	if q.maxResults < 1 || q.maxResults > maxMaxResults {
		return nil, protocol.Errorf(codeBadInput, "maxResults %d is out of range 1..%d", in.MaxResults, maxMaxResults)
	}
	switch n := utf8.RuneCountInString(in.Query); {
	case n == 0:
		return nil, protocol.Errorf(codeBadQuery, "query is empty")
	case n > maxQueryLen:
		return nil, protocol.Errorf(codeBadQuery, "query is %d characters long, over the limit of %d", n, maxQueryLen)
	}
	if n := utf8.RuneCountInString(in.Glob); n > maxGlobLen {
		return nil, protocol.Errorf(codeBadGlob, "glob is %d characters long, over the limit of %d", n, maxGlobLen)
	}
	if _, err := path.Match(in.Glob, ""); err != nil {
		return nil, protocol.Errorf(codeBadGlob, "glob %q: %v (see Go's path.Match: *, ?, [a-z], \\ escapes)", in.Glob, err)
	}
	expr := in.Query
	if !in.Regex {
		expr = regexp.QuoteMeta(expr)
	}
	if in.CaseSensitive != nil && !*in.CaseSensitive {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, protocol.Errorf(codeBadQuery, "query is not a valid regular expression (Go RE2 syntax): %v", err)
	}
	q.re = re
	return q, nil
}
