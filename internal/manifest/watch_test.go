package manifest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Watch sees a file written in place and one renamed over the manifest,
// and reports a broken one as an error.
func TestWatch(t *testing.T) {
	dir := workspace(t, "a", "b")
	path := writeManifest(t, dir, `{"tools":[{"name":"a","command":["./tools/bin/a"]}]}`)
	type change struct {
		tools []string
		err   error
	}
	changes := make(chan change, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	since := VersionOf(path)
	go func() {
		defer close(done)
		Watch(ctx, path, since, 5*time.Millisecond, func(m *Manifest, err error) {
			var c change
			c.err = err
			if m != nil {
				for _, tool := range m.Tools {
					c.tools = append(c.tools, tool.Name)
				}
			}
			changes <- c
		})
	}()
	defer func() { cancel(); <-done }()
	// A write seen half done may show first: until a change that fits.
	until := func(what string, fits func(change) bool) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case c := <-changes:
				if fits(c) {
					return
				}
			case <-timeout:
				t.Fatalf("%s: not seen", what)
			}
		}
	}

	writeManifest(t, dir, `{"tools":[{"name":"a","command":["./tools/bin/a"]},{"name":"b","command":["./tools/bin/b"]}]}`)
	until("written in place", func(c change) bool { return c.err == nil && len(c.tools) == 2 })
	tmp := filepath.Join(dir, "tools.json.new")
	os.WriteFile(tmp, []byte(`{"tools":[{"name":"b","command":["./tools/bin/b"]}]}`), 0o644)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	until("renamed over", func(c change) bool { return c.err == nil && len(c.tools) == 1 && c.tools[0] == "b" })
	writeManifest(t, dir, `{"tools":[`)
	until("broken", func(c change) bool { return c.err != nil && c.tools == nil })
}
