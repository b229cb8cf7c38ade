package workspace

import (
	"context"

	"github.com/toolhost/toolhost/protocol"
)

// Main runs a file tool: protocol.Main, with the workspace (the folder the
// host starts tools in) opened for run and closed after it.
func Main[In, Out any](run func(ctx context.Context, ws *Root, in In) (Out, error)) {
	protocol.Main(func(ctx context.Context, in In) (Out, error) {
		ws, err := Open(".")
		if err != nil {
			var zero Out
			return zero, err
		}
		defer ws.Close()
		return run(ctx, ws, in)
	})
}
