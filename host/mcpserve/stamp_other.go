//go:build !unix

package mcpserve

import "io/fs"

func sysStamp(fs.FileInfo) string { return "" }
