#!/usr/bin/env python3
# bug: manifest.description: has no description in the manifest; the program is correct
import json, sys

from contract import fail, read_args

text = read_args()

print('{"ok":true}')
