#!/usr/bin/env python3
# bug: limit.memory: three processes of 48 MiB each, together past the call's 96 MiB bound
import json, os, sys, time

from contract import fail, read_args

text = read_args()

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
