// Package fakeoai is an OpenAI-compatible chat-completions server for
// tests: it answers from a script, in the wire format of the real API
// (responses, stream chunks and errors shaped as the API sends them), and
// records every request. It checks each request the way the API would:
// POST to /chat/completions, a JSON body with a model and a conversation
// in which every tool message answers a call of the assistant message
// before it.
package fakeoai

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Reply is one scripted answer.
type Reply struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// Header is added to the response (e.g. Retry-After).
	Header map[string]string
	// Body is a JSON response body, sent as it is.
	Body string
	// Chunks, when set, are sent as a text/event-stream, one "data:" event
	// each, followed by "data: [DONE]".
	Chunks []string
	// Hang makes the server never answer (until the client gives up).
	Hang bool
}

// Call is a tool call in a scripted reply.
type Call struct{ ID, Name, Args string }

// Request is a recorded request.
type Request struct {
	Header http.Header
	Raw    []byte
}

// Body returns the request body decoded as generic JSON (decoded on
// demand: the server itself checks requests with a cheaper typed decode,
// so that it takes little of the machine from what a benchmark measures).
func (r Request) Body() map[string]any {
	var body map[string]any
	json.Unmarshal(r.Raw, &body)
	return body
}

// Messages returns the request's conversation.
func (r Request) Messages() []map[string]any {
	var out []map[string]any
	list, _ := r.Body()["messages"].([]any)
	for _, m := range list {
		mm, _ := m.(map[string]any)
		out = append(out, mm)
	}
	return out
}

// Server is the fake API. Its URL plus "/v1" is the base URL to use.
type Server struct {
	*httptest.Server
	t testing.TB

	mu       sync.Mutex
	script   []Reply
	requests []Request
	// Repeat, when set, answers every request past the script with it.
	Repeat *Reply
	// SkipChecks turns off the checks of each request, so that a
	// benchmark's mock endpoint costs little (decoding a long conversation
	// takes the better part of a millisecond).
	SkipChecks bool
}

// New starts a server answering with replies in order. It is closed when
// the test ends.
func New(t testing.TB, replies ...Reply) *Server {
	s := &Server{t: t, script: replies}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	return s
}

// Script appends replies to the script.
func (s *Server) Script(replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, replies...)
}

// BaseURL is the API base URL, as given to -base-url.
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body wireRequest
	if s.SkipChecks {
		// no checks
	} else if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		s.t.Errorf("fakeoai: %s %s, want POST /v1/chat/completions", r.Method, r.URL.Path)
	} else if err := json.Unmarshal(raw, &body); err != nil {
		s.t.Errorf("fakeoai: body is not a chat request: %v: %s", err, raw)
	} else if err := checkRequest(&body); err != nil {
		s.t.Errorf("fakeoai: malformed request: %v\n%s", err, raw)
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Header: r.Header.Clone(), Raw: raw})
	var reply Reply
	switch {
	case len(s.script) > 0:
		reply, s.script = s.script[0], s.script[1:]
	case s.Repeat != nil:
		reply = *s.Repeat
	default:
		s.mu.Unlock()
		s.t.Errorf("fakeoai: request %d is past the script", len(s.requests))
		writeError(w, 500, "the test's script is exhausted", "server_error")
		return
	}
	s.mu.Unlock()

	if reply.Hang {
		<-r.Context().Done()
		return
	}
	for k, v := range reply.Header {
		w.Header().Set(k, v)
	}
	if reply.Chunks != nil {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for _, c := range reply.Chunks {
			fmt.Fprintf(w, "data: %s\n\n", c)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	io.WriteString(w, reply.Body)
}

// wireRequest is what the server checks of a request.
type wireRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role       string  `json:"role"`
		Content    *string `json:"content"`
		ToolCallID string  `json:"tool_call_id"`
		ToolCalls  []struct {
			ID string `json:"id"`
		} `json:"tool_calls"`
	} `json:"messages"`
}

// checkRequest applies the API's rules that matter to an agent loop.
func checkRequest(body *wireRequest) error {
	if body.Model == "" {
		return fmt.Errorf("no model")
	}
	if len(body.Messages) == 0 {
		return fmt.Errorf("no messages")
	}
	pending := map[string]bool{}
	for i, m := range body.Messages {
		if m.Role != "tool" && len(pending) > 0 {
			return fmt.Errorf("message %d (%s) follows unanswered tool calls %v", i, m.Role, pending)
		}
		switch m.Role {
		case "assistant":
			for _, c := range m.ToolCalls {
				pending[c.ID] = true
			}
		case "tool":
			if !pending[m.ToolCallID] {
				return fmt.Errorf("message %d answers tool call %q, which is not pending", i, m.ToolCallID)
			}
			if m.Content == nil || *m.Content == "" {
				return fmt.Errorf("message %d: a tool message needs content", i)
			}
			delete(pending, m.ToolCallID)
		case "system", "developer", "user":
		default:
			return fmt.Errorf("message %d has role %q", i, m.Role)
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("the conversation ends with unanswered tool calls %v", pending)
	}
	return nil
}

const created = 1763794800 // a fixed time keeps transcripts stable

// Answer is a completion holding a final answer.
func Answer(content string) Reply {
	c, _ := json.Marshal(content)
	return Reply{Body: fmt.Sprintf(`{"id":"chatcmpl-AnS9","object":"chat.completion","created":%d,"model":"gpt-4o-2024-08-06",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":%s,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":120,"completion_tokens":9,"total_tokens":129},"system_fingerprint":"fp_f3b1c6"}`, created, c)}
}

// CutAnswer is an answer the server cut at its length limit after tokens
// completion tokens (finish_reason "length"), as the API sends it.
func CutAnswer(content string, tokens int) Reply {
	c, _ := json.Marshal(content)
	return Reply{Body: fmt.Sprintf(`{"id":"chatcmpl-AnT1","object":"chat.completion","created":%d,"model":"gpt-4o-2024-08-06",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":%s,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"length"}],`+
		`"usage":{"prompt_tokens":120,"completion_tokens":%d,"total_tokens":%d},"system_fingerprint":"fp_f3b1c6"}`, created, c, tokens, 120+tokens)}
}

// ToolCalls is a completion asking for tool calls, with no content (null),
// as the API sends it.
func ToolCalls(calls ...Call) Reply {
	var parts []string
	for _, c := range calls {
		args, _ := json.Marshal(c.Args)
		id, _ := json.Marshal(c.ID)
		name, _ := json.Marshal(c.Name)
		parts = append(parts, fmt.Sprintf(`{"id":%s,"type":"function","function":{"name":%s,"arguments":%s}}`, id, name, args))
	}
	return Reply{Body: fmt.Sprintf(`{"id":"chatcmpl-AnS8","object":"chat.completion","created":%d,"model":"gpt-4o-2024-08-06",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[%s],"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"tool_calls"}],`+
		`"usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99},"system_fingerprint":"fp_f3b1c6"}`, created, strings.Join(parts, ","))}
}

// Error is an API error response.
func Error(status int, message, typ string) Reply {
	m, _ := json.Marshal(message)
	return Reply{Status: status, Body: fmt.Sprintf(`{"error":{"message":%s,"type":%q,"param":null,"code":null}}`, m, typ)}
}

func writeError(w http.ResponseWriter, status int, message, typ string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, Error(status, message, typ).Body)
}

// chunk is one stream event with the given delta.
func chunk(delta, finish string) string {
	f := "null"
	if finish != "" {
		f = fmt.Sprintf("%q", finish)
	}
	return fmt.Sprintf(`{"id":"chatcmpl-AnSa","object":"chat.completion.chunk","created":%d,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_f3b1c6",`+
		`"choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]}`, created, delta, f)
}

// StreamAnswer streams content in the given pieces.
func StreamAnswer(pieces ...string) Reply {
	chunks := []string{chunk(`{"role":"assistant","content":"","refusal":null}`, "")}
	for _, p := range pieces {
		c, _ := json.Marshal(p)
		chunks = append(chunks, chunk(`{"content":`+string(c)+`}`, ""))
	}
	return Reply{Chunks: append(chunks, chunk(`{}`, "stop"))}
}

// ChannelAnswer is an answer on a Harmony channel (gpt-oss): the message
// carries "channel" beside its content.
func ChannelAnswer(channel, content string) Reply {
	c, _ := json.Marshal(content)
	ch, _ := json.Marshal(channel)
	return Reply{Body: fmt.Sprintf(`{"id":"chatcmpl-AnH1","object":"chat.completion","created":%d,"model":"gpt-oss-20b",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":%s,"channel":%s},"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":120,"completion_tokens":9,"total_tokens":129}}`, created, c, ch)}
}

// StreamChannelAnswer streams content on a Harmony channel, the channel
// in the first delta.
func StreamChannelAnswer(channel string, pieces ...string) Reply {
	ch, _ := json.Marshal(channel)
	chunks := []string{chunk(`{"role":"assistant","content":"","channel":`+string(ch)+`}`, "")}
	for _, p := range pieces {
		c, _ := json.Marshal(p)
		chunks = append(chunks, chunk(`{"content":`+string(c)+`}`, ""))
	}
	return Reply{Chunks: append(chunks, chunk(`{}`, "stop"))}
}

// StreamToolCalls streams tool calls the way the API does: the first
// chunk of each call carries its index, id and name, and the arguments
// follow in pieces of at most split bytes.
func StreamToolCalls(split int, calls ...Call) Reply {
	chunks := []string{chunk(`{"role":"assistant","content":null}`, "")}
	for i, c := range calls {
		chunks = append(chunks, chunk(fmt.Sprintf(`{"tool_calls":[{"index":%d,"id":%q,"type":"function","function":{"name":%q,"arguments":""}}]}`, i, c.ID, c.Name), ""))
		for rest := c.Args; rest != ""; {
			n := min(split, len(rest))
			piece, _ := json.Marshal(rest[:n])
			rest = rest[n:]
			chunks = append(chunks, chunk(fmt.Sprintf(`{"tool_calls":[{"index":%d,"function":{"arguments":%s}}]}`, i, piece), ""))
		}
	}
	return Reply{Chunks: append(chunks, chunk(`{}`, "tool_calls"))}
}
