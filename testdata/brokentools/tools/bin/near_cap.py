#!/usr/bin/env python3
# bug: output.near-cap: has maxOutputBytes 1024 and prints a valid JSON object of 952 bytes (newline included)
import json, sys

from contract import fail, read_args

text = read_args()

print('{"text":"%s"}' % ('x' * 940))  # the bug: 952 bytes with the newline, close to the cap of 1024
