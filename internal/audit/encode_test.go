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
			Caller: tricky, Tool: tricky, ArgsSHA256: "x", Argv: []string{tricky, ""}, Env: []string{"A"}, PID: -1,
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
