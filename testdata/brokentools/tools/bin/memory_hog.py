#!/usr/bin/env python3
# bug: limit.memory: three processes of 48 MiB each, together past the call's 96 MiB bound
import json, os, sys, time


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

kids = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        block = b"x" * (48 << 20)  # each stays under the per-process limit
        time.sleep(0.5)
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
print('{"ok":true}')
