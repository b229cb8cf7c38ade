// Package chat is the agent loop against an OpenAI-compatible
// chat-completions endpoint: it offers the host's vetted tools as
// functions, runs every tool call the model asks for through Host.Call,
// feeds the results back, and repeats until the model answers or a step
// limit is reached.
//
// Tool calls of one step run concurrently, bounded, and each tool_call_id
// gets exactly one tool message, in the order the model asked for them. A
// tool's failure, an unknown tool or bad arguments become a tool message
// carrying the error envelope {"error":"...","code":"..."}, so the model
// can react. Transport is the HTTP layer: retries with jittered backoff
// that honours Retry-After, a bound on every wait for the server, and
// redacted request and response dumps.
package chat
