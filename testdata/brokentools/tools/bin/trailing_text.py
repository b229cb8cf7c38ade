#!/usr/bin/env python3
# bug: stdout.trailing-text: exits 0 and prints {"a":1} followed by the word done
import json, sys

from contract import fail, read_args

text = read_args()

print('{"a":1} done')  # the bug: text after the value
