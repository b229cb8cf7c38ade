package mcpserve

import (
	"context"
	"os"
	"time"

	"github.com/toolhost/toolhost/manifest"
)

// DefaultWatchEvery is how often Watch looks at the manifest.
const DefaultWatchEvery = time.Second

// Watch reloads the manifest at path whenever the file changes, until ctx
// ends: on success the new set is served and clients are told the tool
// list changed; on failure the old set stays and the problems are logged.
// It polls the file's identity (inode, size, modification and change
// times), which catches editors that write in place and those that
// rename a new file over the old one alike.
//
// since is the file's version taken before the served manifest was read
// (VersionOf), so that a change made meanwhile is not missed.
func (s *Server) Watch(ctx context.Context, path string, since FileVersion, every time.Duration) {
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
		m, err := manifest.Load(path)
		if err != nil {
			s.log.Error().Err(err).Str("manifest", path).Msg("reload refused; still serving the previous tools")
			continue
		}
		s.Reload(m)
		s.log.Info().Str("manifest", path).Int("tools", len(m.Tools)).Msg("reloaded")
	}
}

// FileVersion identifies a version of a file well enough to notice a
// change.
type FileVersion struct {
	exists bool
	size   int64
	mod    time.Time
	sys    string
}

// VersionOf returns the version of the file at path now.
func VersionOf(path string) FileVersion {
	fi, err := os.Stat(path)
	if err != nil {
		return FileVersion{}
	}
	return FileVersion{exists: true, size: fi.Size(), mod: fi.ModTime(), sys: sysStamp(fi)}
}
