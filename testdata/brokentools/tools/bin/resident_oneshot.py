#!/usr/bin/env python3
# bug: resident.mode: declared resident in the manifest, but it only runs one-shot (no go-plugin handshake)
from contract import read_args

read_args()

print('{"ok":true}')
