package chat

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		h    string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{"0", 0, true},
		{"100000", maxRetryAfter, true},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0, true},
		{"soon", 0, false},
		{"", 0, false},
		{"-1", 0, false},
	} {
		got, ok := retryAfter(tt.h)
		if ok != tt.ok || got != tt.want {
			t.Errorf("retryAfter(%q) = %v %v, want %v %v", tt.h, got, ok, tt.want, tt.ok)
		}
	}
	if d, ok := retryAfter(time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)); !ok || d < 28*time.Second || d > 30*time.Second {
		t.Errorf("HTTP date 30s ahead: %v %v", d, ok)
	}
}

func post(t *testing.T, tr *Transport, url, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer ")
	return tr.Do(req)
}

func TestTransportRetriesConnectionErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	attempts := 0
	tr := &Transport{Retries: 2, Sleep: func(context.Context, time.Duration) error { attempts++; return nil }}
	_, err = post(t, tr, "http://"+addr+"/v1/chat/completions", "{}")
	if err == nil || attempts != 2 {
		t.Errorf("err %v after %d retries", err, attempts)
	}
}

// Every attempt resends the whole body, and no key means no header.
func TestTransportReplaysBody(t *testing.T) {
	var bodies []string
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		auth = append(auth, r.Header.Get("Authorization"))
		if len(bodies) == 1 {
			w.WriteHeader(502)
			return
		}
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	tr := &Transport{Retries: 1, Sleep: func(context.Context, time.Duration) error { return nil }}
	resp, err := post(t, tr, srv.URL, `{"model":"m"}`)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(bodies) != 2 || bodies[0] != bodies[1] || bodies[1] != `{"model":"m"}` || auth[0] != "" {
		t.Errorf("bodies %q auth %q", bodies, auth)
	}
}

// A stream that stops mid-way ends in a timeout, not a hang.
func TestTransportStalledStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	tr := &Transport{Timeout: 100 * time.Millisecond}
	resp, err := post(t, tr, srv.URL, "{}")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Errorf("read error %v, want a *TimeoutError", err)
	}
}

func TestTransportDebugRedacts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"echo":"sk-secret-123456"}`)
	}))
	defer srv.Close()
	var dump bytes.Buffer
	tr := &Transport{Debug: &dump, Redact: func(s string) string { return strings.ReplaceAll(s, "sk-secret-123456", "[REDACTED]") }}
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"key":"sk-secret-123456"}`))
	req.Header.Set("Authorization", "Bearer sk-secret-123456")
	resp, err := tr.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `{"echo":"sk-secret-123456"}` {
		t.Errorf("the caller must still get the real body: %s", body)
	}
	if strings.Contains(dump.String(), "sk-secret") || !strings.Contains(dump.String(), "--- chat.response ---\n{\n  \"echo\": \"[REDACTED]\"\n}") {
		t.Errorf("dump:\n%s", dump.String())
	}
}
