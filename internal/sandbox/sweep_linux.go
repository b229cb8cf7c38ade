package sandbox

import (
	"os"
	"syscall"
	"time"
)

// sharedTmp are the folders every user may create files in, where a
// tool's files would outlive its call.
var sharedTmp = []string{"/tmp", "/var/tmp", "/dev/shm"}

// tmpStamps notes when the shared folders last changed.
func tmpStamps() []time.Time {
	out := make([]time.Time, len(sharedTmp))
	for i, d := range sharedTmp {
		if fi, err := os.Stat(d); err == nil {
			out[i] = fi.ModTime()
		}
	}
	return out
}

// sweepOwn removes what user uid left at the top of the shared folders
// that changed since before: for a tool that runs as a user of its own
// (Spec.OwnUser), nothing there can be anyone else's, and the slot's
// next call, which runs as the same user, must not find it. It returns
// the paths removed.
func sweepOwn(before []time.Time, uid uint32) []string {
	var removed []string
	for i, d := range sharedTmp {
		fi, err := os.Stat(d)
		if err != nil || fi.ModTime().Equal(before[i]) {
			continue // nothing made or removed there
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			info, err := e.Info()
			if err != nil {
				continue
			}
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid == uid {
				p := d + "/" + e.Name()
				if removeTree(p) == nil {
					removed = append(removed, p)
				}
			}
		}
	}
	return removed
}
