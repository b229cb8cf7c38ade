#!/usr/bin/env python3
# bug: input.invalid-accepted: requires a string name but ignores its input and always succeeds, even for {}, {"name":5} or []
import json, sys

sys.stdin.buffer.read()  # read all of the input, then ignore it: the bug (name is required)
print('{"ok":true}')
