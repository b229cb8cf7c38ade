package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"path"
	"unicode/utf8"

	"github.com/toolhost/toolhost/protocol"
	"github.com/toolhost/toolhost/tools/internal/workspace"
)

// Limits on what is searched and returned, as tools.json states them.
const (
	maxFileSize = 4 << 20
	// sniffLen is how much of a file is checked for a NUL byte.
	sniffLen = 8 << 10
	// maxText bounds a match's "text" in bytes.
	maxText = 240
	// outputBudget bounds the JSON bytes of the matches, well under the
	// host's 1 MiB output cap whatever the paths and lines.
	outputBudget = 896 << 10
	// checkEvery is how many lines pass between checks for cancellation.
	checkEvery = 4096
)

// search runs in over the workspace.
func search(ctx context.Context, ws *workspace.Root, in input) (output, error) {
	q, err := parse(in)
	if err != nil {
		return output{}, err
	}
	name := in.Path
	if name == "" {
		name = "."
	}
	start, err := workspace.Clean(name)
	if err != nil {
		return output{}, err
	}
	s := &searcher{ctx: ctx, ws: ws, q: q, out: output{Matches: []match{}}}
	err = ws.Walk(ctx, start, workspace.WalkOptions{IncludeHidden: in.IncludeHidden}, func(p string, d fs.DirEntry) error {
		if !d.Type().IsRegular() {
			return nil
		}
		if p == start {
			// A file named as path is searched whatever its name.
			return s.file(p, true)
		}
		if q.glob != "" {
			if ok, _ := path.Match(q.glob, d.Name()); !ok {
				return nil
			}
		}
		return s.file(p, false)
	})
	if err != nil {
		return output{}, err
	}
	return s.out, nil
}

// searcher holds one search's state.
type searcher struct {
	ctx  context.Context
	ws   *workspace.Root
	q    *query
	out  output
	used int // JSON bytes of out.Matches
}

// file searches the file p. Files that cannot be read, or that are too
// large or binary, are skipped; named says whether the caller asked for p
// itself, whose failure to open is then an error.
func (s *searcher) file(p string, named bool) error {
	f, fi, err := s.ws.OpenRegular(p)
	if err != nil {
		if named {
			return err
		}
		return nil
	}
	defer f.Close()
	if fi.Size() > maxFileSize {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil || len(data) > maxFileSize {
		return nil
	}
	if bytes.IndexByte(data[:min(len(data), sniffLen)], 0) >= 0 {
		return nil
	}
	s.out.FilesScanned++
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if n%checkEvery == 0 && s.ctx.Err() != nil {
			return protocol.Errorf(workspace.CodeInterrupted, "search interrupted: %v", s.ctx.Err())
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		loc := s.q.re.FindIndex(line)
		if loc == nil {
			continue
		}
		m := match{Path: p, Line: n, Column: loc[0] + 1, Text: cutLine(line)}
		b, _ := json.Marshal(m)
		if len(s.out.Matches) == s.q.maxResults || s.used+len(b)+1 > outputBudget {
			s.out.Truncated = true
			return fs.SkipAll
		}
		s.used += len(b) + 1
		s.out.Matches = append(s.out.Matches, m)
	}
	return nil
}

// cutLine returns at most maxText bytes of line, cut on a UTF-8 boundary.
func cutLine(line []byte) string {
	if len(line) <= maxText {
		return string(line)
	}
	n := maxText
	for n > 0 && !utf8.RuneStart(line[n]) {
		n--
	}
	return string(line[:n])
}
