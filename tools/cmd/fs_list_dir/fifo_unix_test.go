//go:build unix

package main

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProcessSpecialFiles(t *testing.T) {
	ws := newWorkspace(t, map[string]string{"a.txt": "a"})
	if err := syscall.Mkfifo(filepath.Join(ws, "fifo"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	var got output
	tool.Succeed(t, ws, `{"recursive":true}`, &got)
	want := output{".", []entry{{"a.txt", "file", 1}, {"fifo", "other", 0}}, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}
