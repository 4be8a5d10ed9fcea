"""The ``spwalk`` console command of an installed spprof: it becomes the spwalk binary that
``pip install`` built into the package (spprof/_bin/spwalk), with the same arguments, so
the exit status is the binary's own (docs/spwalk.md). In a clone, the binary is
build/bin/spwalk (``make build/bin/spwalk``)."""
import os
import sys

BINARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bin", "spwalk")


def main() -> int:
    try:
        # exec, not a child process: signals, the terminal and the exit status stay the
        # binary's, and no Python interpreter lingers beside a tool that stops processes.
        os.execv(BINARY, [sys.argv[0]] + sys.argv[1:])
    except OSError as e:
        sys.stderr.write(f"spwalk: cannot run the bundled binary {BINARY}: {e.strerror}; "
                         f"reinstall spprof (pip builds spwalk with the extension)\n")
    return 127


if __name__ == "__main__":
    sys.exit(main())
