//go:build !unix

package audit

import "os"

// On this platform access is governed by ACLs, which are not checked; the
// file lives in the user's own configuration folder by default.
func openFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
}

func checkFolder(string) error         { return nil }
func checkFile(*os.File, string) error { return nil }
func lockFile(f *os.File) error        { return lockFileOS(f) }
func unlockFile(f *os.File) error      { return unlockFileOS(f) }
