package chat

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Harmony channels (gpt-oss and other models on OpenAI's Harmony format):
// an assistant message may carry "channel": "analysis", "commentary",
// "final", ... The client library has no such field, so the transport
// carries it beside the library: it adds the channels of earlier messages
// to each request and reads the channel of the reply, for the request's
// context's channelTrip.

// FinalChannel is the channel of an answer; a message with no channel is
// one too.
const FinalChannel = "final"

// channelTrip is one request's channels: out, by message index, are sent;
// in is the reply's, once read.
type channelTrip struct {
	out map[int]string
	mu  sync.Mutex
	in  string
}

func (c *channelTrip) set(ch string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.in == "" {
		c.in = strings.TrimSpace(ch)
	}
}

func (c *channelTrip) get() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.in
}

type channelKey struct{}

func withChannels(ctx context.Context, c *channelTrip) context.Context {
	return context.WithValue(ctx, channelKey{}, c)
}

func channelsOf(ctx context.Context) *channelTrip {
	c, _ := ctx.Value(channelKey{}).(*channelTrip)
	return c
}

// addChannels returns the request body with each message's channel set,
// or body as it is when there are none to set or it is not a chat request.
func addChannels(body []byte, out map[int]string) []byte {
	if len(out) == 0 {
		return body
	}
	var req map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil {
		return body
	}
	var msgs []map[string]json.RawMessage
	if json.Unmarshal(req["messages"], &msgs) != nil {
		return body
	}
	for i, ch := range out {
		if i < len(msgs) && ch != "" {
			msgs[i]["channel"], _ = json.Marshal(ch)
		}
	}
	var err error
	if req["messages"], err = json.Marshal(msgs); err != nil {
		return body
	}
	b, err := json.Marshal(req)
	if err != nil {
		return body
	}
	return b
}

// maxPeek bounds the reply read whole to find its channel.
const maxPeek = 64 << 20

// readChannel notes the channel of a successful reply in c, leaving the
// body as the library will read it.
func readChannel(resp *http.Response, c *channelTrip) {
	if resp.StatusCode/100 != 2 {
		return
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		pr, pw := io.Pipe()
		body := resp.Body
		resp.Body = struct {
			io.Reader
			io.Closer
		}{pr, closers{pr, body}}
		go func() {
			// The stream passes through line by line as it comes, each
			// line looked at before the library sees it.
			r := bufio.NewReaderSize(body, 1<<20)
			long := false // within a line longer than the buffer: passed on unread
			for {
				line, err := r.ReadSlice('\n')
				if errors.Is(err, bufio.ErrBufferFull) {
					long, err = true, nil
				} else if long {
					long = false // its last piece
				} else if data, ok := bytes.CutPrefix(line, []byte("data:")); ok {
					var chunk struct {
						Choices []struct {
							Delta struct {
								Channel string `json:"channel"`
							} `json:"delta"`
						} `json:"choices"`
					}
					if json.Unmarshal(bytes.TrimSpace(data), &chunk) == nil && len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Channel != "" {
						c.set(chunk.Choices[0].Delta.Channel)
					}
				}
				if len(line) > 0 {
					if _, werr := pw.Write(line); werr != nil {
						return // the reader is gone
					}
				}
				if err != nil {
					if err == io.EOF {
						err = nil
					}
					pw.CloseWithError(err)
					return
				}
			}
		}()
		return
	}
	body := resp.Body
	data, err := io.ReadAll(io.LimitReader(body, maxPeek))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(data), body), body} // the rest, if any, as it was
	var reply struct {
		Choices []struct {
			Message struct {
				Channel string `json:"channel"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err == nil && json.Unmarshal(data, &reply) == nil && len(reply.Choices) > 0 {
		c.set(reply.Choices[0].Message.Channel)
	}
}

// closers closes each of its closers.
type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
