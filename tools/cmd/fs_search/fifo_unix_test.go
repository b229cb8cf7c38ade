//go:build unix

package main

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestProcessSpecialFiles checks a search never opens a FIFO, found in a
// walk or named as path (tool.Run fails the test when the tool blocks).
func TestProcessSpecialFiles(t *testing.T) {
	ws := newWorkspace(t, map[string]string{"a.txt": "needle"})
	if err := syscall.Mkfifo(filepath.Join(ws, "fifo.txt"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	var got output
	tool.Succeed(t, ws, `{"query":"needle"}`, &got)
	want := output{[]match{{"a.txt", 1, 1, "needle"}}, false, 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	tool.Succeed(t, ws, `{"query":"needle","path":"fifo.txt"}`, &got)
	if diff := cmp.Diff(output{[]match{}, false, 0}, got); diff != "" {
		t.Errorf("FIFO named as path: mismatch (-want +got):\n%s", diff)
	}
}
