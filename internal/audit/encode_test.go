package audit

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// appendRecord writes exactly what encoding/json writes (HTML left alone).
func TestAppendRecordMatchesEncodingJSON(t *testing.T) {
	exit := -3
	tricky := "quote\" back\\ nl\n cr\r tab\t bell\a esc\x1b del\x7f nul\x00 <html>&amp; \u2028\u2029 é 日本 \xff\xfe bad"
	records := []*Record{
		{},
		record(1),
		{V: 1, Seq: 18446744073709551615, Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), Call: tricky, Frontend: "mcp",
			Caller: tricky, Tool: tricky, ArgsSHA256: "x", Argv: []string{tricky, ""}, Env: []string{"A"}, PID: -1, Resident: true,
			Exit: &exit, Signal: tricky, DurationMs: 1234.5678, BytesIn: -1, BytesOut: math.MaxInt64, Leftovers: 7,
			Code: "X", Message: tricky, Prev: Genesis, Hash: "h"},
	}
	for _, f := range []float64{0, 1, 0.001, 1e-7, 123456789.123, 1e21, 1e20, 5e-324, 12.5e-9} {
		records = append(records, &Record{DurationMs: f})
	}
	for i, rec := range records {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rec); err != nil {
			t.Fatal(err)
		}
		got := appendRecord(nil, rec)
		if !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Errorf("record %d:\n got %s\nwant %s", i, got, want.Bytes())
		}
	}
}

// FuzzAppendRecord: for any strings and numbers, appendRecord writes what
// encoding/json writes.
func FuzzAppendRecord(f *testing.F) {
	f.Add("c1", "mcp", "token:ci", "echo", "/bin/echo", "TOOL_ERROR", "quote\" \x1b <&> \xff", int64(7), 1.5, "allow")
	f.Add("", "", "", "", "", "", "", int64(-1), 1e21, "")
	f.Fuzz(func(t *testing.T, call, frontend, caller, tool, argv, code, msg string, n int64, ms float64, decision string) {
		if math.IsNaN(ms) || math.IsInf(ms, 0) {
			return // encoding/json refuses them; durations are finite
		}
		exit := int(n % 256)
		rec := &Record{V: 1, Seq: uint64(n), Time: time.Unix(n%1e10, n%1e9).UTC(), Call: call, Frontend: frontend, Caller: caller,
			Tool: tool, ArgsSHA256: call, Argv: []string{argv, msg}, Env: []string{tool}, PID: int(n), Exit: &exit, Signal: code,
			DurationMs: ms, BytesIn: n, BytesOut: -n, Leftovers: int(n % 5), Decision: Decision(decision), Rule: caller,
			Code: code, Message: msg, Prev: Genesis}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rec); err != nil {
			return // a time encoding/json cannot write
		}
		if got := appendRecord(nil, rec); !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("\n got %s\nwant %s", got, want.Bytes())
		}
	})
}
