#!/usr/bin/env python3
# bug: failure.bad-code: fails with the envelope code TIMEOUT, which is reserved for the host
import json, sys

from contract import fail, read_args

text = read_args()

fail("took too long", "TIMEOUT")  # the bug: TIMEOUT is the host's code
