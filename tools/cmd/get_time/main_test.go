package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestGetTime(t *testing.T) {
	// A Sunday in March 2024, before the United States' switch to summer
	// time (10 March, 07:00 UTC) and the European one.
	now := time.Date(2024, 3, 10, 5, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   input
		want output
	}{
		{"default is UTC", input{}, output{"UTC", "2024-03-10T05:30:00Z", 1710048600, "Sunday"}},
		{"UTC", input{"UTC"}, output{"UTC", "2024-03-10T05:30:00Z", 1710048600, "Sunday"}},
		{"half-hour offset", input{"Asia/Kolkata"}, output{"Asia/Kolkata", "2024-03-10T11:00:00+05:30", 1710048600, "Sunday"}},
		{"previous day", input{"America/New_York"}, output{"America/New_York", "2024-03-10T00:30:00-05:00", 1710048600, "Sunday"}},
		{"west of UTC, day before", input{"America/Los_Angeles"}, output{"America/Los_Angeles", "2024-03-09T21:30:00-08:00", 1710048600, "Saturday"}},
		{"Etc sign is inverted", input{"Etc/GMT+5"}, output{"Etc/GMT+5", "2024-03-10T00:30:00-05:00", 1710048600, "Sunday"}},
		{"quarter-hour offset", input{"Asia/Kathmandu"}, output{"Asia/Kathmandu", "2024-03-10T11:15:00+05:45", 1710048600, "Sunday"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := getTime(now, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("getTime(%q) mismatch (-want +got):\n%s", tt.in.Timezone, diff)
			}
		})
	}
}

func TestProcess(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		args   string
		zone   string
		offset string // the zone's offset at the time of the test, "" to skip
	}{
		{"empty input", ``, "UTC", "Z"},
		{"empty object", `{}`, "UTC", "Z"},
		{"UTC", `{"timezone":"UTC"}`, "UTC", "Z"},
		{"no daylight saving", `{"timezone":"Asia/Tokyo"}`, "Asia/Tokyo", "+09:00"},
		{"half-hour offset", `{"timezone":"Asia/Kolkata"}`, "Asia/Kolkata", "+05:30"},
		{"daylight saving", `{"timezone":"Europe/Paris"}`, "Europe/Paris", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now().Unix()
			var got output
			tool.Succeed(t, dir, tt.args, &got)
			after := time.Now().Unix()
			if got.Timezone != tt.zone {
				t.Errorf("timezone = %q, want %q", got.Timezone, tt.zone)
			}
			if got.Unix < before || got.Unix > after {
				t.Errorf("unix = %d, want between %d and %d", got.Unix, before, after)
			}
			parsed, err := time.Parse(time.RFC3339, got.RFC3339)
			if err != nil {
				t.Fatalf("rfc3339 %q: %v", got.RFC3339, err)
			}
			if parsed.Unix() != got.Unix {
				t.Errorf("rfc3339 %q is %d, unix is %d", got.RFC3339, parsed.Unix(), got.Unix)
			}
			loc, _ := time.LoadLocation(tt.zone)
			if want := time.Unix(got.Unix, 0).In(loc).Weekday().String(); got.Weekday != want {
				t.Errorf("weekday = %q, want %q", got.Weekday, want)
			}
			if tt.offset != "" && got.RFC3339[19:] != tt.offset {
				t.Errorf("rfc3339 %q, want offset %s", got.RFC3339, tt.offset)
			}
		})
	}
}

func TestProcessErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args string
		code string
	}{
		{"unknown zone", `{"timezone":"Mars/Olympus_Mons"}`, codeBadTimezone},
		{"Local is not IANA", `{"timezone":"Local"}`, codeBadTimezone},
		{"case matters", `{"timezone":"europe/paris"}`, codeBadTimezone},
		{"path escape", `{"timezone":"../../etc/passwd"}`, codeBadTimezone},
		{"absolute path", `{"timezone":"/etc/localtime"}`, codeBadTimezone},
		{"not a string", `{"timezone":5}`, "BAD_INPUT"},
		{"not JSON", `{`, "BAD_INPUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tool.Fail(t, dir, tt.args); got.Code != tt.code {
				t.Errorf("code = %q, want %q (message %q)", got.Code, tt.code, got.Message)
			}
		})
	}
}

func TestInputSchema(t *testing.T) {
	tests := []struct {
		args string
		ok   bool
	}{
		{`{}`, true},
		{`{"timezone":"America/Argentina/Buenos_Aires"}`, true},
		{`{"timezone":"Etc/GMT-14"}`, true},
		{`{"timezone":""}`, false},
		{`{"timezone":"../etc/passwd"}`, false},
		{`{"timezone":"/etc/localtime"}`, false},
		{`{"timezone":5}`, false},
		{`{"zone":"UTC"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			if err := tool.CheckArgs(t, tt.args); (err == nil) != tt.ok {
				t.Errorf("valid = %v, want %v (%v)", err == nil, tt.ok, err)
			}
		})
	}
}
