package workspace

import (
	"context"

	"github.com/toolhost/toolhost/protocol"
)

// Main runs a file tool: protocol.Main of Handler(run).
func Main[In, Out any](run func(ctx context.Context, ws *Root, in In) (Out, error)) {
	protocol.Main(Handler(run))
}

// Handler is a file tool's function on the tool contract: run, with the
// workspace (the folder the host starts tools in) opened for it and
// closed after it. For protocol.Main, or resident.Main for a tool that
// may run resident.
func Handler[In, Out any](run func(ctx context.Context, ws *Root, in In) (Out, error)) func(ctx context.Context, in In) (Out, error) {
	return func(ctx context.Context, in In) (Out, error) {
		ws, err := Open(".")
		if err != nil {
			var zero Out
			return zero, err
		}
		defer ws.Close()
		return run(ctx, ws, in)
	}
}
