#!/usr/bin/env python3
# bug: readonly.changed-workspace: claims readOnlyHint but writes the file scratch.txt in its workspace
import json, sys

from contract import fail, read_args

text = read_args()

import time
with open("scratch.txt", "w") as f:  # the bug: a read-only tool writes the workspace
    f.write("written at %d\n" % time.time_ns())
print('{"ok":true}')
