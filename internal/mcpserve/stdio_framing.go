package mcpserve

// The stdio transport's framing: one JSON-RPC message per line, read
// and written whole.

import (
	"encoding/json"
	"io"
	"sync"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"
)

// messageWriter writes one JSON message per line, whole, from any
// goroutine. After a failed write it writes nothing more.
type messageWriter struct {
	mu     sync.Mutex
	w      io.Writer
	failed error
	onFail func() // called once, after the first failed write
}

func (m *messageWriter) write(v any) { m.writeLine(m.encode(v)) }

// encode returns v as one line of JSON.
func (m *messageWriter) encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(mcp.NewJSONRPCError(mcp.NewRequestId(nil), mcp.INTERNAL_ERROR, "encoding a message: "+err.Error(), nil))
	}
	return append(b, '\n')
}

// writeLine writes b, one message ending in a newline, whole.
func (m *messageWriter) writeLine(b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failed != nil {
		return
	}
	if _, m.failed = m.w.Write(b); m.failed != nil && m.onFail != nil {
		go m.onFail()
	}
}

func (m *messageWriter) err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failed
}

// stdioSession is the one client of a stdio server.
type stdioSession struct {
	notes       chan mcp.JSONRPCNotification
	initialized atomic.Bool
	w           *messageWriter
	seq         atomic.Int64
	mu          sync.Mutex
	info        mcp.Implementation
	caps        mcp.ClientCapabilities
	// waiting are our requests awaiting the client's response, by id key.
	waiting map[string]chan clientReply
}
