#!/usr/bin/env python3
# bug: timeout: has a 1 second timeout, reads its input, then sleeps 30 seconds before answering
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

import time
time.sleep(30)  # the bug: far past timeoutSec 1
print('{"ok":true}')
