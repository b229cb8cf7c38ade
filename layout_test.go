package toolhost_test

import (
	"go/build"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/toolhost/toolhost/"

// rank places each package of the module in the layering the README's
// Layout section draws: a package imports only packages of a lower rank.
var rank = map[string]int{
	"protocol": 0, "schemas": 0, "protocol/resident/residentpb": 0,
	"internal/netaddr": 0, "internal/hideproc": 0, "internal/realowner": 0,
	"internal/audit": 0, "internal/sandbox/confine": 0,
	"internal/gobuild": 0, "internal/fakeoai": 0, "internal/asuser": 0, "internal/ptytest": 0, "internal/turns": 0,
	"internal/policy": 1, "internal/sandbox": 1, "protocol/resident": 1,
	"internal/manifest": 2, "internal/rawexec": 2,
	"tools/internal/workspace": 2,
	"internal/host":            3, "tools/cmd/*": 3,
	"internal/chat": 4, "internal/mcpserve": 4, "internal/secaudit": 4, "internal/toolcheck": 4,
	"cmd/agentcli": 5, "protocol/tooltest": 5,
	"tools/internal/belt": 6,
}

// forTests are imported by tests (and the tool test kit) only.
var forTests = map[string]bool{"internal/gobuild": true, "internal/fakeoai": true, "internal/rawexec": true, "internal/asuser": true, "internal/ptytest": true, "internal/turns": true}

func rankOf(pkg string) (int, bool) {
	if strings.HasPrefix(pkg, "tools/cmd/") {
		pkg = "tools/cmd/*"
	}
	r, ok := rank[pkg]
	return r, ok
}

// TestImportGraph checks every package's imports, as each of the three
// systems agentcli is vetted on builds it, against the layering.
func TestImportGraph(t *testing.T) {
	found := map[string]bool{}
	filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && p != "." {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			found[filepath.Dir(p)] = true
		}
		return nil
	})
	dirs := slices.Sorted(maps.Keys(found))
	seen := map[string]bool{}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		ctx := build.Default
		ctx.GOOS = goos
		for _, dir := range dirs {
			pkg, err := ctx.ImportDir(dir, 0)
			if err != nil {
				continue // nothing of it builds on goos
			}
			name := filepath.ToSlash(dir)
			from, ok := rankOf(name)
			if !ok {
				if !seen[name] {
					t.Errorf("%s: a package the layering does not place: add it to rank here and to the README's Layout", name)
				}
				seen[name] = true
				continue
			}
			for _, imp := range pkg.Imports {
				to, ok := strings.CutPrefix(imp, module)
				if !ok {
					continue
				}
				r, ok := rankOf(to)
				switch {
				case !ok:
					t.Errorf("%s (%s): imports %s, which the layering does not place", name, goos, to)
				case r >= from:
					t.Errorf("%s (%s): imports %s, not below it in the layering", name, goos, to)
				case forTests[to] && name != "protocol/tooltest":
					t.Errorf("%s (%s): imports %s, which is for tests", name, goos, to)
				}
			}
		}
	}
	if len(dirs) < len(rank) {
		t.Errorf("found %d packages, fewer than the %d placed", len(dirs), len(rank))
	}
}
