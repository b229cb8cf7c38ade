//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/toolhost/toolhost/protocol/tooltest"

	"github.com/toolhost/toolhost/protocol"
)

// TestProcessFailedWriteIsAtomic makes the write itself fail half way, with
// a file size limit (RLIMIT_FSIZE, set by the shell's ulimit) smaller than
// the content: the old file must keep its content and mode, and no
// temporary file may be left.
func TestProcessFailedWriteIsAtomic(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh for ulimit")
	}
	ws := newWorkspace(t, map[string]string{"keep.txt": "old content"})
	if err := os.Chmod(filepath.Join(ws, "keep.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := tooltest.Tree(t, ws)
	content := strings.Repeat("new content\n", 64<<10/12)
	args, _ := json.Marshal(map[string]any{"path": "keep.txt", "content": content})

	// ulimit -f counts 512- or 1024-byte blocks depending on the shell;
	// 8 blocks is under 64 KiB either way.
	cmd := exec.Command(sh, "-c", `ulimit -f 8 && exec "$0"`, tool.Path)
	cmd.Dir = ws
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + ws}
	cmd.Stdin = bytes.NewReader(args)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1; stdout %s, stderr %s", err, stdout.Bytes(), stderr.Bytes())
	}
	e := protocol.ParseFailure(stderr.Bytes())
	if e.Code != "IO_ERROR" || !strings.Contains(e.Message, "too large") {
		t.Errorf("got %+v, want IO_ERROR about the file being too large", e)
	}
	if diff := cmp.Diff(before, tooltest.Tree(t, ws)); diff != "" {
		t.Errorf("files changed (-before +after):\n%s", diff)
	}
	fi, err := os.Stat(filepath.Join(ws, "keep.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}
