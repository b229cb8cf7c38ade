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

// maxPending bounds the records waiting for the writer; Append blocks
// beyond it, so a slow disk slows calls rather than growing memory.
const maxPending = 4096

// Log appends records to an audit file. It is safe for concurrent use, by
// goroutines and by other processes appending to the same file.
//
// Records are written in the order Append receives them by one writer
// goroutine, which puts records that arrive together into one write. Flush
// waits until everything appended so far is in the file. The first write
// that fails stops the log: that Append (if still waiting), Flush, Close
// and every later Append return the error, so a host refuses further
// calls rather than make them unrecorded.
type Log struct {
	path string
	f    *os.File

	mu      sync.Mutex
	cond    *sync.Cond // signals the writer, Flush and blocked Appends
	pending []*Record
	queued  uint64 // records ever queued
	written uint64 // records ever written (or dropped by a failure)
	err     error  // the latched failure
	closing bool
	done    chan struct{}

	// The chain as this process last saw it; only the writer touches these.
	end  int64  // file size after this process's last write
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
	l := &Log{path: abs, f: f, end: -1, done: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	// Check the tail now, so a damaged log is refused at start.
	if err := l.withFileLock(func() error { return nil }); err != nil {
		f.Close()
		return nil, err
	}
	go l.writer()
	return l, nil
}

// Path returns the absolute path of the log file.
func (l *Log) Path() string { return l.path }

// Append queues rec, whose version, seq, prev and hash the writer fills in
// (and Time, when zero). rec must not be changed afterwards. Append returns
// the log's latched failure, if any, and ErrClosed after Close.
func (l *Log) Append(rec *Record) error {
	rec.V = Version
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	rec.Time = rec.Time.UTC()
	rec.Hash = ""
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.pending) >= maxPending && l.err == nil && !l.closing {
		l.cond.Wait()
	}
	switch {
	case l.err != nil:
		return l.err
	case l.closing:
		return ErrClosed
	}
	l.pending = append(l.pending, rec)
	l.queued++
	l.cond.Broadcast()
	return nil
}

// Err returns the log's latched failure, or nil while it is healthy. A
// host checks it before starting a call, so that nothing runs once
// records can no longer be written.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil && l.closing {
		return ErrClosed
	}
	return l.err
}

// Flush waits until every record appended before it is in the file, and
// returns the log's latched failure, if any.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	target := l.queued
	for l.written < target && l.err == nil {
		l.cond.Wait()
	}
	return l.err
}

// writer writes queued records until Close.
func (l *Log) writer() {
	defer close(l.done)
	var buf []byte
	for {
		l.mu.Lock()
		for len(l.pending) == 0 && !l.closing {
			l.cond.Wait()
		}
		batch := l.pending
		l.pending = nil
		failed := l.err != nil
		if len(batch) == 0 && l.closing {
			l.mu.Unlock()
			return
		}
		l.cond.Broadcast() // room for blocked Appends
		l.mu.Unlock()

		var err error
		if !failed {
			buf, err = l.write(batch, buf[:0])
		}
		l.mu.Lock()
		l.written += uint64(len(batch))
		if err != nil && l.err == nil {
			l.err = err
		}
		l.cond.Broadcast()
		l.mu.Unlock()
	}
}

// write seals batch onto the chain and writes it with one write call,
// holding the file lock.
func (l *Log) write(batch []*Record, buf []byte) ([]byte, error) {
	err := l.withFileLock(func() error {
		seq, prev := l.seq, l.prev
		for _, rec := range batch {
			seq++
			rec.Seq, rec.Prev = seq, prev
			start := len(buf)
			var hash string
			buf, hash = seal(buf, rec)
			if len(buf)-start > MaxLine {
				return fmt.Errorf("audit: record of %d bytes exceeds %d", len(buf)-start, MaxLine)
			}
			prev, rec.Hash = hash, hash
		}
		n, err := l.f.Write(buf)
		if err != nil || n != len(buf) {
			// Never leave part of a line: the next write would follow it.
			if terr := l.f.Truncate(l.end); terr != nil {
				return fmt.Errorf("audit: write %s: %v; and cutting the partial write failed: %v", l.path, err, terr)
			}
			return fmt.Errorf("audit: write %s: %w", l.path, err)
		}
		l.end += int64(n)
		l.seq, l.prev = seq, prev
		return nil
	})
	return buf, err
}

// withFileLock runs fn holding the file lock, with l.seq and l.prev
// describing the file's real last line: another process may have appended
// since this one last wrote.
func (l *Log) withFileLock(fn func() error) error {
	if err := lockFile(l.f); err != nil {
		return fmt.Errorf("audit: lock %s: %w", l.path, err)
	}
	defer unlockFile(l.f)
	fi, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if size := fi.Size(); size != l.end {
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

// Close writes what is queued, stops the writer and closes the file. It
// returns the log's failure, if any, and is safe to call more than once.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		<-l.done
		return l.err
	}
	l.closing = true
	l.cond.Broadcast()
	l.mu.Unlock()
	<-l.done
	cerr := l.f.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	return cerr
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit: log is closed")
