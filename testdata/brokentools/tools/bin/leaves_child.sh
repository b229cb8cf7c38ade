#!/bin/sh
# bug: process.leftover: reads its input, starts sleep 300 in the background, answers and exits 0
# Read all of stdin and check it (contract.py, beside this script).
python3 "$(dirname "$0")/contract.py" || exit 1
sleep 300 </dev/null >/dev/null 2>&1 &  # the bug: a child left running
printf '%s\n' '{"ok":true}'
