//go:build !linux

package hideproc

// Hide does nothing here: no /proc shows other processes' arguments the
// same way.
func Hide(secrets ...string) error { return nil }

// HideAll does nothing here (see Hide).
func HideAll() error { return nil }
