//go:build !(linux || openbsd || darwin || freebsd || netbsd || dragonfly)

package mcpserve

import "io/fs"

func sysStamp(fs.FileInfo) string { return "" }
