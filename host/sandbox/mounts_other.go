//go:build !linux

package sandbox

import "errors"

// checkMounts: mount namespaces are Linux's.
func checkMounts() error { return errors.New("mount namespaces need Linux") }
