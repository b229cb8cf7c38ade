#!/usr/bin/env python3
# bug: output.escapes: succeeds with a string holding ANSI terminal escape sequences (ESC[31m)
import json, sys


def fail(message, code):
    print(json.dumps({"error": message, "code": code}, separators=(",", ":")), file=sys.stderr)
    sys.exit(1)


try:
    args = json.loads(sys.stdin.buffer.read())
except (ValueError, RecursionError):
    fail("arguments are not JSON", "BAD_INPUT")
if not isinstance(args, dict) or not set(args) <= {"text"}:
    fail("arguments must be an object with no key but text", "BAD_INPUT")
text = args.get("text", "")
if not isinstance(text, str) or len(text) > 64:
    fail("text must be a string of at most 64 characters", "BAD_INPUT")

print('{"text":"\\u001b[31mred\\u001b[0m"}')  # the bug: ESC (U+001B) in a string
