package resident_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/toolhost/toolhost/protocol"
	"github.com/toolhost/toolhost/protocol/resident"
	"github.com/toolhost/toolhost/protocol/resident/residentpb"
)

// TestMain makes this test binary a tool on resident.Main when
// RESIDENT_TEST_TOOL names its behaviour.
func TestMain(m *testing.M) {
	switch os.Getenv("RESIDENT_TEST_TOOL") {
	case "":
		os.Exit(m.Run())
	case "echo":
		resident.Main(func(ctx context.Context, in struct {
			N     int
			Panic bool
			Wait  bool
		}) (map[string]any, error) {
			switch {
			case in.Panic:
				panic("asked to")
			case in.Wait:
				<-ctx.Done()
				// Seen by the test: the cancellation reached the call.
				os.WriteFile(filepath.Join(os.Getenv("RESIDENT_MARKS"), fmt.Sprint(in.N)), nil, 0o644)
				return nil, protocol.Errorf("STOPPED", "stopped: %v", ctx.Err())
			}
			return map[string]any{"n": in.N, "pid": os.Getpid()}, nil
		})
	}
}

// start runs this binary as a resident tool with a bare go-plugin client;
// a call cancelled in the plugin leaves a file named for its n in marks.
func start(t testing.TB, marks string) (*resident.Client, *plugin.Client) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "RESIDENT_TEST_TOOL=echo", "RESIDENT_MARKS="+marks)
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  resident.Handshake,
		Plugins:          resident.Plugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolNetRPC},
		Logger:           hclog.NewNullLogger(),
	})
	t.Cleanup(pc.Kill)
	rc, err := pc.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rc.Dispense(resident.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*resident.Client), pc
}

// One process serves many calls, 32 at a time, each getting its own
// result; a panic fails only its call; a cancelled call is stopped.
func TestResidentCalls(t *testing.T) {
	marks := t.TempDir()
	c, _ := start(t, marks)
	ctx := context.Background()
	var wg sync.WaitGroup
	pids := sync.Map{}
	errs := make(chan error, 32)
	for w := range 32 {
		wg.Go(func() {
			for i := range 100 {
				n := w*1000 + i
				r, err := c.Call(ctx, uint64(n), fmt.Appendf(nil, `{"n":%d}`, n))
				if err != nil {
					errs <- err
					return
				}
				var out struct{ N, PID int }
				if r.Status != 0 || json.Unmarshal(r.Stdout, &out) != nil || out.N != n {
					errs <- fmt.Errorf("call %d: status %d, stdout %s, stderr %s", n, r.Status, r.Stdout, r.Stderr)
					return
				}
				pids.Store(out.PID, true)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	count := 0
	pids.Range(func(any, any) bool { count++; return true })
	if count != 1 {
		t.Errorf("%d processes served the calls, want 1", count)
	}

	r, err := c.Call(ctx, 1, []byte(`{"panic":true}`))
	if err != nil || r.Status != 1 || !bytes.Contains(r.Stderr, []byte(`"code":"PANIC"`)) {
		t.Errorf("panic: %v, %d, %s", err, r.Status, r.Stderr)
	}
	if r, err := c.Call(ctx, 2, []byte(`{"n":7}`)); err != nil || r.Status != 0 {
		t.Errorf("after a panic: %v, %+v", err, r)
	}
	if r, err := c.Call(ctx, 3, []byte(`not json`)); err != nil || r.Status != 1 || protocol.ParseFailure(r.Stderr).Code != protocol.CodeBadInput {
		t.Errorf("bad input: %v, %+v", err, r)
	}

	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Call(cctx, 4, []byte(`{"wait":true,"n":4}`)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled call: %v", err)
	}
	// The plugin's call saw its context cancelled.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(marks, "4")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cancelled call never saw its context end in the plugin")
		}
	}
	// The plugin stopped it: the process serves on.
	if r, err := c.Call(ctx, 5, []byte(`{"n":8}`)); err != nil || r.Status != 0 {
		t.Errorf("after a cancelled call: %v, %+v", err, r)
	}
}

// A call in flight when the plugin dies gets an error that says so.
func TestResidentCrash(t *testing.T) {
	c, pc := start(t, t.TempDir())
	done := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), 1, []byte(`{"wait":true}`))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	pc.Kill()
	select {
	case err := <-done:
		if !resident.Broken(err) {
			t.Errorf("call on a killed plugin: %v, want a broken connection", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the call on a killed plugin never returned")
	}
}

// Without the handshake's cookie, the same binary is a one-shot tool.
func TestOneShotStill(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "RESIDENT_TEST_TOOL=echo")
	cmd.Stdin = strings.NewReader(`{"n":3}`)
	out, err := cmd.Output()
	if err != nil || !strings.HasPrefix(string(out), `{"n":3,`) {
		t.Errorf("one-shot: %v, %s", err, out)
	}
}

// BenchmarkResidentVsOneShot: a call of the same tool over go-plugin's
// net/rpc to its running process, and as a process per call.
func BenchmarkResidentVsOneShot(b *testing.B) {
	b.Run("resident", func(b *testing.B) {
		c, _ := start(b, b.TempDir())
		ctx := context.Background()
		for i := 0; b.Loop(); i++ {
			if r, err := c.Call(ctx, uint64(i), []byte(`{"n":1}`)); err != nil || r.Status != 0 {
				b.Fatal(err, r)
			}
		}
	})
	b.Run("oneshot", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "RESIDENT_TEST_TOOL=echo")
			cmd.Stdin = strings.NewReader(`{"n":1}`)
			if _, err := cmd.Output(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// toolServer is a Tool service in this process, for the gRPC client's
// tests: a call's args name what it does.
type toolServer struct {
	residentpb.UnimplementedToolServer
	mu      sync.Mutex
	waiting map[uint64]chan struct{}
	early   map[uint64]bool // Cancels that came before their Call
}

func (s *toolServer) Call(ctx context.Context, r *residentpb.CallRequest) (*residentpb.CallReply, error) {
	switch string(r.Args) {
	case "refuse":
		return nil, grpcstatus.Error(codes.FailedPrecondition, "not today")
	case "unavailable":
		return nil, grpcstatus.Error(codes.Unavailable, "upstream down")
	case "noisy":
		return &residentpb.CallReply{Status: 1, Stderr: []byte("first\n" + strings.Repeat("e", 200<<10) + "\nlast")}, nil
	case "big":
		return &residentpb.CallReply{Stdout: bytes.Repeat([]byte("x"), 1<<20)}, nil
	case "wait":
		ch := make(chan struct{})
		s.mu.Lock()
		if s.early[r.Id] {
			delete(s.early, r.Id)
			close(ch)
		} else {
			s.waiting[r.Id] = ch
		}
		s.mu.Unlock()
		<-ch
		return &residentpb.CallReply{Status: 1, Stderr: []byte("cancelled")}, nil
	}
	return &residentpb.CallReply{Stdout: append(fmt.Appendf(nil, "%d:", r.Id), r.Args...)}, nil
}

func (s *toolServer) Cancel(_ context.Context, r *residentpb.CancelRequest) (*residentpb.CancelReply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch := s.waiting[r.Id]; ch != nil {
		close(ch)
		delete(s.waiting, r.Id)
	} else {
		s.early[r.Id] = true
	}
	return &residentpb.CancelReply{}, nil
}

// The gRPC client: replies, the plugin's own errors and replies too
// large (the call fails, the connection serves on), Cancel reaching the
// plugin, and a connection that breaks.
func TestGRPCClient(t *testing.T) {
	lis, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	residentpb.RegisterToolServer(srv, &toolServer{waiting: map[uint64]chan struct{}{}, early: map[uint64]bool{}})
	go srv.Serve(lis)
	defer srv.Stop()
	cc, err := grpc.Dial("unix:"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	var gone atomic.Bool
	c := resident.NewGRPCClient(cc, 64<<10, gone.Load)
	ctx := context.Background()

	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			r, err := c.Call(ctx, uint64(i), fmt.Appendf(nil, "n%d", i))
			if want := fmt.Sprintf("%d:n%d", i, i); err != nil || string(r.Stdout) != want {
				t.Errorf("call %d: %q, %v; want %q", i, r.Stdout, err, want)
			}
		})
	}
	wg.Wait()

	var refused *resident.RefusedError
	if _, err := c.Call(ctx, 1, []byte("refuse")); !errors.As(err, &refused) || !strings.Contains(err.Error(), "not today") || resident.Broken(err) {
		t.Errorf("refused: %v", err)
	}
	// Unavailable from the plugin itself is its answer: the connection
	// is there.
	if _, err := c.Call(ctx, 1, []byte("unavailable")); !errors.As(err, &refused) || !strings.Contains(err.Error(), "upstream down") || resident.Broken(err) {
		t.Errorf("unavailable: %v", err)
	}
	if _, err := c.Call(ctx, 2, []byte("big")); !errors.Is(err, resident.ErrTooLarge) || resident.Broken(err) {
		t.Errorf("too large: %v", err)
	}
	// A reply's standard error is cut as Main cuts it: first and last.
	r, err := resident.NewGRPCClient(cc, 1<<20, gone.Load).Call(ctx, 2, []byte("noisy"))
	if err != nil || len(r.Stderr) > resident.MaxStderr+8 || !bytes.HasPrefix(r.Stderr, []byte("first\n")) || !bytes.HasSuffix(r.Stderr, []byte("\nlast")) {
		t.Errorf("noisy: %d bytes of stderr, %v", len(r.Stderr), err)
	}
	p := c.Go(3, []byte("wait"))
	c.Cancel(3)
	select {
	case <-p.Done():
		if r, err := p.Result(); err != nil || r.Status != 1 {
			t.Errorf("cancelled: %+v, %v", r, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Cancel never reached the plugin's call")
	}
	if r, err := c.Call(ctx, 4, []byte("still")); err != nil || string(r.Stdout) != "4:still" {
		t.Errorf("after the failures: %q, %v", r.Stdout, err)
	}

	p = c.Go(5, []byte("wait"))
	time.Sleep(50 * time.Millisecond)
	gone.Store(true)
	srv.Stop()
	select {
	case <-p.Done():
		if _, err := p.Result(); !resident.Broken(err) {
			t.Errorf("a call when the plugin went: %v, want a broken connection", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the call on a stopped plugin never returned")
	}
}
