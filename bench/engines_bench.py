"""The two sampling engines side by side (figures printed, never asserted).

    PYTHONPATH=python python3.13t bench/engines_bench.py                  # this interpreter
    PYTHONPATH=python python3.13t bench/engines_bench.py --quick          # fewer rounds
    PYTHONPATH=python python3.13t bench/engines_bench.py --oracle-only    # section 3 only

1. Accuracy and cost in cpu mode, at 1 ms and 10 ms: 4 threads each doing a fixed amount of
   pure-Python work, in interleaved rounds of (no profiler, signal/perf_event,
   signal/posix_cpu_timer, sampler), the order turned by one each round. Accuracy: a
   thread's samples x interval / its time.thread_time(); cost: the app threads' own CPU,
   the run's wall time and the process's CPU (time.process_time(), start() to stop()
   included) against the no-profiler run of the same round, with the noise floor (the
   round's two no-profiler runs against each other). Then one sample's cost amplified out
   of the noise: one thread at 100 us (perf_event and the sampler), split between the
   sampled thread and the sampler thread.
2. The sampler thread's CPU per tick with 10, 100 and 1,000 idle threads (wall mode,
   10 ms, 1 s each), per thread and as % of one core, and how many samples reuse the last
   stack; then with 10 and 100 threads spinning (wall and cpu mode), where stacks are walked.
3. The torn-stack oracle of tests/python/test_wall.py at scale: 4 threads racing through a
   known call graph, sampled by the sampler engine at 20 us until >= 1,000,000 samples fall
   in the graph; every one must be a path of the graph (0 impossible; any other count is
   printed loudly, with the stacks). Then the same graph at 1 ms and 10 ms: how much of
   the CPU time torn walks leave without a stack. Free-threaded builds only unless
   --oracle-only.
"""
import os
import statistics
import sys
import threading
import time

import spprof

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
QUICK = "--quick" in sys.argv
FT = not getattr(sys, "_is_gil_enabled", lambda: True)()


def work(n):
    x = 0
    for i in range(n):
        x += i * i % 7
    return x


# ---- 1. accuracy and cost ---------------------------------------------------------------
THREADS = 4
ITERS = 1_500_000 if QUICK else 3_000_000  # per thread: ~0.3-0.4 s of CPU here
ROUNDS = 3 if QUICK else 7
CONFIGS = ("none", "perf_event", "posix_cpu_timer", "sampler")


def one_run(config, interval_ms):
    """Run THREADS threads of work(ITERS) under config. Returns a dict: per-thread
    (thread CPU s, samples) by native id, run wall s, process CPU s, stats (or None)."""
    barrier = threading.Barrier(THREADS + 1)
    cpu = {}

    def body():
        barrier.wait()
        work(ITERS)
        cpu[threading.get_native_id()] = time.thread_time()  # CPU since the thread began

    ts = [threading.Thread(target=body, name=f"work-{i}") for i in range(THREADS)]
    c0 = time.process_time()
    if config != "none":
        if config == "sampler":
            spprof.start(interval_ms, mode="cpu", engine="sampler")
        else:
            os.environ["SPPROF_TIMER"] = config
            try:
                spprof.start(interval_ms, mode="cpu", engine="signal")
            finally:
                del os.environ["SPPROF_TIMER"]
    for t in ts:
        t.start()
    barrier.wait()
    w0 = time.perf_counter()
    for t in ts:
        t.join()
    wall = time.perf_counter() - w0
    stats, samples = None, {}
    if config != "none":
        p = spprof.stop()
        stats = p.stats
        samples = {th.native_id: n for th, n in p.samples_by_thread().items()}
    proc = time.process_time() - c0
    return {"threads": {nid: (c, samples.get(nid, 0)) for nid, c in cpu.items()},
            "wall": wall, "proc": proc, "stats": stats}


def perf_event_allowed():
    os.environ["SPPROF_TIMER"] = "perf_event"
    try:
        spprof.start(1000)
    except (RuntimeError, OSError):
        return False
    finally:
        del os.environ["SPPROF_TIMER"]
    spprof.stop()
    return True


def quartiles(v):
    if len(v) < 2:
        return v[0], v[0], v[0]
    q = statistics.quantiles(v, n=4, method="inclusive")
    return q[0], statistics.median(v), q[2]


def ratio(v):
    lo, med, hi = quartiles(v)
    return f"{med:.3f}x ({lo:.2f}-{hi:.2f})"


def engines():
    configs = CONFIGS if perf_event_allowed() else tuple(c for c in CONFIGS if c != "perf_event")
    print(f"1. cpu mode, {THREADS} threads x work({ITERS:,}) each, {ROUNDS} interleaved rounds "
          f"of ({', '.join(configs)}):")
    one_run("none", 10)  # warm up
    res = {}  # (interval, config) -> list of runs, by round
    for r in range(ROUNDS):
        for interval in (1, 10):
            order = configs[r % len(configs):] + configs[:r % len(configs)]
            for config in order:
                res.setdefault((interval, config), []).append(one_run(config, interval))
        print(f"   round {r + 1}/{ROUNDS} done", flush=True)
    base_thread_cpu = statistics.median(
        c for run in res[(10, "none")] + res[(1, "none")] for c, _ in run["threads"].values())
    base_wall = statistics.median(run["wall"] for run in res[(10, "none")] + res[(1, "none")])
    print(f"   no profiler: {base_thread_cpu:.3f} s of CPU per thread, run wall {base_wall:.3f} s "
          f"(medians)")
    print(f"   {'interval':>8} {'engine':<22} {'accuracy min/med/max':>22} "
          f"{'thread CPU (IQR)':>20} {'run wall':>8} {'proc CPU (IQR)':>20} {'sampler':>8} "
          f"{'dropped':>8} {'torn':>5}")
    # the noise floor: the two unprofiled runs of each round against each other
    n1, n10 = res[(1, "none")], res[(10, "none")]
    tc = [statistics.median(c for c, _ in a["threads"].values()) /
          statistics.median(c for c, _ in b["threads"].values()) for a, b in zip(n10, n1)]
    print(f"   {'-':>8} {'none / none (noise)':<22} {'':>22} {ratio(tc):>20} "
          f"{statistics.median(a['wall'] / b['wall'] for a, b in zip(n10, n1)):>7.3f}x "
          f"{ratio([a['proc'] / b['proc'] for a, b in zip(n10, n1)]):>20}")
    out = {}
    for interval in (1, 10):
        base = res[(interval, "none")]
        for config in configs:
            if config == "none":
                continue
            runs = res[(interval, config)]
            acc, tcpu, wall, proc = [], [], [], []
            dropped = expir = torn = 0
            own, timers = [], set()
            for b, run in zip(base, runs):
                for c, n in run["threads"].values():
                    acc.append(n * interval / 1000 / c)
                b_cpu = statistics.median(c for c, _ in b["threads"].values())
                tcpu.append(statistics.median(c for c, _ in run["threads"].values()) / b_cpu)
                wall.append(run["wall"] / b["wall"])
                proc.append(run["proc"] / b["proc"])
                st = run["stats"]
                dropped += st["samples_dropped"]
                torn += st["dropped_by_reason"]["torn"]
                expir += st["timer_expirations"]
                timers.add(st["timer"])
                app_cpu = sum(c for c, _ in run["threads"].values())
                own.append(st["sampler_cpu_ns"] / 1e9 / app_cpu)
            row = (min(acc), statistics.median(acc), max(acc), statistics.median(tcpu),
                   statistics.median(wall), statistics.median(proc), statistics.median(own))
            out[(interval, config)] = row + (quartiles(tcpu), quartiles(proc))
            name = "sampler" if config == "sampler" else f"signal/{config}"
            own_s = f"{100 * row[6]:>7.2f}%" if config == "sampler" else f"{'-':>8}"
            print(f"   {interval:>5} ms {name:<22} {row[0]:>8.3f} {row[1]:>6.3f} {row[2]:>6.3f} "
                  f"{ratio(tcpu):>20} {row[4]:>7.3f}x {ratio(proc):>20} {own_s} "
                  f"{100 * dropped / max(1, expir):>7.2f}% {torn:>5}"
                  + ("" if timers == {config} else f"  (timer used: {', '.join(sorted(timers))})"))
    print("   accuracy: a thread's samples x interval / its thread_time() (every thread of every"
          " round);\n   thread CPU, run wall, proc CPU: median (and quartiles) over rounds of"
          " profiled / the same\n   round's unprofiled run (noise: the round's 10 ms-slot"
          " unprofiled run / its 1 ms-slot one);\n   sampler: the sampler thread's own CPU"
          " (sampler_cpu_ns) / the app threads' CPU")
    out["per_sample"] = per_sample([c for c in configs if c in ("perf_event", "sampler")])
    return out


def chunk(interval_ns, timer, n=2_000_000):
    """One thread (this one) doing work(n), profiled at interval_ns by timer (0: not
    profiled): (process CPU s, this thread's CPU s, samples, sampler thread's CPU ns)."""
    from spprof import _native
    c0, t0 = time.process_time(), time.thread_time()
    if interval_ns:
        _native._start(interval_ns, timer, 0, 0, "cpu")
    work(n)
    t1 = time.thread_time()
    samples = own = 0
    if interval_ns:
        _native._stop()
        st = _native.stats()
        samples, own = st["samples_captured"] + st["samples_dropped"], st["sampler_cpu_ns"]
    return time.process_time() - c0, t1 - t0, samples, own


def per_sample(timers, interval_ns=100_000, pairs=6 if QUICK else 12):
    """The cost of one sample, amplified out of the noise: one CPU-bound thread sampled
    every 100 us (a rate only perf_event and the sampler reach; POSIX CPU timers follow the
    kernel's 4 ms tick), adjacent (unprofiled, profiled) chunks in alternating order."""
    print(f"   one sample's cost, amplified: 1 thread, {interval_ns // 1000} us interval, {pairs} "
          f"adjacent pairs of ~0.2 s chunks (us per sample, median and quartiles):")
    print(f"   {'engine':<22} {'process CPU':>20} {'app thread CPU':>20} {'sampler thread':>15}")
    out = {}
    for timer in timers:
        proc, app, own = [], [], []
        for i in range(pairs):
            if i % 2:
                (a, ta, n, sc), (b, tb, _, _) = chunk(interval_ns, timer), chunk(0, timer)
            else:
                (b, tb, _, _), (a, ta, n, sc) = chunk(0, timer), chunk(interval_ns, timer)
            proc.append((a - b) / n * 1e6)
            app.append((ta - tb) / n * 1e6)
            own.append(sc / 1e3 / n)
        out[timer] = tuple(statistics.median(v) for v in (proc, app, own))

        def q(v):
            lo, med, hi = quartiles(v)
            return f"{med:6.2f} ({lo:5.2f}-{hi:5.2f})"
        name = "sampler" if timer == "sampler" else f"signal/{timer}"
        print(f"   {name:<22} {q(proc):>20} {q(app):>20} {statistics.median(own):>15.2f}")
    print("   process CPU: all threads; app thread: the sampled thread's own CPU (the signal"
          " handler runs\n   there); sampler thread: its sampler_cpu_ns per sample")
    return out


# ---- 2. the sampler thread's cost per tick ------------------------------------------------
def start_threads(n, busy):
    stop = threading.Event()

    def spin():
        x = 0
        while not stop.is_set():
            for i in range(2000):
                x += i

    threading.stack_size(256 * 1024)
    ts = [threading.Thread(target=spin if busy else stop.wait, name=f"t-{i}") for i in range(n)]
    for t in ts:
        t.start()
    threading.stack_size(0)
    return stop, ts


def sampler_tick(n, busy, mode, seconds=1.0):
    stop, ts = start_threads(n, busy)
    try:
        time.sleep(0.2)
        w0 = time.monotonic()
        spprof.start(10, mode=mode, engine="sampler")
        time.sleep(seconds)
        p = spprof.stop()
        w1 = time.monotonic()
    finally:
        stop.set()
        for t in ts:
            t.join()
    st = p.stats
    ticks = max(1, st["sampler_ticks"])
    per_tick = st["sampler_cpu_ns"] / ticks / 1000
    return {"per_tick_us": per_tick, "per_thread_us": per_tick / (n + 1),
            "core_pct": 100 * st["sampler_cpu_ns"] / 1e9 / (w1 - w0),
            "reuse": st["samples_reused"] / max(1, st["samples_captured"]),
            "ticks": st["sampler_ticks"], "late": st["sampler_ticks_late"],
            "torn": st["dropped_by_reason"]["torn"], "retries": st["walk_retries"],
            "captured": st["samples_captured"]}


def sampler_cost():
    print("2. the sampler thread's CPU, 10 ms interval, 1 s each (threads = n + the main thread):")
    print(f"   {'threads':>7} {'state':<5} {'mode':<4} {'us/tick':>8} {'us/thread':>9} "
          f"{'% core':>7} {'reused':>7} {'ticks':>6} {'late':>5} {'torn':>5} {'retries':>7}")
    cases = [(10, False, "wall"), (100, False, "wall"), (1000, False, "wall"),
             (10, True, "wall"), (100, True, "wall"), (10, True, "cpu"), (100, True, "cpu")]
    out = {}
    for n, busy, mode in cases:
        r = sampler_tick(n, busy, mode)
        out[(n, busy, mode)] = r
        print(f"   {n:>7} {'busy' if busy else 'idle':<5} {mode:<4} {r['per_tick_us']:>8.1f} "
              f"{r['per_thread_us']:>9.3f} {r['core_pct']:>6.2f}% {100 * r['reuse']:>6.1f}% "
              f"{r['ticks']:>6} {r['late']:>5} {r['torn']:>5} {r['retries']:>7}", flush=True)
    print("   us/tick: sampler_cpu_ns / sampler_ticks; reused: samples_reused / samples_captured;"
          "\n   late: ticks that started after their deadline (the sampler waiting for a core)")
    return out


# ---- 3. the torn-stack oracle at scale ----------------------------------------------------
def oracle(target=100_000 if QUICK else 1_000_000, interval_ns=20_000, cap_s=150.0):
    sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
    import test_wall
    oracle_run = test_wall.oracle_run
    # the graph's edges: its own, or those of the workload module it imports
    EDGES = getattr(test_wall, "EDGES", None) or test_wall.call_graph.EDGES

    print(f"3. torn-stack oracle: 4 threads through the call graph, sampler at "
          f"{interval_ns // 1000} us, until >= {target:,} samples in the graph:")
    _, n, _ = oracle_run(1.0, interval_ns)  # probe: samples per second here, now
    rate = max(1000.0, n / 1.0)
    print(f"   probe: {n:,} samples in the graph in 1 s", flush=True)
    bad = {}  # impossible stacks seen: their frames, joined -> samples
    tot = {"samples": 0, "impossible": 0, "torn": 0, "expir": 0, "retries": 0, "captured": 0,
           "ticks": 0, "late": 0, "cpu_ns": 0, "seconds": 0.0, "sessions": 0}
    while tot["samples"] < target and tot["seconds"] < cap_s:
        secs = min(cap_s - tot["seconds"], max(2.0, 1.15 * (target - tot["samples"]) / rate))
        w0 = time.monotonic()
        p, n, imp = oracle_run(secs, interval_ns)
        el = time.monotonic() - w0
        st = p.stats
        tot["samples"] += n
        tot["impossible"] += imp
        tot["torn"] += st["dropped_by_reason"]["torn"]
        tot["expir"] += st["timer_expirations"]
        tot["retries"] += st["walk_retries"]
        tot["captured"] += st["samples_captured"]
        tot["ticks"] += st["sampler_ticks"]
        tot["late"] += st["sampler_ticks_late"]
        tot["cpu_ns"] += st["sampler_cpu_ns"]
        tot["seconds"] += secs
        tot["sessions"] += 1
        if imp:
            for r in p.stacks:
                chain = [int(f.function[1:]) for f in r.frames if f.function[:1] == "g"
                         and f.function[1:].isdigit() and f.file == "<string>"]
                if chain and (chain[-1] != 0 or any(chain[k] not in EDGES[chain[k + 1]]
                                                    for k in range(len(chain) - 1))):
                    key = " <- ".join(f"{f.function}:{f.line}" for f in r.frames)
                    bad[key] = bad.get(key, 0) + r.count
        rate = max(1000.0, n / el)
        print(f"   session {tot['sessions']}: {secs:.1f} s, {n:,} samples in the graph, "
              f"{imp} impossible, {st['dropped_by_reason']['torn']:,} torn", flush=True)
    t = tot
    print(f"   total: {t['samples']:,} samples in the graph ({t['captured']:,} captured) in "
          f"{t['seconds']:.1f} s over {t['sessions']} session(s)")
    print(f"   impossible stacks: {t['impossible']}")
    if t["impossible"]:
        print("   " + "!" * 72)
        print(f"   !!! {t['impossible']} IMPOSSIBLE STACKS: a torn walk went unnoticed !!!")
        print("   " + "!" * 72)
        for key, n in sorted(bad.items(), key=lambda kv: -kv[1])[:8]:
            print(f"   {n:>4} x {key}")
    print(f"   torn drops: {t['torn']:,} ({100 * t['torn'] / max(1, t['expir']):.2f} % of "
          f"{t['expir']:,} expirations); walk retries: {t['retries']:,} "
          f"({100 * t['retries'] / max(1, t['expir']):.2f} %)")
    print(f"   sampler: {t['ticks']:,} ticks ({t['late']:,} late), "
          f"{t['cpu_ns'] / max(1, t['ticks']) / 1000:.1f} us of CPU per tick, "
          f"{100 * t['cpu_ns'] / 1e9 / max(1e-9, t['seconds']):.1f} % of a core")
    # the same graph at the public intervals: in cpu mode a torn sample's CPU time goes to
    # no stack, so this is the share of the graph's CPU time the profile leaves out
    for ms in (1, 10):
        p, n, imp = oracle_run(1.0 if QUICK else 4.0, ms * 1_000_000)
        st = p.stats
        torn = st["dropped_by_reason"]["torn"]
        print(f"   at {ms:>2} ms: {n:,} samples in the graph, {imp} impossible, {torn:,} torn "
              f"({100 * torn / max(1, st['timer_expirations']):.2f} % of "
              f"{st['timer_expirations']:,} expirations), {st['walk_retries']:,} retries"
              + ("   !!! IMPOSSIBLE STACKS !!!" if imp else ""))
    return t


def build_info():
    """The commit and the extension's build time: the figures are of that build."""
    import subprocess
    from spprof import _native
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        head = "?"
    built = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(_native.__file__)))
    return f"commit {head}, extension {_native.__file__} built {built}"


def main():
    print(f"python {sys.version.split()[0]} "
          f"{'free-threaded' if FT else 'default build (GIL)'}, {os.cpu_count()} cpus, "
          f"load {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M')}, {build_info()}",
          flush=True)
    t0 = time.monotonic()
    if "--oracle-only" in sys.argv:
        oracle()
    else:
        engines()
        sampler_cost()
        if FT:
            oracle()
        else:
            print("3. torn-stack oracle: skipped (GIL build; --oracle-only runs it)")
    print(f"({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
