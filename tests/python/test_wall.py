"""The sampler thread (python/src/sampler.c): wall-clock profiles, its CPU mode, idle
threads reused without a walk, and the torn-stack oracle."""
import os
import threading
import time

import pytest

import spprof
from conftest import run_threads, spin
from spprof import _native


def _leaf_names(p, thread_name):
    out = {}
    for r in p.stacks:
        if r.thread_name == thread_name and r.frames:
            key = tuple(f.function for f in r.frames[:2])
            out[key] = out.get(key, 0) + r.count
    return out


def test_sleeping_threads_appear_in_wall_mode_only():
    def sleeper():
        time.sleep(1.0)

    spprof.start(interval_ms=10, mode="wall")
    lives = Lives()
    lives.run([lives.thread(f"sleeper-{i}", sleeper) for i in range(3)])
    p = spprof.stop()
    assert p.mode == "wall" and p.stats["timer"] == "sampler" and p.stats["mode"] == "wall"
    by = lives.check(p, 0.01, ticks=0)  # 1 s at 10 ms: 100 ticks, +-10 %
    for i in range(3):
        n = by.get(f"sleeper-{i}", 0)
        leaves = _leaf_names(p, f"sleeper-{i}")
        # (a tick before the thread's first frame is a lone <idle>: k[-1], not k[1])
        idle = sum(c for k, c in leaves.items() if k[0] == "<idle>" and k[-1].endswith("sleeper"))
        assert idle >= 0.9 * n, leaves  # waiting, not running, in sleeper()
    # idle samples can be left out
    v = p.view(idle=False)
    assert v.total <= p.total_samples - 250
    # the same threads under CPU sampling: next to nothing
    spprof.start(interval_ms=10)
    Lives().run([threading.Thread(target=sleeper, name=f"cpu-sleeper-{i}") for i in range(3)])
    q = spprof.stop()
    assert sum(n for t, n in q.samples_by_thread().items()
               if t.name.startswith("cpu-sleeper")) <= 3


def test_threads_blocked_on_a_lock_or_a_queue_get_their_wall_time():
    """Waiting on a lock or a queue (not only time.sleep): each thread's samples are its
    lifetime in ticks within 10 %, most of them <idle> in the waiting function."""
    import queue
    lock, q, lives = threading.Lock(), queue.Queue(), Lives()
    lock.acquire()

    def lock_waiter():
        with lock:
            pass

    def queue_waiter():
        q.get()

    spprof.start(interval_ms=10, mode="wall")
    ts = [lives.thread("lock-waiter", lock_waiter), lives.thread("queue-waiter", queue_waiter)]
    lives.start(ts)
    time.sleep(1.0)
    lock.release()
    q.put(None)
    lives.join(ts)
    p = spprof.stop()
    by = lives.check(p, 0.01, ticks=2)
    for name, fn in (("lock-waiter", "lock_waiter"), ("queue-waiter", "Queue.get")):
        idle = sum(r.count for r in p.stacks if r.thread_name == name and r.frames and
                   r.frames[0].function == "<idle>" and
                   any(f.function.endswith(fn) for f in r.frames))
        assert idle >= 0.8 * by[name], (name, idle, by)  # (a late tick can weigh many)


class Lives:
    """Each thread's life measured twice: inside its target, which it is sampled for at the
    least, and from start() to the return of join(), which it is sampled within at the most
    (it is armed at birth and sampled up to its end: on a loaded machine its start and end
    can take many ticks outside the target). A wall profile holds the thread to both."""

    def __init__(self):
        self.inner, self.outer = {}, {}

    def thread(self, name, body):
        def run():
            t0 = time.monotonic()
            body()
            self.inner[name] = time.monotonic() - t0
        return threading.Thread(target=run, name=name)

    def start(self, ts):
        for t in ts:
            self.outer[t.name] = -time.monotonic()
            t.start()

    def join(self, ts):
        for t in ts:
            t.join()
            self.outer[t.name] += time.monotonic()

    def run(self, ts):
        self.start(ts)
        self.join(ts)

    def check(self, p, interval_s, within=0.1, ticks=3):
        """Each thread's samples: its life in ticks, within `within` and `ticks` more."""
        by = {t.name: n for t, n in p.samples_by_thread().items()}
        for name in self.outer:
            lo = (1 - within) * self.inner[name] / interval_s - ticks
            hi = (1 + within) * self.outer[name] / interval_s + ticks
            assert lo <= by.get(name, 0) <= hi, (name, by.get(name), lo, hi, by)
        return by


def test_wall_mode_counts_busy_threads_by_elapsed_time():
    spprof.start(interval_ms=5, mode="wall")
    lives = Lives()
    lives.run([lives.thread(f"busy-{i}", lambda: spin(0.3)) for i in range(2)])
    p = spprof.stop()
    st = p.stats
    assert st["samples_captured"] + st["samples_dropped"] == st["timer_expirations"]
    lives.check(p, 0.005, within=0.2)  # one sample per 5 ms of the thread's life


def test_sampler_engine_in_cpu_mode_weighs_by_cpu_time():
    cpu = {}

    def make(i):
        def body():
            cpu[i] = spin(0.4)
        return body

    spprof.start(interval_ms=1, engine="sampler")
    run_threads([make(i) for i in range(4)])
    p = spprof.stop()
    assert p.mode == "cpu" and p.stats["timer"] == "sampler"
    per = sorted(n for t, n in p.samples_by_thread().items() if t.name != "MainThread")
    want = sorted(round(c * 1000) for c in cpu.values())
    assert len(per) == 4
    for got, exp in zip(per, want):
        assert abs(got - exp) <= 0.1 * exp + 5, (per, want)


def test_idle_threads_reuse_their_last_stack():
    stop = threading.Event()
    ts = [threading.Thread(target=stop.wait, name=f"idle-{i}", daemon=True) for i in range(200)]
    for t in ts:
        t.start()
    try:
        spprof.start(interval_ms=10, mode="wall")
        time.sleep(0.6)
        p = spprof.stop()
    finally:
        stop.set()  # the conftest guard joins the threads before the next test
    st = p.stats
    idle = sum(n for t, n in p.samples_by_thread().items() if t.name.startswith("idle-"))
    assert idle >= 200 * 40, idle
    # all but each thread's first sample (and a few taken as it went to sleep) reuse
    assert st["samples_reused"] >= 0.9 * idle, st
    # reused ticks are published a few at a time (250 ms of them), not one record a tick
    assert st["records"] <= 0.2 * idle, st
    per_tick_us = st["sampler_cpu_ns"] / max(1, st["sampler_ticks"]) / 1000
    print(f"sampler: {per_tick_us:.0f} us of CPU per tick with 200 idle threads")


def test_idle_ticks_are_held_then_published_whole():
    """An idle thread's reused ticks are held in its slot and published as one record
    (python/src/sampler.c): when the thread runs again, after 250 ms, when its slot is
    disarmed because the thread ended, and at stop(). None may be lost: each thread's
    samples are its lifetime in ticks. And the consumer gets a few records, not one a tick."""
    stop, lives = threading.Event(), Lives()

    def napper():  # idle past the hold, runs, then idle shorter than the hold and ends
        time.sleep(0.6)
        spin(0.05)
        time.sleep(0.2)

    spprof.start(interval_ms=10, mode="wall")
    ts = [lives.thread(f"napper-{i}", napper) for i in range(5)]
    ts += [lives.thread(f"waiter-{i}", stop.wait) for i in range(20)]
    lives.start(ts)
    lives.join(ts[:5])
    time.sleep(0.3)
    stop.set()  # the waiters end as the session does: their last ticks go out at disarm...
    lives.join(ts[5:])
    time.sleep(0.1)
    p = spprof.stop()  # ... or at the sampler's exit
    st = p.stats
    lives.check(p, 0.01)
    # A tick the thread ran in is walked: one record each, more of them on a loaded machine
    # (the nappers' 50 ms of CPU then take longer). The held ticks go out as one record per
    # 250 ms of them, plus one when the thread runs again, at disarm and at stop. With no
    # late tick each walked record weighs one tick, so the held records are counted exactly;
    # one record a tick would make them as many as the reused ticks.
    reused = st["samples_reused"]
    assert reused >= 25 * 40, st  # idle ticks enough to tell holding from one record each
    held = st["records"] - (st["samples_captured"] - reused)
    figures = (st["records"], st["samples_captured"], reused,
               {k: v for k, v in st.items() if "tick" in k})
    if st["sampler_ticks_late"] == 0:
        assert held <= reused / 25 + 3 * (len(ts) + 1), figures
    assert st["records"] <= 0.5 * st["samples_captured"], figures


def test_mode_and_engine_errors():
    with pytest.raises(ValueError, match="mode must be"):
        spprof.start(mode="elapsed")
    with pytest.raises(ValueError, match="engine must be"):
        spprof.start(engine="timer")
    with pytest.raises(ValueError, match="needs engine='sampler'"):
        spprof.start(mode="wall", engine="signal")
    assert not spprof.is_active()


# ---- the torn-stack oracle (tests/torn/call_graph.py) -----------------------------------
import sys  # noqa: E402

from conftest import ROOT  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "torn"))
import call_graph  # noqa: E402


def oracle_run(seconds, interval_ns, threads=4):
    """Sample `threads` threads racing through the call graph with the sampler engine at
    `interval_ns`: (profile, samples on the graph, impossible samples)."""
    g0 = call_graph.functions()["g0"]
    stop = threading.Event()
    ts = [threading.Thread(target=call_graph.run_until, args=(stop, g0), name=f"graph-{i}")
          for i in range(threads)]
    _native._start(interval_ns, "sampler", 0, 0, "cpu")
    for t in ts:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in ts:
        t.join()
    p = spprof.Profile._from_native(_native._stop(), _native.stats(), interval_ns / 1e6)
    total, impossible = call_graph.count((r.frames, r.count) for r in p.stacks)
    return p, total, impossible


def test_no_impossible_stack_from_a_fast_call_graph():
    p, total, impossible = oracle_run(3.0, 50_000)
    st = p.stats
    torn = st["dropped_by_reason"]["torn"]
    print(f"oracle: {total:,} samples in the graph, {impossible} impossible, {torn:,} torn "
          f"({100 * torn / max(1, st['timer_expirations']):.2f} %), "
          f"{st['walk_retries']:,} retries")
    assert total >= 2_000, st  # a loaded machine gets fewer; what matters is none impossible
    assert impossible == 0
