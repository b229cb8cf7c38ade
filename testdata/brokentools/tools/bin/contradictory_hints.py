#!/usr/bin/env python3
# bug: manifest.annotations: claims both readOnlyHint and destructiveHint; the program is correct and changes nothing
import json, sys

from contract import fail, read_args

text = read_args()

print('{"ok":true}')
