package chat

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	openai "github.com/sashabaranov/go-openai"
	"golang.org/x/sync/errgroup"

	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/protocol"
)

// DefaultParallel bounds the tool calls of one step running at once.
const DefaultParallel = 8

// Options configure a run. Client, Host and Model are required.
type Options struct {
	Client *openai.Client
	Host   *host.Host
	// Approver answers when the gate asks about a tool call; nil means
	// nobody can, and such calls fail NEEDS_APPROVAL.
	Approver host.Approver
	Model    string
	// Temperature and TopP are sent when set; nil leaves them to the
	// server.
	Temperature, TopP *float64
	// MaxSteps bounds the requests to the model; past it the run ends with
	// a *StepLimitError. 0 means 8.
	MaxSteps int
	// Stream asks for a streamed answer, assembled before use.
	Stream bool
	// Parallel bounds concurrent tool calls; 0 means DefaultParallel.
	Parallel int
	// Progress receives a short line per step and per tool call; nil means
	// none. Verbose adds what the model says alongside its tool calls.
	Progress io.Writer
	Verbose  bool
	// Warn receives the lines a person must see however quiet the run
	// (an answer cut at the length limit); nil means none.
	Warn io.Writer
	// Channels are the Harmony channels of the given messages, by index
	// (from a loaded conversation); they are sent back with them.
	Channels map[int]string
	// OnChannel receives what the model says on a channel other than the
	// final one (analysis, commentary, critic...); nil drops it.
	OnChannel func(channel, text string)
}

// StepLimitError ends a run that used all its steps without an answer.
type StepLimitError struct{ Steps int }

func (e *StepLimitError) Error() string {
	return fmt.Sprintf("reached maximum steps (%d); needs human review", e.Steps)
}

// Result is how a run ended. Run never returns a nil Result.
type Result struct {
	// Answer is the model's answer; "" when the run failed.
	Answer string
	// Messages is the whole conversation, up to the failure if one ended
	// the run.
	Messages []openai.ChatCompletionMessage
	// NeedsApproval names the tools, once each in the order it happened,
	// that had calls refused because the gate asked and nobody could
	// answer (NEEDS_APPROVAL).
	NeedsApproval []string
	// Channels are the messages' Harmony channels, by index.
	Channels map[int]string
}

// Run continues the conversation in messages until the model answers. A
// conversation whose last assistant message still has tool calls without
// results resumes by running them; the model is then asked, as goagent
// asks it, even when the conversation already ends in an answer.
func Run(ctx context.Context, opts Options, messages []openai.ChatCompletionMessage) (*Result, error) {
	r := &runner{opts: opts, channels: map[int]string{}}
	for i, ch := range opts.Channels {
		if i < len(messages) && ch != "" {
			r.channels[i] = ch
		}
	}
	answer, msgs, err := r.run(ctx, messages)
	return &Result{Answer: answer, Messages: msgs, NeedsApproval: r.needsApproval, Channels: r.channels}, err
}

func (r *runner) run(ctx context.Context, messages []openai.ChatCompletionMessage) (string, []openai.ChatCompletionMessage, error) {
	opts := &r.opts
	if opts.MaxSteps <= 0 {
		opts.MaxSteps = 8
	}
	if opts.Parallel <= 0 {
		opts.Parallel = DefaultParallel
	}
	r.tools = functions(opts.Host)
	if err := Validate(messages); err != nil {
		return "", messages, err
	}
	if calls := unanswered(messages); len(calls) > 0 {
		results, err := r.callTools(ctx, 0, calls)
		messages = append(messages, results...)
		if err != nil {
			return "", messages, err
		}
	}
	for step := 1; step <= opts.MaxSteps; step++ {
		rep, err := r.complete(ctx, step, messages)
		if err != nil {
			return "", messages, err
		}
		msg := rep.msg
		messages = append(messages, msg)
		if rep.channel != "" {
			r.channels[len(messages)-1] = rep.channel
		}
		if len(msg.ToolCalls) == 0 {
			answer := strings.TrimSpace(msg.Content)
			if answer == "" {
				// goagent keeps the empty message and asks again, within
				// the step limit.
				r.progress("step %d: the model answered nothing; asking again", step)
				continue
			}
			if rep.channel != "" && rep.channel != FinalChannel {
				// Thinking aloud (analysis, commentary, critic...): kept,
				// sent back, and the model asked on until it answers on
				// the final channel, as goagent does.
				r.progress("step %d: %s channel (%d bytes); asking on for the final answer", step, rep.channel, len(answer))
				if opts.OnChannel != nil {
					opts.OnChannel(rep.channel, answer)
				}
				continue
			}
			r.progress("step %d: answer (%d bytes)", step, len(answer))
			return answer, messages, nil
		}
		if opts.Verbose && strings.TrimSpace(msg.Content) != "" {
			r.progress("step %d: the model says: %s", step, strings.TrimSpace(msg.Content))
		}
		results, err := r.callTools(ctx, step, msg.ToolCalls)
		messages = append(messages, results...)
		if err != nil {
			return "", messages, err
		}
	}
	return "", messages, &StepLimitError{Steps: opts.MaxSteps}
}

// unanswered returns the tool calls of the last assistant message that no
// tool message after it answers: a run interrupted mid-step.
func unanswered(msgs []openai.ChatCompletionMessage) []openai.ToolCall {
	last := -1
	for i, m := range msgs {
		if m.Role == openai.ChatMessageRoleAssistant {
			last = i
		}
	}
	if last < 0 {
		return nil
	}
	answered := map[string]bool{}
	for _, m := range msgs[last+1:] {
		answered[m.ToolCallID] = true
	}
	var calls []openai.ToolCall
	for _, tc := range msgs[last].ToolCalls {
		if !answered[tc.ID] {
			calls = append(calls, tc)
		}
	}
	return calls
}

type runner struct {
	opts Options
	// stage names the requests in debug dumps: "chat" ("" too) or "prep".
	stage string
	tools []openai.Tool
	// noTemperature is set once the server refused the temperature.
	noTemperature bool
	progressMu    sync.Mutex
	// needsApproval: see Result; under progressMu.
	needsApproval []string
	// channels: see Result.
	channels map[int]string
	// noStream is set once the server answered a streamed request with
	// one JSON document.
	noStream bool
}

// warn writes a line to Warn, prefixed "warning: ".
func (r *runner) warn(format string, args ...any) {
	if r.opts.Warn == nil {
		return
	}
	line := host.ForTerminal(fmt.Sprintf(format, args...))
	r.progressMu.Lock()
	defer r.progressMu.Unlock()
	fmt.Fprintln(r.opts.Warn, "warning: "+line)
}

func (r *runner) progress(format string, args ...any) {
	if r.opts.Progress == nil {
		return
	}
	// Ids, names, messages and answers come from the model or a tool.
	line := host.ForTerminal(fmt.Sprintf(format, args...))
	r.progressMu.Lock()
	defer r.progressMu.Unlock()
	fmt.Fprintln(r.opts.Progress, line)
}

// functions offers the vetted tools as function definitions.
func functions(h *host.Host) []openai.Tool {
	var tools []openai.Tool
	for _, t := range h.Manifest().Tools {
		params := t.InputSchema
		var root map[string]json.RawMessage
		if json.Unmarshal(params, &root) == nil {
			if _, ok := root["type"]; !ok {
				// The API wants an object schema; arguments always are one.
				root["type"] = json.RawMessage(`"object"`)
				params, _ = json.Marshal(root)
			}
		}
		tools = append(tools, openai.Tool{Type: openai.ToolTypeFunction, Function: &openai.FunctionDefinition{
			Name: t.Name, Description: t.Description, Parameters: params,
		}})
	}
	return tools
}

// complete asks the model for the next message. A message the server
// cut at its length limit is asked for once more with a larger max_tokens
// (twice what it generated, at least minRetryTokens), as goagent asks
// again; still cut, it is used as it is, and the run says so.
func (r *runner) complete(ctx context.Context, step int, messages []openai.ChatCompletionMessage) (reply, error) {
	rep, err := r.ask(ctx, step, messages, 0)
	if err != nil || !rep.cut {
		return rep, err
	}
	limit := max(2*rep.tokens, minRetryTokens)
	r.progress("step %d: the answer was cut at the model's length limit; asking again with max_tokens %d", step, limit)
	rep, err = r.ask(ctx, step, messages, limit)
	if err == nil && rep.cut {
		r.warn("step %d: the answer is cut at the model's length limit even with max_tokens %d (finish_reason length)", step, limit)
	}
	return rep, err
}

// minRetryTokens is the least max_tokens a cut answer is asked again with.
const minRetryTokens = 4096

// ask sends one request for the next message; maxTokens > 0 sets
// max_tokens.
func (r *runner) ask(ctx context.Context, step int, messages []openai.ChatCompletionMessage, maxTokens int) (reply, error) {
	req := openai.ChatCompletionRequest{Model: r.opts.Model, Messages: messages, Tools: r.tools}
	if len(r.tools) > 0 {
		req.ToolChoice = "auto"
	}
	if r.opts.TopP != nil {
		req.TopP = nonZero(*r.opts.TopP)
	}
	if r.opts.Temperature != nil && !r.noTemperature {
		req.Temperature = nonZero(*r.opts.Temperature)
	}
	//lint:ignore SA1019 max_tokens is what goagent sends and what OpenAI-compatible servers (llama.cpp, vLLM, Ollama) read
	req.MaxTokens = maxTokens
	if maxTokens == 0 {
		r.progress("step %d: asking %s (%d messages)", step, r.opts.Model, len(messages))
	}
	trip := &channelTrip{out: r.channels}
	ctx = withChannels(withDebugLabel(ctx, cmp.Or(r.stage, "chat"), step), trip)
	msg, err := r.send(ctx, req)
	msg.channel = trip.get()
	var apiErr *openai.APIError
	if err != nil && req.Temperature != 0 && errors.As(err, &apiErr) && apiErr.HTTPStatusCode == 400 && rejectsTemperature(apiErr.Message) {
		// Some models take no temperature: ask once more without it.
		r.noTemperature = true
		r.progress("step %d: the server refused the temperature; asking again without it", step)
		req.Temperature = 0
		trip = &channelTrip{out: r.channels}
		msg, err = r.send(withChannels(ctx, trip), req)
		msg.channel = trip.get()
	}
	if err != nil {
		return msg, describeHTTPError(err)
	}
	return msg, nil
}

func rejectsTemperature(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "temperature") && (strings.Contains(m, "unsupported") || strings.Contains(m, "invalid") || strings.Contains(m, "not support"))
}

// nonZero converts to the client's float32, keeping an explicit zero: the
// client omits the field when it is 0, which would leave the server's
// default (usually 1) in place of the 0 asked for.
func nonZero(v float64) float32 {
	if v == 0 {
		return math.SmallestNonzeroFloat32
	}
	return float32(v)
}

// reply is the model's next message and how its generation ended.
type reply struct {
	msg openai.ChatCompletionMessage
	// channel is the message's Harmony channel, if it has one.
	channel string
	// cut: the server stopped at its length limit (finish_reason
	// "length"); tokens is how many it generated, when it says.
	cut    bool
	tokens int
}

func (r *runner) send(ctx context.Context, req openai.ChatCompletionRequest) (reply, error) {
	if r.opts.Stream && !r.noStream {
		req.Stream = true
		rep, err := r.stream(ctx, req)
		if !errors.Is(err, errNotStreamed) {
			return rep, err
		}
		// A server that answers a streamed request with one JSON
		// document: ask again without streaming, as goagent does, and
		// no more streamed requests this run.
		r.noStream = true
		r.progress("the server does not stream its answers; asking again without streaming")
		req.Stream = false
	}
	resp, err := r.opts.Client.CreateChatCompletion(ctx, req)
	if err != nil {
		return reply{}, err
	}
	if len(resp.Choices) == 0 {
		return reply{}, errors.New("the response has no choices")
	}
	msg := resp.Choices[0].Message
	if msg.Role == "" {
		msg.Role = openai.ChatMessageRoleAssistant
	}
	return reply{msg: msg, cut: resp.Choices[0].FinishReason == openai.FinishReasonLength, tokens: resp.Usage.CompletionTokens}, nil
}

// errNotStreamed: the server answered a streamed request with something
// other than an event stream.
var errNotStreamed = errors.New("the server does not stream")

// stream reads a streamed answer and assembles its content and tool calls
// from the deltas. Tool calls arrive in pieces keyed by index: the first
// piece of each carries its id and name, later ones more of its arguments.
func (r *runner) stream(ctx context.Context, req openai.ChatCompletionRequest) (reply, error) {
	s, err := r.opts.Client.CreateChatCompletionStream(ctx, req)
	if err != nil {
		return reply{}, err
	}
	defer s.Close()
	if ct := s.Header().Get("Content-Type"); !strings.Contains(ct, "text/event-stream") {
		return reply{}, errNotStreamed
	}
	msg := openai.ChatCompletionMessage{Role: openai.ChatMessageRoleAssistant}
	var rep reply
	var content, reasoning strings.Builder
	byIndex := map[int]int{} // delta index → position in msg.ToolCalls
	for {
		chunk, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return reply{}, err
		}
		if chunk.Usage != nil {
			rep.tokens = chunk.Usage.CompletionTokens
		}
		if len(chunk.Choices) == 0 {
			continue
		}
		if chunk.Choices[0].FinishReason == openai.FinishReasonLength {
			rep.cut = true
		}
		d := chunk.Choices[0].Delta
		content.WriteString(d.Content)
		reasoning.WriteString(d.ReasoningContent)
		for i, tc := range d.ToolCalls {
			idx := i
			if tc.Index != nil {
				idx = *tc.Index
			}
			pos, ok := byIndex[idx]
			if !ok {
				pos = len(msg.ToolCalls)
				byIndex[idx] = pos
				msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{Type: openai.ToolTypeFunction})
			}
			call := &msg.ToolCalls[pos]
			if tc.ID != "" {
				call.ID = tc.ID
			}
			if tc.Type != "" {
				call.Type = tc.Type
			}
			call.Function.Name += tc.Function.Name
			call.Function.Arguments += tc.Function.Arguments
		}
	}
	msg.Content = content.String()
	msg.ReasoningContent = reasoning.String()
	rep.msg = msg
	return rep, nil
}

// callTools runs the calls of one step and returns one tool message per
// call, in the order asked. Only a fault of the host itself (its audit log
// failing) is an error.
func (r *runner) callTools(ctx context.Context, step int, calls []openai.ToolCall) ([]openai.ChatCompletionMessage, error) {
	if step > 0 {
		r.progress("step %d: %d tool call(s)", step, len(calls))
	}
	results := make([]openai.ChatCompletionMessage, len(calls))
	// A fault of the host cancels the other calls of the step.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Parallel)
	for i, call := range calls {
		results[i] = openai.ChatCompletionMessage{Role: openai.ChatMessageRoleTool, ToolCallID: call.ID}
		g.Go(func() error {
			content, err := r.callTool(gctx, call)
			if err != nil {
				return err
			}
			results[i].Content = content
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return results, err
	}
	if err := ctx.Err(); err != nil {
		return results, err
	}
	return results, nil
}

func (r *runner) callTool(ctx context.Context, call openai.ToolCall) (string, error) {
	name := call.Function.Name
	if call.Type != "" && call.Type != openai.ToolTypeFunction {
		env := protocol.Errorf(protocol.CodeUnknownTool, "tool call %q has type %q; only functions are offered", call.ID, call.Type)
		return string(env.JSON()), nil
	}
	start := time.Now()
	res, err := r.opts.Host.Call(ctx, host.Request{Tool: name, Args: json.RawMessage(call.Function.Arguments),
		Caller: host.Caller{Frontend: "chat"}, Approver: r.opts.Approver})
	if err != nil {
		return "", err
	}
	if !res.OK() {
		r.progress("  %s (%s): %s: %s", name, call.ID, res.Err.Code, cutLine(res.Err.Message, 160))
		if res.Err.Code == protocol.CodeNeedsApproval {
			r.progressMu.Lock()
			if !slices.Contains(r.needsApproval, name) {
				r.needsApproval = append(r.needsApproval, name)
			}
			r.progressMu.Unlock()
		}
		return string(res.Err.JSON()), nil
	}
	r.progress("  %s (%s): ok in %v", name, call.ID, time.Since(start).Round(time.Millisecond))
	return string(res.Output), nil
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "status"
}

func cutLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// describeHTTPError turns the client's errors into one line that says what
// the server answered.
func describeHTTPError(err error) error {
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case errors.As(err, &apiErr):
		return fmt.Errorf("chat API: %d %s: %s", apiErr.HTTPStatusCode, statusText(apiErr.HTTPStatusCode), apiErr.Message)
	case errors.As(err, &reqErr):
		body := strings.TrimSpace(string(reqErr.Body))
		if len(body) > 2000 {
			body = body[:2000] + "…"
		}
		if body != "" {
			return fmt.Errorf("chat API: %d %s: %s", reqErr.HTTPStatusCode, statusText(reqErr.HTTPStatusCode), body)
		}
		return fmt.Errorf("chat API: %w", err)
	}
	return fmt.Errorf("chat API: %w", err)
}
