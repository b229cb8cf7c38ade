//go:build !unix && !windows

package audit

import "os"

// No advisory locking here: appends from several processes may interleave,
// which Verify then reports.
func lockFileOS(*os.File) error   { return nil }
func unlockFileOS(*os.File) error { return nil }
