#!/usr/bin/env python3
# bug: input.none-valid: its schema wants a code matching a pattern and gives no example, so no valid input can be made for it
import json, re, sys

from contract import fail

try:
    args = json.loads(sys.stdin.buffer.read())
except (ValueError, RecursionError):
    fail("arguments are not JSON", "BAD_INPUT")
code = args.get("code") if isinstance(args, dict) and set(args) <= {"code"} else None
if not isinstance(code, str) or not re.fullmatch(r"[A-Z]{3}-[0-9]{4}", code):
    fail("code must look like ABC-1234", "BAD_INPUT")
print('{"ok":true}')
