// Package host runs tool calls: Host.Call is the one path every call takes,
// whatever the frontend (CLI, agent loop, MCP server).
//
// A call is looked up in the vetted manifest, its arguments are checked
// against the tool's input schema, and the tool is launched by the sandbox
// with the host-chosen PATH and HOME plus only the variables the manifest
// passes through, in the workspace folder. The tool receives the arguments
// exactly as validated (re-encoded, so a parser that reads duplicate keys
// differently cannot see other values). Its output must be one JSON value
// matching the declared output schema. Strings in results and error
// messages are stripped of ANSI escapes and control characters, and secret
// values are redacted from results, errors, logs and the audit log. Every
// call, whatever its outcome, is recorded in the audit log.
//
// The package is internal: embedding the host in another Go program is not
// a goal yet, and its API changes as agentcli needs. Programs reach the
// host through agentcli's command line or MCP; tools through the tool
// contract (package protocol).
package host
