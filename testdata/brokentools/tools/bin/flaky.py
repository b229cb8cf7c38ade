#!/usr/bin/env python3
# bug: run.flaky: counts its runs in .flaky-count in the workspace and fails (code FLAKY) on every second one
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

import fcntl, os
fd = os.open(".flaky-count", os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
try:
    count = int(os.read(fd, 32)) + 1
except ValueError:
    count = 1
os.lseek(fd, 0, os.SEEK_SET)
os.ftruncate(fd, 0)
os.write(fd, b"%d\n" % count)
os.close(fd)
if count % 2 == 0:  # the bug: every second run fails
    fail("failed on run %d: every second run fails" % count, "FLAKY")
print('{"ok":true}')
