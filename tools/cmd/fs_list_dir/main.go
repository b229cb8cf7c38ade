// Command fs_list_dir lists a folder of the workspace, optionally with
// everything below it.
//
// Input: {"path"?: default ".", "recursive"?, "maxEntries"?: 1..10000,
// default 1000, "includeHidden"?}. Output: {"path", "entries": [{"path",
// "type", "size"}], "truncated"}, in tree order. Symbolic links are listed,
// never followed; .git is always skipped.
package main

import (
	"context"
	"encoding/json"
	"io/fs"

	"github.com/toolhost/toolhost/protocol"
	"github.com/toolhost/toolhost/tools/internal/workspace"
)

// Limits, as tools.json states them.
const (
	defaultMaxEntries = 1000
	maxMaxEntries     = 10000
	// outputBudget bounds the JSON bytes of the entries, well under the
	// host's 1 MiB output cap whatever the names.
	outputBudget = 896 << 10
)

// codeBadInput: an argument is out of its documented range.
const codeBadInput = "BAD_INPUT"

type input struct {
	// Path "" means the workspace root.
	Path      string `json:"path"`
	Recursive bool   `json:"recursive"`
	// MaxEntries 0 means the default.
	MaxEntries    int  `json:"maxEntries"`
	IncludeHidden bool `json:"includeHidden"`
}

type entry struct {
	Path string `json:"path"`
	Type string `json:"type"`
	Size int64  `json:"size"`
}

type output struct {
	Path      string  `json:"path"`
	Entries   []entry `json:"entries"`
	Truncated bool    `json:"truncated"`
}

func main() {
	workspace.Main(listDir)
}

// listDir lists in.Path.
func listDir(ctx context.Context, ws *workspace.Root, in input) (output, error) {
	maxEntries := in.MaxEntries
	if maxEntries == 0 {
		maxEntries = defaultMaxEntries
	}
	if maxEntries < 1 || maxEntries > maxMaxEntries {
		return output{}, protocol.Errorf(codeBadInput, "maxEntries %d is out of range 1..%d", in.MaxEntries, maxMaxEntries)
	}
	name := in.Path
	if name == "" {
		name = "."
	}
	start, err := workspace.Clean(name)
	if err != nil {
		return output{}, err
	}

	out := output{Path: start, Entries: []entry{}}
	used := 0
	err = ws.Walk(ctx, start, workspace.WalkOptions{IncludeHidden: in.IncludeHidden}, func(p string, d fs.DirEntry) error {
		if p == start {
			if !d.IsDir() {
				return &workspace.Error{Code: workspace.CodeNotADir, Path: name, Reason: "is not a folder"}
			}
			return nil
		}
		e := entry{Path: p, Type: typeName(d.Type())}
		if e.Type == "file" {
			// Through the Root, not d.Info: that looks the name up again
			// by path, outside the Root's checks.
			if fi, err := ws.Lstat(p); err == nil {
				e.Size = fi.Size()
			}
		}
		b, _ := json.Marshal(e)
		if len(out.Entries) == maxEntries || used+len(b)+1 > outputBudget {
			out.Truncated = true
			return fs.SkipAll
		}
		used += len(b) + 1
		out.Entries = append(out.Entries, e)
		if d.IsDir() && !in.Recursive {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return output{}, err
	}
	return out, nil
}

// typeName names an entry's type as the output schema does.
func typeName(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "dir"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	default:
		return "other"
	}
}
