"""Benchmarks of the live shim (figures printed, never asserted).

    PYTHONPATH=python python3.13t bench/live_bench.py          # this interpreter
    python3 bench/live_bench.py --all                           # every `make which-python` one

1. Handler cost per sample at stack depths 10/50/200: the full sample path the SIGPROF
   handler runs (guarded walk + ring record + counters), run synchronously on a real stack
   of that depth, next to a guarded walk alone and the unvalidated chase over the same
   frames (spw_chase_unchecked: the same walk, same loads, no checks), hot and cold.
2. Overhead of profiling a CPU-bound workload (2 threads of pure Python, fixed work) at
   10 ms and 1 ms: process CPU time with the profiler over CPU time without it, rounds
   interleaved so the machine's noise hits every mode alike; median of the rounds.
"""
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def recurse(n, fn):
    if n <= 0:
        return fn()
    return recurse(n - 1, fn)


def handler_cost():
    from spprof import _native
    print("cost per walk on a live Python stack (ns); chase = the same walk unvalidated:")
    print(f"  {'depth':>5} {'frames':>6} {'sample':>7} | {'hot: walk':>9} {'chase':>6} "
          f"{'ns/frame':>8} {'ratio':>6} | {'cold: walk':>10} {'chase':>6} {'ns/frame':>8} "
          f"{'ratio':>6}")
    out = {}
    for depth in (10, 50, 200):
        r = recurse(depth - 3, lambda: _native._bench(2000))
        n = r["frames_followed"]
        hot, cold = r["walk_ns"] / r["chase_ns"], r["cold_walk_ns"] / r["cold_chase_ns"]
        out[depth] = (hot, cold)
        print(f"  {depth:>5} {n:>6} {r['sample_ns']:>7.0f} | {r['walk_ns']:>9.0f} "
              f"{r['chase_ns']:>6.0f} {r['walk_ns'] / n:>8.2f} {hot:>5.2f}x | "
              f"{r['cold_walk_ns']:>10.0f} {r['cold_chase_ns']:>6.0f} {r['cold_walk_ns'] / n:>8.2f} "
              f"{cold:>5.2f}x")
    print("  hot: best of 15 rounds of back-to-back calls (everything in L1); cold: median of"
          " 120 single\n  calls, each after 4 MiB of other memory traffic (the frames no longer"
          " in L1/L2)")
    return out


def work(n):
    x = 0
    for i in range(n):
        x += i * i % 7
    return x


def workload(n_threads=2, n=4_000_000):
    ts = [threading.Thread(target=work, args=(n,)) for _ in range(n_threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def overhead(rounds=9):
    import spprof
    modes = [None, 10, 1]
    cpu = {m: [] for m in modes}
    workload(n=300_000)  # warm up
    for r in range(rounds):
        for m in modes[r % 3:] + modes[:r % 3]:  # rotate the order every round
            if m is not None:
                spprof.start(interval_ms=m)
            c0 = time.process_time()
            workload()
            c1 = time.process_time()
            if m is not None:
                p = spprof.stop()
                assert p.total_samples > 0
            cpu[m].append(c1 - c0)
    base = statistics.median(cpu[None])
    timer = spprof.stats()["timer"]
    print(f"profiling overhead, CPU-bound 2 threads ({timer}), median of {rounds} interleaved rounds:")
    print(f"  unprofiled  {base * 1000:8.1f} ms CPU")
    out = {}
    for m in (10, 1):
        med = statistics.median(cpu[m])
        out[m] = med / base - 1
        print(f"  {m:>2} ms       {med * 1000:8.1f} ms CPU   overhead {100 * out[m]:+.2f}%")
    return out


def main():
    if "--all" in sys.argv:
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
        lines = subprocess.run([os.path.join(ROOT, "ci", "which-python.sh")], capture_output=True,
                               text=True).stdout.split("\n")
        for line in filter(None, lines):
            tag, exe = line.split()
            subprocess.run(["make", "-s", "ext", f"PYTHON={exe}"], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
            print(f"== {tag} ({exe})", flush=True)
            subprocess.run([exe, __file__], env=env, check=True)
        return
    import spprof  # noqa: F401
    print(f"python {sys.version.split()[0]} "
          f"{'free-threaded' if 'free-threading' in sys.version else 'default build'}")
    handler_cost()
    o = overhead()
    print(f"OVERHEAD {sys.version_info.major}.{sys.version_info.minor}"
          f"{'t' if 'free-threading' in sys.version else ''} "
          f"10ms={100 * o[10]:.2f}% 1ms={100 * o[1]:.2f}%")


if __name__ == "__main__":
    main()
