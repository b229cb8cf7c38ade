package tooltest

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps what a check reports instead of
// failing the test that runs it.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Error(args ...any) { r.errors = append(r.errors, fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// Check passes a correct tool and fails a broken one with the finding's
// id, what the tool did included.
func TestCheck(t *testing.T) {
	tmp := t.TempDir()
	for _, c := range []struct {
		name string
		want string // "" for no error
	}{
		{"greet", ""},
		{"silent", "error failure.silent: silent failed (exit 1) with nothing on standard error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tool, err := build("testdata/"+c.name, tmp)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(tool.Manifest, "testdata/tools.json") {
				t.Errorf("manifest %s, want testdata/tools.json", tool.Manifest)
			}
			r := &recorder{TB: t}
			tool.Check(r, CheckOptions{})
			got := strings.Join(r.errors, "\n")
			if c.want == "" && got != "" {
				t.Errorf("errors for a correct tool:\n%s", got)
			}
			if c.want != "" && (len(r.errors) != 1 || !strings.Contains(got, c.want) || !strings.Contains(got, "did: exit 1")) {
				t.Errorf("errors:\n%s\nwant one with %q", got, c.want)
			}
		})
	}
}

func TestMain(m *testing.M) { os.Exit(m.Run()) }
