#!/usr/bin/env python3
# bug: failure.stdout: prints a partial result {"partial":true} on stdout, then fails properly (envelope on stderr, exit 1)
import json, sys

from contract import fail, read_args

text = read_args()

print('{"partial":true}')  # the bug: output on stdout from a failing call
sys.stdout.flush()
fail("could not finish the work", "INCOMPLETE")
