#!/bin/sh
# bug: stdout.invalid-utf8: exits 0 and prints a JSON object whose string holds the raw byte 0xFF
# Read all of stdin and check it (contract.py, beside this script).
python3 "$(dirname "$0")/contract.py" || exit 1
printf '{"a":"\377"}\n'  # the bug: byte 0xFF is not UTF-8
