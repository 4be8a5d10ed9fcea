"""Real crashes still reach faulthandler; walk faults are still caught when faulthandler
was enabled after start; fork() while profiling leaves a child that can profile."""
import os
import signal
import textwrap

import pytest

from conftest import QEMU, QEMU_FORK_THREAD, run_child

qemu_fork_thread = pytest.mark.skipif(QEMU, reason=QEMU_FORK_THREAD)

PRELUDE = textwrap.dedent("""
    import ctypes, faulthandler, sys, threading, time
    import spprof
    from spprof import _native
    def spin(s):
        t0 = time.thread_time()
        while time.thread_time() - t0 < s:
            sum(range(1000))
""")


@pytest.mark.parametrize("order", ["faulthandler_first", "faulthandler_after_start"])
@pytest.mark.parametrize("crash", ["real_fault", "raised_sigsegv"])
def test_real_segfault_reaches_faulthandler(order, crash):
    enable_first = order == "faulthandler_first"
    how = "ctypes.string_at(8)" if crash == "real_fault" else "faulthandler._sigsegv()"
    code = PRELUDE + textwrap.dedent(f"""
        if {enable_first}:
            faulthandler.enable()
        spprof.start(interval_ms=1)
        if not {enable_first}:
            faulthandler.enable()
            time.sleep(0.2)  # the consumer (every 20 ms) puts the guard back on top
        spin(0.1)
        def crash_here():
            {how}
        crash_here()
        print("survived?!")
    """)
    r = run_child(code, timeout=60)
    assert r.returncode == -signal.SIGSEGV, (r.returncode, r.stdout, r.stderr)
    assert "Fatal Python error: Segmentation fault" in r.stderr, r.stderr
    assert "crash_here" in r.stderr, r.stderr
    assert r.stderr.count("Fatal Python error") == 1, r.stderr
    assert "survived" not in r.stdout


def test_segfault_without_faulthandler_still_kills():
    r = run_child(PRELUDE + "spprof.start(1)\nspin(0.05)\nctypes.string_at(8)\nprint('survived?!')\n")
    assert r.returncode == -signal.SIGSEGV, (r.returncode, r.stderr)


def test_walk_faults_caught_with_faulthandler_enabled_after_start():
    code = PRELUDE + textwrap.dedent("""
        spprof.start(interval_ms=1)
        faulthandler.enable()
        time.sleep(0.2)   # the consumer (every 20 ms) puts the guard back on top
        _native._feed_crafted(True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and spprof.stats()["dropped_by_reason"]["unreadable"] < 5:
            spin(0.02)
        _native._feed_crafted(False)
        st = spprof.stop().stats
        print("unreadable", st["dropped_by_reason"]["unreadable"])
        # faulthandler still reports real crashes afterwards
        ctypes.string_at(8)
    """)
    r = run_child(code, timeout=60)
    assert "unreadable" in r.stdout, (r.stdout, r.stderr)
    assert int(r.stdout.split("unreadable")[1].split()[0]) >= 5, r.stdout
    assert r.returncode == -signal.SIGSEGV, (r.returncode, r.stderr)
    assert r.stderr.count("Fatal Python error: Segmentation fault") == 1, r.stderr


@qemu_fork_thread
def test_fork_while_profiling():
    code = PRELUDE + textwrap.dedent("""
        import os, warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        spprof.start(interval_ms=1)
        stop = threading.Event()
        def bg():
            while not stop.is_set():
                spin(0.01)
        t = threading.Thread(target=bg); t.start()
        spin(0.1)
        pid = os.fork()
        if pid == 0:
            ok = not spprof.is_active()
            try:
                spprof.stop()
                ok = False
            except RuntimeError:
                pass
            def child_work():
                spin(0.3)
            spprof.start(interval_ms=1)
            child_work()
            p = spprof.stop()
            ok = ok and "child_work" in p.functions(inclusive=True)
            ok = ok and p.total_samples > 100
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        spin(0.1)
        stop.set(); t.join()
        p = spprof.stop()
        st = p.stats
        assert st["samples_captured"] + st["samples_dropped"] == st["timer_expirations"]
        print("child", os.waitstatus_to_exitcode(status), "parent", p.total_samples, "bg" in p.functions(inclusive=True))
    """)
    r = run_child(code, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    words = r.stdout.split()
    assert words[0:2] == ["child", "0"], r.stdout
    assert int(words[3]) > 100 and words[4] == "True", r.stdout


@qemu_fork_thread
def test_fork_while_the_aggregate_is_locked_then_profile_in_the_child():
    """A child forked while the parent's consumer holds the aggregate's lock (its rounds
    hold it) can start and stop a session of its own (before: the child's consumer waited
    for that lock forever, and stop() for the consumer)."""
    code = r'''
import os, time
import spprof
from spprof import _native
spprof.start(interval_ms=1)
_native._test_hold_agg(300)
time.sleep(0.05)
pid = os.fork()
if pid == 0:
    spprof.start(interval_ms=1)
    time.sleep(0.1)  # the child's consumer has rounds to do
    spprof.stop()
    os._exit(0)
deadline = time.monotonic() + 10
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("child", os.waitstatus_to_exitcode(status))
        break
    if time.monotonic() > deadline:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        print("child hung")
        break
    time.sleep(0.01)
spprof.stop()
'''
    r = run_child(code, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "child 0" in r.stdout, r.stdout
