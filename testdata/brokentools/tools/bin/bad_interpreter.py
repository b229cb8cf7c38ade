#!/nonexistent/bin/python3
# bug: launch.failed: its interpreter does not exist, so it can never start
print("{}")
