#!/usr/bin/env python3
# bug: failure.no-envelope: logs a line to stderr, then dies of an uncaught exception (a traceback, exit 1, no envelope)
import json, sys

from contract import fail, read_args

text = read_args()

print("no_envelope: starting work", file=sys.stderr)
raise RuntimeError("something went wrong")  # the bug: a traceback, no envelope
