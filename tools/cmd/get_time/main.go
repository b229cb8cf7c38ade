// Command get_time reports the current time in an IANA time zone.
//
// Input: {"timezone"?: IANA name, default "UTC"}. Output: {"timezone",
// "rfc3339", "unix", "weekday"}. An unknown zone fails with BAD_TIMEZONE.
// The zone database is embedded, so the tool works without system zoneinfo.
package main

import (
	"context"
	"time"
	_ "time/tzdata"

	"github.com/toolhost/toolhost/protocol"
	"github.com/toolhost/toolhost/protocol/resident"
)

// codeBadTimezone: the time zone is not a known IANA name.
const codeBadTimezone = "BAD_TIMEZONE"

type input struct {
	Timezone string `json:"timezone"`
}

type output struct {
	Timezone string `json:"timezone"`
	RFC3339  string `json:"rfc3339"`
	Unix     int64  `json:"unix"`
	Weekday  string `json:"weekday"`
}

func main() {
	// Resident when the host asks (manifest "resident"), one-shot otherwise.
	resident.Main(func(_ context.Context, in input) (output, error) {
		return getTime(time.Now(), in)
	})
}

// getTime reports now in the zone in asks for.
func getTime(now time.Time, in input) (output, error) {
	name := in.Timezone
	if name == "" {
		name = "UTC"
	}
	loc, err := time.LoadLocation(name)
	// "Local" is Go's name for the machine's zone, not an IANA name: the
	// answer must not depend on where the tool happens to run.
	if err != nil || name == "Local" {
		return output{}, protocol.Errorf(codeBadTimezone, "unknown time zone %q: use an IANA name such as \"Europe/Paris\" or \"UTC\"", cut(name))
	}
	t := now.In(loc)
	return output{
		Timezone: name,
		RFC3339:  t.Format(time.RFC3339),
		Unix:     t.Unix(),
		Weekday:  t.Weekday().String(),
	}, nil
}

// cut bounds how much of a bad name the error message repeats (%q
// escapes any UTF-8 sequence cut in half).
func cut(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
