// Package workspace confines the toolbelt's file access to the workspace:
// the folder the host starts every tool in.
//
// Every name a tool receives from a model goes through [Clean] first: it
// must be a non-empty relative path without NUL bytes, not absolute in any
// operating system's form (/x, \x, C:\x, C:x, \\server\share), and must not
// climb out with "..". Everything that passes is then opened through an
// [os.Root] on the workspace, which resolves each path component itself and
// refuses symbolic links that lead outside, without the race between a
// check and a later open. Absolute symbolic links are refused even when
// they point back inside, because os.Root never follows them.
//
// Failures are *Error values carrying a stable code (BAD_PATH, NOT_FOUND,
// ...). An *Error converts itself to a *protocol.Error through errors.As,
// so a tool can return it, or wrap it with %w, and the host sees the code.
package workspace
