"""Park threads at known stacks and report those stacks, as the interpreter sees them.

Every workload builds threads whose innermost Python frame is park(), then the main
thread calls report_and_park(): it waits until every worker sits in park(), writes the
stacks of all threads as JSON (sys._current_frames(): co_qualname, co_filename, f_lineno),
and parks itself. The report is the oracle spwalk's output is compared with.

The reporting thread cannot read its own parked stack with sys._current_frames(), so
report_and_park() describes it from its own frame: the report call and the park() call
share one line, so the line reported for that frame is the line it is parked on.
"""
import json
import os
import sys
import sysconfig
import threading
import time

# Held from the start and never released: acquire() blocks forever, in C, with the
# calling Python frame still on the thread's stack.
_LOCK = threading.Lock()
_LOCK.acquire()


def park():
    _LOCK.acquire()


# The line park() blocks on: the only statement of its body.
PARK_LINE = park.__code__.co_firstlineno + 1


def describe(frame):
    """Frames from `frame` outwards, innermost first."""
    out = []
    while frame is not None:
        code = frame.f_code
        out.append({"function": code.co_qualname, "file": code.co_filename,
                    "line": frame.f_lineno})
        frame = frame.f_back
    return out


def wait_parked(workers, timeout=60.0):
    """Until every worker's innermost frame is park() on PARK_LINE."""
    deadline = time.monotonic() + timeout
    while True:
        frames = sys._current_frames()
        if all(t.ident in frames and frames[t.ident].f_code is park.__code__
               and frames[t.ident].f_lineno == PARK_LINE for t in workers):
            return
        if time.monotonic() > deadline:
            raise SystemExit("workers did not park in time")
        time.sleep(0.005)


def _report(path, own_frame):
    me = threading.get_ident()
    natives = {t.ident: t.native_id for t in threading.enumerate()}
    names = {t.ident: t.name for t in threading.enumerate()}
    threads = []
    for ident, frame in sys._current_frames().items():
        if ident == me:
            continue
        threads.append({"thread_id": ident, "native_thread_id": natives.get(ident),
                        "name": names.get(ident), "frames": describe(frame)})
    # This thread, as it will be once parked: park() on top of the caller's frame.
    mine = [{"function": park.__code__.co_qualname, "file": park.__code__.co_filename,
             "line": PARK_LINE}] + describe(own_frame)
    threads.append({"thread_id": me, "native_thread_id": threading.get_native_id(),
                    "name": threading.current_thread().name, "frames": mine})
    report = {
        "python": {"version": ".".join(map(str, sys.version_info[:3])),
                   "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED"))},
        "threads": threads,
    }
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(report, f, ensure_ascii=False, indent=1)
    os.replace(tmp, path)


def report_and_park(path, workers):
    """Wait for the workers, report every stack to `path`, then park for good."""
    wait_parked(workers)
    _report(path, sys._getframe()); park()  # one line: see the module docstring


def start(targets):
    """Start one daemon thread per (function, args) and return them."""
    threads = [threading.Thread(target=f, args=a, daemon=True) for f, a in targets]
    for t in threads:
        t.start()
    return threads
