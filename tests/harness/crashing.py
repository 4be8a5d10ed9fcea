"""Crash inside a walk of this thread's own frames; report the stack at the crash first.

    python crashing.py REPORT abort|segv

walk() follows frame.f_back from its caller outwards and calls visit() on each frame;
visit() crashes on the third one: SIGABRT (os.abort()) or SIGSEGV (a read of address 8
through ctypes). Just before, it writes the stack it is about to crash with, as the
interpreter describes it (parking.describe), to REPORT. The report and the crash share
one line, so the line reported for visit()'s frame is the line it crashes on.
"""
import ctypes
import json
import os
import sys
import sysconfig

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "workloads"))
import parking  # noqa: E402


def report(path):
    frame = sys._getframe(1)  # visit()'s frame, at the line calling report()
    doc = {"python": {"version": ".".join(map(str, sys.version_info[:3])),
                      "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED"))},
           "threads": [{"thread_id": None, "native_thread_id": None,
                        "frames": parking.describe(frame)}]}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)


def visit(frame, depth, path, how):
    if depth == 3:
        if how == "abort":
            report(path); os.abort()  # noqa: E702  (one line: the oracle's line)
        else:
            report(path); ctypes.c_char.from_address(8).value  # noqa: E702


def walk(path, how):
    frame, depth = sys._getframe(1), 0
    while frame is not None:
        visit(frame, depth, path, how)
        frame, depth = frame.f_back, depth + 1


def nest(n, path, how):
    if n:
        nest(n - 1, path, how)
    else:
        walk(path, how)


if __name__ == "__main__":
    nest(5, sys.argv[1], sys.argv[2])
