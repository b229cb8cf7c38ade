//go:build !unix

package chat

import "os"

// ownedByUs: without Unix owners, a file's permissions say who may write
// it; the mode check beside this one is all there is.
func ownedByUs(os.FileInfo) bool { return true }

// openNoWait: no such flags here.
const openNoWait = 0

// links: one name, as far as can be told here.
func links(os.FileInfo) uint64 { return 1 }
