package mcpserve

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/tools/txtar"
)

var update = flag.Bool("update", false, "rewrite the golden transcripts in testdata")

// goldenSession is what the client of a golden transcript sends, one
// message at a time: the handshake at the revision (%s), and requests
// served by agentcli's own path and by the library's, answered and
// refused.
var goldenSession = []string{
	`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"%s","capabilities":{},"clientInfo":{"name":"golden","version":"1"}}}`,
	`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
	`{"jsonrpc":"2.0","id":2,"method":"ping"}`,
	`{"jsonrpc":"2.0","id":3,"method":"tools/list"}`,
	`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"touch","arguments":{}}}`,
	`{"jsonrpc":"2.0","id":"five","method":"tools/call","params":{"name":"touch","arguments":{},"_meta":{"io.modelcontextprotocol/example":1}}}`,
	`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"block","arguments":{}}}`,
	`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"invented","arguments":{}}}`,
	`{"jsonrpc":"2.0","id":8,"method":"no/such/method"}`,
	`{"jsonrpc":"2.0","id":null,"method":"ping"}`,
	`[{"jsonrpc":"2.0","id":9,"method":"ping"}]`,
	`not json`,
}

// statelessSession is goldenSession at the stateless revision (%s), where
// no handshake is made: the client asks server/discover, and every request
// carries the revision, the client and its capabilities in _meta (M). The
// last request leaves out the capabilities the revision requires.
var statelessSession = []string{
	`{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":M}}`,
	`{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta":M}}`,
	`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"touch","arguments":{},"_meta":M}}`,
	`{"jsonrpc":"2.0","id":"five","method":"tools/call","params":{"name":"touch","arguments":{},"_meta":M}}`,
	`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"block","arguments":{},"_meta":M}}`,
	`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"invented","arguments":{},"_meta":M}}`,
	`{"jsonrpc":"2.0","id":8,"method":"no/such/method","params":{"_meta":M}}`,
	`{"jsonrpc":"2.0","id":null,"method":"tools/list","params":{"_meta":M}}`,
	`[{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{"_meta":M}}]`,
	`not json`,
	`{"jsonrpc":"2.0","id":10,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"%s"}}}`,
}

// goldenRevisions are the revisions served: the stateless one, and those
// negotiated with initialize.
var goldenRevisions = []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"}

// sessionAt is the session a client at revision rev sends.
func sessionAt(rev string) []string {
	if !mcp.IsModernProtocol(rev) {
		return goldenSession
	}
	meta := `{"io.modelcontextprotocol/protocolVersion":"` + rev + `",` +
		`"io.modelcontextprotocol/clientInfo":{"name":"golden","version":"1"},` +
		`"io.modelcontextprotocol/clientCapabilities":{}}`
	out := make([]string, len(statelessSession))
	for i, line := range statelessSession {
		out[i] = strings.ReplaceAll(line, ":M}", ":"+meta+"}")
	}
	return out
}

// volatile are the parts of a transcript that differ from run to run or
// machine to machine, and what stands for them.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`"version":"[^"]*"`), `"version":"VERSION"`},
	{regexp.MustCompile(`"instructions":"(?:[^"\\]|\\.)*"`), `"instructions":"INSTRUCTIONS"`},
}

// TestGoldenStdio replays goldenSession over stdio at every handshake
// revision and compares the whole transcript with
// testdata/stdio-REVISION.txtar (go test -run Golden -update rewrites
// them): a change of what clients see, from this code or from a library
// upgrade, fails here.
func TestGoldenStdio(t *testing.T) {
	for _, rev := range goldenRevisions {
		t.Run(rev, func(t *testing.T) {
			p := newStdioPeerRaw(t, newHost(t, Options{}))
			var b strings.Builder
			for _, line := range sessionAt(rev) {
				if strings.Contains(line, "%s") {
					line = fmt.Sprintf(line, rev)
				}
				p.send(line)
				fmt.Fprintf(&b, "> %s\n", line)
				if strings.Contains(line, `"method":"notifications/`) {
					continue // no answer
				}
				b.WriteString("< " + normalize(strings.TrimSpace(p.recv().line)) + "\n")
			}
			compareGolden(t, filepath.Join("testdata", "stdio-"+rev+".txtar"),
				"A stdio session at revision "+rev+": > the client sent, < the server answered.\n", b.String())
		})
	}
}

func normalize(s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// compareGolden compares got with the transcript in the txtar file path,
// or rewrites the file with -update.
func compareGolden(t *testing.T, path, comment, got string) {
	t.Helper()
	if *update {
		a := &txtar.Archive{Comment: []byte(comment), Files: []txtar.File{{Name: "transcript", Data: []byte(got)}}}
		if err := os.WriteFile(path, txtar.Format(a), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	a, err := txtar.ParseFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run Golden -update writes it)", err)
	}
	if len(a.Files) != 1 || a.Files[0].Name != "transcript" {
		t.Fatalf("%s: want one file, transcript", path)
	}
	want := a.Files[0].Data
	if bytes.Equal(want, []byte(got)) {
		return
	}
	wl, gl := strings.Split(string(want), "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			t.Errorf("%s: line %d differs (go test -run Golden -update rewrites the file after a change meant to be seen by clients)\nwant: %s\n got: %s", path, i+1, w, g)
			return
		}
	}
}

// TestGoldenHTTP replays goldenSession over streamable HTTP at every
// handshake revision, one POST per message with the session the server
// gave, and compares the transcript (status, content type and body of
// each answer) with testdata/http-REVISION.txtar.
func TestGoldenHTTP(t *testing.T) {
	for _, rev := range goldenRevisions {
		t.Run(rev, func(t *testing.T) {
			f := newFixture(t, HTTPOptions{Tokens: []Token{alice}})
			hdr := http.Header{"Authorization": {"Bearer " + alice.Secret}, "Content-Type": {"application/json"},
				"Accept": {"application/json, text/event-stream"}}
			var b strings.Builder
			if mcp.IsModernProtocol(rev) {
				hdr.Set("Mcp-Protocol-Version", rev) // on every request: there is no session
			}
			for _, line := range sessionAt(rev) {
				if strings.Contains(line, "%s") {
					line = fmt.Sprintf(line, rev)
				}
				if mcp.IsModernProtocol(rev) {
					mirrorHeaders(hdr, line)
				}
				r := f.post(hdr, line, false)
				if id := r.header.Get("Mcp-Session-Id"); id != "" {
					hdr.Set("Mcp-Session-Id", id)
					hdr.Set("Mcp-Protocol-Version", rev)
				}
				fmt.Fprintf(&b, "> %s\n< %d %s %s\n", line, r.status, r.header.Get("Content-Type"), normalize(strings.TrimSpace(string(r.body))))
			}
			compareGolden(t, filepath.Join("testdata", "http-"+rev+".txtar"),
				"A streamable HTTP session at revision "+rev+": > the client posted, < the status, content type and body of the answer.\n", b.String())
		})
	}
}

// mirrorHeaders sets the headers a stateless-revision client sends beside
// the body: the method, and the tool's name for tools/call.
func mirrorHeaders(hdr http.Header, body string) {
	var msg struct {
		Method string
		Params struct{ Name string }
	}
	hdr.Del(mcp.HeaderMethod)
	hdr.Del(mcp.HeaderName)
	if json.Unmarshal([]byte(body), &msg) != nil || msg.Method == "" {
		return
	}
	hdr.Set(mcp.HeaderMethod, msg.Method)
	if msg.Params.Name != "" {
		hdr.Set(mcp.HeaderName, msg.Params.Name)
	}
}
