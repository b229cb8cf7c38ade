package workspace

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"unicode/utf8"
)

// WriteOptions tunes WriteFile. The zero value replaces an existing file
// and needs the parent folder to exist.
type WriteOptions struct {
	// CreateDirs creates missing parent folders (mode 0755 before umask).
	CreateDirs bool
	// NoReplace refuses, with an EXISTS *Error, to replace a file that
	// already exists.
	NoReplace bool
}

// maxLinks bounds how many symbolic links resolving one path may follow,
// as Linux's MAXSYMLINKS does.
const maxLinks = 40

// WriteFile writes data to the file name atomically: readers see the old
// content or the new, never a mix, and a failed write leaves the old file
// as it was. It writes a temporary file in the same folder, syncs it and
// renames it over the target; the temporary file is removed on any
// failure. A replaced file keeps its permission bits (without setuid,
// setgid or sticky); a new one gets exactly 0644, whatever the umask.
//
// A symbolic link at name (or in its parents) is followed as long as it
// stays inside the workspace, so the link's target is written and the link
// kept; one leading outside is a BAD_PATH *Error. created reports whether
// the file did not exist before.
func (r *Root) WriteFile(name string, data []byte, opts WriteOptions) (created bool, err error) {
	clean, err := Clean(name)
	if err != nil {
		return false, err
	}
	target, err := r.resolve(name, clean)
	if err != nil {
		return false, err
	}
	if target == "." {
		return false, &Error{Code: CodeNotAFile, Path: name, Reason: "is the workspace folder, not a file"}
	}

	perm := fs.FileMode(0o644)
	switch fi, err := r.root.Lstat(native(target)); {
	case err == nil:
		if err := regular(name, fi); err != nil {
			return false, err
		}
		if opts.NoReplace {
			return false, &Error{Code: CodeExists, Path: name, Reason: "already exists and overwrite is false"}
		}
		perm = fi.Mode().Perm()
	case errors.Is(err, fs.ErrNotExist):
		created = true
	default:
		return false, fail(name, err, r.escape)
	}

	dir := path.Dir(target)
	if err := r.parent(name, dir, opts.CreateDirs); err != nil {
		return false, err
	}
	tmp, err := r.writeTemp(name, dir, path.Base(target), data, perm)
	if err != nil {
		return false, err
	}
	if err := r.install(name, tmp, target, opts.NoReplace); err != nil {
		r.root.Remove(native(tmp))
		return false, err
	}
	r.syncDir(dir)
	return created, nil
}

// parent makes sure the folder dir exists, creating it when create is set.
func (r *Root) parent(name, dir string, create bool) error {
	if create {
		if err := r.root.MkdirAll(native(dir), 0o755); err != nil {
			e := fail(name, err, r.escape)
			if e.Code == CodeExists {
				e.Code, e.Reason = CodeNotADir, "a parent in the path exists and is not a folder"
			}
			return e
		}
		return nil
	}
	fi, err := r.root.Stat(native(dir))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &Error{Code: CodeNotFound, Path: name, Reason: "the folder " + quoted(dir) + " does not exist; set createDirs to create it", Err: err}
	case err != nil:
		return fail(name, err, r.escape)
	case !fi.IsDir():
		return &Error{Code: CodeNotADir, Path: name, Reason: quoted(dir) + " is not a folder"}
	}
	return nil
}

// writeTemp writes data to a new temporary file next to the target and
// returns its workspace path. On failure nothing is left behind.
func (r *Root) writeTemp(name, dir, base string, data []byte, perm fs.FileMode) (string, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	// A hidden name, so listings skip it, short enough for any file system.
	tmp := path.Join(dir, "."+prefix(base, 64)+"."+hex.EncodeToString(rnd[:])+".tmp")
	f, err := r.root.OpenFile(native(tmp), os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return "", fail(name, err, r.escape)
	}
	err = write(f, data, perm)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.root.Remove(native(tmp))
		return "", fail(name, err, r.escape)
	}
	return tmp, nil
}

// write fills the new file f with data, durably, and sets its mode
// exactly (creating it applied the umask).
func write(f *os.File, data []byte, perm fs.FileMode) error {
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}

// install moves the finished temporary file to target. With noReplace it
// hard-links instead, which fails when target exists, so a file created
// since the check is not replaced; where hard links are not supported it
// falls back to checking and renaming.
func (r *Root) install(name, tmp, target string, noReplace bool) error {
	if !noReplace {
		if err := r.root.Rename(native(tmp), native(target)); err != nil {
			return fail(name, err, r.escape)
		}
		return nil
	}
	err := r.root.Link(native(tmp), native(target))
	switch {
	case err == nil:
		r.root.Remove(native(tmp))
		return nil
	case errors.Is(err, fs.ErrExist):
		return &Error{Code: CodeExists, Path: name, Reason: "already exists and overwrite is false", Err: err}
	}
	if _, err := r.root.Lstat(native(target)); err == nil {
		return &Error{Code: CodeExists, Path: name, Reason: "already exists and overwrite is false"}
	}
	if err := r.root.Rename(native(tmp), native(target)); err != nil {
		return fail(name, err, r.escape)
	}
	return nil
}

// syncDir makes the rename durable. Not every system can sync a folder
// (Windows cannot), and the data is already safe, so errors are ignored.
func (r *Root) syncDir(dir string) {
	d, err := r.root.Open(native(dir))
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// resolve returns clean with every symbolic link replaced by its target,
// resolved the way the kernel would but inside the workspace: a link that
// is absolute or climbs above the root is a BAD_PATH *Error. Elements that
// do not exist yet are kept as they are. os.Root checks every later use
// again, so a link changed after resolve still cannot lead outside.
func (r *Root) resolve(name, clean string) (string, error) {
	var done []string // resolved elements, none a symbolic link
	todo := split(clean)
	links := 0
	for len(todo) > 0 {
		elem := todo[0]
		todo = todo[1:]
		switch elem {
		case ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", badPath(name, "leads outside the workspace (through a symbolic link)")
			}
			done = done[:len(done)-1]
			continue
		}
		cur := path.Join(append(done, elem)...)
		fi, err := r.root.Lstat(native(cur))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			done = append(done, elem)
			continue
		case err != nil:
			return "", fail(name, err, r.escape)
		case fi.Mode()&fs.ModeSymlink == 0:
			done = append(done, elem)
			continue
		}
		if links++; links > maxLinks {
			return "", badPath(name, "too many levels of symbolic links")
		}
		link, err := r.root.Readlink(native(cur))
		if err != nil {
			return "", fail(name, err, r.escape)
		}
		if windowsPaths {
			link = strings.ReplaceAll(link, `\`, "/")
		}
		if link == "" || path.IsAbs(link) || (windowsPaths && hasDriveLetter(link)) {
			return "", badPath(name, "leads outside the workspace (through the absolute symbolic link "+quoted(cur)+")")
		}
		todo = append(split(link), todo...)
	}
	if len(done) == 0 {
		return ".", nil
	}
	return path.Join(done...), nil
}

func split(p string) []string { return strings.Split(p, "/") }

func quoted(p string) string { return `"` + shown(p) + `"` }

// prefix returns at most n bytes of s, cut on a UTF-8 boundary.
func prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
