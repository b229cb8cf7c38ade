package manifest

import (
	"context"
	"os"
	"time"
)

// DefaultWatchEvery is how often Watch looks at the manifest.
const DefaultWatchEvery = time.Second

// Watch loads the manifest at path afresh whenever the file changes,
// until ctx ends, and gives changed what it loaded, or why it did not
// load. It polls the file's identity (inode, size, modification and
// change times), which catches editors that write in place and those
// that rename a new file over the old one alike.
//
// since is the file's version taken before the manifest in use was read
// (VersionOf), so that a change made meanwhile is not missed.
func Watch(ctx context.Context, path string, since Version, every time.Duration, changed func(*Manifest, error)) {
	if every <= 0 {
		every = DefaultWatchEvery
	}
	last := since
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := VersionOf(path)
		if now == last {
			continue
		}
		last = now
		changed(Load(path))
	}
}

// Version identifies a version of a file well enough to notice a change.
type Version struct {
	exists bool
	size   int64
	mod    time.Time
	sys    string
}

// VersionOf returns the version of the file at path now.
func VersionOf(path string) Version {
	fi, err := os.Stat(path)
	if err != nil {
		return Version{}
	}
	return Version{exists: true, size: fi.Size(), mod: fi.ModTime(), sys: sysStamp(fi)}
}
