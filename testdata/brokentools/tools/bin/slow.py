#!/usr/bin/env python3
# bug: timeout: has a 1 second timeout, reads its input, then sleeps 30 seconds before answering
import json, sys

from contract import fail, read_args

text = read_args()

import time
time.sleep(30)  # the bug: far past timeoutSec 1
print('{"ok":true}')
