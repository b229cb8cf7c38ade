package chat

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Transport sends the chat client's requests: it retries transient
// failures and bounds every wait for the server. It implements the
// go-openai HTTPDoer interface and is safe for concurrent use.
type Transport struct {
	// Client does the requests; nil means a client without a timeout of
	// its own (Timeout bounds each wait instead).
	Client *http.Client
	// Timeout bounds each wait for the server: for the response headers,
	// and for each read of the body, so a stream may last as long as the
	// server keeps sending. 0 means no bound.
	Timeout time.Duration
	// Retries is how many times a transient failure is retried: network
	// errors, timeouts, 408, 429 and 5xx statuses.
	Retries int
	// Backoff is the first wait between attempts; it doubles each time,
	// up to MaxBackoff, with jitter. A Retry-After header overrides it.
	Backoff, MaxBackoff time.Duration
	// Debug, when set, receives every request and response, with Redact
	// applied.
	Debug  io.Writer
	Redact func(string) string
	// Sleep waits between attempts; nil means a timer that ends early when
	// the request's context is done. Tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error

	debugMu sync.Mutex
}

// Do sends req, retrying as configured. A response with a status that is
// still failing after the last retry is returned as it is, for the client
// to read the server's message.
func (t *Transport) Do(req *http.Request) (*http.Response, error) {
	if strings.TrimSpace(strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer")) == "" {
		req.Header.Del("Authorization") // no key: send none, as goagent does
	}
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	channels := channelsOf(req.Context())
	if channels != nil {
		body = addChannels(body, channels.out)
	}
	body = dropStreamFalse(body)
	if req.Header.Get("Idempotency-Key") == "" {
		// As goagent: one key per request, the same on each retry, so a
		// server that saw the first attempt can tell a retry.
		var key [16]byte
		crand.Read(key[:])
		req.Header.Set("Idempotency-Key", "goagent-"+hex.EncodeToString(key[:]))
	}
	t.dumpRequest(req, body)
	for attempt := 0; ; attempt++ {
		resp, err := t.once(req, body)
		retry, wait := t.retryable(req.Context(), resp, err, attempt)
		if !retry {
			if err == nil {
				t.dumpResponse(resp)
				if channels != nil {
					readChannel(resp, channels)
				}
			}
			return resp, err
		}
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		sleep := t.Sleep
		if sleep == nil {
			sleep = sleepCtx
		}
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// once makes one attempt, with the wait bound applied.
func (t *Transport) once(req *http.Request, body []byte) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	r := req.Clone(ctx)
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	var watch *watchdog
	if t.Timeout > 0 {
		watch = &watchdog{timer: time.AfterFunc(t.Timeout, cancel), d: t.Timeout}
	}
	client := t.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(r)
	if err != nil {
		expired := watch != nil && !watch.timer.Stop()
		cancel()
		if expired && req.Context().Err() == nil {
			return nil, &TimeoutError{Wait: t.Timeout, URL: req.URL.String()}
		}
		return nil, err
	}
	resp.Body = &guardedBody{ReadCloser: resp.Body, watch: watch, cancel: cancel, url: req.URL.String(), parent: req.Context(),
		drain: !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")}
	return resp, nil
}

// retryable decides whether to try again and how long to wait first.
func (t *Transport) retryable(ctx context.Context, resp *http.Response, err error, attempt int) (bool, time.Duration) {
	if attempt >= t.Retries || ctx.Err() != nil {
		return false, 0
	}
	if err != nil {
		var te *TimeoutError
		var ne net.Error
		if errors.As(err, &te) || (errors.As(err, &ne) && ne.Timeout()) || isConnError(err) {
			return true, t.backoff(attempt)
		}
		return false, 0
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			return true, d
		}
		return true, t.backoff(attempt)
	}
	return false, 0
}

// isConnError reports failures to reach the server or a connection lost
// before a response: worth another attempt.
func isConnError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// backoff is Backoff·2^attempt, capped, with "equal jitter": half fixed,
// half random, so clients that failed together do not retry together.
func (t *Transport) backoff(attempt int) time.Duration {
	base, maxB := t.Backoff, t.MaxBackoff
	if base <= 0 {
		base = 200 * time.Millisecond
	}
	if maxB <= 0 {
		maxB = 10 * time.Second
	}
	d := base << min(attempt, 20)
	if d > maxB || d <= 0 {
		d = maxB
	}
	return d/2 + rand.N(d/2+1)
}

// maxRetryAfter bounds how long a server may make the client wait.
const maxRetryAfter = 2 * time.Minute

// retryAfter reads a Retry-After header: seconds or an HTTP date
// (RFC 9110, section 10.2.3).
func retryAfter(h string) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return min(time.Duration(n)*time.Second, maxRetryAfter), true
	}
	if at, err := http.ParseTime(h); err == nil {
		return min(max(time.Until(at), 0), maxRetryAfter), true
	}
	return 0, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TimeoutError reports a server that did not answer within the wait bound.
type TimeoutError struct {
	Wait time.Duration
	URL  string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("no answer from %s within %v (-http-timeout)", e.URL, e.Wait)
}

// Timeout marks the error as a timeout for net.Error checks.
func (e *TimeoutError) Timeout() bool   { return true }
func (e *TimeoutError) Temporary() bool { return true }

// watchdog cancels an attempt when the server is silent for d.
type watchdog struct {
	timer *time.Timer
	d     time.Duration
}

// guardedBody restarts the watchdog on every read, and ends the attempt's
// context when the body is closed.
type guardedBody struct {
	io.ReadCloser
	watch  *watchdog
	cancel context.CancelFunc
	url    string
	parent context.Context
	// drain reads what is left of a complete (not streamed) body before
	// closing: the client's JSON decoder stops at the value's end, and a
	// body not read to its end costs the connection (a new one per call).
	drain bool
}

func (b *guardedBody) Read(p []byte) (int, error) {
	if b.watch != nil {
		b.watch.timer.Reset(b.watch.d)
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.watch != nil && b.parent.Err() == nil && errors.Is(err, context.Canceled) {
		return n, &TimeoutError{Wait: b.watch.d, URL: b.url}
	}
	return n, err
}

func (b *guardedBody) Close() error {
	if b.drain {
		io.Copy(io.Discard, io.LimitReader(b.ReadCloser, 64<<10))
	}
	if b.watch != nil {
		b.watch.timer.Stop()
	}
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func (t *Transport) redact(s string) string {
	if t.Redact == nil {
		return s
	}
	return t.Redact(s)
}

func (t *Transport) dumpRequest(req *http.Request, body []byte) {
	if t.Debug == nil {
		return
	}
	t.debugMu.Lock()
	defer t.debugMu.Unlock()
	fmt.Fprintf(t.Debug, "\n--- %s ---\n", debugLabel(req.Context(), "request"))
	t.dumpJSON(body)
}

// debugLabelKey carries a request's stage and step, for the debug dump.
type debugLabelKey struct{}

type stageStep struct {
	stage string
	step  int
}

// withDebugLabel names the requests made with ctx in the debug dump, as
// goagent does: "chat.request step=N", "prep.request".
func withDebugLabel(ctx context.Context, stage string, step int) context.Context {
	return context.WithValue(ctx, debugLabelKey{}, stageStep{stage, step})
}

func debugLabel(ctx context.Context, what string) string {
	l, ok := ctx.Value(debugLabelKey{}).(stageStep)
	if !ok {
		return "chat." + what
	}
	if l.step > 0 {
		return fmt.Sprintf("%s.%s step=%d", l.stage, what, l.step)
	}
	return l.stage + "." + what
}

// dumpJSON prints a body indented by two spaces, as goagent does, or as
// it is when it is not JSON; secrets redacted either way.
func (t *Transport) dumpJSON(body []byte) {
	var buf bytes.Buffer
	if json.Indent(&buf, bytes.TrimSpace(body), "", "  ") == nil {
		body = buf.Bytes()
	}
	fmt.Fprintf(t.Debug, "%s\n", t.redact(string(body)))
}

// dumpResponse prints the status when it is not 200 and, for an answer
// that is not a stream, the body (read here and replaced by a copy); a
// stream is printed as it is read.
func (t *Transport) dumpResponse(resp *http.Response) {
	if t.Debug == nil {
		return
	}
	t.debugMu.Lock()
	defer t.debugMu.Unlock()
	fmt.Fprintf(t.Debug, "\n--- %s ---\n", debugLabel(resp.Request.Context(), "response"))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(t.Debug, "HTTP %s\n", resp.Status)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body = &dumpingBody{ReadCloser: resp.Body, t: t}
		return
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	if err != nil {
		fmt.Fprintf(t.Debug, "(reading the body failed: %v)\n", err)
	}
	t.dumpJSON(data)
}

// dumpingBody copies a stream to the debug output as it is read.
type dumpingBody struct {
	io.ReadCloser
	t *Transport
}

func (b *dumpingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.t.debugMu.Lock()
		fmt.Fprint(b.t.Debug, b.t.redact(string(p[:n])))
		b.t.debugMu.Unlock()
	}
	return n, err
}

// dropStreamFalse removes "stream": false from a request body, which the
// client library always sends: goagent leaves the member out, and so do
// these requests (the API reads the two alike).
func dropStreamFalse(body []byte) []byte {
	if !bytes.Contains(body, []byte(`"stream":false`)) {
		return body
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil || string(fields["stream"]) != "false" {
		return body
	}
	delete(fields, "stream")
	b, err := json.Marshal(fields)
	if err != nil {
		return body
	}
	return b
}
