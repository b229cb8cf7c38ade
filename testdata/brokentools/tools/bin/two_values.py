#!/usr/bin/env python3
# bug: stdout.two-values: exits 0 and prints two JSON values, {"a":1} then {"b":2}
import json, sys

from contract import fail, read_args

text = read_args()

print('{"a":1}')
print('{"b":2}')  # the bug: a second value
