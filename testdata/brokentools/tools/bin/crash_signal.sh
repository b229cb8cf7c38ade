#!/bin/sh
# bug: crash.signal: reads its input, then dies of SIGSEGV (a real fault: it reads address 0)
# Read all of stdin and check it (contract.py, beside this script).
python3 "$(dirname "$0")/contract.py" || exit 1
ulimit -c 0  # no core file in the workspace
# the bug. Not kill -SEGV $$: under agentcli the tool is PID 1 of a pid namespace of its own,
# which ignores the signals it sends itself. A real fault ends even PID 1: python3 replaces
# this shell (same pid) and reads address 0.
exec python3 -c 'import ctypes; ctypes.string_at(0)'
