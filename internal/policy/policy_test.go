package policy

import (
	"encoding/json"
	"strings"
	"testing"
)

func mustParse(t *testing.T, s string) *Policy {
	t.Helper()
	p, err := Parse([]byte(s), "test")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func args(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// A rule for "read" matches the word read in a tool's name and nothing
// that merely contains the letters, however the name is dressed up.
func TestWordBoundaries(t *testing.T) {
	p := mustParse(t, `{"mode":"strict","rules":[{"id":"r","tool":"read","decision":"allow"}]}`)
	for tool, want := range map[string]bool{
		"read": true, "fs_read_file": true, "READ": true, "fs-read": true, "read.v2": true, "ｒｅａｄ": true,
		"readlink": false, "fs_readlink": false, "thread": false, "reader": false, "re_ad": false, "unread": false, "": false,
	} {
		v := p.Decide(tool, nil)
		if got := v.Decision == Allow; got != want {
			t.Errorf("tool %q: %v by %s, want allowed=%v", tool, v.Decision, v.By, want)
		}
	}
	// A run of words must appear as a run.
	p = mustParse(t, `{"mode":"bypass","rules":[{"id":"push","tool":"*","args":{"command":"git push"},"decision":"deny"}]}`)
	for cmd, denied := range map[string]bool{
		"git push": true, "git push origin main": true, "GIT   PUSH": true, "/usr/bin/git push": true, "git pu\u200bsh": true,
		"cd x && git push": true, "git pushx": false, "git status; push": false, "legit push": false, "git": false,
	} {
		v := p.Decide("shell", args(t, `{"command":`+quote(cmd)+`}`))
		if got := v.Decision == Deny; got != denied {
			t.Errorf("command %q: %v by %s, want denied=%v", cmd, v.Decision, v.By, denied)
		}
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestDecideOrderAndModes(t *testing.T) {
	p := mustParse(t, `{"rules":[
		{"id":"all","tool":"*","decision":"allow"},
		{"id":"writes","tool":"write","decision":"ask","reason":"changes files"},
		{"id":"secrets","tool":"write","args":{"/target/path":"secrets"},"decision":"deny"}]}`)
	cases := []struct {
		tool, args string
		want       Decision
		by         string
	}{
		{"get_time", `{}`, Allow, "rule:all"},
		{"fs_write_file", `{"target":{"path":"a.txt"}}`, Ask, "rule:writes"},
		{"fs_write_file", `{"target":{"path":"my-secrets/a"}}`, Deny, "rule:secrets"},
		{"fs_write_file", `{"target":{"path":["x","secrets"]}}`, Deny, "rule:secrets"},
	}
	for _, c := range cases {
		v := p.Decide(c.tool, args(t, c.args))
		if v.Decision != c.want || v.By != c.by {
			t.Errorf("%s %s: %v by %s (%s), want %v by %s", c.tool, c.args, v.Decision, v.By, v.Reason, c.want, c.by)
		}
	}
	if v := p.Decide("fs_write_file", args(t, `{}`)); !strings.Contains(v.Reason, "changes files") {
		t.Errorf("reason %q does not carry the rule's reason", v.Reason)
	}
	for mode, want := range map[string]Decision{"default": Ask, "strict": Deny, "bypass": Allow, "": Ask} {
		doc := `{"rules":[{"tool":"other","decision":"deny"}]}`
		if mode != "" {
			doc = `{"mode":` + quote(mode) + `,"rules":[{"tool":"other","decision":"deny"}]}`
		}
		p := mustParse(t, doc)
		v := p.Decide("x", nil)
		if v.Decision != want || !strings.HasPrefix(v.By, "mode:") {
			t.Errorf("mode %q: %v by %s, want %v by the mode", mode, v.Decision, v.By, want)
		}
	}
	if v := (&Policy{}).Decide("x", nil); v.Decision != Ask {
		t.Errorf("zero policy: %v, want ask", v.Decision)
	}
}

func TestParseErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{"mode":"yolo"}`: "/mode",
		`{"rules":[{"tool":"x","decision":"maybe"}]}`:                                                  "/rules/0/decision",
		`{"rules":[{"tool":"x"}]}`:                                                                     "decision",
		`{"rules":[{"tool":"x","decision":"allow","y":1}]}`:                                            "y",
		`{"rules":[{"tool":"__","decision":"allow"}]}`:                                                 "no words",
		`{"rules":[{"tool":"x","decision":"allow","args":{"a":"--"}}]}`:                                "args.a has no words",
		`{"rules":[{"id":"a","tool":"x","decision":"allow"},{"id":"a","tool":"y","decision":"deny"}]}`: `id "a" is used twice`,
		`{"unknown":true}`: "unknown",
		`[`:                "not JSON",
	} {
		_, err := Parse([]byte(in), "test")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want an error mentioning %q", in, err, want)
		}
	}
}

func TestParsePolicyLists(t *testing.T) {
	p, err := Parse([]byte(`{"commands":{"deny":["git  push","npm publish"]},"paths":{"deny":["*.sqlite","config/prod.yml"]}}`), "t")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.DenyWords(); len(got) != 2 || strings.Join(got[0], "|") != "git|push" {
		t.Errorf("DenyWords = %q", got)
	}
	for doc, want := range map[string]string{
		`{"paths":{"deny":["[a-"]}}`:  "not a glob pattern",
		`{"paths":{"deny":[" "]}}`:    "paths/deny/0",
		`{"commands":{"deny":[""]}}`:  "commands/deny/0",
		`{"commands":{"deny":[" "]}}`: "commands/deny/0",
		`{"paths":{"allow":["x"]}}`:   "additional",
	} {
		if _, err := Parse([]byte(doc), "t"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want an error about %q", doc, err, want)
		}
	}
}

// FuzzParse: any bytes either parse or are refused with an error that
// names the source; a policy that parses decides any call without
// failing, one of allow, ask or deny.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"mode":"strict","rules":[{"id":"r","tool":"read","decision":"allow"}]}`), "fs_read_file", `{"path":"a"}`)
	f.Add([]byte(`{"mode":"default","rules":[{"id":"w","tool":"write","args":{"path":"*.go"},"decision":"ask"}],"commands":{"deny":["git push"],"allow":["ls"]},"paths":{"deny":["*.sqlite"]}}`), "fs_write_file", `{"path":"x.go"}`)
	f.Add([]byte(`{"mode":"bypass"}`), "", `{}`)
	f.Add([]byte(`{"rules":[{"decision":"maybe"}]}`), "x", `null`)
	f.Fuzz(func(t *testing.T, data []byte, tool, rawArgs string) {
		p, err := Parse(data, "fuzz.json")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("the error does not name the source: %v", err)
			}
			return
		}
		var a map[string]any
		json.Unmarshal([]byte(rawArgs), &a)
		switch v := p.Decide(tool, a, nil); v.Decision {
		case Allow, Ask, Deny:
		default:
			t.Fatalf("decision %q by %s", v.Decision, v.By)
		}
	})
}

// MayAsk: whatever the arguments (a rule or the mode asks), or for some
// of them (an ask rule with args); never for a tool denied outright or
// allowed with no ask rule in sight.
func TestMayAsk(t *testing.T) {
	p := mustParse(t, `{"mode":"strict","rules":[
		{"id":"reads","tool":"read","decision":"allow"},
		{"id":"writes","tool":"write","decision":"ask","reason":"changes files"},
		{"id":"run","tool":"run_command","decision":"allow"},
		{"id":"push","tool":"run_command","args":{"command":"push"},"decision":"ask","reason":"publishes"},
		{"id":"off","tool":"danger","decision":"deny"}]}`)
	for _, c := range []struct {
		tool string
		ask  bool
		why  string
	}{
		{"fs_read_file", false, ""},
		{"fs_write_file", true, "rule writes asks: changes files"},
		{"run_command", true, "rule push asks for some arguments: publishes"},
		{"danger", false, ""},
		{"other", false, ""}, // mode strict denies
	} {
		ask, why := p.MayAsk(c.tool)
		if ask != c.ask || why != c.why {
			t.Errorf("MayAsk(%s) = %v %q, want %v %q", c.tool, ask, why, c.ask, c.why)
		}
	}
	if ask, why := mustParse(t, `{}`).MayAsk("anything"); !ask || !strings.Contains(why, "mode default asks") {
		t.Errorf("mode default: %v %q", ask, why)
	}
}
