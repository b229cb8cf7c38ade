#!/usr/bin/env python3
# bug: failure.envelope-on-stdout: prints its error envelope on stdout (not stderr) and exits 1
import json, sys

from contract import fail, read_args

text = read_args()

print('{"error":"no such thing","code":"NOT_FOUND"}')  # the bug: on stdout
sys.exit(1)
