package host

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/toolhost/toolhost/protocol"
	"github.com/toolhost/toolhost/protocol/resident"
	"github.com/toolhost/toolhost/protocol/resident/residentpb"
)

// residentIn is a call of the "resident" helper: Do says what it does.
type residentIn struct {
	Do     string `json:"do"`
	N      int    `json:"n"`
	Bytes  int    `json:"bytes"`
	Addr   string `json:"addr"`
	Stdout string `json:"stdout"`
}

// processToken tells the processes of a resident helper apart: in a pid
// namespace of its own, each is pid 1.
var processToken = int(time.Now().UnixNano() % 1e12)

// residentHelper serves the "resident" helper's calls, one binary for
// every behaviour a test needs of a resident tool.
func residentHelper(name string) int {
	switch name {
	case "resident-silent":
		// Never says go-plugin's handshake.
		time.Sleep(time.Hour)
		return 0
	case "resident-oneshot":
		// A one-shot tool's answer where the handshake belongs.
		fmt.Println(`{"n":1}`)
		fmt.Fprintln(os.Stderr, "one-shot, not resident")
		return 0
	case "resident-symlink":
		// Offers, in its socket folder, a link to a socket it may not use
		// (named by its command line's last word).
		link := filepath.Join(os.Getenv("PLUGIN_UNIX_SOCKET_DIR"), "s")
		if err := os.Symlink(os.Args[len(os.Args)-1], link); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		fmt.Printf("1|1|unix|%s|netrpc\n", link)
		time.Sleep(time.Hour)
		return 0
	case "resident-nodispense":
		// Completes the handshake, then never answers go-plugin's
		// dispense.
		plugin.Serve(&plugin.ServeConfig{HandshakeConfig: resident.Handshake,
			Plugins: plugin.PluginSet{resident.PluginName: blockingPlugin{}}})
		return 0
	case "resident-noquit":
		// Serves calls, but never answers go-plugin's Control.Quit.
		ln, err := net.Listen("unix", filepath.Join(os.Getenv("PLUGIN_UNIX_SOCKET_DIR"), "s"))
		if err != nil {
			return 3
		}
		fmt.Printf("1|1|unix|%s|netrpc\n", ln.Addr())
		conn, err := ln.Accept()
		if err != nil {
			return 4
		}
		done := make(chan struct{})
		never, _ := io.Pipe()
		srv := &plugin.RPCServer{Plugins: plugin.PluginSet{resident.PluginName: echoPlugin{}}, Stdout: never, Stderr: never, DoneCh: done}
		go srv.ServeConn(&quitFilter{Conn: conn, done: done})
		select {}
	case "resident-grpc":
		// A tool on go-plugin's gRPC protocol, as one in another language
		// would serve: residentpb's Tool service.
		plugin.Serve(&plugin.ServeConfig{HandshakeConfig: resident.Handshake,
			Plugins:    plugin.PluginSet{resident.PluginName: grpcToolPlugin{}},
			GRPCServer: plugin.DefaultGRPCServer})
		return 0
	case "resident-raw":
		// Replies with whatever stdout the call asks for, status 0: what
		// a plugin written without resident.Main could send.
		resident.Serve(func(_ context.Context, args []byte) resident.CallReply {
			var in residentIn
			json.Unmarshal(args, &in)
			return resident.CallReply{Stdout: []byte(in.Stdout)}
		})
		return 0
	}
	resident.Main(func(ctx context.Context, in residentIn) (any, error) {
		switch in.Do {
		case "echo":
			return map[string]any{"n": in.N, "pid": processToken}, nil
		case "env":
			return os.Environ(), nil
		case "sleep":
			select {
			case <-time.After(time.Duration(in.N) * time.Millisecond):
				return map[string]any{"n": in.N, "pid": processToken}, nil
			case <-ctx.Done():
				return nil, protocol.Errorf("STOPPED", "stopped: %v", ctx.Err())
			}
		case "hang":
			time.Sleep(time.Hour) // ignores its cancellation
		case "wait":
			<-ctx.Done()
			return nil, protocol.Errorf("STOPPED", "stopped: %v", ctx.Err())
		case "crash":
			go panic(fmt.Sprintf("resident helper crashes on purpose (%d)", in.N))
			time.Sleep(time.Hour)
		case "slow-crash":
			time.Sleep(time.Duration(in.N) * time.Millisecond)
			os.Exit(7)
		case "big":
			return strings.Repeat("x", in.Bytes), nil
		case "flood":
			// A reply past any cap, sent whole.
			return strings.Repeat("f", in.Bytes), nil
		case "print":
			// Writes to os.Stdout and os.Stderr, which go-plugin carries
			// to the host.
			for range in.N {
				os.Stderr.WriteString(strings.Repeat("l", 1023) + "\n")
			}
			return "printed", nil
		case "child":
			c := exec.Command("/bin/sleep", "3600")
			if err := c.Start(); err != nil {
				return nil, err
			}
			return map[string]int{"child": c.Process.Pid, "pid": processToken}, nil
		case "escape":
			return escapeAttempts(in), nil
		}
		return nil, fmt.Errorf("unknown do %q", in.Do)
	})
	return 0
}

// grpcToolPlugin serves grpcTool.
type grpcToolPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (grpcToolPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	residentpb.RegisterToolServer(s, &grpcTool{cancels: map[uint64]chan struct{}{}, early: map[uint64]bool{}})
	return nil
}

func (grpcToolPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

// grpcTool is a Tool service written by hand: its replies are what a
// one-shot run would leave.
type grpcTool struct {
	residentpb.UnimplementedToolServer
	mu      sync.Mutex
	cancels map[uint64]chan struct{}
	early   map[uint64]bool // Cancels that came before their Call
}

func (g *grpcTool) Call(_ context.Context, r *residentpb.CallRequest) (*residentpb.CallReply, error) {
	var in residentIn
	if err := json.Unmarshal(r.Args, &in); err != nil {
		return &residentpb.CallReply{Status: 1, Stderr: []byte(`{"error":"not JSON","code":"BAD_INPUT"}`)}, nil
	}
	ch := make(chan struct{})
	g.mu.Lock()
	if g.early[r.Id] {
		delete(g.early, r.Id)
		close(ch)
	} else {
		g.cancels[r.Id] = ch
	}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.cancels, r.Id)
		g.mu.Unlock()
	}()
	switch in.Do {
	case "echo":
		return &residentpb.CallReply{Stdout: fmt.Appendf(nil, `{"n":%d,"pid":%d}`, in.N, processToken)}, nil
	case "refuse":
		return nil, status.Error(codes.PermissionDenied, "refused on purpose")
	case "unavailable":
		// A status a tool that calls a service may well answer.
		return nil, status.Error(codes.Unavailable, "upstream unavailable")
	case "wait-status":
		<-ch
		return nil, status.Error(codes.Canceled, "cancelled, as asked")
	case "big":
		return &residentpb.CallReply{Stdout: fmt.Appendf(nil, "%q", strings.Repeat("x", in.Bytes))}, nil
	case "wait":
		<-ch
		return &residentpb.CallReply{Status: 1, Stderr: []byte(`{"error":"stopped","code":"STOPPED"}`)}, nil
	case "hang":
		time.Sleep(time.Hour)
	case "crash":
		os.Exit(9)
	case "stderr-secret":
		// Its secret, on standard error, where the host's cut splits it:
		// "tok-" ends the kept head, 6 bytes are left out, the kept tail
		// starts with the rest.
		half := resident.MaxStderr / 2
		secret := os.Getenv("API_TOKEN")
		return &residentpb.CallReply{Stdout: []byte(`"written"`),
			Stderr: []byte(strings.Repeat("x", half-4) + secret + strings.Repeat("y", half-len(secret)+10))}, nil
	}
	return nil, status.Errorf(codes.InvalidArgument, "unknown do %q", in.Do)
}

func (g *grpcTool) Cancel(_ context.Context, r *residentpb.CancelRequest) (*residentpb.CancelReply, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ch := g.cancels[r.Id]; ch != nil {
		close(ch)
		delete(g.cancels, r.Id)
	} else if r.Id != 0 {
		g.early[r.Id] = true
	}
	return &residentpb.CancelReply{}, nil
}

// blockingPlugin never serves: its Server blocks.
type blockingPlugin struct{}

func (blockingPlugin) Server(*plugin.MuxBroker) (any, error)              { select {} }
func (blockingPlugin) Client(*plugin.MuxBroker, *rpc.Client) (any, error) { return nil, nil }

// echoPlugin answers every call {"ok":true}.
type echoPlugin struct{}
type echoServer struct{}

func (echoPlugin) Server(*plugin.MuxBroker) (any, error)              { return echoServer{}, nil }
func (echoPlugin) Client(*plugin.MuxBroker, *rpc.Client) (any, error) { return nil, nil }

func (echoServer) Call(_ resident.CallArgs, r *resident.CallReply) error {
	r.Stdout = []byte(`{"ok":true}`)
	return nil
}
func (echoServer) Cancel(uint64, *struct{}) error { return nil }

// quitFilter drops the yamux data frames of the control stream (1) once
// Control.Quit has been served: the host never gets its answer.
type quitFilter struct {
	net.Conn
	done chan struct{}
	mu   sync.Mutex
	skip int
}

func (q *quitFilter) Write(p []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.skip > 0 {
		q.skip -= len(p)
		return len(p), nil
	}
	if len(p) == 12 && p[1] == 0 && binary.BigEndian.Uint32(p[4:8]) == 1 {
		select {
		case <-q.done:
			q.skip = int(binary.BigEndian.Uint32(p[8:12]))
			return len(p), nil
		default:
		}
	}
	return q.Conn.Write(p)
}

// escapeAttempts tries what a strict tool may not do, and says for each
// what stopped it ("" when it worked).
func escapeAttempts(in residentIn) map[string]string {
	res := map[string]string{}
	try := func(name string, err error) {
		res[name] = ""
		if err != nil {
			res[name] = err.Error()
		}
	}
	for _, p := range []string{"/etc/shadow", ".env"} { // named here: the gate would refuse them as arguments
		_, err := os.ReadFile(p)
		try("read:"+p, err)
	}
	try("write:/var/tmp", os.WriteFile(fmt.Sprintf("/var/tmp/toolhost-resident-escape-%d", os.Getpid()), nil, 0o644))
	if in.Addr != "" {
		c, err := net.DialTimeout("tcp", in.Addr, time.Second)
		if err == nil {
			c.Close()
		}
		try("dial", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
	if err == nil {
		unix.Close(fd)
	}
	try("raw", err)
	try("ptrace-parent", unix.PtraceAttach(os.Getppid()))
	try("mount", unix.Mount("tmpfs", "/mnt", "tmpfs", 0, ""))
	try("unshare-net", unix.Unshare(unix.CLONE_NEWNET))
	if err := unix.Kill(1, 0); err != nil && !errors.Is(err, unix.EPERM) {
		try("kill-1", err)
	}
	return res
}
