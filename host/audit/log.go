package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// MaxLine bounds one line of the log.
const MaxLine = 1 << 20

// Log appends records to an audit file. It is safe for concurrent use, by
// goroutines and by other processes appending to the same file.
type Log struct {
	path string

	mu   sync.Mutex
	f    *os.File
	end  int64  // file size after this process's last append
	prev string // hash of the last line
	seq  uint64 // seq of the last line
}

// DefaultPath is where the log lives unless configured:
// $XDG_STATE_HOME/toolhost/audit.jsonl (~/.local/state/...) on Linux and
// BSD, and the user configuration folder elsewhere.
func DefaultPath() (string, error) {
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9":
		dir, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("audit: no default location: %w", err)
		}
		return filepath.Join(dir, "toolhost", "audit.jsonl"), nil
	}
	if dir := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "toolhost", "audit.jsonl"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("audit: no default location: %w", err)
	}
	return filepath.Join(home, ".local", "state", "toolhost", "audit.jsonl"), nil
}

// Open opens the log at path for appending, creating it (mode 0600) and its
// folder (mode 0700) when missing. It refuses a file or folder others could
// change (*UnsafeError), a symlink in the file's place, and a log whose last
// line is incomplete (ErrIncompleteTail) or does not verify.
func Open(path string) (*Log, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	dir := filepath.Dir(abs)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := checkFolder(dir); err != nil {
		return nil, err
	}
	f, err := openFile(abs)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", abs, err)
	}
	if err := checkFile(f, abs); err != nil {
		f.Close()
		return nil, err
	}
	l := &Log{path: abs, f: f, end: -1}
	if err := l.locked(func() error { return nil }); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// Path returns the absolute path of the log file.
func (l *Log) Path() string { return l.path }

// Append completes rec (version, seq, prev, hash; Time when zero) and writes
// it as one line. It fails, and writes nothing, when the file changed in a
// way that breaks the chain.
func (l *Log) Append(rec *Record) error {
	rec.V = Version
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	rec.Time = rec.Time.UTC()
	rec.Hash = ""
	return l.locked(func() error {
		rec.Seq = l.seq + 1
		rec.Prev = l.prev
		line, hash, err := seal(rec)
		if err != nil {
			return err
		}
		if len(line) > MaxLine {
			return fmt.Errorf("audit: record of %d bytes exceeds %d", len(line), MaxLine)
		}
		n, err := l.f.Write(line)
		if err != nil || n != len(line) {
			// Never leave half a line: the next append would follow it.
			if terr := l.f.Truncate(l.end); terr != nil {
				return fmt.Errorf("audit: write %s: %v; and cutting the partial line failed: %v", l.path, err, terr)
			}
			return fmt.Errorf("audit: write %s: %w", l.path, err)
		}
		l.end += int64(n)
		l.seq, l.prev, rec.Hash = rec.Seq, hash, hash
		return nil
	})
}

// locked runs fn holding the process mutex and the file lock, with l.seq
// and l.prev describing the file's real last line.
func (l *Log) locked(fn func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("audit: log is closed")
	}
	if err := lockFile(l.f); err != nil {
		return fmt.Errorf("audit: lock %s: %w", l.path, err)
	}
	defer unlockFile(l.f)
	fi, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if size := fi.Size(); size != l.end {
		// Another process appended (or this is the first use): pick the
		// chain up from the real last line.
		if err := l.readTail(size); err != nil {
			return err
		}
	}
	return fn()
}

func (l *Log) readTail(size int64) error {
	if size == 0 {
		l.end, l.seq, l.prev = 0, 0, Genesis
		return nil
	}
	line, err := lastLine(l.f, size)
	if err != nil {
		return fmt.Errorf("audit: %s: %w (run: agentcli audit verify %s)", l.path, err, l.path)
	}
	lk, reason := open(line)
	if lk == nil {
		return fmt.Errorf("audit: %s: last line: %s (run: agentcli audit verify %s)", l.path, reason, l.path)
	}
	l.end, l.seq, l.prev = size, lk.Seq, lk.hash
	return nil
}

// lastLine returns the last line of f, of the given size, without its
// newline.
func lastLine(f *os.File, size int64) ([]byte, error) {
	var tail []byte
	for pos := size; pos > 0; {
		n := min(pos, 64<<10)
		pos -= n
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, pos); err != nil && err != io.EOF {
			return nil, err
		}
		tail = append(buf, tail...)
		if tail[len(tail)-1] != '\n' {
			return nil, ErrIncompleteTail
		}
		if i := bytes.LastIndexByte(tail[:len(tail)-1], '\n'); i >= 0 {
			return tail[i+1 : len(tail)-1], nil
		}
		if len(tail) > MaxLine+1 {
			return nil, fmt.Errorf("last line exceeds %d bytes", MaxLine)
		}
	}
	return tail[:len(tail)-1], nil
}

// Close closes the log. It is safe to call more than once.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
