package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func newLog(t *testing.T) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", "audit.jsonl")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, path
}

func record(i int) *Record {
	exit := i % 3
	return &Record{
		Time: time.Date(2026, 11, 22, 10, 0, i, 0, time.UTC), Call: fmt.Sprintf("c%d", i),
		Frontend: "cli", Tool: "echo", ArgsSHA256: strings.Repeat("a", 64),
		Argv: []string{"/bin/echo", "[REDACTED]"}, Env: []string{"PATH", "HOME"},
		Exit: &exit, DurationMs: 1.5, BytesIn: 2, BytesOut: int64(i),
	}
}

// writeLog appends n records and returns the file's lines.
func writeLog(t *testing.T, n int) []string {
	t.Helper()
	l, path := newLog(t)
	for i := range n {
		if err := l.Append(record(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	return lines[:len(lines)-1] // the empty string after the last newline
}

func TestAppendVerify(t *testing.T) {
	l, path := newLog(t)
	var last *Record
	for i := range 5 {
		last = record(i)
		if err := l.Append(last); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if last.Seq != 5 || len(last.Hash) != 64 {
		t.Fatalf("last record seq %d hash %q", last.Seq, last.Hash)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := Verify(f, VerifyOptions{Head: last.Hash})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 5 || rep.Head != last.Hash {
		t.Errorf("report %+v, want 5 records ending %s", rep, last.Hash)
	}

	// Modes: 0600 file in a 0700 folder.
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode %04o, want %04o", p, got, want)
		}
	}

	// Reopening continues the chain.
	l.Close()
	l2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	next := record(9)
	if err := l2.Append(next); err != nil {
		t.Fatal(err)
	}
	if err := l2.Flush(); err != nil {
		t.Fatal(err)
	}
	if next.Seq != 6 || next.Prev != last.Hash {
		t.Errorf("after reopen: seq %d prev %.8s, want 6 and %.8s", next.Seq, next.Prev, last.Hash)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name     string
		tamper   func(lines []string) []string
		wantLine int
		wantText string
	}{
		{"edit a value", func(ls []string) []string {
			ls[2] = strings.Replace(ls[2], `"tool":"echo"`, `"tool":"ecHo"`, 1)
			return ls
		}, 3, "hash mismatch"},
		{"edit and re-hash the line", func(ls []string) []string {
			var rec Record
			mustUnmarshal(t, ls[2], &rec)
			rec.Tool, rec.Hash = "other", ""
			line, _ := seal(nil, &rec)
			ls[2] = string(line)
			return ls
		}, 4, "is not the hash of line 3"},
		{"delete a line", func(ls []string) []string { return append(ls[:2], ls[3:]...) }, 3, "deleted, inserted or reordered"},
		{"delete the first line", func(ls []string) []string { return ls[1:] }, 1, "deleted, inserted or reordered"},
		{"insert a copy", func(ls []string) []string {
			return append(ls[:3], append([]string{ls[1]}, ls[3:]...)...)
		}, 4, "deleted, inserted or reordered"},
		{"insert an empty line", func(ls []string) []string {
			return append(ls[:3], append([]string{"\n"}, ls[3:]...)...)
		}, 4, "empty line"},
		{"reorder two lines", func(ls []string) []string {
			ls[1], ls[2] = ls[2], ls[1]
			return ls
		}, 2, "deleted, inserted or reordered"},
		{"cut the last line in half", func(ls []string) []string {
			ls[4] = ls[4][:len(ls[4])/2]
			return ls
		}, 5, "incomplete"},
		{"garbage line", func(ls []string) []string {
			ls[0] = "hello\n"
			return ls
		}, 1, "not an audit record"},
		{"hash member removed", func(ls []string) []string {
			ls[1] = ls[1][:strings.Index(ls[1], `,"hash"`)] + "}\n"
			return ls
		}, 2, "no hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := tt.tamper(writeLog(t, 5))
			_, err := Verify(strings.NewReader(strings.Join(lines, "")), VerifyOptions{})
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("Verify = %v, want *VerifyError", err)
			}
			if ve.Line != tt.wantLine || !strings.Contains(ve.Reason, tt.wantText) {
				t.Errorf("got %v, want line %d mentioning %q", ve, tt.wantLine, tt.wantText)
			}
		})
	}

	t.Run("lines cut off the end, caught by the recorded head", func(t *testing.T) {
		lines := writeLog(t, 5)
		full, err := Verify(strings.NewReader(strings.Join(lines, "")), VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(strings.NewReader(strings.Join(lines[:3], "")), VerifyOptions{Head: full.Head})
		if err == nil || !strings.Contains(err.Error(), "cut off the end") {
			t.Fatalf("Verify = %v, want the truncation reported", err)
		}
	})
}

func mustUnmarshal(t *testing.T, line string, v any) {
	t.Helper()
	if err := jsonUnmarshal([]byte(line), v); err != nil {
		t.Fatal(err)
	}
}

// Two writers on one file (as two agentcli processes would be) keep one
// valid chain: each continues from the file's real last line.
func TestTwoWritersOneChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	for w, l := range []*Log{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := l.Append(record(w*100 + i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(a.Flush(), b.Flush()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(bytes.NewReader(data), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 200 {
		t.Errorf("%d records, want 200", rep.Records)
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Run("file readable by others", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, 0o644)
		_, err := Open(path)
		var ue *UnsafeError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("Open = %v", err)
		}
	})
	t.Run("folder writable by others", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "shared")
		os.Mkdir(dir, 0o777)
		os.Chmod(dir, 0o777)
		_, err := Open(filepath.Join(dir, "audit.jsonl"))
		if err == nil || !strings.Contains(err.Error(), "writable by group or others") {
			t.Fatalf("Open = %v", err)
		}
	})
	t.Run("symlink in the log's place", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "elsewhere")
		os.WriteFile(target, nil, 0o600)
		link := filepath.Join(dir, "audit.jsonl")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(link); err == nil {
			t.Fatal("Open followed a symlink")
		}
	})
	t.Run("incomplete last line", func(t *testing.T) {
		lines := writeLog(t, 3)
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		os.WriteFile(path, []byte(strings.Join(lines, "")+`{"v":1,"seq":4`), 0o600)
		_, err := Open(path)
		if !errors.Is(err, ErrIncompleteTail) || !strings.Contains(err.Error(), "agentcli audit verify") {
			t.Fatalf("Open = %v", err)
		}
	})
	t.Run("edited last line", func(t *testing.T) {
		lines := writeLog(t, 3)
		lines[2] = strings.Replace(lines[2], "echo", "ECHO", 1)
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600)
		if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "hash mismatch") {
			t.Fatalf("Open = %v", err)
		}
	})
}

func TestClosed(t *testing.T) {
	l, path := newLog(t)
	for i := range 100 {
		l.Append(record(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Append(record(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	// Close wrote everything queued.
	f, _ := os.Open(path)
	defer f.Close()
	if rep, err := Verify(f, VerifyOptions{}); err != nil || rep.Records != 100 {
		t.Errorf("after Close: %v records, %v", rep.Records, err)
	}
}

// A write that fails stops the log: nothing further is accepted, and the
// failure is reported by Flush, Append and Close.
func TestWriteFailureLatches(t *testing.T) {
	l, _ := newLog(t)
	if err := l.Append(record(1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	l.f.Close() // the disk goes away
	l.Append(record(2))
	if err := l.Flush(); err == nil || !strings.Contains(err.Error(), "bad file descriptor") {
		t.Fatalf("Flush = %v, want the write failure", err)
	}
	if err := l.Append(record(3)); err == nil {
		t.Error("Append after a failed write succeeded")
	}
	if err := l.Close(); err == nil {
		t.Error("Close after a failed write reported no failure")
	}
}

func FuzzVerify(f *testing.F) {
	var lines []string
	prev := Genesis
	for i := range 3 {
		rec := record(i)
		rec.V, rec.Seq, rec.Prev = Version, uint64(i+1), prev
		line, hash := seal(nil, rec)
		lines, prev = append(lines, string(line)), hash
	}
	f.Add([]byte(strings.Join(lines, "")))
	f.Add([]byte(lines[0]))
	f.Add([]byte("\n"))
	f.Add([]byte(`{"v":1,"seq":1,"prev":"` + Genesis + `","hash":"` + Genesis + `"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Verify(bytes.NewReader(data), VerifyOptions{})
		if err == nil && rep.Records > 0 && len(rep.Head) != 64 {
			t.Fatalf("verified with head %q", rep.Head)
		}
	})
}
