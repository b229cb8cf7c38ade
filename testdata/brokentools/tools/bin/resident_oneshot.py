#!/usr/bin/env python3
# bug: resident.mode: declared resident in the manifest, but it only runs one-shot (no go-plugin handshake)
import json, sys

from contract import fail, read_args

text = read_args()

print('{"ok":true}')
