#!/usr/bin/env python3
# bug: output.over-cap: has maxOutputBytes 1024 and prints a valid JSON object of about 4000 bytes
import json, sys

from contract import fail, read_args

text = read_args()

print('{"text":"%s"}' % ('x' * 4000))  # the bug: 4012 bytes with the newline, cap 1024
