#!/usr/bin/env python3
# bug: stderr.flood: writes 200 KiB of log lines to stderr, then succeeds
import json, sys

from contract import fail, read_args

text = read_args()

# the bug: 3200 lines of 64 bytes, 200 KiB
sys.stderr.write("".join("log line %05d: %s\n" % (i, "x" * 47) for i in range(3200)))
sys.stderr.flush()
print('{"ok":true}')
