package toolcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolhost/toolhost/internal/manifest"
)

// A read-only tool that marks an argument as a path it writes, at any
// depth, is flagged: the marks are the manifest's own.
func TestReadOnlyWritingPathFlagged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tools.json")
	os.WriteFile(path, []byte(`{"tools":[{"name":"w","description":"d","command":["/bin/true"],"annotations":{"readOnlyHint":true},
		"schema":{"type":"object","properties":{"out":{"type":"object","description":"o","properties":{"file":{"type":"string","description":"f","x-path":"write"}}}}}}]}`), 0o644)
	m, err := manifest.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := manifestProblems(m.Tools[0])
	if len(ps) != 1 || ps[0].id != Annotations || !strings.Contains(ps[0].msg, `"x-path": "write"`) {
		t.Errorf("problems %+v", ps)
	}
}
