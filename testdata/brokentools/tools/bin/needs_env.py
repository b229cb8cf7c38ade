#!/usr/bin/env python3
# bug: env.missing: needs API_TOKEN, which is not in its envPassthrough, and fails with NO_TOKEN without it
import json, sys

from contract import fail, read_args

text = read_args()

import os
if not os.environ.get("API_TOKEN"):  # the bug: API_TOKEN is not passed through
    fail("API_TOKEN is not set", "NO_TOKEN")
print('{"ok":true}')
