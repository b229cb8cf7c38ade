#!/usr/bin/env python3
# bug: output.escapes: succeeds with a string holding ANSI terminal escape sequences (ESC[31m)
import json, sys

from contract import fail, read_args

text = read_args()

print('{"text":"\\u001b[31mred\\u001b[0m"}')  # the bug: ESC (U+001B) in a string
