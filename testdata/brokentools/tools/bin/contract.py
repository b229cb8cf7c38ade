"""What every broken tool here does right, so that it shows its one bug
and nothing else: it reads all of its input, checks its arguments and
fails properly on bad ones. Not a tool: the tools import it (Python finds
it beside them)."""
import json
import sys


def fail(message, code):
    """Fails as the contract says: the envelope, last on stderr, exit 1."""
    print(json.dumps({"error": message, "code": code}, separators=(",", ":")), file=sys.stderr)
    sys.exit(1)


def read_args(any_text=False):
    """Reads the arguments, an object with at most the key "text", a
    string of at most 64 characters (any JSON value when any_text), and
    returns text; bad arguments fail with BAD_INPUT."""
    try:
        args = json.loads(sys.stdin.buffer.read())
    except (ValueError, RecursionError):
        fail("arguments are not JSON", "BAD_INPUT")
    if not isinstance(args, dict) or not set(args) <= {"text"}:
        fail("arguments must be an object with no key but text", "BAD_INPUT")
    text = args.get("text", "")
    if any_text:
        if isinstance(text, str) and len(text) > 64:
            fail("text must be at most 64 characters long", "BAD_INPUT")
    elif not isinstance(text, str) or len(text) > 64:
        fail("text must be a string of at most 64 characters", "BAD_INPUT")
    return text


if __name__ == "__main__":
    # For the shell tools: python3 contract.py reads and checks their input.
    read_args()
