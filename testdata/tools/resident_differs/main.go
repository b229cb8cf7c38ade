// Command resident_differs answers one-shot and fails when served
// resident: a tool whose two modes disagree, which tool test's
// resident.mode check must find.
package main

import (
	"context"
	"os"

	"github.com/toolhost/toolhost/protocol"
	"github.com/toolhost/toolhost/protocol/resident"
)

func main() {
	served := os.Getenv(resident.Handshake.MagicCookieKey) != ""
	resident.Main(func(context.Context, struct {
		N int `json:"n"`
	}) (map[string]bool, error) {
		if served {
			return nil, protocol.Errorf("ONE_SHOT_ONLY", "this tool fails when served resident")
		}
		return map[string]bool{"ok": true}, nil
	})
}
