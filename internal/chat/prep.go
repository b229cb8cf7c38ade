package chat

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/toolhost/toolhost/internal/host"
	"github.com/toolhost/toolhost/internal/policy"
	"github.com/toolhost/toolhost/protocol"
)

// PrepOptions configure goagent's pre-stage: one request, before the
// agent loop, that may rewrite the system message and add developer
// messages. Client, Host and Model are required.
type PrepOptions struct {
	Client *openai.Client
	// Host serves the calls the reply asks for: its manifest's tools with
	// External, the built-in read-only ones otherwise (in its workspace).
	Host *host.Host
	// Approver answers the gate for manifest tools (External).
	Approver host.Approver
	Model    string
	// Temperature and TopP are sent when set.
	Temperature, TopP *float64
	// System, when not empty, is a system message put in front of the
	// messages in this request only.
	System string
	// External runs the manifest's tools for tool calls in the reply,
	// rather than the built-in ones.
	External bool
	// Cache, when set, keeps the result of a pre-stage for the same input.
	Cache *PrepCache
	// OnChannel receives the reply's text when it is on a channel other
	// than the final one.
	OnChannel func(channel, text string)
	// Warn receives lines a person must see (a built-in call refused).
	Warn io.Writer
}

// PrepCache is goagent's pre-stage cache: a file per input, named by a
// hash of it, under Dir.
type PrepCache struct {
	Dir string
	// TTL is how long an entry is used, by its modification time; 0 or
	// less means forever.
	TTL time.Duration
	// Bust skips reading (the result is still written).
	Bust bool
	// Key holds what else the result depends on (the server's address,
	// the retry policy), hashed with the rest.
	Key map[string]any
	// Secret signs each entry (HMAC-SHA256); an entry it did not sign is
	// not read. The folder lies in the project, where a repository may
	// ship a file of its own making: its messages would reach the model
	// as the user's. Required.
	Secret []byte
	// Trusted is the folder the cache folder lies under (goagent's
	// root); every folder from it down to Dir must be a real folder of
	// this user's that nobody else may write.
	Trusted string
}

// cacheEntry is a cache file: the messages, and their signature.
type cacheEntry struct {
	MAC      string          `json:"mac"`
	Messages json.RawMessage `json:"messages"`
}

// PrepSecret returns the key that signs the pre-stage cache's entries,
// kept in path (mode 0600, its folder 0700) and made there at first use.
func PrepSecret(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	var key [32]byte
	rand.Read(key[:])
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err == nil {
		_, err = f.Write([]byte(hex.EncodeToString(key[:]) + "\n"))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	f, err = os.OpenFile(path, os.O_RDONLY|openNoWait, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || !mine(fi, 0o077) {
		return nil, fmt.Errorf("%s must be a file of yours that nobody else may read or write (mode %04o)", path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, err
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(secret) < 32 {
		return nil, fmt.Errorf("%s does not hold a key of 32 bytes in hex", path)
	}
	return secret, nil
}

// mine reports whether the file is this user's, with none of the
// permission bits others for anyone else.
func mine(fi os.FileInfo, others os.FileMode) bool {
	return fi.Mode().Perm()&others == 0 && ownedByUs(fi)
}

// mac signs an entry for key.
func (c *PrepCache) mac(key string, msgs []byte) string {
	m := hmac.New(sha256.New, c.Secret)
	m.Write([]byte(key + "\n"))
	m.Write(msgs)
	return hex.EncodeToString(m.Sum(nil))
}

// folderSafe reports whether every folder from Trusted down to Dir is a
// real folder (not a symbolic link) of this user's that nobody else may
// write.
func (c *PrepCache) folderSafe() bool {
	rel, err := filepath.Rel(c.Trusted, c.Dir)
	if err != nil || !filepath.IsLocal(rel) {
		return false
	}
	d := c.Trusted
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		d = filepath.Join(d, part)
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() || !mine(fi, 0o022) {
			return false
		}
	}
	return true
}

// PrepResult is what a pre-stage did.
type PrepResult struct {
	// Messages are the messages the agent loop starts with.
	Messages []openai.ChatCompletionMessage
	// Cached: they came from the cache, and no request was made.
	Cached bool
	// Merged: the reply changed the system message or added developer
	// messages. Ignored says why it did not, when it did not.
	Merged  bool
	Ignored string
}

// ErrHostFault wraps a failure of the host itself (its audit log) in a
// pre-stage: unlike a failed request, it must end the run.
var ErrHostFault = errors.New("the host failed")

// prepBuiltins are goagent's pre-stage built-in tools, as named in its
// cache key.
var prepBuiltins = []string{"fs.read_file", "fs.list_dir", "fs.stat", "env.get", "os.info"}

// Prep runs the pre-stage on messages. An error means the pre-stage
// failed (goagent then goes on with messages as they were); a reply that
// is not a pre-stage payload leaves them unchanged without error.
func Prep(ctx context.Context, opts PrepOptions, messages []openai.ChatCompletionMessage) (*PrepResult, error) {
	if err := Validate(messages); err != nil {
		return nil, err
	}
	key := opts.cacheKey(messages)
	if opts.Cache != nil && !opts.Cache.Bust {
		if cached, ok := opts.Cache.read(key); ok {
			return &PrepResult{Messages: cached, Cached: true, Merged: true}, nil
		}
	}
	req := messages
	if strings.TrimSpace(opts.System) != "" {
		req = append([]openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleSystem, Content: opts.System}}, messages...)
	}
	r := &runner{opts: Options{Client: opts.Client, Host: opts.Host, Approver: opts.Approver, Model: opts.Model,
		Temperature: opts.Temperature, TopP: opts.TopP, Warn: opts.Warn, Parallel: DefaultParallel}, channels: map[int]string{}, stage: "prep"}
	rep, err := r.ask(ctx, 0, req, 0)
	if err != nil {
		return nil, err
	}
	res := &PrepResult{Messages: slices.Clone(messages)}
	text := strings.TrimSpace(rep.msg.Content)
	if rep.channel != "" && rep.channel != FinalChannel && text != "" && opts.OnChannel != nil {
		opts.OnChannel(rep.channel, text)
	}
	system, developer, why := parsePrep(text)
	if why == "" {
		res.Messages, res.Merged = mergePrep(res.Messages, system, developer), true
	} else {
		res.Ignored = why
	}
	if len(rep.msg.ToolCalls) > 0 {
		msg := rep.msg
		msg.Role = openai.ChatMessageRoleAssistant
		results := make([]openai.ChatCompletionMessage, len(msg.ToolCalls))
		for i, call := range msg.ToolCalls {
			results[i] = openai.ChatCompletionMessage{Role: openai.ChatMessageRoleTool, ToolCallID: call.ID, Name: call.Function.Name}
			var content string
			var err error
			if opts.External {
				content, err = r.callTool(ctx, call)
			} else {
				content, err = opts.builtin(ctx, call)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrHostFault, err)
			}
			results[i].Content = content
		}
		res.Messages = append(append(res.Messages, msg), results...)
	}
	if opts.Cache != nil {
		opts.Cache.write(key, res.Messages) // best effort, as goagent
	}
	return res, nil
}

// cacheKey hashes what the pre-stage's result depends on. Unlike
// goagent's, it includes the pre-stage's own system message.
func (opts *PrepOptions) cacheKey(messages []openai.ChatCompletionMessage) string {
	type seed struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	in := map[string]any{"model": opts.Model, "prep_system": strings.TrimSpace(opts.System)}
	if opts.Cache != nil {
		for k, v := range opts.Cache.Key {
			in[k] = v
		}
	}
	if opts.Temperature != nil {
		in["temperature"] = *opts.Temperature
	}
	if opts.TopP != nil {
		in["top_p"] = *opts.TopP
	}
	in["tool_spec"] = "builtin:" + strings.Join(prepBuiltins, ",")
	if opts.External {
		b, _ := json.Marshal(opts.Host.Manifest().Tools)
		sum := sha256.Sum256(b)
		in["tool_spec"] = "manifest:" + hex.EncodeToString(sum[:])
	}
	seeds := make([]seed, len(messages))
	for i, m := range messages {
		seeds[i] = seed{m.Role, strings.TrimSpace(m.Content)}
	}
	in["messages"] = seeds
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// read returns the cached messages for key, if there are fresh ones that
// this user signed, in a file and folders only this user may write.
func (c *PrepCache) read(key string) ([]openai.ChatCompletionMessage, bool) {
	if len(c.Secret) == 0 || !c.folderSafe() {
		return nil, false
	}
	f, err := os.OpenFile(filepath.Join(c.Dir, key+".json"), os.O_RDONLY|openNoWait, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || !mine(fi, 0o022) {
		return nil, false
	}
	if c.TTL > 0 && time.Since(fi.ModTime()) > c.TTL {
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxTranscript))
	if err != nil {
		return nil, false
	}
	var entry struct {
		MAC      string          `json:"mac"`
		Messages json.RawMessage `json:"messages"`
	}
	if json.Unmarshal(b, &entry) != nil || !hmac.Equal([]byte(entry.MAC), []byte(c.mac(key, entry.Messages))) {
		return nil, false
	}
	var msgs []openai.ChatCompletionMessage
	if json.Unmarshal(entry.Messages, &msgs) != nil || len(msgs) == 0 || Validate(msgs) != nil {
		return nil, false
	}
	return msgs, true
}

// write stores msgs for key, signed, through a temporary file and a
// rename. The folders and file are the user's alone: they hold the
// conversation.
func (c *PrepCache) write(key string, msgs []openai.ChatCompletionMessage) {
	b, err := json.Marshal(msgs)
	if err != nil || len(c.Secret) == 0 || os.MkdirAll(c.Dir, 0o700) != nil || !c.folderSafe() {
		return
	}
	data, err := json.Marshal(cacheEntry{MAC: c.mac(key, b), Messages: b})
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(c.Dir, key+".*.tmp")
	if err != nil {
		return
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(c.Dir, key+".json"))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
}

// parsePrep reads a pre-stage reply: a JSON object or array of objects,
// each {"role":"system"|"developer","content":...} or {"system":...} or
// {"developer":...}; the first system text wins. why says why a reply is
// not one ("" when it is).
func parsePrep(text string) (system string, developer []string, why string) {
	if text == "" {
		return "", nil, "the reply is empty"
	}
	var items []map[string]json.RawMessage
	if strings.HasPrefix(text, "[") {
		if err := json.Unmarshal([]byte(text), &items); err != nil {
			return "", nil, "the reply is not a JSON array of objects"
		}
	} else {
		var one map[string]json.RawMessage
		if err := json.Unmarshal([]byte(text), &one); err != nil {
			return "", nil, "the reply is not JSON"
		}
		items = append(items, one)
	}
	str := func(raw json.RawMessage) (string, bool) {
		var s string
		return s, raw != nil && json.Unmarshal(raw, &s) == nil
	}
	found := false
	for _, it := range items {
		role, _ := str(it["role"])
		content, hasContent := str(it["content"])
		switch {
		case role == "system" && hasContent, role == "" && it["system"] != nil:
			if !hasContent {
				content, hasContent = str(it["system"])
			}
			if hasContent && !found {
				system, found = content, true
			}
		case role == "developer" && hasContent, role == "" && it["developer"] != nil:
			if !hasContent {
				content, hasContent = str(it["developer"])
			}
			if hasContent {
				developer = append(developer, content)
			}
		}
	}
	if !found && len(developer) == 0 {
		return "", nil, "the reply has no system or developer message"
	}
	return system, developer, ""
}

// mergePrep puts the pre-stage's system text in the first system message
// (or a new one in front) and its developer messages before the first
// user message, after the ones there.
func mergePrep(msgs []openai.ChatCompletionMessage, system string, developer []string) []openai.ChatCompletionMessage {
	if system != "" {
		i := slices.IndexFunc(msgs, func(m openai.ChatCompletionMessage) bool { return m.Role == openai.ChatMessageRoleSystem })
		if i >= 0 {
			msgs[i].Content = system
		} else {
			msgs = append([]openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleSystem, Content: system}}, msgs...)
		}
	}
	if len(developer) == 0 {
		return msgs
	}
	add := make([]openai.ChatCompletionMessage, len(developer))
	for i, d := range developer {
		add[i] = openai.ChatCompletionMessage{Role: openai.ChatMessageRoleDeveloper, Content: d}
	}
	at := slices.IndexFunc(msgs, func(m openai.ChatCompletionMessage) bool { return m.Role == openai.ChatMessageRoleUser })
	if at < 0 {
		at = len(msgs)
	}
	return slices.Insert(msgs, at, add...)
}

// Limits of the built-in tools.
const (
	prepMaxRead    = 256 << 10
	prepMaxEntries = 1000
)

// builtin answers a pre-stage tool call with goagent's built-in tools,
// through the host so that it is audited. They read only in the host's
// workspace, never a path the floor protects (.env, .ssh, keys...), and
// results are redacted; env.get is refused: the environment holds the
// API key and other secrets.
func (opts *PrepOptions) builtin(ctx context.Context, call openai.ToolCall) (string, error) {
	name := call.Function.Name
	req := host.Request{Tool: name, Args: json.RawMessage(call.Function.Arguments), Caller: host.Caller{Frontend: "chat", Identity: "prep"}}
	switch {
	case name == "env.get":
		req.Refusal = protocol.Errorf(protocol.CodeDenied, "env.get is not served by agentcli: the environment holds secrets (the API key among them); goagent's pre-stage returns any variable")
		if opts.Warn != nil {
			fmt.Fprintln(opts.Warn, "warning: the pre-stage asked for an environment variable (env.get); agentcli refuses it, unlike goagent")
		}
	case slices.Contains(prepBuiltins, name):
		// Arguments and the floor are checked first: a call refused
		// there is audited as refused, with nothing served.
		p, perr := builtinPath(name, call.Function.Arguments)
		if perr != nil {
			req.Refusal = perr
			break
		}
		req.Builtin = func(context.Context) (json.RawMessage, *protocol.Error) {
			return opts.serveBuiltin(name, p)
		}
	default:
		req.Refusal = protocol.Errorf(protocol.CodeUnknownTool, "unknown tool: %s (the pre-stage offers %s)", name, strings.Join(prepBuiltins, ", "))
	}
	res, err := opts.Host.Call(ctx, req)
	if err != nil {
		return "", err
	}
	if !res.OK() {
		return string(res.Err.JSON()), nil
	}
	return string(res.Output), nil
}

// builtinPath checks a built-in call's arguments: the path of an fs.*
// call, relative, inside the workspace and not protected by the floor.
func builtinPath(name, rawArgs string) (string, *protocol.Error) {
	if name == "os.info" {
		return "", nil
	}
	var args struct {
		Path *string `json:"path"`
	}
	if strings.TrimSpace(rawArgs) == "" {
		rawArgs = "{}"
	}
	if json.Unmarshal([]byte(rawArgs), &args) != nil || args.Path == nil {
		return "", protocol.Errorf(protocol.CodeInvalidArgs, "invalid arguments: want {\"path\": \"a relative path\"}")
	}
	p := *args.Path
	if p == "" {
		p = "."
	}
	if filepath.IsAbs(p) || !filepath.IsLocal(p) {
		return "", protocol.Errorf(protocol.CodeInvalidArgs, "path %q: want a relative path inside the workspace, without ..", p)
	}
	if f := policy.ProtectedNames(p); f != nil {
		return "", protocol.Errorf(protocol.CodeDenied, "path %q is protected (floor:%s: %s)", p, f.ID, f.Reason)
	}
	return p, nil
}

// serveBuiltin serves a checked built-in call.
func (opts *PrepOptions) serveBuiltin(name, p string) (json.RawMessage, *protocol.Error) {
	if name == "os.info" {
		return mustJSON(map[string]string{"goos": runtime.GOOS, "goarch": runtime.GOARCH}), nil
	}
	// os.Root keeps every step in the workspace; within it, no step may
	// be a symbolic link, and no file have another name (a hard link):
	// either could be a protected file (.env) under a name the floor
	// does not know.
	root, err := os.OpenRoot(opts.Host.Workspace())
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeToolError, "workspace: %v", err)
	}
	defer root.Close()
	if perr := noLinks(root, p); perr != nil {
		return nil, perr
	}
	// No step is a link: the path as written is the path.
	if perr := opts.Host.BuiltinPath(filepath.Join(opts.Host.Workspace(), p)); perr != nil {
		return nil, perr
	}
	// Not blocking (a FIFO would wait for a writer forever), and not
	// following a link put in place since the check.
	f, err := root.OpenFile(p, os.O_RDONLY|openNoWait, 0)
	if err != nil {
		return nil, fsError(p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fsError(p, err)
	}
	if fi.Mode().IsRegular() && links(fi) > 1 {
		return nil, protocol.Errorf(protocol.CodeDenied, "path %q has %d names (hard links): the pre-stage's built-ins read only files with one", p, links(fi))
	}
	redact := opts.Host.Redact
	switch name {
	case "fs.stat":
		return mustJSON(map[string]any{"size": fi.Size(), "is_dir": fi.IsDir()}), nil
	case "fs.list_dir":
		if !fi.IsDir() {
			return nil, protocol.Errorf(protocol.CodeInvalidArgs, "path %q is not a folder", p)
		}
		list, err := f.ReadDir(-1)
		if err != nil {
			return nil, fsError(p, err)
		}
		type entry struct {
			Name string `json:"name"`
			Type string `json:"type"`
		}
		entries := []entry{}
		for _, e := range list {
			if policy.ProtectedNames(filepath.Join(p, e.Name())) != nil {
				continue
			}
			typ := "other"
			switch {
			case e.Type().IsRegular():
				typ = "file"
			case e.IsDir():
				typ = "dir"
			}
			entries = append(entries, entry{redact(e.Name()), typ})
		}
		slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.Name, b.Name) })
		return mustJSON(map[string]any{"entries": entries[:min(len(entries), prepMaxEntries)]}), nil
	default: // fs.read_file
		if !fi.Mode().IsRegular() {
			return nil, protocol.Errorf(protocol.CodeInvalidArgs, "path %q is not a regular file", p)
		}
		b, err := io.ReadAll(io.LimitReader(f, prepMaxRead))
		if err != nil {
			return nil, fsError(p, err)
		}
		return mustJSON(map[string]string{"content": redact(strings.ToValidUTF8(string(b), "\uFFFD"))}), nil
	}
}

// noLinks refuses a path of which a step is a symbolic link.
func noLinks(root *os.Root, p string) *protocol.Error {
	if p == "." {
		return nil
	}
	parts := strings.Split(filepath.ToSlash(p), "/")
	for i := range parts {
		step := strings.Join(parts[:i+1], "/")
		fi, err := root.Lstat(step)
		if err != nil {
			return fsError(p, err)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return protocol.Errorf(protocol.CodeDenied, "path %q goes through a symbolic link (%s): the pre-stage's built-ins follow none", p, step)
		}
	}
	return nil
}

func fsError(p string, err error) *protocol.Error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return protocol.Errorf(protocol.CodeToolError, "%s: %v", p, err)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
