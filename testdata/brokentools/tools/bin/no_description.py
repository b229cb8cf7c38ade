#!/usr/bin/env python3
# bug: manifest.description: has no description in the manifest; the program is correct
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

print('{"ok":true}')
