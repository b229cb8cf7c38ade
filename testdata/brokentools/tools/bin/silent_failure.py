#!/usr/bin/env python3
# bug: failure.silent: exits 1 with nothing on stdout or stderr
import json, sys

from contract import fail, read_args

text = read_args()

sys.exit(1)  # the bug: no envelope, no message
