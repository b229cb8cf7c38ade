package workspace

import (
	"context"
	"io/fs"
	"strings"

	"github.com/toolhost/toolhost/internal/policy"
)

// WalkOptions tunes Walk. The zero value skips hidden names.
type WalkOptions struct {
	// IncludeHidden also visits names starting with "." (except .git,
	// which Walk always skips).
	IncludeHidden bool
}

// Walk calls fn for start and then for every file and folder below it, in
// tree order: by name within each folder, a folder's contents right after
// the folder. p is the workspace-relative path with forward slashes.
//
// Walk follows start when it is a symbolic link that stays inside, and
// never follows symbolic links below it: fn sees them as links. It skips
// every entry named .git, every entry the host's floor protects wherever
// it is (policy.ProtectedNames: sub/.env, sub/.ssh, keys, ...), and names
// starting with "." unless opts.IncludeHidden. Folders that cannot be read are skipped. fn may
// return fs.SkipDir (for a folder) or fs.SkipAll to stop early; any other
// error stops the walk and is returned.
//
// When ctx is done, Walk stops with an INTERRUPTED *Error. A start that
// cannot be used is a BAD_PATH, NOT_FOUND, ... *Error.
func (r *Root) Walk(ctx context.Context, start string, opts WalkOptions, fn func(p string, d fs.DirEntry) error) error {
	clean, err := Clean(start)
	if err != nil {
		return err
	}
	if _, err := r.stat(clean); err != nil {
		return err
	}
	return fs.WalkDir(r.root.FS(), clean, func(p string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return &Error{Code: CodeInterrupted, Path: start, Reason: "walk interrupted: " + ctx.Err().Error(), Err: ctx.Err()}
		}
		if p == clean {
			if err != nil {
				return fail(start, err, r.escape)
			}
			return fn(p, d)
		}
		// What the host's floor protects (.env, .ssh, *.pem, ... at any
		// depth) is never listed or read, hidden or not.
		if d.Name() == ".git" || (!opts.IncludeHidden && strings.HasPrefix(d.Name(), ".")) || policy.ProtectedNames(p) != nil {
			if d.IsDir() {
				return fs.SkipDir
			}
			// Not SkipDir: for a file it would skip the rest of its folder.
			return nil
		}
		if err != nil {
			// A folder that cannot be read: keep what was read of it.
			return nil
		}
		return fn(p, d)
	})
}
