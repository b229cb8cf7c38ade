//go:build unix

package main

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/toolhost/toolhost/protocol/tooltest"
)

// TestProcessSpecialFiles checks FIFOs and devices are refused without
// blocking (tool.Run fails the test when the tool does not finish).
func TestProcessSpecialFiles(t *testing.T) {
	ws := newWorkspace(t, map[string]string{"a.txt": "a"})
	if err := syscall.Mkfifo(filepath.Join(ws, "fifo"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	tooltest.Symlink(t, "fifo", filepath.Join(ws, "link_fifo"))
	paths := []string{"fifo", "link_fifo"}
	// A device node needs privileges; test it where the tests have them.
	if syscall.Mknod(filepath.Join(ws, "null"), syscall.S_IFCHR|0o644, 1<<8|3) == nil {
		paths = append(paths, "null")
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			if e := tool.Fail(t, ws, `{"path":"`+p+`"}`); e.Code != "NOT_A_FILE" {
				t.Errorf("got %+v, want NOT_A_FILE", e)
			}
		})
	}
}
