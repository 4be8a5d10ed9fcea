"""``python -m spprof``: the same as the ``spprof`` command."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
