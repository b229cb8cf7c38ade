package host

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/toolhost/toolhost/internal/policy"
)

// maxIndexedDirs bounds the folders of a workspace that the strict level
// checks for protected names (a variable for tests).
var maxIndexedDirs = 20000

// protIndex says which folders of the workspace hold, at any depth, a name
// the floor protects or a paths.deny match: the strict level's Landlock
// rules grant such a folder entry by entry, around what is protected,
// instead of whole. It keeps each folder's protected names and
// sub-folders. Where the kernel can tell (inotify, on Linux), a folder is
// read again only after an entry was made, removed or renamed in it;
// otherwise every folder's modification time is checked at each scan
// (a change deep down does not show above it), which costs a system call
// per folder.
type protIndex struct {
	mu    sync.Mutex
	key   string // what denied stood for when dirs were read
	root  string
	dirs  map[string]*indexedDir
	w     *watcher        // nil: modification times are checked instead
	dirty map[string]bool // folders the watcher saw change
	// last is the last scan's answer, which stands while the watcher
	// sees no change (callers only read it).
	last *protScan
}

// protScan is what a scan found: the folders that hold something
// protected, and the protected paths themselves.
type protScan struct {
	holds map[string]bool
	paths []string
}

type indexedDir struct {
	mtime     time.Time
	ino       uint64
	protected []string // its protected entries, as names
	subdirs   []string // its folders (not links), as names
	unread    bool     // the host could not list it
}

// reset forgets everything and starts watching again.
func (x *protIndex) reset(root, key string) {
	if x.w != nil {
		x.w.close()
	}
	x.dirs, x.dirty, x.key, x.root, x.last = map[string]*indexedDir{}, map[string]bool{}, key, root, nil
	if watchFolders {
		x.w, _ = newWatcher() // nil where the kernel cannot watch
	}
}

// watchFolders lets tests check the index without a watcher.
var watchFolders = true

// close stops watching.
func (x *protIndex) close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.w != nil {
		x.w.close()
		x.w = nil
	}
	x.dirs = nil
}

// scan returns the folders beneath (and including) root that hold
// something protected; denied reports a path protected by the caller's
// own rules (paths.deny, the host's own files), which key names: a new
// key reads every folder again. It fails past maxIndexedDirs folders.
func (x *protIndex) scan(root, key string, denied func(string) bool) (*protScan, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.dirs == nil || x.key != key || x.root != root {
		x.reset(root, key)
	}
	if x.w != nil {
		dirty, lost := x.w.drain()
		if lost {
			// Events were dropped, or a folder moved (its watches
			// would name old paths): read everything again.
			x.reset(root, key)
		}
		for _, d := range dirty {
			x.dirty[d] = true
		}
		if x.w != nil && x.last != nil && len(x.dirty) == 0 {
			return x.last, nil
		}
	}
	holds := map[string]bool{}
	var paths []string
	seen := map[string]bool{}
	count := 0
	var visit func(dir string) (bool, error)
	visit = func(dir string) (bool, error) {
		if count++; count > maxIndexedDirs {
			return false, fmt.Errorf("the workspace has more than %d folders, too many to check for protected files", maxIndexedDirs)
		}
		seen[dir] = true
		d := x.dirs[dir]
		if d == nil || x.dirty[dir] || x.w == nil {
			var err error
			if d, err = x.read(dir, d, denied); err != nil || d == nil {
				return err == nil && d == nil, err
			}
		}
		any := len(d.protected) > 0 || d.unread
		for _, name := range d.protected {
			paths = append(paths, filepath.Join(dir, name))
		}
		for _, s := range d.subdirs {
			h, err := visit(filepath.Join(dir, s))
			if err != nil {
				return false, err
			}
			any = any || h
		}
		if any {
			holds[dir] = true
		}
		return any, nil
	}
	x.last = nil
	if _, err := visit(root); err != nil {
		x.dirs = nil // read again from scratch next time
		return nil, err
	}
	for dir := range x.dirs {
		if !seen[dir] {
			delete(x.dirs, dir) // gone
			if x.w != nil {
				x.w.forget(dir)
			}
		}
	}
	x.last = &protScan{holds: holds, paths: paths}
	return x.last, nil
}

// read lists dir again when it may have changed (always when watching,
// since the watcher said so; by modification time otherwise). It returns
// nil for a folder that is gone, and an unreadable one as holding
// something protected (nothing in it is granted whole).
func (x *protIndex) read(dir string, old *indexedDir, denied func(string) bool) (*indexedDir, error) {
	delete(x.dirty, dir)
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, nil
	}
	if x.w == nil && old != nil && old.mtime.Equal(fi.ModTime()) && old.ino == inode(fi) {
		return old, nil
	}
	if x.w != nil {
		// Watched before it is read: nothing made after the read goes
		// unseen.
		if err := x.w.add(dir); err != nil {
			x.w.close() // out of watches: check times from now on
			x.w = nil
		}
	}
	d := &indexedDir{mtime: fi.ModTime(), ino: inode(fi)}
	entries, err := os.ReadDir(dir)
	if err != nil {
		d.unread = true
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case policy.ProtectedName(e.Name()) != nil || denied(p):
			d.protected = append(d.protected, e.Name())
		case e.IsDir():
			d.subdirs = append(d.subdirs, e.Name())
		}
	}
	x.dirs[dir] = d
	return d, nil
}
