//go:build unix

package manifest

import (
	"syscall"
	"testing"
)

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o755); err != nil {
		t.Fatal(err)
	}
}
