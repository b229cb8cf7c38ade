#!/usr/bin/env python3
# bug: stdout.not-json: exits 0 and prints hello world, which is not JSON
import json, sys

from contract import fail, read_args

text = read_args()

print("hello world")  # the bug
