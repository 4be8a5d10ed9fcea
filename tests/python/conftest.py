"""Shared helpers for the spprof extension tests (run by `make python-test PYTHON=...`)."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYDIR = os.path.join(ROOT, "python")

import spprof  # noqa: E402  (no silent fallback: a broken extension fails every test)
from spprof import _native  # noqa: E402

# A suite started in the background by a non-interactive shell (`cmd &`) inherits SIGINT
# ignored, and so would every program it runs, which Ctrl-C then leaves running (as it does
# `python script.py` so started): the Ctrl-C tests need it delivered. A handler, unlike an
# ignore, is reset to the default by exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

FREE_THREADED = bool(getattr(sys, "_is_gil_enabled", None)) and not sys._is_gil_enabled()


#: The suite runs under qemu-aarch64 user-mode emulation (ci/qemu-python.sh sets it): the
#: aarch64 python3.13t, cross-built by ci/bootstrap.sh, on this x86-64 machine.
QEMU = os.environ.get("SPPROF_QEMU") == "1"
#: spin()'s step between two reads of the CPU clock: 5000 iterations take about 0.1 ms
#: natively but about 2 ms emulated, which made spin(0.004) last 6 ms under qemu.
SPIN_STEP = 500 if QEMU else 5000


def spin(cpu_seconds):
    """Burn this thread's CPU in pure Python for about cpu_seconds; return the CPU used.
    time.thread_time() is a syscall, so it is called only every few thousand iterations."""
    t0 = time.thread_time()
    x = 0
    while True:
        for i in range(SPIN_STEP):
            x += i
        if time.thread_time() - t0 >= cpu_seconds:
            return time.thread_time() - t0


#: What qemu-user (Debian 12's 7.2) cannot do, for the skip reasons of the tests that need it.
#: Each was reproduced without spprof (docs/live-shim.md, "ARM64 under qemu-aarch64").
QEMU_NO_PERF = ("qemu-user does not implement perf_event_open: it fails with ENOSYS, so the "
                "perf_event engine cannot start (the POSIX CPU timers are what runs under qemu)")
QEMU_FORK_THREAD = ("qemu-user 7.2 aborts a forked child of a multi-threaded guest when the "
                    "child starts a thread (qemu_plugin_vcpu_init_hook: assertion failed), "
                    "with or without spprof: a 6-line Python program does it")
#: qemu-user keeps at most 32 host POSIX timers per process (timer_create's 33rd fails with
#: EAGAIN; natively this machine gives thousands): threads beyond 32 are unsampled, counted.
QEMU_TIMER_MAX = 32
QEMU_TIMERS = (f"qemu-user allows {QEMU_TIMER_MAX} POSIX timers per process (the next "
               "timer_create fails with EAGAIN), so only that many threads can be sampled; "
               "the others are counted as unsampled")
#: No binfmt_misc registration here: the host cannot exec an aarch64 binary itself.
QEMU_NO_EXEC = ("under qemu-user without binfmt_misc the host cannot exec an aarch64 "
                "binary: a venv's bin/python (a link to the aarch64 interpreter), the "
                "installed spwalk and the entry-point scripts cannot run")


def _perf_allowed():
    """None if the perf_event engine starts here, else why not (the skip reason)."""
    old = os.environ.get("SPPROF_TIMER")
    os.environ["SPPROF_TIMER"] = "perf_event"
    try:
        spprof.start(10)
    except RuntimeError as e:
        return (f"{QEMU_NO_PERF} ({e})" if QEMU else
                f"perf_event_open refused here (perf_event_paranoid / seccomp): {e}")
    finally:
        if old is None:
            os.environ.pop("SPPROF_TIMER", None)
        else:
            os.environ["SPPROF_TIMER"] = old
    spprof.stop()
    return None


#: Why the perf_event engine cannot run here (a skip reason), or None where it can.
PERF_REFUSED = _perf_allowed()
PERF_ALLOWED = PERF_REFUSED is None
TIMERS = ["posix_cpu_timer", "perf_event"]


@pytest.fixture(params=TIMERS)
def timer(request, monkeypatch):
    """Each timer source in turn; perf_event is skipped where the kernel refuses it."""
    if request.param == "perf_event" and not PERF_ALLOWED:
        pytest.skip(PERF_REFUSED)
    monkeypatch.setenv("SPPROF_TIMER", request.param)
    return request.param


#: How long the threads a test started may take to end once it is over (qemu is slow).
THREADS_END_S = 30


@pytest.fixture(autouse=True)
def _never_leave_running():
    """Neither the profiler nor a thread outlives the test that started it: a thread still
    ending when the next test starts would be sampled by it, and the wall tests count every
    thread's records."""
    before = set(threading.enumerate())
    yield
    if spprof.is_active():
        spprof.stop()
        pytest.fail("test left the profiler running")
    deadline = time.monotonic() + THREADS_END_S
    # a dummy thread (one not started by threading) cannot be joined
    left = [t for t in threading.enumerate()
            if t not in before and not isinstance(t, threading._DummyThread)]
    for t in left:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in left if t.is_alive()]
    if alive:
        pytest.fail(f"test left {len(alive)} threads running: {alive[:10]}")


@pytest.fixture
def reap():
    """reap(pid): the process is killed when the test ends, if it still runs. A test that
    fails midway (a program that did not end when told) then cannot leave a busy program
    loading every test after it. Returns the pid."""
    pids = []
    yield lambda pid: pids.append(pid) or pid
    for pid in pids:
        try:  # a child not yet waited for (so the pid cannot be another process's by now)
            if os.waitpid(pid, os.WNOHANG) == (0, 0):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        except ChildProcessError:
            pass  # waited for already: it ended


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
