"""Benchmarks of the live profiler at its edges (figures printed, never asserted).

    PYTHONPATH=python python3.13t bench/edges_bench.py          # this interpreter

1. The consumer thread's CPU with 100, 1,000 and 4,000 idle threads (goal: < 1 % of a
   core at 4,000), read from its own /proc/self/task/<tid>/stat over a fixed window.
2. Memory per thread: RSS with N threads, profiled minus not profiled, idle and busy at
   1 ms (goal: <= 64 KiB idle, <= 128 KiB busy), measured side by side in one run.
3. A deep stack: the handler's sample path at depth 20,000 (goal: <= 10 us), next to 256.
4. Starting and joining a thread with and without a session.
"""
import os
import sys
import threading
import time

import spprof
from spprof import _native

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def consumer_tid():
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                if f.read().strip() == "spprof-consumer":
                    return int(tid)
        except OSError:
            pass
    return None


def task_cpu_s(tid):
    with open(f"/proc/self/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def idle_threads(n):
    stop = threading.Event()
    threading.stack_size(256 * 1024)
    ts = [threading.Thread(target=stop.wait) for _ in range(n)]
    for t in ts:
        t.start()
    threading.stack_size(0)
    return stop, ts


def consumer_cpu(window_s=3.0):
    print("consumer CPU with idle threads (10 ms interval, default 20 ms consumer period):")
    for n in (100, 1000, 4000):
        stop, ts = idle_threads(n)
        spprof.start(interval_ms=10)
        time.sleep(0.3)  # every thread armed
        tid = consumer_tid()
        c0, w0 = task_cpu_s(tid), time.monotonic()
        time.sleep(window_s)
        c1, w1 = task_cpu_s(tid), time.monotonic()
        st = spprof.stats()
        spprof.stop()
        stop.set()
        for t in ts:
            t.join()
        pct = 100 * (c1 - c0) / (w1 - w0)
        print(f"  {n:>5} threads: consumer {pct:5.2f} % of a core "
              f"({st['threads_active']} armed, {st['threads_unsampled']} unsampled, "
              f"{st['consumer_rounds']} rounds)")


def spinner(stop):
    x = 0
    while not stop.is_set():
        for i in range(2000):
            x += i


def memory(n=64):
    print(f"memory per thread, {n} threads (RSS profiled minus not profiled, same threads):")
    for kind in ("idle", "busy"):
        stop = threading.Event()
        target = stop.wait if kind == "idle" else (lambda: spinner(stop))
        ts = [threading.Thread(target=target) for _ in range(n)]
        for t in ts:
            t.start()
        time.sleep(1.0)
        base = rss_bytes()
        spprof.start(interval_ms=1)
        time.sleep(2.0)  # busy rings wrap: every page of them is touched
        prof = rss_bytes()
        spprof.stop()
        stop.set()
        for t in ts:
            t.join()
        print(f"  {kind}: {(prof - base) / n / 1024:7.1f} KiB per thread")


def recurse(n, fn):
    if n <= 0:
        return fn()
    return recurse(n - 1, fn)


def deep():
    print("one sample on a deep stack (the handler's path, synchronous, hot):")
    sys.setrecursionlimit(50000)
    for depth in (256, 20000):
        r = recurse(depth - 3, lambda: _native._bench(200, 256))
        print(f"  depth {depth:>6}: {r['sample_ns'] / 1000:7.2f} us per sample, "
              f"{r['frames_followed']} frames followed, {r['frames_emitted']} kept")


def thread_start(n=2000):
    print(f"start + join of {n} threads that do nothing:")
    for label, on in (("no session", False), ("profiling", True)):
        if on:
            spprof.start(interval_ms=10)
        t0 = time.perf_counter()
        for _ in range(n):
            t = threading.Thread(target=lambda: None)
            t.start()
            t.join()
        el = time.perf_counter() - t0
        if on:
            spprof.stop()
        print(f"  {label:<10}: {el / n * 1e6:7.1f} us per thread")


def main():
    print(f"python {sys.version.split()[0]}, timer {os.environ.get('SPPROF_TIMER', 'auto')}")
    consumer_cpu()
    memory()
    deep()
    thread_start()


if __name__ == "__main__":
    main()
