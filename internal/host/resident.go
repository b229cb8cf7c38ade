package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/toolhost/toolhost/internal/manifest"
	"github.com/toolhost/toolhost/internal/sandbox"
	"github.com/toolhost/toolhost/internal/sandbox/confine"
	"github.com/toolhost/toolhost/protocol"
	"github.com/toolhost/toolhost/protocol/resident"
	"github.com/toolhost/toolhost/protocol/resident/residentpb"
)

// A resident tool (manifest "resident") serves its calls from one
// long-lived process, a go-plugin plugin speaking protocol/resident,
// instead of a process per call. The process is started through the
// same launcher, at the tool's level and in a jail of its own, for its
// whole life; each call is still validated, gated, audited and read
// (output cap, one JSON value, output schema) as a one-shot call is.
//
// The host launches the plugin and does go-plugin's handshake through
// go-plugin's Client (with a runner of its own), but dials the plugin's
// socket itself. A Go tool speaks net/rpc, read through a connection
// that bounds how much the plugin may send (see budgetConn), which
// go-plugin's own dial cannot; a tool in another language speaks gRPC
// (residentpb's Tool service), whose client bounds each reply itself.

// Backoff between starts of a resident tool whose process crashed or
// would not start.
const (
	residentBackoffMin = 100 * time.Millisecond
	residentBackoffMax = 10 * time.Second
)

// residentStartMin is the least time a resident process has to start
// and complete go-plugin's handshake, whatever the tool's timeout: a
// start is not a call, and a large program on a busy machine may take
// seconds.
const residentStartMin = 10 * time.Second

// residentStdout caps what a plugin writes to its real standard output
// over its life: go-plugin's handshake line, nothing else.
const residentStdout = 64 << 10

// residentSlack is what a plugin may send besides its replies: the
// protocol's own messages, and what it writes to os.Stdout and os.Stderr
// (go-plugin carries both over the connection), counted until read.
const residentSlack = 1 << 20

// residentTool runs one resident tool's processes: one at a time, started
// when a call needs it, replaced when it crashes, is recycled or was
// started with grants that no longer hold.
type residentTool struct {
	h     *Host
	name  string
	cfg   manifest.Resident
	key   string        // what the process is started from; see residentKey
	slots chan struct{} // calls in flight, up to cfg.Concurrency

	mu       sync.Mutex
	cur      *plugProc
	starting chan struct{} // closed when the start under way ends
	fails    int           // starts or processes that failed in a row
	retryAt  time.Time
	closed   bool            // no more calls: the tool was reloaded or the host closes
	waiting  int             // calls waiting for a slot or for the process
	procs    *sync.WaitGroup // the host's resident processes (residents.procs)
	nextID   uint64
}

// plugProc is one process of a resident tool.
type plugProc struct {
	r      *residentTool
	tool   *resident.Client
	run    *residentRunner
	conn   net.Conn          // the connection to the plugin
	budget *budgetConn       // net/rpc: conn, read through a budget; nil for gRPC
	rpc    *plugin.RPCClient // net/rpc
	cc     *grpc.ClientConn  // gRPC
	grants string            // the grants it started with (grantsKey)

	// Guarded by r.mu.
	calls, inflight int
	retiring, dead  bool
	idle            *time.Timer
	lastUsed        time.Time // when its last call ended
	why             string    // why the host ended it, for the calls it fails

	stopOnce sync.Once
}

// residents are the host's resident tools, by name.
type residents struct {
	mu     sync.Mutex
	tools  map[string]*residentTool
	closed bool
	// procs counts the processes of every resident tool, those retired
	// by a reload too, until each has stopped.
	procs sync.WaitGroup
}

// residentKey is what a resident tool's process is started from: a
// reload that changes it replaces the process.
func residentKey(p *prepared) string {
	conf, _ := json.Marshal(p.sandbox.conf)
	cfg, _ := json.Marshal(p.tool.Resident)
	sum := sha256.New()
	for _, s := range [][]string{{p.tool.Program.Path, p.tool.Program.SHA256, string(conf), string(cfg),
		strconv.FormatBool(p.sandbox.ownUser), strconv.FormatBool(p.byPath), p.timeout.String(), strconv.FormatInt(p.maxOut, 10)},
		p.tool.Command, p.env} {
		for _, x := range s {
			sum.Write([]byte(x))
			sum.Write([]byte{0})
		}
		sum.Write([]byte{1})
	}
	return hex.EncodeToString(sum.Sum(nil))
}

// grantsKey is what of a call's confinement depends on the workspace
// at the time (strict's grants, the files limits hides): a process
// started under other grants is replaced.
func grantsKey(c *confine.Config) string {
	if c == nil {
		return ""
	}
	var b strings.Builder
	if ll := c.Landlock; ll != nil {
		b.WriteString(strings.Join(ll.Read, "\x00") + "\x01" + strings.Join(ll.Write, "\x00") + "\x01" + strconv.FormatBool(ll.DirsWrite))
	}
	if m := c.Mounts; m != nil {
		b.WriteString("\x02" + strings.Join(m.Hide, "\x00") + "\x01" + strings.Join(m.Keep, "\x00"))
	}
	return b.String()
}

// swap gives each resident tool of ts its residentTool: the one already
// running when the tool is unchanged, else a new one. The rest are
// retired: each stops once its calls have ended.
func (rs *residents) swap(h *Host, ts *toolset) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	old := rs.tools
	rs.tools = make(map[string]*residentTool)
	for name, p := range ts.byKey {
		if p.tool.Resident == nil {
			continue
		}
		key := residentKey(p)
		r := old[name]
		if r == nil || r.key != key {
			r = &residentTool{h: h, name: name, cfg: *p.tool.Resident, key: key, slots: make(chan struct{}, p.tool.Resident.Concurrency), procs: &rs.procs}
			r.closed = rs.closed
		}
		rs.tools[name] = r
		p.resident = r
	}
	for name, r := range old {
		if rs.tools[name] != r {
			r.close()
		}
	}
}

// close retires every resident tool and waits until their processes
// (those of tools a reload retired too) have stopped: each once its calls
// have ended.
func (rs *residents) close() {
	rs.retire()
	rs.procs.Wait()
}

// retire retires every resident tool: no more calls, and each process
// stops once its calls have ended.
func (rs *residents) retire() {
	rs.mu.Lock()
	var all []*residentTool
	for _, r := range rs.tools {
		all = append(all, r)
	}
	rs.tools = map[string]*residentTool{}
	rs.closed = true
	rs.mu.Unlock()
	for _, r := range all {
		r.close()
	}
}

// startEager starts the processes of the tools that ask to start with
// the host.
func (h *Host) startEager(ts *toolset) {
	for _, p := range ts.byKey {
		if r := p.resident; r != nil && r.cfg.Eager && p.sandbox.err == nil {
			go func() {
				spec, perr := h.launchSpec(ts, p, nil, 0)
				if perr != nil {
					h.log.Warn().Str("tool", p.tool.Name).Str("error", perr.Message).Msg("resident tool not started")
					return
				}
				pp, err := r.acquire(context.Background(), p, spec, grantsKey(spec.Confine))
				if err != nil {
					h.log.Warn().Err(err).Str("tool", p.tool.Name).Msg("resident tool not started")
					return
				}
				r.mu.Lock()
				pp.calls-- // not a call: maxCalls counts calls
				r.mu.Unlock()
				r.release(pp, false)
			}()
		}
	}
}

// close stops the tool taking calls; its process stops once the calls
// in flight have ended.
func (r *residentTool) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.settle()
}

// settle stops a closed tool's process once no call runs in it or waits
// for it: calls that came before the close (waiting for one of its
// concurrent slots, say) are served by it. r.mu is held.
func (r *residentTool) settle() {
	if pp := r.cur; r.closed && pp != nil && pp.inflight == 0 && r.waiting == 0 {
		r.cur = nil
		r.retire(pp)
	}
}

// retire stops pp once its calls have ended. r.mu is held.
func (r *residentTool) retire(pp *plugProc) {
	pp.retiring = true
	if pp.inflight == 0 {
		go pp.stop(false)
	}
}

// errResidentClosed: the tool was reloaded, or the host closes.
var errResidentClosed = errors.New("the tool was reloaded or the host is closing")

// acquire returns the tool's process for one more call, started now
// when there is none (or none for these grants); release gives it back.
func (r *residentTool) acquire(ctx context.Context, p *prepared, spec *sandbox.Spec, grants string) (*plugProc, error) {
	r.mu.Lock()
	for {
		if r.closed {
			// Calls that came before the close run in the process that
			// drains them.
			pp := r.cur
			if pp == nil || pp.dead || pp.exited() {
				r.mu.Unlock()
				return nil, errResidentClosed
			}
			pp.calls++
			pp.inflight++
			r.mu.Unlock()
			return pp, nil
		}
		pp := r.cur
		if pp != nil && (pp.dead || pp.grants != grants || pp.exited()) {
			if pp.exited() && !pp.dead {
				// It ended between calls.
				pp.dead = true
				r.failed()
			}
			r.cur = nil
			r.retire(pp)
			pp = nil
		}
		if pp != nil {
			pp.calls++
			pp.inflight++
			if pp.idle != nil {
				pp.idle.Stop()
			}
			if r.cfg.MaxCalls > 0 && pp.calls >= r.cfg.MaxCalls {
				r.cur = nil
				pp.retiring = true
			}
			r.mu.Unlock()
			return pp, nil
		}
		if ch := r.starting; ch != nil {
			r.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			r.mu.Lock()
			continue
		}
		if wait := time.Until(r.retryAt); wait > 0 {
			r.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
			r.mu.Lock()
			continue
		}
		ch := make(chan struct{})
		r.starting = ch
		r.procs.Add(1)
		r.mu.Unlock()
		pp, err := r.start(p, spec, grants)
		r.mu.Lock()
		r.starting = nil
		close(ch)
		if err != nil {
			r.procs.Done()
			r.failed()
			r.mu.Unlock()
			return nil, err
		}
		r.cur = pp
		if r.closed {
			r.cur = nil
			r.retire(pp)
		}
	}
}

// failed counts a process that crashed or would not start, and puts off
// the next start. r.mu is held.
func (r *residentTool) failed() {
	r.fails++
	wait := residentBackoffMin << min(r.fails-1, 16)
	r.retryAt = time.Now().Add(min(wait, residentBackoffMax))
}

// release ends a call of pp: broken when pp can serve no more.
func (r *residentTool) release(pp *plugProc, broken bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pp.inflight--
	if broken && !pp.dead {
		pp.dead = true
		r.failed()
	} else if !broken && !pp.dead {
		r.fails = 0
	}
	if (broken || pp.dead) && r.cur == pp {
		r.cur = nil
		pp.retiring = true
	}
	if pp.inflight > 0 {
		return
	}
	if pp.retiring || pp.dead {
		go pp.stop(pp.dead)
		return
	}
	if r.closed {
		r.settle()
		return
	}
	idle := time.Duration(r.cfg.IdleSec) * time.Second
	pp.lastUsed = time.Now()
	if pp.idle == nil {
		pp.idle = time.AfterFunc(idle, func() { r.idled(pp) })
	} else {
		pp.idle.Reset(idle)
	}
}

// idled stops pp when it has been idle for idleSec.
func (r *residentTool) idled(pp *plugProc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// A timer that fired while a call ended must not stop a process
	// just used.
	if pp.inflight > 0 || pp.retiring || time.Since(pp.lastUsed) < time.Duration(r.cfg.IdleSec)*time.Second {
		return
	}
	if r.cur == pp {
		r.cur = nil
	}
	r.retire(pp)
}

// start starts a process of the tool and connects to it.
func (r *residentTool) start(p *prepared, spec *sandbox.Spec, grants string) (*plugProc, error) {
	h := r.h
	root, err := h.launcher.TempRoot()
	if err != nil {
		return nil, fmt.Errorf("resident tool's socket folder: %w", err)
	}
	run := &residentRunner{l: h.launcher, spec: *spec, name: r.name, redact: h.Redact}
	// go-plugin's settings are appended to a slice of the tool's own.
	run.spec.Env = slices.Clip(run.spec.Env)
	if p.tool.Program.Pinned() {
		// Checked at each start: the file checked is the file run.
		f, err := p.tool.Program.Open()
		if err != nil {
			return nil, err
		}
		defer f.Close()
		run.spec.Exec = f
	}
	run.spec.Stdin, run.spec.Timeout, run.spec.MaxStdout = nil, 0, residentStdout
	run.spec.Confine = lifetimeLimits(spec.Confine)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  resident.Handshake,
		Plugins:          resident.Plugins(),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolNetRPC, plugin.ProtocolGRPC},
		SkipHostEnv:      true,
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: root},
		StartTimeout:     max(spec.Timeout, residentStartMin),
		Logger:           hclog.NewNullLogger(),
		Stderr:           io.Discard,
		RunnerFunc: func(_ hclog.Logger, cmd *exec.Cmd, dir string) (runner.Runner, error) {
			run.dir = dir
			// What go-plugin passes: its cookie and its PLUGIN_ settings
			// (the socket's folder among them), and no more.
			for _, kv := range cmd.Env {
				if strings.HasPrefix(kv, resident.Handshake.MagicCookieKey+"=") || strings.HasPrefix(kv, "PLUGIN_") {
					run.spec.Env = append(run.spec.Env, kv)
				}
			}
			return run, nil
		},
	})
	pp := &plugProc{r: r, run: run, grants: grants}
	fail := func(err error) (*plugProc, error) {
		run.end()
		return nil, fmt.Errorf("%s's resident process: %w%s", r.name, err, run.diagnosis())
	}
	addr, err := client.Start()
	if err != nil {
		if run.proc == nil {
			if run.dir != "" {
				os.RemoveAll(run.dir)
			}
			return nil, err // it never started: the launcher's error
		}
		if strings.Contains(err.Error(), "Unrecognized remote plugin message") {
			// Most likely a one-shot tool under "resident".
			err = fmt.Errorf("%w; a program that does not serve resident mode (one on protocol.Main, say) answers so: build it on resident.Main, or drop \"resident\" from its manifest entry", err)
		}
		return fail(fmt.Errorf("no go-plugin handshake: %w", err))
	}
	if pp.conn, err = run.dial(addr); err != nil {
		return fail(err)
	}
	// The rest of the start is bounded too: a plugin that completed the
	// handshake may still never answer.
	ready := time.Now().Add(max(spec.Timeout, residentStartMin))
	if client.Protocol() == plugin.ProtocolGRPC {
		err = pp.connectGRPC(p.maxOut, ready)
	} else {
		err = pp.connectRPC(ready)
	}
	if err != nil {
		pp.close()
		return fail(err)
	}
	h.log.Debug().Str("tool", r.name).Int("pid", run.proc.PID()).Msg("resident process started")
	return pp, nil
}

// connectRPC speaks net/rpc over pp.conn, read through a budget.
func (pp *plugProc) connectRPC(ready time.Time) error {
	pp.budget = &budgetConn{Conn: pp.conn, budget: residentSlack}
	pp.conn = pp.budget
	pp.conn.SetDeadline(ready)
	var err error
	if pp.rpc, err = plugin.NewRPCClient(pp.conn, resident.Plugins()); err != nil {
		return err
	}
	// What the plugin writes to os.Stdout and os.Stderr comes over the
	// connection: read, it is no longer held.
	if err := pp.rpc.SyncStreams(pp.budget.refund(), pp.budget.refund()); err != nil {
		return err
	}
	raw, err := pp.rpc.Dispense(resident.PluginName)
	if err != nil {
		return fmt.Errorf("no answer to go-plugin's dispense: %w", err)
	}
	pp.tool = raw.(*resident.Client)
	return pp.conn.SetDeadline(time.Time{})
}

// connectGRPC speaks gRPC over pp.conn, and no other connection: gRPC
// does not dial the plugin again when it breaks, nor let it go idle. A
// reply may hold the call's output cap and the kept standard error. The
// plugin is ready once it answers a Cancel of id 0 (no call's),
// Unimplemented included.
func (pp *plugProc) connectGRPC(maxOut int64, ready time.Time) error {
	var once sync.Once
	conn := &endConn{Conn: pp.conn}
	pp.conn = conn
	dial := func(context.Context, string) (net.Conn, error) {
		var c net.Conn
		once.Do(func() { c = conn })
		if c == nil {
			// gRPC gave up the connection (the plugin sent GOAWAY, say):
			// no call can reach the process any more.
			conn.ended.Store(true)
			return nil, errors.New("the plugin's connection is gone")
		}
		return c, nil
	}
	var err error
	pp.cc, err = grpc.Dial("passthrough:///plugin",
		grpc.WithContextDialer(dial),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithIdleTimeout(0),
		grpc.WithMaxHeaderListSize(64<<10),
		grpc.WithDisableRetry(),
		grpc.WithDisableServiceConfig(),
	)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithDeadline(context.Background(), ready)
	defer cancel()
	if _, err := residentpb.NewToolClient(pp.cc).Cancel(ctx, &residentpb.CancelRequest{}); err != nil {
		if st, _ := status.FromError(err); st.Code() != codes.Unimplemented {
			return fmt.Errorf("no answer over gRPC: %w", err)
		}
	}
	pp.tool = resident.NewGRPCClient(pp.cc, int(min(maxOut+resident.MaxStderr+64<<10, math.MaxInt32)), conn.ended.Load)
	return nil
}

// endConn records that its connection has ended: closed, or a read or a
// write failed.
type endConn struct {
	net.Conn
	ended atomic.Bool
}

func (c *endConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.ended.Store(true)
	}
	return n, err
}

func (c *endConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil {
		c.ended.Store(true)
	}
	return n, err
}

func (c *endConn) Close() error {
	c.ended.Store(true)
	return c.Conn.Close()
}

// lifetimeLimits drops what bounds a process's whole life but is meant
// for one call: RLIMIT_CPU adds up over the calls (each call is bounded
// by its timeout).
func lifetimeLimits(c *confine.Config) *confine.Config {
	if c == nil {
		return nil
	}
	cp := *c
	cp.Rlimits = slices.DeleteFunc(slices.Clone(c.Rlimits), func(r confine.Rlimit) bool { return r.Resource == rlimitCPU })
	return &cp
}

// exited reports whether pp's process has ended.
func (pp *plugProc) exited() bool {
	select {
	case <-pp.run.proc.Done():
		return true
	default:
		return false
	}
}

// stop ends pp: its plugin is asked to quit, and killed (with its whole
// tree) when it has not within the kill grace; now kills it at once.
func (pp *plugProc) stop(now bool) {
	pp.stopOnce.Do(func() {
		defer pp.r.procs.Done()
		grace := pp.r.h.launcher.KillGrace()
		switch {
		case now:
		case pp.rpc != nil:
			// Asks the plugin to quit; it may never answer, so this is
			// waited for a grace at most.
			go pp.rpc.Close()
			select {
			case <-pp.run.proc.Done():
			case <-time.After(grace):
			}
		default:
			// gRPC has no quit of its own: SIGTERM, SIGKILL after the grace.
			pp.close()
			pp.run.proc.Stop(false)
			<-pp.run.proc.Done()
		}
		pp.run.end()
		pp.close()
	})
}

// kill ends pp at once, failing every call in flight with why.
func (pp *plugProc) kill(why string) {
	r := pp.r
	r.mu.Lock()
	if pp.why == "" {
		pp.why = why
	}
	if !pp.dead {
		pp.dead = true
		r.failed()
	}
	if r.cur == pp {
		r.cur = nil
	}
	pp.retiring = true
	r.mu.Unlock()
	pp.run.proc.Stop(true)
	pp.close() // the calls in flight end now
}

// close closes pp's connection: first the socket, so that a gRPC call it
// fails is seen as the connection's end (endConn), then gRPC's client.
func (pp *plugProc) close() {
	pp.conn.Close()
	if pp.cc != nil {
		pp.cc.Close()
	}
}

// call runs one call of the tool in its process; the result is made an
// Outcome, read as a one-shot call's is. An error is a call that could
// not run or did not end as a one-shot one can (its process crashed).
func (r *residentTool) call(ctx context.Context, p *prepared, spec *sandbox.Spec) (*sandbox.Outcome, *protocol.Error) {
	// The timeout bounds the call from when its process is ready: the
	// process's start is bounded by it too (go-plugin's StartTimeout),
	// so that a start that fails says why.
	begin := time.Now()
	r.mu.Lock()
	r.waiting++
	r.mu.Unlock()
	done := func() {
		r.mu.Lock()
		r.waiting--
		r.settle()
		r.mu.Unlock()
	}
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		done()
		return nil, protocol.Errorf(protocol.CodeCancelled, "call cancelled while waiting for one of the %d calls %s's process serves at once (resident.concurrency)", cap(r.slots), r.name)
	}
	held := true // the slot, until the process has ended the call
	defer func() {
		if held {
			<-r.slots
		}
	}()
	pp, err := r.acquire(ctx, p, spec, grantsKey(spec.Confine))
	done()
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, protocol.Errorf(protocol.CodeCancelled, "call cancelled before %s's resident process was ready", r.name)
		case errors.Is(err, errResidentClosed):
			return nil, protocol.Errorf(protocol.CodeLaunchFailed, "%s: %v", r.name, err)
		}
		var se *sandbox.UnavailableError
		if errors.As(err, &se) {
			return nil, protocol.Errorf(protocol.CodeSandboxUnavailable, "%s: %v", r.name, err)
		}
		if errors.Is(err, sandbox.ErrClosed) {
			return nil, protocol.Errorf(protocol.CodeLaunchFailed, "the host is shutting down")
		}
		return nil, protocol.Errorf(protocol.CodeLaunchFailed, "%v", err)
	}
	r.mu.Lock()
	r.nextID++
	id := r.nextID
	r.mu.Unlock()
	ctx, cancel := context.WithTimeoutCause(ctx, spec.Timeout, errTimedOut)
	defer cancel()
	out := &sandbox.Outcome{PID: pp.run.proc.PID(), Containment: pp.run.proc.Containment()}
	pp.budget.grant(p.maxOut)
	pend := pp.tool.Go(id, spec.Stdin)
	select {
	case <-pend.Done():
	case <-ctx.Done():
		pp.tool.Cancel(id)
		if context.Cause(ctx) == errTimedOut {
			out.TimedOut = true
		} else {
			out.Cancelled = true
		}
		now := errors.Is(context.Cause(ctx), sandbox.ErrStopNow)
		grace := time.NewTimer(r.h.launcher.KillGrace())
		if now {
			// The caller is gone: the call ends without it, its slot
			// still taken, so that the process never runs more than
			// resident.concurrency calls at once.
			held = false
			go func() {
				defer func() { <-r.slots }()
				defer grace.Stop()
				select {
				case <-pend.Done():
				case <-grace.C:
					pp.kill(fmt.Sprintf("its process was killed: a cancelled call did not end within %v", r.h.launcher.KillGrace()))
				}
				pp.budget.settle()
				r.release(pp, pp.isDead())
			}()
			out.Duration = time.Since(begin)
			return out, nil
		}
		select {
		case <-pend.Done():
		case <-grace.C:
			out.GraceExpired = true
			pp.kill(fmt.Sprintf("its process was killed: a call did not end within %v of being cancelled", r.h.launcher.KillGrace()))
			<-pend.Done()
		}
		grace.Stop()
	}
	reply, err := pend.Result()
	pp.budget.settle()
	out.Duration = time.Since(begin)
	var refused *resident.RefusedError
	if errors.As(err, &refused) || errors.Is(err, resident.ErrTooLarge) {
		// The call failed; the process serves on.
		r.release(pp, false)
		switch {
		case out.TimedOut || out.Cancelled:
			return out, nil
		case refused != nil:
			msg := r.h.Redact(refused.Msg)
			if len(msg) > 512 {
				msg = strings.ToValidUTF8(msg[:512], "") + "…"
			}
			return out, protocol.Errorf(protocol.CodeToolError, "%s's resident process answered with an error instead of a result: %s", r.name, msg)
		}
		out.OutputLimit = true
		return out, nil
	}
	if err != nil {
		perr := r.crashed(pp, out, p.maxOut, err)
		r.release(pp, true)
		if out.TimedOut || out.Cancelled {
			return out, nil // as a one-shot call: its timeout or cancel
		}
		return out, perr
	}
	r.release(pp, false)
	if out.TimedOut || out.Cancelled {
		return out, nil
	}
	out.Stdout, out.StdoutBytes = reply.Stdout, int64(len(reply.Stdout))
	out.Stderr, out.StderrBytes = guardCut(reply.Stderr, spec.StderrGuard), int64(len(reply.Stderr))
	out.ExitCode = reply.Status
	if out.StdoutBytes > p.maxOut {
		out.OutputLimit = true
		out.Stdout = nil
	}
	return out, nil
}

// guardCut drops guard more bytes on each side of the cut in a reply's
// standard error, as the host does with a one-shot tool's: a secret
// split by the cut leaves no piece redaction could miss.
func guardCut(stderr []byte, guard int) []byte {
	half, mark := resident.MaxStderr/2, resident.StderrCut
	if guard == 0 || len(stderr) < half+len(mark) || string(stderr[half:half+len(mark)]) != mark {
		return stderr
	}
	head, tail := stderr[:half], stderr[half+len(mark):]
	g := min(guard, half, len(tail))
	return append(append(append([]byte(nil), head[:half-g]...), mark...), tail[g:]...)
}

// errTimedOut is the cause of a resident call's context past its timeout.
var errTimedOut = errors.New("timed out")

func (pp *plugProc) isDead() bool {
	pp.r.mu.Lock()
	defer pp.r.mu.Unlock()
	return pp.dead
}

// crashed is the error of a call whose process stopped answering: it
// names why, once the process has ended (within the kill grace), and
// marks out Lost, with the process's exit.
func (r *residentTool) crashed(pp *plugProc, out *sandbox.Outcome, maxOut int64, err error) *protocol.Error {
	over := pp.budget.over()
	pp.kill("")
	r.mu.Lock()
	why := pp.why
	r.mu.Unlock()
	wctx, cancel := context.WithTimeout(context.Background(), r.h.launcher.KillGrace())
	defer cancel()
	o, _ := pp.run.proc.Wait(wctx) // nil: not ended within the grace
	out.Lost, out.ExitCode = true, -1
	status := "its connection broke: " + err.Error()
	if o != nil {
		out.ExitCode, out.Signal = o.ExitCode, o.Signal
		status = fmt.Sprintf("exit status %d", o.ExitCode)
		if o.Signal != 0 {
			status = fmt.Sprintf("killed by signal %d, %s", int(o.Signal), o.Signal)
		}
	}
	switch {
	case r.h.launcher.Closed():
		return protocol.Errorf(protocol.CodeCancelled, "call cancelled: the host is shutting down; %s's resident process was stopped", r.name)
	case over:
		return protocol.Errorf(protocol.CodeOutputLimit, "%s's resident process sent more than its calls may return (%d bytes of output each, maxOutputBytes) and was killed", r.name, maxOut)
	case why != "":
		return protocol.Errorf(protocol.CodeToolError, "%s: %s", r.name, why)
	case o != nil && o.MemoryLimit:
		return protocol.Errorf(protocol.CodeMemoryLimit, "%s's resident process ran out of memory during the call (limits.memoryMB) and was killed%s", r.name, stderrTail(r.h.Redact(string(o.Stderr))))
	}
	return protocol.Errorf(protocol.CodeToolError, "%s's resident process (pid %d) crashed during the call (%s)%s; it is restarted at the next call", r.name, pp.run.proc.PID(), status, stderrTail(r.h.Redact(string(oStderr(o)))))
}

func oStderr(o *sandbox.Outcome) []byte {
	if o == nil {
		return nil
	}
	return o.Stderr
}

// residentRunner is go-plugin's runner of a resident tool's process: it
// starts it through the launcher (sandbox.Launcher.StartLong), with the
// tool's confinement and environment and go-plugin's settings, never the
// host's environment or standard input.
type residentRunner struct {
	l      *sandbox.Launcher
	spec   sandbox.Spec
	name   string
	redact func(string) string // the host's, for what the process wrote
	dir    string              // the socket's folder, go-plugin's
	proc   *sandbox.Process
}

// end kills the process with its tree, waits for it, and removes the
// socket's folder: what go-plugin's Client.Kill does, but for its dial
// (which would connect to whatever the plugin left at its address).
func (x *residentRunner) end() {
	if x.proc != nil {
		x.proc.Stop(true)
		<-x.proc.Done()
	}
	if x.dir != "" {
		os.RemoveAll(x.dir)
	}
}

func (x *residentRunner) Start(ctx context.Context) error {
	x.spec.ShareDirs = []string{x.dir}
	p, err := x.l.StartLong(ctx, &x.spec)
	if err != nil {
		return err
	}
	x.proc = p
	return nil
}

func (x *residentRunner) Stdout() io.ReadCloser { return io.NopCloser(x.proc.Stdout()) }
func (x *residentRunner) Stderr() io.ReadCloser { return io.NopCloser(x.proc.Stderr()) }
func (x *residentRunner) Name() string          { return x.name }
func (x *residentRunner) ID() string            { return strconv.Itoa(x.proc.PID()) }

// Diagnose is for go-plugin's message about a handshake it cannot read;
// the host adds the diagnosis to every failed start itself.
func (x *residentRunner) Diagnose(context.Context) string { return "" }

// residentEndWait is the least time a process that failed to start is
// given to end of itself, so that its status and last words are shown.
const residentEndWait = time.Second

// diagnosis is what the process's end says: its status and the end of
// its standard error, once it has ended (waited for a kill grace at most).
func (x *residentRunner) diagnosis() string {
	if x.proc == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), x.l.KillGrace())
	defer cancel()
	o, err := x.proc.Wait(ctx)
	if err != nil {
		return ""
	}
	s := fmt.Sprintf(" (exit status %d)", o.ExitCode)
	if o.Signal != 0 {
		s = fmt.Sprintf(" (killed by signal %s)", o.Signal)
	}
	if o.OutputLimit {
		s += fmt.Sprintf(" (it wrote more than %d bytes to its standard output, where only go-plugin's handshake belongs)", residentStdout)
	}
	return s + stderrTail(x.redact(string(o.Stderr)))
}

func (x *residentRunner) Wait(ctx context.Context) error {
	o, err := x.proc.Wait(ctx)
	if err != nil {
		return err
	}
	if o.ExitCode != 0 || o.Signal != 0 {
		return fmt.Errorf("exit status %d, signal %v", o.ExitCode, o.Signal)
	}
	return nil
}

// Kill is go-plugin's, when a start fails in its handshake: a program
// that said something else than the handshake is given residentEndWait
// to end of itself first, so that its status and last words are shown.
func (x *residentRunner) Kill(ctx context.Context) error {
	t := time.NewTimer(residentEndWait)
	defer t.Stop()
	select {
	case <-x.proc.Done():
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	x.proc.Stop(true)
	select {
	case <-x.proc.Done():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PluginToHost accepts only a Unix socket in the folder made for it;
// dial checks the socket itself.
func (x *residentRunner) PluginToHost(network, addr string) (string, string, error) {
	if network != "unix" || filepath.Dir(addr) != filepath.Clean(x.dir) {
		return "", "", fmt.Errorf("the plugin offered %s %q, not a socket in %s", network, addr, x.dir)
	}
	return network, addr, nil
}

func (x *residentRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// budgetConn bounds what a plugin may send, and so what the host holds
// of it: go-plugin's net/rpc decodes a reply whole, of any size, before
// the host can check it. Each call grants its output cap and the kept
// standard error; once a call ends, what is left is cut to what the
// calls still in flight were granted. A plugin that sends more is cut
// off (and killed by its caller).
type budgetConn struct {
	net.Conn
	mu       sync.Mutex
	budget   int64
	inflight int
	perCall  int64
	overrun  bool
}

var errOverBudget = errors.New("the plugin sent more than its calls may return")

func (c *budgetConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.budget -= int64(n)
	over := c.budget < 0
	if over {
		c.overrun = true
	}
	c.mu.Unlock()
	if over {
		c.Conn.Close()
		return 0, errOverBudget
	}
	return n, err
}

// grant allows one more call's reply, of up to maxOut bytes of output.
func (c *budgetConn) grant(maxOut int64) {
	if c == nil {
		return // gRPC
	}
	per := maxOut + resident.MaxStderr + 64<<10
	c.mu.Lock()
	c.budget += per
	c.inflight++
	c.perCall = max(c.perCall, per)
	c.mu.Unlock()
}

// settle ends a call's grant.
func (c *budgetConn) settle() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.inflight--
	c.budget = min(c.budget, int64(c.inflight)*c.perCall+residentSlack)
	c.mu.Unlock()
}

func (c *budgetConn) over() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.overrun
}

// refund is a sink for what the plugin writes to its os.Stdout and
// os.Stderr: once read, it no longer counts.
func (c *budgetConn) refund() io.Writer { return refundWriter{c} }

type refundWriter struct{ c *budgetConn }

func (w refundWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	// And the header of the yamux frame it came in (12 bytes), at least
	// one per write: else a plugin that logs much between calls would
	// wear its slack away.
	w.c.budget += int64(len(p)) + 12
	w.c.mu.Unlock()
	return len(p), nil
}
