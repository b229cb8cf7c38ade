package mcpserve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/rs/zerolog"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/netaddr"
	"github.com/toolhost/toolhost/protocol"
)

// Defaults for the zero HTTPOptions fields.
const (
	DefaultRate        = 10 // requests per second per client
	DefaultBurst       = 20
	DefaultMaxBody     = 4 << 20
	DefaultBodyTimeout = 10 * time.Second
	// FailedAuthRate and FailedAuthBurst limit failed authentications
	// per client address: 5 at once, then one every 10 seconds.
	FailedAuthRate     = 0.1
	FailedAuthBurst    = 5
	DefaultMaxInFlight = 64
	// DecodeBudget bounds the memory the requests in flight may take
	// once decoded, as estimated by decodeCost: the library decodes a
	// body whole into maps and slices, which take tens of times its size
	// (4 MiB of [],[],... became over 300 MiB).
	DecodeBudget = 256 << 20
	// SessionIdleTTL ends a session no request has used for that long
	// (its client then starts a new one, as the MCP spec has it).
	SessionIdleTTL = 12 * time.Hour
)

// HTTPOptions configure the streamable HTTP transport.
type HTTPOptions struct {
	// Ready, when set, is called with the bound address once ServeHTTP
	// listens: the moment to say the server is up.
	Ready func(addr string)
	// Tokens are the accepted bearer tokens; JWT, when set, accepts JSON
	// Web Tokens. Without either, requests are not authenticated, which
	// ServeHTTP allows only on a loopback address.
	Tokens []Token
	JWT    *JWTConfig
	// AllowOrigins are the browser origins accepted besides loopback ones
	// ("https://app.example.com"); a request with any other Origin header
	// is refused (the MCP spec's DNS-rebinding protection).
	AllowOrigins []string
	// Rate and Burst are each client's token bucket (clients are told
	// apart by identity, or by address without auth); 0 means the
	// defaults.
	Rate  float64
	Burst int
	// MaxBody caps a request body; MaxInFlight caps the requests being
	// served at once (long-lived event streams aside). 0 means the
	// defaults.
	MaxBody     int64
	MaxInFlight int
	// BodyTimeout bounds the time a request's body may take to arrive;
	// 0 means DefaultBodyTimeout.
	BodyTimeout time.Duration
	// FailedAuthBurst is how many failed authentications an address may
	// make at once before it must wait (one more every 10 seconds); 0
	// means FailedAuthBurst.
	FailedAuthBurst int
}

// ServeHTTP serves the streamable HTTP transport on addr, at /mcp, with
// /healthz answering without auth, until ctx is cancelled. It refuses an
// address off loopback unless requests are authenticated. When ctx ends,
// the calls being served are cancelled, their tools killed at once, before
// the connections are closed; the host stays its owner's, whose Close
// waits for the calls still ending.
func (s *Server) ServeHTTP(ctx context.Context, addr string, o HTTPOptions) error {
	if err := CheckListen(addr, o); err != nil {
		return err
	}
	h, err := s.HTTPHandler(o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	// The requests' context, cancelled only by the end below: their
	// tools are then killed at once, not after the kill grace.
	calls, stopCalls := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopCalls(nil)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return calls },
		ErrorLog:    stdlog.New(LogWriter(s.log), "", 0)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info().Str("addr", ln.Addr().String()).Msg("MCP over streamable HTTP at /mcp")
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		stopCalls(host.ErrStopNow)
		shut, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(shut) != nil {
			// An event stream (GET /mcp) never goes idle, so Shutdown
			// gives up on it: close what is left.
			srv.Close()
		}
		// Close does not wait for the handlers; Host.Close does wait
		// for their calls (their tools are killed) and audit records:
		// the host's owner closes it.
		return nil
	}
}

// CheckListen refuses to serve addr without auth unless it is a loopback
// address: a check a caller can make before it opens anything.
func CheckListen(addr string, o HTTPOptions) error {
	if !netaddr.IsLoopback(addr) && len(o.Tokens) == 0 && o.JWT == nil {
		return fmt.Errorf("refusing to listen on %s without auth: only a loopback address (127.0.0.1, [::1], localhost) may be served without a token or JWT", addr)
	}
	return nil
}

// HTTPHandler returns the HTTP handler: /healthz, and /mcp behind the
// checks, each refusal a JSON error envelope with its own status and code.
func (s *Server) HTTPHandler(o HTTPOptions) (http.Handler, error) {
	auth, err := newAuthenticator(o.Tokens, o.JWT)
	if err != nil {
		return nil, err
	}
	origins := map[string]bool{}
	for _, raw := range o.AllowOrigins {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("allowed origin %q: want scheme://host[:port]", raw)
		}
		origins[strings.ToLower(u.Scheme+"://"+u.Host)] = true
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = DefaultBodyTimeout
	}
	if o.FailedAuthBurst <= 0 {
		o.FailedAuthBurst = FailedAuthBurst
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	// The gate puts the caller's identity on the request's context, which
	// the library's handlers inherit.
	sess := newSessions()
	streamable := server.NewStreamableHTTPServer(s.mcp, server.WithEndpointPath("/mcp"),
		server.WithSessionIdManagerResolver(sess),
		// The gate caps bodies (MaxBody, with its own refusal); the
		// library's bound (4 MiB by default) would refuse, in its own
		// words, a body the gate let through.
		server.WithMaxRequestBodyBytes(0),
		server.WithStreamableHTTPLogger(slog.New(zerolog.NewSlogHandler(s.log.With().Str("from", "mcp-go").Logger()))))
	g := &gate{auth: auth, origins: origins, limits: newLimiters(rate.Limit(o.Rate), o.Burst), sessions: sess, decoding: semaphore.NewWeighted(DecodeBudget),
		failures: newLimiters(FailedAuthRate, o.FailedAuthBurst),
		maxBody:  o.MaxBody, bodyTimeout: o.BodyTimeout, reading: make(chan struct{}, 2*o.MaxInFlight),
		inFlight: make(chan struct{}, o.MaxInFlight), srv: s, next: streamable}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "tools": len(s.opts.Host.Manifest().Tools)})
	})
	mux.Handle("/mcp", g)
	return mux, nil
}

// gate applies the checks to /mcp in order: origin, body cap (by the
// declared length), auth, rate, requests in flight, body cap (by the
// length read, for a body without a declared length).
type gate struct {
	auth        *authenticator
	origins     map[string]bool
	limits      *limiters
	failures    *limiters // failed authentications, per address
	maxBody     int64
	bodyTimeout time.Duration
	reading     chan struct{} // bodies being received
	inFlight    chan struct{}
	decoding    *semaphore.Weighted // see DecodeBudget
	sessions    *sessions
	srv         *Server
	next        http.Handler
	// running are the requests being served, by client, session and
	// id, so that notifications/cancelled can end one (see cancels).
	running sync.Map
}

// requestKey names a request among those being served: its client, its
// session (none on the stateless revision) and its id.
func requestKey(client, session string, id json.RawMessage) (string, bool) {
	k, ok := idKey(id)
	return client + "\x00" + session + "\x00" + k, ok
}

// cancels serves notifications/cancelled as over stdio: the request it
// names, if this client's and running, has its context cancelled at
// once (its tool killed with no grace), so the library writes no
// response: the POST ends with none, as the spec asks. The notification
// still goes on to the library.
func (g *gate) cancels(r *http.Request, client string, m *message) (*http.Request, *runningRequest, func()) {
	if m == nil || m.Method == "" {
		return r, nil, func() {}
	}
	session := r.Header.Get(server.HeaderKeySessionID)
	if m.Method == string(mcp.MethodNotificationCancelled) {
		if key, ok := requestKey(client, session, m.Params.RequestID); ok {
			if run, ok := g.running.Load(key); ok {
				run.(*runningRequest).byClient.Store(true)
				run.(*runningRequest).cancel(host.ErrStopNow)
			}
		}
		return r, nil, func() {}
	}
	key, ok := requestKey(client, session, m.ID)
	if !ok {
		return r, nil, func() {}
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	run := &runningRequest{cancel: cancel}
	if _, dup := g.running.LoadOrStore(key, run); dup {
		// Another request of that id is running: the later one is not
		// cancellable by id.
		return r, nil, func() { cancel(nil) }
	}
	return r.WithContext(ctx), run, func() {
		g.running.CompareAndDelete(key, run)
		cancel(nil)
	}
}

// unknownTool answers a tools/call of a tool never offered, as over
// stdio (Server.unknownTool), and reports whether it did.
func (g *gate) unknownTool(w http.ResponseWriter, r *http.Request, m *message) bool {
	if m == nil || m.JSONRPC != mcp.JSONRPC_VERSION || m.Method != string(mcp.MethodToolsCall) || g.srv.offers(m.Params.Name) {
		return false
	}
	if _, ok := idKey(m.ID); !ok {
		return false // the library's to refuse
	}
	msg := g.srv.unknownTool(r.Context(), m.Params.Name, m.Params.Arguments)
	writeJSON(w, http.StatusOK, mcp.NewJSONRPCError(rawID(m.ID), mcp.INVALID_PARAMS, msg, nil))
	return true
}

// runningRequest is an entry of gate.running.
type runningRequest struct {
	cancel context.CancelCauseFunc
	// byClient: notifications/cancelled ended it.
	byClient atomic.Bool
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" && !g.allowedOrigin(origin) {
		refuse(w, http.StatusForbidden, "FORBIDDEN_ORIGIN", fmt.Sprintf("origin %q is not allowed", origin))
		return
	}
	if r.ContentLength > g.maxBody {
		refuse(w, http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", fmt.Sprintf("request body over %d bytes", g.maxBody))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, g.maxBody)
	client := clientAddr(r)
	if g.auth.enabled() {
		// Failed authentications are limited per address, before the
		// check: guessing tokens costs an attacker time.
		if ok, wait := g.failures.open(client); !ok {
			w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
			refuse(w, http.StatusTooManyRequests, protocol.CodeRateLimited, "too many failed authentications from this address; retry later")
			return
		}
		// The scheme is case-insensitive (RFC 7235 section 2.1) and
		// required: a bare secret is not a bearer credential.
		scheme, bearer, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			bearer = ""
		}
		id, err := g.auth.check(strings.TrimSpace(bearer))
		if err != nil {
			g.failures.allow(client)
			w.Header().Set("WWW-Authenticate", `Bearer realm="toolhost"`)
			refuse(w, http.StatusUnauthorized, "UNAUTHENTICATED", err.Error())
			return
		}
		client = id
	}
	// The audit log records who called: the token's or JWT's name, or
	// without auth the client's address.
	r = r.WithContext(withIdentity(r.Context(), client))
	if ok, wait := g.limits.allow(client); !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		refuse(w, http.StatusTooManyRequests, protocol.CodeRateLimited, "rate limit exceeded; retry later")
		return
	}
	// A session is its creator's alone: another identity may not use
	// it, listen to it (GET), answer its elicitations or end it.
	if id := r.Header.Get(server.HeaderKeySessionID); id != "" {
		ended, err := g.sessions.check(id, client)
		switch {
		case errors.Is(err, errSessionOther):
			refuse(w, http.StatusForbidden, "SESSION_FORBIDDEN", "the session "+id+" belongs to another client")
			return
		case err != nil:
			refuse(w, http.StatusNotFound, "SESSION_UNKNOWN", "unknown session "+id+": this server did not start it; initialize a new one")
			return
		case ended:
			refuse(w, http.StatusNotFound, "SESSION_ENDED", "the session "+id+" has ended; initialize a new one")
			return
		}
	}
	var run *runningRequest // a request notifications/cancelled may end
	if r.Method == http.MethodPost {
		// The whole body is read here, within BodyTimeout, before the
		// request takes a slot: a client that sends its body slowly, or
		// never finishes it, holds no slot and is cut off. (A body of
		// unknown length shows it is too large only when read, and the
		// library would answer that with a JSON-RPC parse error: it is
		// refused as such here. The library reads whole bodies anyway.)
		select {
		case g.reading <- struct{}{}:
		default:
			w.Header().Set("Retry-After", "1")
			refuse(w, http.StatusServiceUnavailable, "BUSY", "too many requests being received; retry later")
			return
		}
		rc := http.NewResponseController(w)
		rc.SetReadDeadline(time.Now().Add(g.bodyTimeout))
		body, err := io.ReadAll(r.Body)
		rc.SetReadDeadline(time.Time{})
		<-g.reading
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			refuse(w, http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", fmt.Sprintf("request body over %d bytes", g.maxBody))
			return
		}
		if err != nil {
			refuse(w, http.StatusRequestTimeout, "BODY_TIMEOUT", fmt.Sprintf("the request body did not arrive within %v: %v", g.bodyTimeout, err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var done func()
		// Read once, for both the cancellations and unknown tools (a
		// batch or a body that is not an object: neither, the library's
		// to refuse).
		m := new(message)
		if json.Unmarshal(body, m) != nil {
			m = nil
		}
		r, run, done = g.cancels(r, client, m)
		defer done()
		select {
		case g.inFlight <- struct{}{}:
			defer func() { <-g.inFlight }()
		default:
			w.Header().Set("Retry-After", "1")
			refuse(w, http.StatusServiceUnavailable, "BUSY", "too many requests in flight; retry later")
			return
		}
		// The memory the body takes once decoded, held until the
		// request is answered.
		cost := decodeCost(body)
		if cost > DecodeBudget {
			refuse(w, http.StatusRequestEntityTooLarge, "BODY_TOO_COMPLEX", fmt.Sprintf("the request body holds too many JSON values to decode (about %d MiB once decoded, over the %d MiB the server allows)", cost>>20, DecodeBudget>>20))
			return
		}
		if !g.decoding.TryAcquire(cost) {
			w.Header().Set("Retry-After", "1")
			refuse(w, http.StatusServiceUnavailable, "BUSY", "the requests in flight hold the server's decoding memory; retry later")
			return
		}
		defer g.decoding.Release(cost)
		if g.unknownTool(w, r, m) {
			return
		}
	}
	if run == nil {
		g.next.ServeHTTP(w, r)
		return
	}
	tw := &writeTracker{ResponseWriter: w}
	g.next.ServeHTTP(tw, r)
	if run.byClient.Load() && !tw.wrote {
		// Cancelled, so not answered: the POST ends as one that carried
		// no request would, with no JSON-RPC message.
		w.WriteHeader(http.StatusAccepted)
	}
}

// writeTracker notes whether a response was begun.
type writeTracker struct {
	http.ResponseWriter
	wrote bool
}

func (w *writeTracker) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *writeTracker) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *writeTracker) Flush() {
	w.wrote = true // the headers go with it
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *writeTracker) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// allowedOrigin accepts loopback origins and the configured ones.
func (g *gate) allowedOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // includes "null"
	}
	if g.origins[strings.ToLower(u.Scheme+"://"+u.Host)] {
		return true
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// decodeCost estimates the memory a JSON body takes once decoded into
// maps, slices and interface values: its bytes (strings are copied) and,
// for each value, the boxes, headers and map or slice slots it needs, with
// the garbage the decoding leaves behind.
func decodeCost(body []byte) int64 {
	values := int64(1)
	inString, escaped := false, false
	for _, c := range body {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ',' || c == '[' || c == '{':
			values++
		}
	}
	return 4*int64(len(body)) + 400*values
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return "addr:" + host
}

func refuse(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, &protocol.Error{Message: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// limiters are the token buckets of the clients seen recently.
type limiters struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	m     map[string]*limiterEntry
}

type limiterEntry struct {
	l    *rate.Limiter
	seen time.Time
}

// maxClients bounds the buckets kept; idle ones are dropped past it.
const maxClients = 10000

func newLimiters(r rate.Limit, burst int) *limiters {
	return &limiters{rate: r, burst: burst, m: map[string]*limiterEntry{}}
}

// open reports whether client's bucket has a token, without taking it;
// when it has none it says how long until it has.
func (l *limiters) open(client string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[client]
	if e == nil {
		return true, 0
	}
	now := time.Now()
	if t := e.l.TokensAt(now); t < 1 {
		return false, time.Duration((1 - t) / float64(l.rate) * float64(time.Second))
	}
	return true, 0
}

// allow takes a token from client's bucket; when there is none it says how
// long until there is.
func (l *limiters) allow(client string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	e := l.m[client]
	if e == nil {
		if len(l.m) >= maxClients {
			// Drop the buckets idle for a minute (full again by then), and
			// if none is, the least recently seen: the map never grows
			// past maxClients.
			oldest, oldestSeen := "", now
			for k, v := range l.m {
				if now.Sub(v.seen) > time.Minute {
					delete(l.m, k)
				} else if v.seen.Before(oldestSeen) {
					oldest, oldestSeen = k, v.seen
				}
			}
			if len(l.m) >= maxClients {
				delete(l.m, oldest)
			}
		}
		e = &limiterEntry{l: rate.NewLimiter(l.rate, l.burst)}
		l.m[client] = e
	}
	e.seen = now
	res := e.l.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// LogWriter turns the plain-text lines of a standard library logger (the
// log package's, net/http's) into error records of l, so that stderr
// carries one format.
func LogWriter(l zerolog.Logger) io.Writer {
	return logWriter{l.With().Str("from", "library").Logger()}
}

type logWriter struct{ l zerolog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Error().Msg(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
