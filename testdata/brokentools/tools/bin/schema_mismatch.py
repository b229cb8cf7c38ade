#!/usr/bin/env python3
# bug: output.schema: prints {"count":"three"} where the output schema wants an integer
import json, sys

from contract import fail, read_args

text = read_args()

print('{"count":"three"}')  # the bug: count must be an integer
