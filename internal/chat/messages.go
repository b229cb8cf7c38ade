package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	openai "github.com/sashabaranov/go-openai"
)

// A messages file is {"messages":[...]}, as goagent writes it (or a bare
// array): each message as the API has it, plus "channel" where the model
// gave one (Harmony), which goagent keeps too.

// MaxTranscript bounds a messages file that is loaded.
const MaxTranscript = 64 << 20

// LoadMessages reads a conversation saved by SaveMessages (or by goagent):
// {"messages":[...]} or a bare array of messages, with their channels by
// index. It is validated.
func LoadMessages(path string) ([]openai.ChatCompletionMessage, map[int]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if len(data) > MaxTranscript {
		return nil, nil, fmt.Errorf("%s: larger than %d bytes", path, MaxTranscript)
	}
	var raw []json.RawMessage
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		err = json.Unmarshal(data, &raw)
	} else {
		var t struct {
			Messages []json.RawMessage `json:"messages"`
		}
		err = json.Unmarshal(data, &t)
		raw = t.Messages
	}
	msgs := make([]openai.ChatCompletionMessage, len(raw))
	channels := map[int]string{}
	for i, r := range raw {
		if err != nil {
			break
		}
		var ch struct {
			Channel string `json:"channel"`
		}
		if err = json.Unmarshal(r, &msgs[i]); err == nil {
			json.Unmarshal(r, &ch)
			if ch.Channel != "" {
				channels[i] = ch.Channel
			}
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a messages file: %w", path, err)
	}
	if len(msgs) == 0 {
		return nil, nil, fmt.Errorf("%s: no messages", path)
	}
	if err := Validate(msgs); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return msgs, channels, nil
}

// MarshalMessages is msgs as goagent saves and prints them: an object
// {"messages":[...]}, indented by two spaces, each message with its
// channel from channels (by index), if any.
func MarshalMessages(msgs []openai.ChatCompletionMessage, channels map[int]string) ([]byte, error) {
	out := make([]json.RawMessage, len(msgs))
	for i, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		if ch := channels[i]; ch != "" {
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(b, &fields); err != nil {
				return nil, err
			}
			fields["channel"], _ = json.Marshal(ch)
			if b, err = json.Marshal(fields); err != nil {
				return nil, err
			}
		}
		out[i] = b
	}
	// goagent adds a fixed "prestage" member; readers ignore it.
	type prestage struct {
		Source string `json:"source"`
		Bytes  int    `json:"bytes"`
	}
	return json.MarshalIndent(struct {
		Messages []json.RawMessage `json:"messages"`
		Prestage prestage          `json:"prestage"`
	}{out, prestage{"default", 0}}, "", "  ")
}

// SaveMessages writes msgs as MarshalMessages makes them, atomically (a
// temporary file in the same folder, then a rename), mode 0600: they may
// hold what tools returned.
func SaveMessages(path string, msgs []openai.ChatCompletionMessage, channels map[int]string) error {
	data, err := MarshalMessages(msgs, channels)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".messages-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil { // no final newline, as goagent's
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Validate checks that a conversation can be sent: known roles; every tool
// message answering a distinct call of the assistant message before it,
// which must have an id and a function name; and every call answered
// before the next message that is not a tool result. Calls of the last
// assistant message may be unanswered: Run makes them.
func Validate(msgs []openai.ChatCompletionMessage) error {
	pending := map[string]bool{} // calls of the last assistant message not yet answered
	for i, m := range msgs {
		at := func(format string, args ...any) error {
			return fmt.Errorf("message %d (%s): %s", i, m.Role, fmt.Sprintf(format, args...))
		}
		if m.Role != openai.ChatMessageRoleTool && len(pending) > 0 {
			// Only the last message may leave calls unanswered (a run
			// resumes by making them); elsewhere the API refuses it.
			return at("follows tool calls that have no results")
		}
		switch m.Role {
		case openai.ChatMessageRoleSystem, openai.ChatMessageRoleDeveloper, openai.ChatMessageRoleUser:
		case openai.ChatMessageRoleAssistant:
			for j, tc := range m.ToolCalls {
				if tc.ID == "" || tc.Function.Name == "" {
					return at("tool call %d has no id or no function name", j)
				}
				if pending[tc.ID] {
					return at("tool call id %q is used twice", tc.ID)
				}
				pending[tc.ID] = true
			}
		case openai.ChatMessageRoleTool:
			if !pending[m.ToolCallID] {
				return at("answers tool call %q, which the assistant message before it did not make (or which is answered twice)", m.ToolCallID)
			}
			delete(pending, m.ToolCallID)
		case "":
			return at("no role")
		default:
			return at("unknown role")
		}
	}
	return nil
}

// ErrNoPrompt is returned when there is nothing to send.
var ErrNoPrompt = errors.New("no prompt: give -prompt, -prompt-file or -load-messages")
