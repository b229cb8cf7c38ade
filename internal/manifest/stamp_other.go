//go:build !(linux || openbsd || darwin || freebsd || netbsd || dragonfly)

package manifest

import "io/fs"

func sysStamp(fs.FileInfo) string { return "" }
