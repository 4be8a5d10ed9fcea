"""Shared helpers for the spprof extension tests (run by `make python-test PYTHON=...`)."""
import os
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYDIR = os.path.join(ROOT, "python")

import spprof  # noqa: E402  (no silent fallback: a broken extension fails every test)
from spprof import _native  # noqa: E402

FREE_THREADED = bool(getattr(sys, "_is_gil_enabled", None)) and not sys._is_gil_enabled()


def spin(cpu_seconds):
    """Burn this thread's CPU in pure Python for about cpu_seconds; return the CPU used.
    time.thread_time() is a syscall, so it is called only every few thousand iterations."""
    t0 = time.thread_time()
    x = 0
    while True:
        for i in range(5000):
            x += i
        if time.thread_time() - t0 >= cpu_seconds:
            return time.thread_time() - t0


def _perf_allowed():
    old = os.environ.get("SPPROF_TIMER")
    os.environ["SPPROF_TIMER"] = "perf_event"
    try:
        spprof.start(10)
    except RuntimeError:
        return False
    finally:
        if old is None:
            os.environ.pop("SPPROF_TIMER", None)
        else:
            os.environ["SPPROF_TIMER"] = old
    spprof.stop()
    return True


PERF_ALLOWED = _perf_allowed()
TIMERS = ["posix_cpu_timer", "perf_event"]


@pytest.fixture(params=TIMERS)
def timer(request, monkeypatch):
    """Each timer source in turn; perf_event is skipped where the kernel refuses it."""
    if request.param == "perf_event" and not PERF_ALLOWED:
        pytest.skip("perf_event_open refused here (perf_event_paranoid / seccomp)")
    monkeypatch.setenv("SPPROF_TIMER", request.param)
    return request.param


@pytest.fixture(autouse=True)
def _never_leave_running():
    yield
    if spprof.is_active():
        spprof.stop()
        pytest.fail("test left the profiler running")


def run_child(code, timeout=120, env_extra=None):
    """Run python code in a fresh interpreter with the package importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = PYDIR + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=env)


def check_identities(st):
    """The stats identities the issue asks for."""
    reasons = st["dropped_by_reason"]
    assert set(reasons) == {"cycle", "invalid_frame", "invalid_code", "unreadable", "overflow",
                            "torn"}
    assert st["samples_captured"] + st["samples_dropped"] == st["timer_expirations"], st
    assert sum(reasons.values()) == st["samples_dropped"], st
    assert st["validation_drops"] == (reasons["cycle"] + reasons["invalid_frame"]
                                      + reasons["invalid_code"]), st


def run_threads(targets):
    ts = [threading.Thread(target=t, name=f"w{i}") for i, t in enumerate(targets)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def profile_of_threads(named, main_seconds=0.05, interval_ms=1):
    """A real profile: the threads of `named` ({thread name: function}) run while the main
    thread spins for `main_seconds`."""
    spprof.start(interval_ms=interval_ms)
    try:
        ts = [threading.Thread(target=fn, name=name) for name, fn in named.items()]
        for t in ts:
            t.start()
        spin(main_seconds)
        for t in ts:
            t.join()
    finally:
        p = spprof.stop()
    return p
