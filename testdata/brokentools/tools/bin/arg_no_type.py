#!/usr/bin/env python3
# bug: manifest.schema-type: its argument text has no type; the program is correct and takes any JSON value for text
import json, sys

from contract import fail, read_args

text = read_args(any_text=True)  # any JSON value: the schema gives it no type

print('{"ok":true}')
