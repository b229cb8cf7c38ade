//go:build !linux

package main

import "os"

// flushInput is not available here: without it a typed-ahead answer could
// approve a call nobody saw, so the terminal is not asked.
func flushInput(*os.File) (func(), bool) { return nil, false }
