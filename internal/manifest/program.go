package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
)

// Program is the vetted file a tool runs. It is safe for concurrent use.
type Program struct {
	// Path is the absolute path with symlinks resolved; it is what runs.
	Path string
	// SHA256 is the pinned digest in lower-case hex; "" when not pinned.
	SHA256 string

	// verified is the identity of the file whose content last matched the
	// pin, so that an unchanged file is not hashed again on every launch.
	verified atomic.Pointer[fileID]
}

// Pinned reports whether the program's content is pinned by sha256.
func (p *Program) Pinned() bool { return p.SHA256 != "" }

// Open opens the program for execution by descriptor and checks it against
// its pin. The caller executes the returned file, not the path, so the file
// checked is the file run: swapping the path after the check changes
// nothing. A changed file is hashed again; a mismatch is an
// *IntegrityError. Open must only be called for pinned programs.
func (p *Program) Open() (*os.File, error) {
	if !p.Pinned() {
		return nil, errors.New("manifest: Open on a program that is not pinned")
	}
	f, err := openRegular(p.Path)
	if err != nil {
		return nil, err
	}
	id, err := identify(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	if v := p.verified.Load(); v != nil && *v == id {
		return f, nil
	}
	sum, err := hashFile(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	if sum != p.SHA256 {
		f.Close()
		return nil, &IntegrityError{Path: p.Path, Want: p.SHA256, Got: sum}
	}
	p.verified.Store(&id)
	return f, nil
}

func hashFile(f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return "", fmt.Errorf("hash %s: %w", f.Name(), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// vetPrograms checks every tool's program: present, a regular executable
// file that only root or the current user can change, in folders only they
// can change, and matching its pin. Files and folders shared by several
// tools are checked once.
func vetPrograms(tools []*Tool) []*FieldError {
	v := &vetter{dirs: make(map[string]error)}
	errs := make([][]error, len(tools))
	var next atomic.Int64
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), (len(tools)+63)/64)
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tools) {
					return
				}
				if p := tools[i].Program; p.Path != "" {
					errs[i] = v.vet(p)
				}
			}
		}()
	}
	wg.Wait()
	var out []*FieldError
	for i, es := range errs {
		for _, err := range es {
			out = append(out, &FieldError{Index: i, Tool: tools[i].Name, Field: "command[0]", Err: err})
		}
	}
	return out
}

type vetter struct {
	mu   sync.Mutex
	dirs map[string]error // folder → result of its check
}

func (v *vetter) vet(p *Program) []error {
	written := p.Path
	real, err := filepath.EvalSymlinks(written)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return []error{fmt.Errorf("program %s not found (is it built?)", written)}
		}
		return []error{fmt.Errorf("program %s: %w", written, err)}
	}
	p.Path = real
	f, err := openRegular(real)
	if err != nil {
		return []error{fmt.Errorf("program: %w", err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return []error{fmt.Errorf("program %s: %w", real, err)}
	}
	var errs []error
	if !isExecutable(fi) {
		// a+x, not u+x: a tool may run as another user (nobody, as root's
		// limits level does), who needs the bit for others.
		errs = append(errs, &UnsafeFileError{Path: real, Reason: fmt.Sprintf("not executable (mode %04o)", fi.Mode().Perm()), Fix: "chmod a+x " + real})
	}
	if err := checkOwnerAndMode(real, fi); err != nil {
		errs = append(errs, err)
	}
	// The folders of the path as written and of the resolved file: whoever
	// can change either can swap the program.
	for _, d := range []string{filepath.Dir(written), filepath.Dir(real)} {
		if err := v.checkDirs(d); err != nil {
			errs = append(errs, err)
			break
		}
	}
	if p.Pinned() && len(errs) == 0 {
		sum, err := hashFile(f)
		switch {
		case err != nil:
			errs = append(errs, err)
		case sum != p.SHA256:
			errs = append(errs, &IntegrityError{Path: real, Want: p.SHA256, Got: sum})
		default:
			if id, err := identify(f); err == nil {
				p.verified.Store(&id)
			}
		}
	}
	return errs
}

// checkDirs checks dir and every folder above it.
func (v *vetter) checkDirs(dir string) error {
	for {
		v.mu.Lock()
		err, done := v.dirs[dir]
		v.mu.Unlock()
		if !done {
			err = checkDir(dir)
			v.mu.Lock()
			v.dirs[dir] = err
			v.mu.Unlock()
		}
		if err != nil {
			return err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	return checkDirOwnerAndMode(dir, fi)
}

// checkManifestFile refuses a manifest that someone other than root or the
// current user could change: they could add tools.
func checkManifestFile(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := checkOwnerAndMode(path, fi); err != nil {
		return err
	}
	v := &vetter{dirs: make(map[string]error)}
	return v.checkDirs(filepath.Dir(path))
}
