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
//
// A tool in another language serves the same calls over go-plugin's gRPC
// protocol: the Tool service of package residentpb (residentpb/
// resident.proto); a host calls either kind through Client.
package resident

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/rpc"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/toolhost/toolhost/protocol"
	"github.com/toolhost/toolhost/protocol/resident/residentpb"
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

// StderrCut is what a reply's standard error holds where it was cut,
// right after its first MaxStderr/2 bytes.
const StderrCut = "\n…\n"

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
		return append(append(k.head, StderrCut...), k.tail...)
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

// Client calls a resident tool, over either of go-plugin's protocols:
// net/rpc (a Go tool on Serve; what go-plugin's Dispense returns for
// PluginName) or gRPC (the Tool service of package residentpb, a tool in
// any language; see NewGRPCClient). It is safe for concurrent use.
type Client struct {
	rpc *rpc.Client

	tool     residentpb.ToolClient
	maxReply int
	gone     func() bool
}

// NewGRPCClient calls the Tool service over cc, a connection to a plugin
// that serves it. A reply may be up to maxReply bytes (its standard error
// is then cut as MaxStderr says); gone reports whether the connection to
// the plugin has ended: a call that fails once it has is Broken, any other
// failure is the plugin's own answer (a RefusedError). gRPC's status codes
// cannot tell the two apart: a plugin may answer Unavailable itself. Both
// are required: maxReply > 0, gone not nil.
func NewGRPCClient(cc grpc.ClientConnInterface, maxReply int, gone func() bool) *Client {
	return &Client{tool: residentpb.NewToolClient(cc), maxReply: maxReply, gone: gone}
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
// closed. The call runs until the plugin answers or its connection
// breaks: Cancel, and a deadline, are the caller's.
func (c *Client) Go(id uint64, args []byte) *Pending {
	p := &Pending{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		if c.tool == nil {
			if err := c.rpc.Call("Plugin.Call", CallArgs{ID: id, Args: args}, &p.reply); err != nil {
				p.err = rpcError(err)
			}
			return
		}
		r, err := c.tool.Call(context.Background(), &residentpb.CallRequest{Id: id, Args: args}, grpc.MaxCallRecvMsgSize(c.maxReply))
		if err != nil {
			p.err = c.grpcError(err)
			return
		}
		k := &stderrKeeper{}
		k.Write(r.Stderr)
		p.reply = CallReply{Status: int(r.Status), Stdout: r.Stdout, Stderr: k.bytes()}
	}()
	return p
}

// cancelWait bounds a gRPC Cancel, which may go unanswered.
const cancelWait = 10 * time.Second

// Cancel asks the plugin to cancel the call id: its context is cancelled.
// It does not wait for the plugin.
func (c *Client) Cancel(id uint64) {
	if c.tool == nil {
		c.rpc.Go("Plugin.Cancel", id, new(struct{}), make(chan *rpc.Call, 1))
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), cancelWait)
		defer cancel()
		c.tool.Cancel(ctx, &residentpb.CancelRequest{Id: id})
	}()
}

// Pending is a call started by Go.
type Pending struct {
	done  chan struct{}
	reply CallReply
	err   error
}

// Done is closed once the call has ended.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Result is the call's reply, once Done is closed. Its error is a
// *RefusedError when the plugin answered with an error instead of a
// reply, ErrTooLarge when the reply was larger than the client takes,
// and otherwise a connection that broke (see Broken).
func (p *Pending) Result() (CallReply, error) {
	if p.err != nil {
		return CallReply{}, p.err
	}
	return p.reply, nil
}

// A RefusedError is a call the plugin answered with an error of its own
// (a gRPC status, a net/rpc error) instead of a reply: the call failed,
// the plugin serves on.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return "the plugin answered with an error: " + e.Msg }

// ErrTooLarge is a reply larger than the client takes (a gRPC client's
// grpc.MaxCallRecvMsgSize): the call failed, the plugin serves on.
var ErrTooLarge = errors.New("the plugin's reply is larger than the host takes")

func rpcError(err error) error {
	var se rpc.ServerError
	if errors.As(err, &se) {
		return &RefusedError{Msg: string(se)}
	}
	return err
}

// grpcError sorts a failed gRPC call: a connection that ended, a reply
// over the size this client takes, or the plugin's own error status (its
// refusal of arguments over its own size limit among them).
func (c *Client) grpcError(err error) error {
	st, ok := status.FromError(err)
	switch {
	case c.gone() || !ok:
		return &brokenError{err}
	case st.Code() == codes.ResourceExhausted && st.Message() == fmt.Sprintf("grpc: received message larger than max (%d vs. %d)", tooLargeSize(st.Message()), c.maxReply):
		return fmt.Errorf("%w: %s", ErrTooLarge, st.Message())
	}
	return &RefusedError{Msg: st.Code().String() + ": " + st.Message()}
}

// tooLargeSize is the size gRPC's "received message larger than max"
// names, or -1.
func tooLargeSize(msg string) int {
	var n, limit int
	if _, err := fmt.Sscanf(msg, "grpc: received message larger than max (%d vs. %d)", &n, &limit); err != nil {
		return -1
	}
	return n
}

type brokenError struct{ err error }

func (e *brokenError) Error() string { return "the plugin's connection broke: " + e.err.Error() }
func (e *brokenError) Unwrap() error { return e.err }

// Broken reports whether err means the plugin's connection is gone: it
// exited, crashed or was killed with the call in flight.
func Broken(err error) bool {
	var b *brokenError
	return errors.As(err, &b) || errors.Is(err, rpc.ErrShutdown) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
