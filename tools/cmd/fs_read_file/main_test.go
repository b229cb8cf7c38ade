package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/toolhost/toolhost/protocol/tooltest"
)

// newWorkspace makes a workspace holding files (by slash path), next to a
// folder "outside" holding secret.txt; it returns the workspace's folder.
func newWorkspace(t *testing.T, files map[string]string) string {
	t.Helper()
	return tooltest.Workspace(t, "secret\n", files)
}

func TestProcess(t *testing.T) {
	binary := "\x00\x01\x02\xff\xfe binary"
	ws := newWorkspace(t, map[string]string{
		"a.txt":         "hello, world\n",
		"empty.txt":     "",
		"sub/b.txt":     "bee\n",
		"bin.dat":       binary,
		"nul.txt":       "text\x00with a NUL",
		"latin1.txt":    "caf\xe9",
		"utf8.txt":      "héllo",
		"emoji.txt":     "😀😀",
		".hidden":       "hidden\n",
		"sub/deep/c.md": "# c\n",
	})
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name string
		args string
		want output
	}{
		{"text", `{"path":"a.txt"}`, output{"a.txt", 13, 0, "hello, world\n", "utf-8", false}},
		{"nested", `{"path":"sub/deep/c.md"}`, output{"sub/deep/c.md", 4, 0, "# c\n", "utf-8", false}},
		{"cleaned path", `{"path":"./sub/../a.txt"}`, output{"a.txt", 13, 0, "hello, world\n", "utf-8", false}},
		{"hidden file", `{"path":".hidden"}`, output{".hidden", 7, 0, "hidden\n", "utf-8", false}},
		{"empty file", `{"path":"empty.txt"}`, output{"empty.txt", 0, 0, "", "utf-8", false}},
		{"offset", `{"path":"a.txt","offset":7}`, output{"a.txt", 13, 7, "world\n", "utf-8", false}},
		{"window", `{"path":"a.txt","offset":7,"maxBytes":5}`, output{"a.txt", 13, 7, "world", "utf-8", true}},
		{"window to the end", `{"path":"a.txt","offset":7,"maxBytes":6}`, output{"a.txt", 13, 7, "world\n", "utf-8", false}},
		{"offset at the end", `{"path":"a.txt","offset":13}`, output{"a.txt", 13, 13, "", "utf-8", false}},
		{"offset past the end", `{"path":"a.txt","offset":1000}`, output{"a.txt", 13, 1000, "", "utf-8", false}},
		{"largest offset", `{"path":"a.txt","offset":9223372036854775807}`, output{"a.txt", 13, 9223372036854775807, "", "utf-8", false}},
		{"one byte", `{"path":"a.txt","maxBytes":1}`, output{"a.txt", 13, 0, "h", "utf-8", true}},
		{"binary", `{"path":"bin.dat"}`, output{"bin.dat", int64(len(binary)), 0, b64([]byte(binary)), "base64", false}},
		{"NUL is binary", `{"path":"nul.txt"}`, output{"nul.txt", 15, 0, b64([]byte("text\x00with a NUL")), "base64", false}},
		{"Latin-1 is binary", `{"path":"latin1.txt"}`, output{"latin1.txt", 4, 0, b64([]byte("caf\xe9")), "base64", false}},
		{"UTF-8", `{"path":"utf8.txt"}`, output{"utf8.txt", 6, 0, "héllo", "utf-8", false}},
		{"character cut at the end waits", `{"path":"utf8.txt","maxBytes":2}`, output{"utf8.txt", 6, 0, "h", "utf-8", true}},
		{"next piece", `{"path":"utf8.txt","offset":1,"maxBytes":2}`, output{"utf8.txt", 6, 1, "é", "utf-8", true}},
		{"piece inside one character", `{"path":"emoji.txt","maxBytes":2}`, output{"emoji.txt", 8, 0, b64([]byte("😀")[:2]), "base64", true}},
		{"offset inside a character", `{"path":"utf8.txt","offset":2}`, output{"utf8.txt", 6, 2, b64([]byte("héllo")[2:]), "base64", false}},
		{"whole characters", `{"path":"emoji.txt","maxBytes":5}`, output{"emoji.txt", 8, 0, "😀", "utf-8", true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got output
			tool.Succeed(t, ws, tt.args, &got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestProcessSymlinks(t *testing.T) {
	ws := newWorkspace(t, map[string]string{"a.txt": "hello\n", "sub/b.txt": "bee\n"})
	outside := filepath.Join(filepath.Dir(ws), "outside")
	tooltest.Symlink(t, "a.txt", filepath.Join(ws, "link_in"))
	tooltest.Symlink(t, "sub", filepath.Join(ws, "link_dir_in"))
	tooltest.Symlink(t, "../outside/secret.txt", filepath.Join(ws, "link_out"))
	tooltest.Symlink(t, "../outside", filepath.Join(ws, "link_dir_out"))
	tooltest.Symlink(t, filepath.Join(outside, "secret.txt"), filepath.Join(ws, "link_abs_out"))
	tooltest.Symlink(t, filepath.Join(outside), filepath.Join(ws, "link_abs_dir_out"))

	t.Run("link inside", func(t *testing.T) {
		var got output
		tool.Succeed(t, ws, `{"path":"link_in"}`, &got)
		if got.Content != "hello\n" || got.Path != "link_in" {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("folder link inside", func(t *testing.T) {
		var got output
		tool.Succeed(t, ws, `{"path":"link_dir_in/b.txt"}`, &got)
		if got.Content != "bee\n" {
			t.Errorf("got %+v", got)
		}
	})
	for _, p := range []string{"link_out", "link_dir_out/secret.txt", "link_abs_out", "link_abs_dir_out/secret.txt"} {
		t.Run(p, func(t *testing.T) {
			e := tool.Fail(t, ws, fmt.Sprintf(`{"path":%q}`, p))
			if e.Code != "BAD_PATH" || strings.Contains(e.Message, "secret\n") {
				t.Errorf("got %+v, want BAD_PATH", e)
			}
		})
	}
}

func TestProcessErrors(t *testing.T) {
	ws := newWorkspace(t, map[string]string{"a.txt": "hello\n", "sub/b.txt": "bee\n"})
	abs, err := filepath.Abs(filepath.Join(ws, "a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args string
		code string
	}{
		{"absolute", fmt.Sprintf(`{"path":%q}`, abs), "BAD_PATH"},
		{"absolute outside", `{"path":"/etc/passwd"}`, "BAD_PATH"},
		{"dot dot", `{"path":"../outside/secret.txt"}`, "BAD_PATH"},
		{"climbing", `{"path":"sub/../../outside/secret.txt"}`, "BAD_PATH"},
		{"windows drive", `{"path":"C:\\Windows\\win.ini"}`, "BAD_PATH"},
		{"windows UNC", `{"path":"\\\\server\\share\\x"}`, "BAD_PATH"},
		{"windows dot dot", `{"path":"..\\outside\\secret.txt"}`, "BAD_PATH"},
		{"NUL", `{"path":"a.txt\u0000"}`, "BAD_PATH"},
		{"empty", `{"path":""}`, "BAD_PATH"},
		{"missing path", `{}`, "BAD_PATH"},
		{"not found", `{"path":"nope.txt"}`, "NOT_FOUND"},
		{"folder", `{"path":"sub"}`, "NOT_A_FILE"},
		{"root", `{"path":"."}`, "NOT_A_FILE"},
		{"file as a folder", `{"path":"a.txt/x"}`, "NOT_A_DIR"},
		{"negative offset", `{"path":"a.txt","offset":-1}`, "BAD_INPUT"},
		{"maxBytes too large", `{"path":"a.txt","maxBytes":524289}`, "BAD_INPUT"},
		{"maxBytes negative", `{"path":"a.txt","maxBytes":-5}`, "BAD_INPUT"},
		{"path not a string", `{"path":5}`, "BAD_INPUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tool.Fail(t, ws, tt.args); got.Code != tt.code {
				t.Errorf("code = %q, want %q (message %q)", got.Code, tt.code, got.Message)
			}
		})
	}
}

// TestProcessOutputBound reads the largest window of the files that JSON
// inflates most and checks the result stays well under the 1 MiB cap.
func TestProcessOutputBound(t *testing.T) {
	ws := newWorkspace(t, map[string]string{
		"html.txt":  strings.Repeat("<", maxMaxBytes+10),
		"ctl.txt":   strings.Repeat("\x01", maxMaxBytes),
		"mixed.txt": strings.Repeat("<a&b>\u2028", maxMaxBytes/8),
		"bin.dat":   strings.Repeat("\xff", maxMaxBytes),
		"plain.txt": strings.Repeat("x", maxMaxBytes),
	})
	for _, name := range []string{"html.txt", "ctl.txt", "mixed.txt", "bin.dat", "plain.txt"} {
		t.Run(name, func(t *testing.T) {
			args := fmt.Sprintf(`{"path":%q,"maxBytes":%d}`, name, maxMaxBytes)
			var got output
			tool.SucceedBounded(t, ws, args, &got)
			data, _ := os.ReadFile(filepath.Join(ws, name))
			returned := []byte(got.Content)
			if got.Encoding == "base64" {
				returned, _ = base64.StdEncoding.DecodeString(got.Content)
			}
			if len(returned) == 0 || !bytes.HasPrefix(data, returned) {
				t.Errorf("content is not a non-empty prefix of the file (%d bytes)", len(returned))
			}
			if wantMore := len(returned) < len(data); got.Truncated != wantMore {
				t.Errorf("truncated = %v after %d of %d bytes", got.Truncated, len(returned), len(data))
			}
		})
	}
}

// TestProcessReadInPieces reads a file to the end the way the README says a
// model should, and checks the pieces add up to the file.
func TestProcessReadInPieces(t *testing.T) {
	content := strings.Repeat("añ😀\x00b\xff", 50)
	ws := newWorkspace(t, map[string]string{"f": content})
	var all []byte
	for offset := 0; ; {
		var got output
		tool.Succeed(t, ws, fmt.Sprintf(`{"path":"f","offset":%d,"maxBytes":7}`, offset), &got)
		piece := []byte(got.Content)
		if got.Encoding == "base64" {
			piece, _ = base64.StdEncoding.DecodeString(got.Content)
		}
		all = append(all, piece...)
		offset += len(piece)
		if !got.Truncated {
			break
		}
		if len(piece) == 0 {
			t.Fatalf("no progress at offset %d", offset)
		}
	}
	if string(all) != content {
		t.Errorf("pieces do not add up to the file")
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name      string
		data      string
		more      bool
		content   string
		encoding  string
		truncated bool
	}{
		{"text", "abc", false, "abc", "utf-8", false},
		{"empty", "", false, "", "utf-8", false},
		{"cut character at the end of the file is binary", "a\xc3", false, "YcM=", "base64", false},
		{"cut character before more is left", "a\xc3", true, "a", "utf-8", true},
		{"only a cut character", "\xf0\x9f", true, "8J8=", "base64", true},
		{"invalid in the middle", "a\xffb", true, "Yf9i", "base64", true},
		{"NUL", "a\x00", false, "YQA=", "base64", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, e, tr := encode([]byte(tt.data), tt.more)
			if c != tt.content || e != tt.encoding || tr != tt.truncated {
				t.Errorf("encode(%q, %v) = %q, %q, %v; want %q, %q, %v", tt.data, tt.more, c, e, tr, tt.content, tt.encoding, tt.truncated)
			}
		})
	}
}

func TestFitJSON(t *testing.T) {
	tests := []struct {
		text   string
		budget int
		want   int
	}{
		{"abc", 3, 3},
		{"abc", 2, 2},
		{"<<", 6, 1},
		{"<<", 11, 1},
		{"<<", 12, 2},
		{`"a`, 2, 1},
		{"éé", 3, 2},
		{"😀", 3, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%d", tt.text, tt.budget), func(t *testing.T) {
			got := fitJSON([]byte(tt.text), tt.budget)
			if got != tt.want {
				t.Errorf("fitJSON = %d, want %d", got, tt.want)
			}
			// The bound really holds for encoding/json.
			b, _ := json.Marshal(tt.text[:got])
			if len(b)-2 > tt.budget || !utf8.ValidString(tt.text[:got]) {
				t.Errorf("%q encodes to %d bytes, budget %d", tt.text[:got], len(b)-2, tt.budget)
			}
		})
	}
}

func TestInputSchema(t *testing.T) {
	tests := []struct {
		args string
		ok   bool
	}{
		{`{"path":"a.txt"}`, true},
		{`{"path":"a.txt","offset":0,"maxBytes":1}`, true},
		{`{"path":"a.txt","maxBytes":524288}`, true},
		{`{}`, false},
		{`{"path":""}`, false},
		{`{"path":"a.txt","offset":-1}`, false},
		{`{"path":"a.txt","maxBytes":0}`, false},
		{`{"path":"a.txt","maxBytes":524289}`, false},
		{`{"path":"a.txt","maxBytes":1.5}`, false},
		{`{"path":"a.txt","extra":true}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			if err := tool.CheckArgs(t, tt.args); (err == nil) != tt.ok {
				t.Errorf("valid = %v, want %v (%v)", err == nil, tt.ok, err)
			}
		})
	}
}
