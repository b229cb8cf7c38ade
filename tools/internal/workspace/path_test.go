package workspace

import (
	"errors"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// cleanTests is shared by TestClean and the seeds of FuzzClean.
var cleanTests = []struct {
	name string
	in   string
	want string // "" when Clean must refuse in
}{
	{"file", "a.txt", "a.txt"},
	{"nested", "src/main.go", "src/main.go"},
	{"root", ".", "."},
	{"dot slash", "./a", "a"},
	{"trailing slash", "dir/", "dir"},
	{"double slash", "a//b", "a/b"},
	{"inner dot dot", "a/b/../c", "a/c"},
	{"back to root", "a/..", "."},
	{"dot dot prefix in a name", "..a/b", "..a/b"},
	{"dots in a name", "a/...", "a/..."},
	{"unicode", "données/été.txt", "données/été.txt"},
	{"looks like a drive", "a:b", ""},
	{"empty", "", ""},
	{"NUL", "a\x00b", ""},
	{"absolute", "/etc/passwd", ""},
	{"absolute root", "/", ""},
	{"double slash absolute", "//server/share", ""},
	{"dot dot", "..", ""},
	{"dot dot slash", "../x", ""},
	{"climbs after descending", "a/../../x", ""},
	{"dot then dot dot", "./../x", ""},
	{"many dot dots", "a/b/../../../x", ""},
	{"windows drive", `C:\Windows\win.ini`, ""},
	{"windows drive slash", "C:/Windows", ""},
	{"windows drive relative", "c:x", ""},
	{"windows UNC", `\\server\share\x`, ""},
	{"windows rooted", `\Windows`, ""},
	{"windows dot dot", `..\x`, ""},
	{"windows inner dot dot", `a\..\..\x`, ""},
	{"windows rooted after cleaning", `./\`, ""},
	{"windows drive after cleaning", `./C:x`, ""},
	{"climbs out only read the Unix way", `a\b/../../c`, ""},
	{"too long", strings.Repeat("a/", 2049), ""},
}

func TestClean(t *testing.T) {
	for _, tt := range cleanTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Clean(tt.in)
			if tt.want == "" {
				var we *Error
				if !errors.As(err, &we) || we.Code != CodeBadPath {
					t.Fatalf("Clean(%q) = %q, %v; want a BAD_PATH *Error", tt.in, got, err)
				}
				if we.Path != tt.in {
					t.Errorf("error names %q, want %q", we.Path, tt.in)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Clean(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestCleanMessages(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `path "": empty path; use "." for the workspace root`},
		{"/etc/passwd", `path "/etc/passwd": absolute paths are not allowed; use a path relative to the workspace root`},
		{"../x", `path "../x": leads outside the workspace ("..")`},
		{"a\x00", `path "a\x00": contains a NUL byte`},
		{`C:\x`, `path "C:\\x": paths with a drive letter are not allowed; use a path relative to the workspace root`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Clean(tt.in)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Clean(%q) error = %v, want %s", tt.in, err, tt.want)
			}
		})
	}
}

// FuzzClean checks Clean's promises for any input: what it accepts is
// relative, cleaned, local and stable; what it refuses is a BAD_PATH
// *Error naming the input.
func FuzzClean(f *testing.F) {
	for _, tt := range cleanTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Clean(in)
		if err != nil {
			var we *Error
			if !errors.As(err, &we) || we.Code != CodeBadPath || we.Path != in {
				t.Fatalf("Clean(%q): %#v, want a BAD_PATH *Error naming the input", in, err)
			}
			// %q spends at most 4 bytes on a byte of the shown prefix.
			if len(err.Error()) > 4*shownLen+200 {
				t.Fatalf("Clean(%q): message of %d bytes", in, len(err.Error()))
			}
			return
		}
		// Backslashes are separators on Windows, so the checks look at
		// got both ways.
		slashed := path.Clean(strings.ReplaceAll(got, `\`, "/"))
		switch {
		case got == "" || strings.IndexByte(got, 0) >= 0:
			t.Fatalf("Clean(%q) = %q: empty or NUL", in, got)
		case path.IsAbs(slashed) || filepath.IsAbs(got) || hasDriveLetter(slashed):
			t.Fatalf("Clean(%q) = %q: absolute", in, got)
		case slashed == ".." || strings.HasPrefix(slashed, "../"):
			t.Fatalf("Clean(%q) = %q: climbs out", in, got)
		case path.Clean(got) != got:
			t.Fatalf("Clean(%q) = %q: not clean", in, got)
		case !filepath.IsLocal(filepath.FromSlash(got)):
			t.Fatalf("Clean(%q) = %q: not local", in, got)
		case len(got) > len(in):
			t.Fatalf("Clean(%q) = %q: longer than its input", in, got)
		}
		again, err := Clean(got)
		if err != nil || again != got {
			t.Fatalf("Clean(Clean(%q)) = %q, %v; want %q", in, again, err, got)
		}
		if utf8.ValidString(in) && !utf8.ValidString(got) {
			t.Fatalf("Clean(%q) = %q: broke UTF-8", in, got)
		}
	})
}
