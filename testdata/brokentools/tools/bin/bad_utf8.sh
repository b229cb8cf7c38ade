#!/bin/sh
# bug: stdout.invalid-utf8: exits 0 and prints a JSON object whose string holds the raw byte 0xFF
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
printf '{"a":"\377"}\n'  # the bug: byte 0xFF is not UTF-8
