#!/usr/bin/env python3
# bug: failure.exit-zero: prints its error envelope on stderr but exits 0
import json, sys

from contract import fail, read_args

text = read_args()

print('{"error":"no such thing","code":"NOT_FOUND"}', file=sys.stderr)
sys.exit(0)  # the bug: a failure must exit non-zero
