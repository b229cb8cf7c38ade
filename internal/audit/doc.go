// Package audit writes and verifies the audit log: one JSON line per tool
// call, whatever its outcome, chained by SHA-256.
//
// Each line carries "prev", the hash of the line before it (64 zeros for the
// first), and "hash", the SHA-256 of the line itself with its hash member
// removed: the bytes up to `,"hash":` followed by `}`. Editing, deleting,
// inserting or reordering any line breaks the chain at that line, and
// Verify names it. Cutting lines off the end leaves a valid shorter chain;
// Verify reports the head (last hash) so that it can be recorded elsewhere
// and checked later with VerifyOptions.Head.
//
// The log never holds argument values or environment values: arguments are
// recorded as their SHA-256, the environment as the names passed, and argv
// and messages are redacted by the host before they get here.
//
// Several processes may append to one file: every append takes an exclusive
// lock on it and continues the chain from the file's real last line.
package audit
