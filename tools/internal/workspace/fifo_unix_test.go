//go:build unix

package workspace

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestOpenRegularFIFONeverBlocks(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	r := open(t, dir)
	done := make(chan error, 1)
	go func() {
		_, _, err := r.OpenRegular("fifo")
		done <- err
	}()
	select {
	case err := <-done:
		if c := code(t, err); c != CodeNotAFile {
			t.Errorf("code %q (%v), want %q", c, err, CodeNotAFile)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OpenRegular blocked on a FIFO")
	}

	// The check before opening catches the FIFO above; the open itself
	// must not block either, for a FIFO swapped in after the check.
	go func() {
		f, err := r.root.OpenFile("fifo", os.O_RDONLY|openNonblock, 0)
		if err == nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("non-blocking open: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("opening a FIFO with openNonblock blocked")
	}
}
