"""Stress workload for test_contention.py: run under the profiler at 1 ms for N seconds.

32 threads at once doing everything that reshapes frame chains while SIGPROF walks them:
thread churn, generators, coroutines, exceptions, GC of cycles, deep recursion, and code
objects created and freed by exec. Prints the final stats as JSON on the last line.
"""
import asyncio
import gc
import json
import sys
import threading
import time

import spprof

DURATION = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
sys.setrecursionlimit(5000)
stop_at = None


def churn():
    def tiny(n):
        return sum(range(n))
    while time.monotonic() < stop_at:
        ts = [threading.Thread(target=tiny, args=(2000,)) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


def generators():
    def gen(n):
        for i in range(n):
            yield i

    def nested(n):
        yield from (x * 2 for x in gen(n))

    while time.monotonic() < stop_at:
        sum(nested(5000))


def coroutines():
    async def leaf(i):
        await asyncio.sleep(0)
        return i

    async def mid(n):
        return sum(await asyncio.gather(*(leaf(i) for i in range(n))))

    async def main():
        while time.monotonic() < stop_at:
            await mid(50)

    asyncio.run(main())


def exceptions():
    def thrower(n):
        if n == 0:
            raise ValueError("deep")
        try:
            thrower(n - 1)
        except ValueError:
            raise KeyError(n)

    while time.monotonic() < stop_at:
        try:
            thrower(20)
        except KeyError:
            pass


def garbage():
    class Node:
        def __init__(self):
            self.other = None

    while time.monotonic() < stop_at:
        for _ in range(2000):
            a, b = Node(), Node()
            a.other, b.other = b, a
        gc.collect()


def deep():
    def down(n):
        if n == 0:
            return sum(range(500))
        return down(n - 1) + 1

    while time.monotonic() < stop_at:
        down(1500)


def execs():
    i = 0
    while time.monotonic() < stop_at:
        src = f"def f_{i}(n):\n    return sum(k * {i} for k in range(n))\nr = f_{i}(300)\n"
        ns = {}
        exec(compile(src, f"<exec {i}>", "exec"), ns)
        del ns
        i += 1


def cpu():
    x = 0
    while time.monotonic() < stop_at:
        for i in range(10000):
            x += i


KINDS = [churn, generators, coroutines, exceptions, garbage, deep, execs, cpu]


def main():
    global stop_at
    c0 = time.process_time()
    spprof.start(interval_ms=1)
    stop_at = time.monotonic() + DURATION
    threads = [threading.Thread(target=KINDS[i % len(KINDS)], name=f"{KINDS[i % len(KINDS)].__name__}-{i}")
               for i in range(32)]
    for t in threads:
        t.start()
    mid = spprof.stats()
    for t in threads:
        t.join()
    p = spprof.stop()
    cpu_s = time.process_time() - c0
    st = p.stats
    kinds = sorted({f.function.split(".")[0] for r in p.stacks for f in r.frames} & {k.__name__ for k in KINDS})
    print(json.dumps({"stats": st, "mid": mid, "stacks": len(p.stacks), "kinds": kinds,
                      "total": p.total_samples, "process_cpu_s": cpu_s}))


if __name__ == "__main__":
    main()
