"""Profiling real workloads: functions and lines, threads, CPU-time accounting, stats."""
import os
import sys
import threading
import time

import pytest

import spprof
from conftest import check_identities, run_threads, spin
from spprof import _native


def hot_loop(cpu_seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < cpu_seconds:
        for i in range(20000):
            x += i * i  # HOT LINE
    return x


HOT_LINE = next(i for i, l in enumerate(open(__file__), 1) if l.rstrip().endswith("# HOT LINE"))


def test_basic_profile_finds_function_and_line(timer):
    spprof.start(interval_ms=1)
    hot_loop(0.4)
    p = spprof.stop()
    assert p.timer == timer
    assert p.total_samples > 0
    leaf = {}
    for r in p.stacks:
        if r.frames:
            leaf[r.frames[0]] = leaf.get(r.frames[0], 0) + r.count
    (top, n), = sorted(leaf.items(), key=lambda kv: -kv[1])[:1]
    assert top.function == "hot_loop" and top.file == __file__, top
    assert top.line == HOT_LINE, (top, HOT_LINE)
    # the caller is on the stack under it
    main = [r for r in p.stacks if r.frames and r.frames[0] == top][0]
    assert main.frames[1].function == "test_basic_profile_finds_function_and_line"
    assert main.thread_id == threading.get_ident()
    assert main.native_thread_id == threading.get_native_id()


def _make_worker(i, cpu, out):
    def body():
        out[i] = (threading.get_ident(), spin(cpu))
    body.__name__ = body.__qualname__ = f"worker_{i}"
    body.__code__ = body.__code__.replace(co_name=f"worker_{i}", co_qualname=f"worker_{i}")
    return body


@pytest.mark.parametrize("interval_ms,cpu", [(10, 0.6), (1, 0.4)])
def test_eight_threads_each_sampled_for_its_cpu_time(timer, interval_ms, cpu):
    out = {}
    spprof.start(interval_ms=interval_ms)
    run_threads([_make_worker(i, cpu, out) for i in range(8)])
    p = spprof.stop()
    check_identities(p.stats)
    by_thread = p.samples_by_thread()
    for i in range(8):
        ident, used = out[i]
        got = by_thread.get(ident, 0) * interval_ms / 1000
        assert abs(got - used) <= 0.10 * used, (i, got, used, p.stats)
        inner = {f.function for r in p.stacks if r.thread_id == ident for f in r.frames}
        assert f"worker_{i}" in inner, (i, inner, p.stats)
        others = {f"worker_{j}" for j in range(8) if j != i}
        assert not (inner & others), (i, inner)


def test_threads_existing_at_start_are_sampled(timer):
    go = threading.Event()
    out = {}

    def waiter(i):
        go.wait()
        out[i] = (threading.get_ident(), spin(0.3))

    ts = [threading.Thread(target=waiter, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    time.sleep(0.05)
    spprof.start(interval_ms=1)
    go.set()
    for t in ts:
        t.join()
    p = spprof.stop()
    by_thread = p.samples_by_thread()
    for i in range(3):
        ident, used = out[i]
        assert abs(by_thread.get(ident, 0) / 1000 - used) <= 0.10 * used, (i, by_thread, out)


def _profile_one(body, interval_ms):
    """One thread runs body(), which returns the CPU it used: (profile, its ident, CPU)."""
    out = {}

    def worker():
        out["w"] = (threading.get_ident(), body())

    spprof.start(interval_ms=interval_ms)
    run_threads([worker])
    p = spprof.stop()
    check_identities(p.stats)
    return (p, *out["w"])


@pytest.mark.parametrize("silence", [False, True])
def test_silent_posix_timer_is_set_again_and_its_time_counted(monkeypatch, silence):
    """Under competing load the kernel sometimes stops expiring a thread's POSIX CPU timer
    for the rest of the thread's life. Here the timer is stopped on purpose a third of the
    way in: the consumer must find it silent (the thread's CPU clock runs ahead of what its
    samples account for), set it again, and the next sample's weight must carry the time
    missed, so samples x interval stays the thread's CPU time."""
    monkeypatch.setenv("SPPROF_TIMER", "posix_cpu_timer")

    def worker():
        used = spin(0.1)
        if silence:
            _native._test_silence_timer()
        return used + spin(0.15)

    p, ident, used = _profile_one(worker, interval_ms=1)
    got = p.samples_by_thread().get(ident, 0) / 1000
    assert abs(got - used) <= 0.10 * used, (got, used, p.stats)
    if silence:
        assert p.stats["timer_rearms"] >= 1, p.stats


def test_a_timer_set_again_is_left_to_fire_on_a_thread_that_runs_slowly(monkeypatch):
    """A thread that runs less CPU between two of the consumer's rounds (20 ms) than one
    interval (what each of 10 busy threads on 2 cores gets) must be sampled again once its
    silent timer was set again. Setting it again every round while the samples had not
    caught up pushed its expiry back each time, and the thread went unsampled for the rest
    of its life, all its time <unsampled> (seen with 8 busy threads beside 2 CPU hogs)."""
    monkeypatch.setenv("SPPROF_TIMER", "posix_cpu_timer")

    def worker():
        used = spin(0.03)
        _native._test_silence_timer()
        end = time.monotonic() + 1.5
        while time.monotonic() < end:  # about 4 ms of CPU every 20 ms
            used += spin(0.002)
            time.sleep(0.008)
        return used

    p, ident, used = _profile_one(worker, interval_ms=10)
    mine = [r for r in p.stacks if r.thread_id == ident]
    stacks = sum(r.count for r in mine if any(f.function == "spin" for f in r.frames))
    unsampled = sum(r.count for r in mine if r.frames and r.frames[0].function == "<unsampled>")
    intervals = used / 0.01
    assert abs(stacks + unsampled - intervals) <= 0.1 * intervals + 2, (stacks, unsampled, used)
    # silent from 3 intervals in; found 45 ms of CPU later (SPP_STALL_NS + 2 intervals), set
    # again once, then sampled: about 25 of the 33 intervals have their stack
    assert stacks >= 0.5 * intervals, (stacks, unsampled, used, p.stats)
    assert 1 <= p.stats["timer_rearms"] <= 3, p.stats


def test_threads_started_while_profiling_are_sampled_from_their_start(timer):
    """A thread started while profiling is armed as it is born (an audit hook pokes the
    consumer, which otherwise scans only every 20 ms), so even short threads get samples
    for all of their CPU time. One thread at a time, so threading.get_ident() values are
    reused: threads are told apart by their native ids."""
    out = {}

    def worker(i):
        out[i] = (threading.get_native_id(), spin(0.05))

    spprof.start(interval_ms=1)
    for i in range(6):
        run_threads([lambda i=i: worker(i)])  # 50 ms of CPU each
    p = spprof.stop()
    check_identities(p.stats)
    by_tid = {}
    for r in p.stacks:
        by_tid[r.native_thread_id] = by_tid.get(r.native_thread_id, 0) + r.count
    assert len({tid for tid, _ in out.values()}) == 6, out
    for i in range(6):
        tid, used = out[i]
        got = by_tid.get(tid, 0) / 1000
        assert got >= 0.85 * used - 0.002, (i, got, used, p.stats)


def test_finished_threads_release_their_timer():
    spprof.start(interval_ms=5)
    run_threads([lambda: spin(0.05) for _ in range(6)])
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and spprof.stats()["threads_active"] > 1:
        time.sleep(0.01)
    st = spprof.stats()
    spprof.stop()
    assert st["threads_armed"] >= 7, st  # main + 6 workers
    assert st["threads_active"] == 1, st  # only the main thread is left


def _normal_workload(stop_at):
    import json

    def parse():
        return json.loads(json.dumps({"a": list(range(200)), "b": {"c": "d" * 50}}))

    def compute(n):
        return sum(i * i for i in range(n))

    def recurse(n):
        return compute(300) if n == 0 else recurse(n - 1)

    while time.monotonic() < stop_at:
        parse()
        recurse(30)
        sorted(range(2000), key=lambda v: -v)


def test_capture_ratio_and_identities(timer):
    spprof.start(interval_ms=1)
    stop_at = time.monotonic() + 1.0
    run_threads([lambda: _normal_workload(stop_at) for _ in range(4)])
    mid = spprof.stats()
    check_identities(mid)
    p = spprof.stop()
    st = p.stats
    check_identities(st)
    assert st == spprof.stats()  # stats() after stop() is the final count
    assert st["timer"] == timer and st["active"] is False
    assert st["timer_expirations"] > 500, st
    assert st["samples_captured"] / st["timer_expirations"] >= 0.99, st
    assert p.total_samples == st["samples_captured"]
    assert {f.function for r in p.stacks for f in r.frames} >= {"_normal_workload.<locals>.recurse",
                                                                 "_normal_workload.<locals>.compute"}


def test_fault_in_handler_walk_is_dropped_as_unreadable(timer):
    from spprof import _native
    spprof.start(interval_ms=1)
    try:
        _native._feed_crafted(True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and spprof.stats()["dropped_by_reason"]["unreadable"] < 5:
            spin(0.02)
    finally:
        _native._feed_crafted(False)
    spin(0.05)
    p = spprof.stop()
    st = p.stats
    check_identities(st)
    assert st["dropped_by_reason"]["unreadable"] >= 5, st
    assert st["samples_captured"] > 0, st


def test_errors():
    with pytest.raises(ValueError):
        spprof.start(interval_ms=0)
    with pytest.raises(ValueError):
        spprof.start(interval_ms=0.5)
    with pytest.raises(ValueError):
        spprof.start(interval_ms=-3)
    with pytest.raises(TypeError):
        spprof.start(interval_ms="10")
    with pytest.raises(RuntimeError):
        spprof.stop()
    spprof.start()
    try:
        with pytest.raises(RuntimeError):
            spprof.start()
        assert spprof.is_active()
    finally:
        spprof.stop()
    assert not spprof.is_active()
    with pytest.raises(RuntimeError):
        spprof.stop()


def test_unsupported_interpreter_is_refused_by_start():
    """start() on an interpreter spprof cannot handle raises RuntimeError naming the
    version, and leaves nothing running. _test_pretend makes the extension's layout check
    see another version or another debug-offsets blob."""
    real = sys.hexversion
    other = 0x030E07F0 if sys.version_info[:2] == (3, 13) else 0x030D05F0
    cases = [
        (0x030C07F0, None, r"does not support Python 3\.12 .*supported: 3\.13, 3\.14"),
        (0x030F00A1, None, r"does not support Python 3\.15"),
        (0x040000F0, None, r"does not support Python 4\.0"),
        (real, b"\0" * 64, r"cannot read the debug offsets of Python 3\.1[34]\.\d+ \(pretended\)"),
        # the real blob under the other supported version: refused by the layout parser
        # (3.14 blob read as 3.13: too short) or by the version check (3.13 blob as 3.14)
        (other, None, r"(cannot read the debug offsets of|_Py_DebugOffsets says version 0x%x "
                      r"but) Python 3\.1[34]\.\d+ \(pretended\)" % real),
        (real + 0x100, None, r"_Py_DebugOffsets says version 0x%x but Python" % real),
    ]
    try:
        for version, blob, pattern in cases:
            _native._test_pretend(version, blob)
            with pytest.raises(RuntimeError, match=pattern):
                spprof.start()
            assert not spprof.is_active()
    finally:
        _native._test_pretend()
    spprof.start()  # the real interpreter is still fine
    spprof.stop()


def test_foreign_sigprof_handler_is_refused():
    import signal
    old = signal.signal(signal.SIGPROF, lambda *a: None)
    try:
        with pytest.raises(RuntimeError, match="SIGPROF"):
            spprof.start()
        assert not spprof.is_active()
    finally:
        signal.signal(signal.SIGPROF, old)
    spprof.start()  # and works once it is gone
    spprof.stop()


def test_restarts_and_sigprof_restored():
    import signal
    for _ in range(5):
        spprof.start(interval_ms=1)
        spin(0.02)
        assert spprof.stop().total_samples > 0
    assert signal.getsignal(signal.SIGPROF) == signal.SIG_DFL
