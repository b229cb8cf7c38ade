//go:build !unix

package manifest

import "testing"

func mkfifo(t *testing.T, _ string) {
	t.Skip("named pipes are a Unix file type")
}
