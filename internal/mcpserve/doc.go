// Package mcpserve serves the host's vetted tools to MCP clients, over
// stdio and streamable HTTP, on mark3labs/mcp-go.
//
// tools/list offers every vetted tool with its input schema, its output
// schema when it declares one (an object schema, as MCP requires), its
// annotations and title. tools/call goes through Host.Call, so every call
// is contained, validated by the host (the library's optional validation,
// which skips schemas it cannot compile, is not used) and audited with
// frontend "mcp". A tool's failure, whatever its code, is a result with
// isError set and the error envelope as text, so the model can react; only
// protocol faults are JSON-RPC errors. A cancelled request
// (notifications/cancelled) kills the tool's processes at once, and a
// request with a progress token gets progress notifications while its tool
// runs.
package mcpserve
