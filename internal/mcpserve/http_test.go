package mcpserve

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"
	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/policy"
)

var (
	alice = Token{ID: "alice", Secret: "alice-secret-0123456789abcdef"}
	bob   = Token{ID: "bob", Secret: "bob-secret-0123456789abcdefgh"}
)

func bearer(secret string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + secret}
}

// with returns h with key set to value, or removed when value is "".
func with(h http.Header, key, value string) http.Header {
	h = h.Clone()
	if value == "" {
		h.Del(key)
	} else {
		h.Set(key, value)
	}
	return h
}

func TestHealthzWithoutAuth(t *testing.T) {
	f := newFixture(t, HTTPOptions{Tokens: []Token{alice}, AllowOrigins: []string{"https://app.example.com"}})
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		r := do(t, f.ts.Client(), mustRequest(t, method, f.ts.URL+"/healthz"))
		if r.status != http.StatusOK {
			t.Errorf("%s /healthz: status %d, body %s", method, r.status, r.body)
		}
		if method == http.MethodGet {
			var health struct {
				Status string
				Tools  int
			}
			if err := json.Unmarshal(r.body, &health); err != nil || health.Status != "ok" || health.Tools != 2 {
				t.Errorf("GET /healthz: body %s (%v)", r.body, err)
			}
		}
	}
	// The same server does demand a token at /mcp.
	wantRefusal(t, do(t, f.ts.Client(), mustRequest(t, http.MethodGet, f.url)), http.StatusUnauthorized, "UNAUTHENTICATED")
}

func TestTokenAuth(t *testing.T) {
	f := newFixture(t, HTTPOptions{Tokens: []Token{alice, bob}})

	c := f.client(bearer(alice.Secret))
	tools, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tools.Tools) != 2 {
		t.Errorf("listed %+v, want touch and block", tools.Tools)
	}
	callTool(t, c, "touch", nil)
	f.wantCaller("touch", "token:alice", alice.Secret, bob.Secret)

	// Refusals of a request that, with a valid token, runs the tool.
	call := callBody("touch", map[string]any{})
	sess := session(c)
	for _, tc := range []struct{ name, auth string }{
		{"no token", ""},
		{"empty bearer", "Bearer "},
		{"wrong token", "Bearer wrong-secret-0123456789abcdef"},
		{"token with a suffix", "Bearer " + alice.Secret + "x"},
		{"token prefix", "Bearer " + alice.Secret[:len(alice.Secret)-1]},
		{"no scheme", alice.Secret},
		{"basic scheme", "Basic YWxpY2U6c2VjcmV0"},
		{"JWT-shaped garbage", "Bearer a.b.c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.state()
			r := f.post(with(sess, "Authorization", tc.auth), call, false)
			wantRefusal(t, r, http.StatusUnauthorized, "UNAUTHENTICATED")
			if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="toolhost"` {
				t.Errorf("WWW-Authenticate %q", got)
			}
			if strings.Contains(string(r.body), alice.Secret[:8]) {
				t.Errorf("refusal %s echoes a secret", r.body)
			}
			f.wantNothingRan(before)
		})
	}

	t.Run("client without token", func(t *testing.T) {
		before := f.state()
		_, err := f.startClient(nil)
		var authErr *transport.AuthorizationRequiredError
		if !errors.As(err, &authErr) {
			t.Errorf("initialize without a token: %v, want an AuthorizationRequiredError", err)
		}
		f.wantNothingRan(before)
	})

	// The same raw request with a token runs: the refusals above were
	// for the token alone. The scheme is case-insensitive (RFC 7235
	// section 2.1).
	for _, auth := range []string{"Bearer " + alice.Secret, "bearer " + alice.Secret, "BEARER  " + alice.Secret} {
		before := f.state()
		wantOK(t, f.post(with(sess, "Authorization", auth), call, false))
		if now := f.state(); now.ran != before.ran+1 || now.records != before.records+1 {
			t.Errorf("%q: state %+v after %+v, want one more run and record", auth, now, before)
		}
		f.wantCaller("touch", "token:alice", alice.Secret, bob.Secret)
	}
}

// Issue 12, item 6: a session is bound to the identity that created it.
// Another token's holder cannot call tools in it, listen to it (where
// elicitations, the approvals, arrive), answer them or end it; ids the
// server did not issue are unknown, however well formed.
func TestSessionsBoundToIdentity(t *testing.T) {
	f := newFixture(t, HTTPOptions{Tokens: []Token{alice, bob}})
	c := f.client(bearer(alice.Secret))
	callTool(t, c, "touch", nil)
	call := callBody("touch", map[string]any{})
	sess := session(c)
	asBob := with(sess, "Authorization", "Bearer "+bob.Secret)
	answer := `{"jsonrpc":"2.0","id":1,"result":{"action":"accept","content":{}}}`
	for _, tc := range []struct {
		name   string
		method string
		header http.Header
		body   string
		status int
		code   string
	}{
		{"call in alice's session", http.MethodPost, asBob, call, http.StatusForbidden, "SESSION_FORBIDDEN"},
		{"answer an elicitation", http.MethodPost, asBob, answer, http.StatusForbidden, "SESSION_FORBIDDEN"},
		{"listen to alice's session", http.MethodGet, asBob, "", http.StatusForbidden, "SESSION_FORBIDDEN"},
		{"end alice's session", http.MethodDelete, asBob, "", http.StatusForbidden, "SESSION_FORBIDDEN"},
		{"a made-up id", http.MethodPost, with(with(sess, "Mcp-Session-Id", "mcp-session-1b4e28ba-2fa1-11d2-883f-0016d3cca427"), "Authorization", "Bearer "+alice.Secret), call, http.StatusNotFound, "SESSION_UNKNOWN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.state()
			req, err := http.NewRequest(tc.method, f.url, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tc.header.Clone()
			wantRefusal(t, do(t, f.ts.Client(), req), tc.status, tc.code)
			f.wantNothingRan(before)
		})
	}
	// Alice's session still works, and she may end it; then it is gone.
	callTool(t, c, "touch", nil)
	req := mustRequest(t, http.MethodDelete, f.url)
	req.Header = with(sess, "Authorization", "Bearer "+alice.Secret)
	if r := do(t, f.ts.Client(), req); r.status != http.StatusOK {
		t.Fatalf("alice ends her session: status %d %s", r.status, r.body)
	}
	wantRefusal(t, f.post(with(sess, "Authorization", "Bearer "+alice.Secret), call, false), http.StatusNotFound, "SESSION_ENDED")
}

const (
	jwtIssuer   = "https://issuer.example"
	jwtAudience = "toolhost-test"
)

var jwtSecret = []byte("an HS256 secret of at least 32 bytes, for tests")

// claims are valid claims for subject, changed by edit.
func claims(subject string, edit func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"sub": subject, "iss": jwtIssuer, "aud": jwtAudience,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	if edit != nil {
		edit(c)
	}
	return c
}

func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTHS256(t *testing.T) {
	f := newFixture(t, HTTPOptions{JWT: &JWTConfig{Secret: jwtSecret, Issuer: jwtIssuer, Audience: jwtAudience}})

	valid := sign(t, jwt.SigningMethodHS256, jwtSecret, claims("carol", nil))
	c := f.client(bearer(valid))
	callTool(t, c, "touch", nil)
	f.wantCaller("touch", "jwt:carol", valid, string(jwtSecret))

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	call, sess := callBody("touch", map[string]any{}), session(c)
	for _, tc := range []struct {
		name  string
		token string
	}{
		{"expired", sign(t, jwt.SigningMethodHS256, jwtSecret, claims("carol", func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(-time.Hour).Unix()
		}))},
		{"no expiry", sign(t, jwt.SigningMethodHS256, jwtSecret, claims("carol", func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, jwtSecret, claims("carol", func(c jwt.MapClaims) {
			c["nbf"] = time.Now().Add(time.Hour).Unix()
		}))},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, jwtSecret, claims("carol", func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))},
		{"no issuer", sign(t, jwt.SigningMethodHS256, jwtSecret, claims("carol", func(c jwt.MapClaims) { delete(c, "iss") }))},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, jwtSecret, claims("carol", func(c jwt.MapClaims) { c["aud"] = "another-service" }))},
		{"no subject", sign(t, jwt.SigningMethodHS256, jwtSecret, claims("", nil))},
		{"wrong key", sign(t, jwt.SigningMethodHS256, []byte("another HS256 secret of 32 bytes or more"), claims("carol", nil))},
		{"HS384", sign(t, jwt.SigningMethodHS384, jwtSecret, claims("carol", nil))},
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, claims("carol", nil))},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("carol", nil))},
		{"tampered payload", tamper(t, valid)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.state()
			r := f.post(with(sess, "Authorization", "Bearer "+tc.token), call, false)
			wantRefusal(t, r, http.StatusUnauthorized, "UNAUTHENTICATED")
			f.wantNothingRan(before)
		})
	}
}

// tamper changes the subject of a signed token, keeping its signature.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	c := claims("mallory", nil)
	b, _ := json.Marshal(c)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func TestJWTRS256(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	f := newFixture(t, HTTPOptions{JWT: &JWTConfig{PublicKey: pub, Issuer: jwtIssuer, Audience: jwtAudience}})

	valid := sign(t, jwt.SigningMethodRS256, key, claims("dave", nil))
	c := f.client(bearer(valid))
	callTool(t, c, "touch", nil)
	f.wantCaller("touch", "jwt:dave", valid)

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	call, sess := callBody("touch", map[string]any{}), session(c)
	for _, tc := range []struct {
		name  string
		token string
	}{
		{"other key", sign(t, jwt.SigningMethodRS256, other, claims("dave", nil))},
		{"expired", sign(t, jwt.SigningMethodRS256, key, claims("dave", func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(-time.Hour).Unix()
		}))},
		{"wrong audience", sign(t, jwt.SigningMethodRS256, key, claims("dave", func(c jwt.MapClaims) { c["aud"] = []string{"a", "b"} }))},
		// The classic algorithm confusion: HMAC keyed with the public key.
		{"HS256 with the public key", sign(t, jwt.SigningMethodHS256, pub, claims("dave", nil))},
		{"RS512", sign(t, jwt.SigningMethodRS512, key, claims("dave", nil))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.state()
			r := f.post(with(sess, "Authorization", "Bearer "+tc.token), call, false)
			wantRefusal(t, r, http.StatusUnauthorized, "UNAUTHENTICATED")
			f.wantNothingRan(before)
		})
	}
}

func TestOrigin(t *testing.T) {
	f := newFixture(t, HTTPOptions{Tokens: []Token{alice}, AllowOrigins: []string{"https://app.example.com", "http://tool.example:8080/"}})
	c := f.client(map[string]string{"Authorization": "Bearer " + alice.Secret, "Origin": "https://app.example.com"})
	callTool(t, c, "touch", nil)
	f.wantCaller("touch", "token:alice")

	call, sess := callBody("touch", map[string]any{}), with(session(c), "Authorization", "Bearer "+alice.Secret)
	for _, origin := range []string{
		"https://evil.example",
		"null",
		"https://app.example.com:8443",
		"http://app.example.com",
		"https://app.example.com.evil.example",
		"http://localhost.evil.example",
		"http://127.0.0.1.evil.example",
		"http://tool.example",
		"http://10.0.0.1:3000",
		"file:///etc",
		"garbage",
	} {
		t.Run("refused "+origin, func(t *testing.T) {
			before := f.state()
			wantRefusal(t, f.post(with(sess, "Origin", origin), call, false), http.StatusForbidden, "FORBIDDEN_ORIGIN")
			// The origin is checked before, and whatever, the credentials.
			wantRefusal(t, f.post(with(with(sess, "Origin", origin), "Authorization", ""), call, false), http.StatusForbidden, "FORBIDDEN_ORIGIN")
			f.wantNothingRan(before)
		})
	}
	for _, origin := range []string{
		"", // not a browser
		"http://localhost:5173",
		"http://LOCALHOST",
		"http://127.0.0.1:3000",
		"http://127.9.9.9",
		"http://[::1]:8080",
		"https://app.example.com",
		"HTTPS://App.Example.COM",
		"http://tool.example:8080",
	} {
		t.Run("allowed "+origin, func(t *testing.T) {
			before := f.state()
			wantOK(t, f.post(with(sess, "Origin", origin), call, false))
			if now := f.state(); now.ran != before.ran+1 {
				t.Errorf("%d runs after %d", now.ran, before.ran)
			}
		})
	}
}

func TestOriginOptionChecked(t *testing.T) {
	f := newHost(t, Options{})
	for _, bad := range []string{"app.example.com", "https://app.example.com/path", "https://", "://x"} {
		if _, err := f.srv.HTTPHandler(HTTPOptions{AllowOrigins: []string{bad}}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("AllowOrigins %q: error %v, want one naming it", bad, err)
		}
	}
}

func TestRateLimit(t *testing.T) {
	// One token per 1000 s: the buckets do not refill during the test.
	const burst = 3
	t.Run("per token", func(t *testing.T) {
		f := newFixture(t, HTTPOptions{Tokens: []Token{alice, bob}, Rate: 0.001, Burst: burst})
		c := f.client(bearer(alice.Secret)) // initialize and notifications/initialized: 2 of alice's tokens
		cb := f.client(bearer(bob.Secret))  // and 2 of bob's
		call, sess := callBody("touch", map[string]any{}), with(session(cb), "Authorization", "Bearer "+bob.Secret)
		for range burst - 2 {
			wantOK(t, f.post(sess, call, false))
		}
		before := f.state()
		if before.ran != burst-2 {
			t.Fatalf("%d runs, want %d", before.ran, burst-2)
		}
		r := f.post(sess, call, false)
		wantRefusal(t, r, http.StatusTooManyRequests, "RATE_LIMITED")
		if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 1001 {
			t.Errorf("Retry-After %q, want the seconds until a token is back (1 to 1001)", r.header.Get("Retry-After"))
		}
		f.wantNothingRan(before)

		// Alice has her own bucket, with one token left.
		callTool(t, c, "touch", nil)
		f.wantCaller("touch", "token:alice")
		before = f.state()
		wantRefusal(t, f.post(with(session(c), "Authorization", "Bearer "+alice.Secret), call, false), http.StatusTooManyRequests, "RATE_LIMITED")
		f.wantNothingRan(before)
	})
	t.Run("per address without auth", func(t *testing.T) {
		f := newFixture(t, HTTPOptions{Rate: 0.001, Burst: burst})
		c := f.client(nil) // 2 tokens
		callTool(t, c, "touch", nil)
		f.wantCaller("touch", "addr:127.0.0.1")
		before := f.state()
		r := f.post(session(c), callBody("touch", map[string]any{}), false)
		wantRefusal(t, r, http.StatusTooManyRequests, "RATE_LIMITED")
		if r.header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
		f.wantNothingRan(before)
	})
}

func TestBodyCap(t *testing.T) {
	const limit = 2048
	f := newFixture(t, HTTPOptions{Tokens: []Token{alice}, MaxBody: limit})
	c := f.client(bearer(alice.Secret))
	sess := with(session(c), "Authorization", "Bearer "+alice.Secret)
	// body returns a tools/call of exactly n bytes.
	body := func(n int) string {
		base := callBody("touch", map[string]any{"pad": ""})
		b := callBody("touch", map[string]any{"pad": strings.Repeat("x", n-len(base))})
		if len(b) != n {
			t.Fatalf("body of %d bytes, want %d", len(b), n)
		}
		return b
	}
	for _, chunked := range []bool{false, true} {
		name := "Content-Length"
		if chunked {
			name = "chunked"
		}
		t.Run(name+" at the cap", func(t *testing.T) {
			before := f.state()
			wantOK(t, f.post(sess, body(limit), chunked))
			if now := f.state(); now.ran != before.ran+1 || now.records != before.records+1 {
				t.Errorf("state %+v after %+v, want one more run and record", now, before)
			}
		})
		for _, n := range []int{limit + 1, 64 << 10} {
			t.Run(name+" over the cap by "+strconv.Itoa(n-limit), func(t *testing.T) {
				before := f.state()
				wantRefusal(t, f.post(sess, body(n), chunked), http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE")
				f.wantNothingRan(before)
			})
		}
	}
	// The cap holds without credentials too, and comes first.
	before := f.state()
	wantRefusal(t, f.post(with(sess, "Authorization", ""), body(limit+1), false), http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE")
	f.wantNothingRan(before)
}

// TestBodyCapOverLibraryDefault: a cap set above the library's own
// bound on a POST body (4 MiB since mcp-go v1.6.0) is the one that holds;
// the library does not refuse what the gate let through.
func TestBodyCapOverLibraryDefault(t *testing.T) {
	const limit = 6 << 20
	f := newFixture(t, HTTPOptions{Tokens: []Token{alice}, MaxBody: limit})
	c := f.client(bearer(alice.Secret))
	sess := with(session(c), "Authorization", "Bearer "+alice.Secret)
	// The padding is in _meta: the tool's arguments stay under its
	// maxArgsBytes.
	b, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": "tools/call",
		"params": map[string]any{"name": "touch", "arguments": map[string]any{}, "_meta": map[string]any{"pad": strings.Repeat("x", 5<<20)}}})
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	for _, chunked := range []bool{false, true} {
		before := f.state()
		wantOK(t, f.post(sess, body, chunked))
		if now := f.state(); now.ran != before.ran+1 {
			t.Errorf("chunked %v: state %+v after %+v, want one more run", chunked, now, before)
		}
	}
}

func TestInFlightCap(t *testing.T) {
	f := newFixture(t, HTTPOptions{Tokens: []Token{alice}, MaxInFlight: 1})
	c := f.client(bearer(alice.Secret))

	done, conn := startBlock(t, func(addr string) error {
		req := mcp.CallToolRequest{}
		req.Params.Name = "block"
		req.Params.Arguments = map[string]any{"addr": addr}
		res, err := c.CallTool(context.Background(), req)
		if err == nil && (res.IsError || resultText(res) != `{"ok":true}`) {
			err = errors.New("result " + resultText(res))
		}
		return err
	})

	// The tool runs, so its POST holds the only slot.
	sess := with(session(c), "Authorization", "Bearer "+alice.Secret)
	before := f.state()
	r := f.post(sess, callBody("touch", map[string]any{}), false)
	wantRefusal(t, r, http.StatusServiceUnavailable, "BUSY")
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	f.wantNothingRan(before)
	// Only POSTs count: the health check still answers.
	if r := do(t, f.ts.Client(), mustRequest(t, http.MethodGet, f.ts.URL+"/healthz")); r.status != http.StatusOK {
		t.Errorf("/healthz while busy: %d", r.status)
	}

	conn.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.wantCaller("block", "token:alice")
	// The slot is free again. The gate frees it when the library's
	// handler returns, which writes a JSON reply unflushed, so the
	// client cannot have the reply before the slot is free.
	wantOK(t, f.post(sess, callBody("touch", map[string]any{}), false))
	if got := f.ran(); strings.Join(got, " ") != "block touch" {
		t.Errorf("ran %v, want block then touch", got)
	}
}

// startBlock runs call, which calls the block tool with the address it
// is given, and returns once the tool runs: the tool holds its call until
// conn is closed, and done then gives call's error.
func startBlock(t *testing.T, call func(addr string) error) (done chan error, conn net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- conn
	}()
	done = make(chan error, 1)
	go func() { done <- call(ln.Addr().String()) }()
	select {
	case conn = <-accepted:
	case err := <-done:
		ln.Close()
		t.Fatalf("the block call ended before its tool started: %v", err)
	}
	t.Cleanup(func() { conn.Close() }) // lets the tool go if the test fails
	if line, err := readLine(conn); err != nil || line != "started" {
		t.Fatalf("from the tool: %q, %v", line, err)
	}
	return done, conn
}

// Issue 12, item 7: the library decodes a body whole, into values that
// take tens of times its size. Bodies are charged what they will take, and
// the requests in flight together stay within DecodeBudget.
func TestDecodeBudget(t *testing.T) {
	f := newFixture(t, HTTPOptions{Tokens: []Token{alice}})
	c := f.client(bearer(alice.Secret))
	sess := with(session(c), "Authorization", "Bearer "+alice.Secret)
	// A padding of n values costs about 400 bytes each.
	padded := func(tool string, args map[string]any, n int) string {
		args["pad"] = make([]int, n)
		return callBody(tool, args)
	}
	half := DecodeBudget/400/2 + 1000 // just over half the budget

	before := f.state()
	wantRefusal(t, f.post(sess, padded("touch", map[string]any{}, 2*half), false), http.StatusRequestEntityTooLarge, "BODY_TOO_COMPLEX")
	f.wantNothingRan(before)

	// A call holding over half the budget leaves no room for another.
	done, conn := startBlock(t, func(addr string) error {
		r := f.post(sess, padded("block", map[string]any{"addr": addr}, half), false)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), `{\"ok\":true}`) {
			return fmt.Errorf("block: %d %s", r.status, r.body)
		}
		return nil
	})
	before = f.state()
	wantRefusal(t, f.post(sess, padded("touch", map[string]any{}, half), false), http.StatusServiceUnavailable, "BUSY")
	f.wantNothingRan(before)
	// A small request still fits. (Its id is not the running call's: an
	// id in use in the session is refused, since mcp-go v1.6.0.)
	wantOK(t, f.post(sess, strings.Replace(callBody("touch", map[string]any{}), `"id":7`, `"id":8`, 1), false))
	conn.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The budget is back.
	wantOK(t, f.post(sess, padded("touch", map[string]any{}, half), false))
}

func readLine(conn net.Conn) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for {
		if _, err := conn.Read(one); err != nil {
			return string(b), err
		}
		if one[0] == '\n' {
			return string(b), nil
		}
		b = append(b, one[0])
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestServeHTTPRefusesPublicWithoutAuth(t *testing.T) {
	f := newHost(t, Options{})
	// Cancelled: were an address served, ServeHTTP would return at once,
	// with no error, rather than serve on.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8080", "example.com:80", "localhost.evil.example:0"} {
		err := f.srv.ServeHTTP(ctx, addr, HTTPOptions{})
		if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "without auth") {
			t.Errorf("ServeHTTP(%q) without auth: %v, want a refusal naming the address", addr, err)
		}
	}
	// The host was not shut down: it still runs calls.
	res, err := f.host.Call(context.Background(), host.Request{Tool: "touch"})
	if err != nil || !res.OK() {
		t.Fatalf("call after the refusals: %+v, %v", res, err)
	}
}

// addrLog receives the address ServeHTTP logs when it listens.
type addrLog chan string

func (a addrLog) Write(p []byte) (int, error) {
	var e struct{ Addr string }
	if json.Unmarshal(p, &e) == nil && e.Addr != "" {
		select {
		case a <- e.Addr:
		default:
		}
	}
	return len(p), nil
}

func TestServeHTTP(t *testing.T) {
	for _, tc := range []struct {
		name   string
		addr   string
		tokens []Token
		caller string
	}{
		{"public with a token", "0.0.0.0:0", []Token{alice}, "token:alice"},
		{"loopback without auth", "127.0.0.1:0", nil, "addr:127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addrs := make(addrLog, 1)
			f := newHost(t, Options{Logger: zerolog.New(addrs)})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan error, 1)
			go func() { served <- f.srv.ServeHTTP(ctx, tc.addr, HTTPOptions{Tokens: tc.tokens}) }()
			var addr string
			select {
			case addr = <-addrs:
			case err := <-served:
				t.Fatalf("ServeHTTP(%q): %v", tc.addr, err)
			}
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatal(err)
			}
			base := "http://" + net.JoinHostPort("127.0.0.1", port)
			hc := &http.Client{Transport: &http.Transport{}}
			t.Cleanup(hc.CloseIdleConnections)

			if r := do(t, hc, mustRequest(t, http.MethodGet, base+"/healthz")); r.status != http.StatusOK {
				t.Errorf("/healthz: %d %s", r.status, r.body)
			}
			headers := map[string]string{}
			if tc.tokens != nil {
				req := mustRequest(t, http.MethodPost, base+"/mcp")
				wantRefusal(t, do(t, hc, req), http.StatusUnauthorized, "UNAUTHENTICATED")
				headers = bearer(tc.tokens[0].Secret)
			}
			c, err := startClient(t, base+"/mcp", hc, headers)
			if err != nil {
				t.Fatal(err)
			}
			callTool(t, c, "touch", nil)
			f.wantCaller("touch", tc.caller, alice.Secret)
			c.Close()

			cancel()
			if err := <-served; err != nil {
				t.Errorf("ServeHTTP after cancel: %v", err)
			}
			hc.CloseIdleConnections()
			if conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port)); err == nil {
				conn.Close()
				t.Errorf("still listening on %s after ServeHTTP returned", addr)
			}
		})
	}
}

// TestServeHTTPClosesStreams checks that ServeHTTP, once it returns, has
// closed every connection, an open event stream (GET /mcp) included.
func TestServeHTTPClosesStreams(t *testing.T) {
	addrs := make(addrLog, 1)
	f := newHost(t, Options{Logger: zerolog.New(addrs)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- f.srv.ServeHTTP(ctx, "127.0.0.1:0", HTTPOptions{Tokens: []Token{alice}}) }()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-served:
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	c, err := startClient(t, "http://"+addr+"/mcp", hc, bearer(alice.Secret))
	if err != nil {
		t.Fatal(err)
	}

	req := mustRequest(t, http.MethodGet, "http://"+addr+"/mcp")
	req.Header = with(session(c), "Authorization", "Bearer "+alice.Secret)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req) // returns once the stream is open
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /mcp: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		ended <- err
	}()
	c.Close()

	cancel()
	if err := <-served; err != nil {
		t.Errorf("ServeHTTP after cancel: %v", err)
	}
	// ServeHTTP has returned, so the stream is closed or never will be:
	// the wait only bounds how long a failure takes to show.
	select {
	case <-ended:
	case <-time.After(time.Minute):
		t.Error("the event stream is still open after ServeHTTP returned")
	}
}

// The token buckets never outnumber maxClients, however many clients come.
func TestLimitersBounded(t *testing.T) {
	l := newLimiters(1, 1)
	for i := range maxClients + 50 {
		if ok, _ := l.allow(fmt.Sprintf("addr:client-%d", i)); !ok {
			t.Fatalf("client %d refused on its first request", i)
		}
	}
	if n := len(l.m); n > maxClients {
		t.Errorf("%d buckets kept, want at most %d", n, maxClients)
	}
	// The most recent client keeps its bucket: its second request waits.
	if ok, _ := l.allow(fmt.Sprintf("addr:client-%d", maxClients+49)); ok {
		t.Error("the latest client's bucket was dropped")
	}
}

// A call of a tool never offered is a protocol error, and still audited
// with the caller's identity; nothing runs.
func TestUnknownToolAudited(t *testing.T) {
	f := newFixture(t, HTTPOptions{Tokens: []Token{alice}})
	c := f.client(bearer(alice.Secret))
	before := f.state()
	req := mcp.CallToolRequest{}
	req.Params.Name = "invented"
	if _, err := c.CallTool(context.Background(), req); err == nil || !strings.Contains(err.Error(), "invented") {
		t.Fatalf("unknown tool: %v", err)
	}
	if got := f.ran(); len(got) != before.ran {
		t.Errorf("tools ran: %v", got)
	}
	recs, _ := f.records()
	if len(recs) == 0 {
		t.Fatal("no audit record")
	}
	r := recs[len(recs)-1]
	if r.Tool != "invented" || r.Caller != "token:alice" || r.Frontend != "mcp" || r.Code != "UNKNOWN_TOOL" {
		t.Errorf("audit record %+v", r)
	}
}

// Failed authentications are limited per address, before the check: past
// the burst even the right token waits, so guessing costs time.
func TestFailedAuthLimited(t *testing.T) {
	f := newFixture(t, HTTPOptions{Tokens: []Token{alice}, FailedAuthBurst: 2})
	hdr := func(secret string) http.Header {
		return http.Header{"Authorization": {"Bearer " + secret}, "Content-Type": {"application/json"},
			"Accept": {"application/json, text/event-stream"}}
	}
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	for i := range 2 {
		wantRefusal(t, f.post(hdr(fmt.Sprint("wrong-guess-", i)), init, false), http.StatusUnauthorized, "UNAUTHENTICATED")
	}
	r := f.post(hdr("wrong-guess-3"), init, false)
	wantRefusal(t, r, http.StatusTooManyRequests, "RATE_LIMITED")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	wantRefusal(t, f.post(hdr(alice.Secret), init, false), http.StatusTooManyRequests, "RATE_LIMITED")
}

// A body that arrives too slowly is cut off after BodyTimeout, and holds
// no slot meanwhile: other requests are served.
func TestSlowBody(t *testing.T) {
	f := newFixture(t, HTTPOptions{BodyTimeout: 300 * time.Millisecond, MaxInFlight: 1})
	pr, pw := io.Pipe()
	defer pw.Close()
	req, err := http.NewRequest(http.MethodPost, f.url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	done := make(chan *http.Response, 1)
	go func() {
		resp, _ := http.DefaultClient.Do(req)
		done <- resp
	}()
	pw.Write([]byte(`{"jsonrpc":"2.0",`)) // and nothing more
	// Meanwhile a whole request is served, though one slot only.
	c := f.client(nil)
	callTool(t, c, "touch", nil)
	resp := <-done
	if resp == nil || resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("slow body: %v, want 408", resp)
	}
	resp.Body.Close()
}

// A client that never declared elicitation is not sent one over HTTP
// either: the call ends NEEDS_APPROVAL at once, as over stdio, rather
// than waiting for an answer that cannot come.
func TestHTTPElicitationOnlyWhereDeclared(t *testing.T) {
	f := newHostMode(t, Options{ApprovalTimeout: time.Minute}, policy.ModeDefault)
	f.serveHTTP(HTTPOptions{Tokens: []Token{alice}})
	c := f.client(bearer(alice.Secret))
	req := mcp.CallToolRequest{}
	req.Params.Name = "touch"
	req.Params.Arguments = map[string]any{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.CallTool(ctx, req)
	if err != nil || !res.IsError || !strings.Contains(resultText(res), `"code":"NEEDS_APPROVAL"`) || !strings.Contains(resultText(res), "(the MCP client did not declare that it can ask its user (elicitation))") {
		t.Fatalf("result %v, %v", resultText(res), err)
	}
}
