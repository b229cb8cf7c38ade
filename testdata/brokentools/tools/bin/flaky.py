#!/usr/bin/env python3
# bug: run.flaky: counts its runs in .flaky-count in the workspace and fails (code FLAKY) on every second one
import json, sys

from contract import fail, read_args

text = read_args()

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
