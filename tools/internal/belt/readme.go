package belt

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/toolhost/toolhost/protocol/tooltest"
)

// CheckReadmeExample runs each of the tool's examples in tools/README.md
// (lines "echo '...' | ./tools/bin/NAME") as written, from the repository
// root, and checks each succeeds. It fails the test when the README has
// none. A tool that writes files (readOnly false) runs in a scratch folder
// with the same tools/bin layout instead, so the repository stays as it
// was. It expects to run in the tool's folder, as Main does.
func CheckReadmeExample(t testing.TB, tool *tooltest.Tool, readOnly bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^echo '([^']*)' \| \./tools/bin/` + regexp.QuoteMeta(tool.Name) + `$`)
	found := re.FindAllSubmatch(data, -1)
	if len(found) == 0 {
		t.Fatalf("tools/README.md has no example for %s", tool.Name)
	}
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if !readOnly {
		root = t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "tools", "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range found {
		var out map[string]any
		tool.Succeed(t, root, string(m[1]), &out)
	}
}

// Check runs every check of a toolbelt tool: its manifest entry, its
// README examples (readOnly: see CheckReadmeExample) and the contract
// checks of agentcli tool test.
func Check(t *testing.T, tool *tooltest.Tool, readOnly bool) {
	t.Run("ManifestEntry", func(t *testing.T) { tool.CheckManifestEntry(t) })
	t.Run("ReadmeExample", func(t *testing.T) { CheckReadmeExample(t, tool, readOnly) })
	t.Run("Contract", func(t *testing.T) { tool.Check(t, tooltest.CheckOptions{}) })
}
