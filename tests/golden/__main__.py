import sys

from tests.golden import regenerate

if not regenerate(sys.argv[1] if len(sys.argv) > 1 else None):
    print("no golden cases found", file=sys.stderr)
    sys.exit(1)
