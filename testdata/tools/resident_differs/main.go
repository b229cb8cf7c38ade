// Command resident_differs answers one-shot and fails when served
// resident: a tool whose two modes disagree, which tool test's
// resident.mode check must find. With the argument "crash", its resident
// process exits at its first call instead; with "garbage", it answers
// text that is not JSON, which a one-shot run would be faulted for.
package main

import (
	"context"
	"os"

	"github.com/toolhost/toolhost/protocol"
	"github.com/toolhost/toolhost/protocol/resident"
)

func main() {
	served := os.Getenv(resident.Handshake.MagicCookieKey) != ""
	crash := len(os.Args) > 1 && os.Args[1] == "crash"
	if served && len(os.Args) > 1 && os.Args[1] == "garbage" {
		resident.Serve(func(context.Context, []byte) resident.CallReply {
			return resident.CallReply{Stdout: []byte("not json")}
		})
		return
	}
	resident.Main(func(context.Context, struct {
		N int `json:"n"`
	}) (map[string]bool, error) {
		switch {
		case served && crash:
			os.Exit(3)
		case served:
			return nil, protocol.Errorf("ONE_SHOT_ONLY", "this tool fails when served resident")
		}
		return map[string]bool{"ok": true}, nil
	})
}
