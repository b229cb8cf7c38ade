#!/bin/sh
# bug: crash.signal: reads its input, then dies of SIGSEGV (a real fault: it reads address 0)
# Read all of stdin and check it: an object with at most a string "text" of 64 characters.
python3 -c '
import json, sys
a = json.loads(sys.stdin.buffer.read())
t = a.get("text", "") if isinstance(a, dict) and set(a) <= {"text"} else None
sys.exit(0 if isinstance(t, str) and len(t) <= 64 else 1)
' 2>/dev/null || {
	printf '%s\n' '{"error":"arguments must be an object with an optional string text of at most 64 characters","code":"BAD_INPUT"}' >&2
	exit 1
}
ulimit -c 0  # no core file in the workspace
# the bug. Not kill -SEGV $$: under agentcli the tool is PID 1 of a pid namespace of its own,
# which ignores the signals it sends itself. A real fault ends even PID 1: python3 replaces
# this shell (same pid) and reads address 0.
exec python3 -c 'import ctypes; ctypes.string_at(0)'
