//go:build !linux

package sandbox

// EnterUserNamespace does nothing here: user namespaces are Linux's.
func EnterUserNamespace() (code int, ran bool) { return 0, false }
