#!/usr/bin/env python3
# bug: manifest.schema-type: its argument text has no type; the program is correct and takes any JSON value for text
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
# text may be any JSON value; maxLength applies only to a string
text = args.get("text", "")
if isinstance(text, str) and len(text) > 64:
    fail("text must be at most 64 characters long", "BAD_INPUT")

print('{"ok":true}')
