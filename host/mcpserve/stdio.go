package mcpserve

import (
	"context"
	"io"

	"github.com/mark3labs/mcp-go/server"
)

// ServeStdio serves one client over in and out (a process's stdin and
// stdout) until in ends or ctx is cancelled. Nothing but protocol messages
// is written to out.
//
// Either end shuts the host down: every running tool is killed at once,
// without a grace period, and no call is taken after. The host is of no
// further use when ServeStdio returns.
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	srv := server.NewStdioServer(s.mcp)
	srv.SetErrorLogger(errorLog(s.log))
	// Calls run in parallel up to the host's bound; the queue is large so
	// that a full one never makes the reader run a call itself, which would
	// stop it from reading a cancellation meanwhile.
	server.WithWorkerPoolSize(min(s.opts.Concurrency, 100))(srv)
	server.WithQueueSize(10000)(srv)
	srv.SetContextFunc(func(ctx context.Context) context.Context {
		return withIdentity(ctx, "stdio")
	})
	// The library waits for running calls before it returns; the tools
	// must die first, or a tool that ignores SIGTERM would hold the exit
	// for the whole grace period.
	shutdown := s.opts.Host.Shutdown // idempotent
	stop := context.AfterFunc(ctx, shutdown)
	defer stop()
	err := srv.Listen(ctx, &endReader{r: in, end: shutdown}, out)
	shutdown()
	if err == context.Canceled || err == io.EOF {
		return nil
	}
	return err
}

// endReader calls end when reading fails: the client closed its end.
type endReader struct {
	r   io.Reader
	end func()
}

func (e *endReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.end()
	}
	return n, err
}
