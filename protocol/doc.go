// Package protocol is the wire contract between the host and a tool.
//
// A tool is a program run as an argv vector, never through a shell. The host
// writes the call's arguments to the tool's standard input as one JSON object
// followed by end of file (an empty argument set is "{}"). The tool answers in
// one of two ways:
//
//   - success: exit status 0 and exactly one JSON value on standard output;
//     trailing white space is allowed, anything else is a protocol error;
//   - failure: a non-zero exit status and, on standard error, one line holding
//     the error envelope {"error":"message","code":"CODE"} (code optional).
//     Standard error that is not an envelope becomes the message.
//
// The host reports its own failures with the same envelope and a stable code
// from the Code constants. Tool authors call [Main] and write only the
// function that does the work.
package protocol
