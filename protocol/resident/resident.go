// Package resident lets a Go tool on the tool contract also run resident:
// one long-lived process that serves many calls over hashicorp/go-plugin
// (its handshake, magic cookie and protocol version, net/rpc), instead of
// a process per call. The author writes the function once:
//
//	func main() {
//		resident.Main(func(ctx context.Context, in struct{ Name string }) (string, error) {
//			return "hello, " + in.Name, nil
//		})
//	}
//
// Started by a host that asks for resident mode (the handshake's cookie
// in its environment), Main serves calls until the host ends it; started
// any other way, it is protocol.Main: one call on stdin and stdout.
//
// Each call is run exactly as protocol.Run runs it, and its reply holds
// what a one-shot run would have written: the exit status, standard
// output and standard error. So the host treats a resident call's result
// as it treats a one-shot one (output cap, one JSON value, the error
// envelope, the output schema). The package is apart from protocol so
// that tools that never run resident do not carry go-plugin.
package resident

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/rpc"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/toolhost/toolhost/protocol"
)

// Handshake is what a host and a resident tool must agree on; a process
// started without the cookie in its environment runs one-shot.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "TOOLHOST_RESIDENT_TOOL",
	MagicCookieValue: "7c1f0e5a9b2d4c38a6e1f0b9d2c7a4e5",
}

// PluginName is the name the tool is served under.
const PluginName = "tool"

// Plugins is the plugin set of a host's go-plugin client.
func Plugins() plugin.PluginSet { return plugin.PluginSet{PluginName: &toolPlugin{}} }

// CallArgs is one call: an id of the caller's choosing, unique among the
// calls in flight, and the arguments (a JSON object).
type CallArgs struct {
	ID   uint64
	Args []byte
}

// CallReply is what the call would have left as a one-shot run.
type CallReply struct {
	Status         int
	Stdout, Stderr []byte
}

// Main serves run resident when a host started the process for it, and
// is protocol.Main otherwise. It does not return.
func Main[In, Out any](run func(ctx context.Context, in In) (Out, error)) {
	if os.Getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		protocol.Main(run)
		return
	}
	Serve(func(ctx context.Context, args []byte) CallReply {
		var stdout bytes.Buffer
		stderr := &stderrKeeper{}
		status := protocol.Run(ctx, bytes.NewReader(args), &stdout, stderr, run)
		return CallReply{Status: status, Stdout: stdout.Bytes(), Stderr: stderr.bytes()}
	})
	os.Exit(0)
}

// MaxStderr is how much of a call's standard error a reply holds: its
// first and last halves, as a host keeps of a one-shot tool's.
const MaxStderr = 64 << 10

// stderrKeeper keeps the first and last MaxStderr/2 bytes written to it.
type stderrKeeper struct {
	head, tail []byte
	cut        bool
}

func (k *stderrKeeper) Write(p []byte) (int, error) {
	n := len(p)
	if room := MaxStderr/2 - len(k.head); room > 0 {
		take := min(room, len(p))
		k.head = append(k.head, p[:take]...)
		p = p[take:]
	}
	if len(p) > 0 {
		k.tail = append(k.tail, p...)
		if over := len(k.tail) - MaxStderr/2; over > 0 {
			k.tail = append(k.tail[:0], k.tail[over:]...)
			k.cut = true
		}
	}
	return n, nil
}

func (k *stderrKeeper) bytes() []byte {
	if k.cut {
		return append(append(k.head, "\n…\n"...), k.tail...)
	}
	return append(k.head, k.tail...)
}

// Serve serves call over go-plugin until the host ends the process. Each
// call runs on its own goroutine, with a context the host may cancel.
func Serve(call func(ctx context.Context, args []byte) CallReply) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{PluginName: &toolPlugin{call: call}},
		Logger:          hclog.New(&hclog.LoggerOptions{Output: os.Stderr, Level: hclog.Error, JSONFormat: true}),
	})
}

// toolPlugin is the go-plugin side of a tool: call on the plugin's side,
// nothing on the host's.
type toolPlugin struct {
	call func(ctx context.Context, args []byte) CallReply
}

func (p *toolPlugin) Server(*plugin.MuxBroker) (any, error) {
	return &rpcServer{call: p.call, cancels: map[uint64]*running{}, early: map[uint64]time.Time{}}, nil
}

func (p *toolPlugin) Client(_ *plugin.MuxBroker, c *rpc.Client) (any, error) {
	return &Client{rpc: c}, nil
}

// rpcServer serves the tool's RPCs in the plugin process. net/rpc
// serves each request on a goroutine of its own, so a Cancel may be
// served before the Call it names: it is kept (for cancelEarlyFor) and
// the Call, when it comes, starts cancelled.
type rpcServer struct {
	call    func(ctx context.Context, args []byte) CallReply
	mu      sync.Mutex
	cancels map[uint64]*running
	early   map[uint64]time.Time // Cancels of calls not (yet) seen
}

type running struct{ cancel context.CancelFunc }

// cancelEarlyFor is how long a Cancel waits for its Call.
const cancelEarlyFor = time.Minute

func (s *rpcServer) Call(a CallArgs, r *CallReply) error {
	ctx, cancel := context.WithCancel(context.Background())
	me := &running{cancel}
	s.mu.Lock()
	if _, ok := s.early[a.ID]; ok {
		delete(s.early, a.ID)
		cancel()
	}
	s.cancels[a.ID] = me
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.cancels[a.ID] == me {
			delete(s.cancels, a.ID)
		}
		s.mu.Unlock()
		cancel()
	}()
	*r = s.call(ctx, a.Args)
	return nil
}

func (s *rpcServer) Cancel(id uint64, _ *struct{}) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cancels[id]; c != nil {
		c.cancel()
		return nil
	}
	now := time.Now()
	for k, t := range s.early {
		if now.Sub(t) > cancelEarlyFor {
			delete(s.early, k)
		}
	}
	s.early[id] = now
	return nil
}

// Client calls a resident tool; it is what go-plugin's Dispense returns
// for PluginName. It is safe for concurrent use.
type Client struct {
	rpc *rpc.Client
}

// Call runs one call. When ctx ends first, the plugin is asked to cancel
// the call (its context is cancelled) and Call returns ctx's error at
// once; the caller decides how long the plugin may take to stop. An id
// must not be used again while the plugin may still run its call.
func (c *Client) Call(ctx context.Context, id uint64, args []byte) (CallReply, error) {
	p := c.Go(id, args)
	select {
	case <-p.Done():
		return p.Result()
	case <-ctx.Done():
		c.Cancel(id)
		return CallReply{}, ctx.Err()
	}
}

// Go starts one call and returns at once; its reply comes when Done is
// closed.
func (c *Client) Go(id uint64, args []byte) *Pending {
	p := &Pending{}
	p.call = c.rpc.Go("Plugin.Call", CallArgs{ID: id, Args: args}, &p.reply, make(chan *rpc.Call, 1))
	return p
}

// Cancel asks the plugin to cancel the call id: its context is cancelled.
// It does not wait for the plugin.
func (c *Client) Cancel(id uint64) {
	c.rpc.Go("Plugin.Cancel", id, new(struct{}), make(chan *rpc.Call, 1))
}

// Pending is a call started by Go.
type Pending struct {
	call  *rpc.Call
	reply CallReply
}

// Done delivers the call once it has ended; it may be received from once.
func (p *Pending) Done() <-chan *rpc.Call { return p.call.Done }

// Result is the call's reply, once Done has delivered it.
func (p *Pending) Result() (CallReply, error) {
	if p.call.Error != nil {
		return CallReply{}, p.call.Error
	}
	return p.reply, nil
}

// Broken reports whether err means the plugin's connection is gone: it
// exited, crashed or was killed with the call in flight.
func Broken(err error) bool {
	return errors.Is(err, rpc.ErrShutdown) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
