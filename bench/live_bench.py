"""Benchmarks of the live shim (figures printed, never asserted).

    PYTHONPATH=python python3.13t bench/live_bench.py          # this interpreter
    python3 bench/live_bench.py --all                           # every `make which-python` one

1. Handler cost per sample at stack depths 10/50/200: the full sample path the SIGPROF
   handler runs (guarded walk + ring record + counters), run synchronously on a real stack
   of that depth, next to a guarded walk alone and the unvalidated chase over the same
   frames (spw_chase_unchecked: the same walk, same loads, no checks), hot and cold, for
   a recursive stack (one code object throughout) and one of three functions in turn.
2. Overhead of profiling a CPU-bound thread at 10 ms and 1 ms, for each timer source:
   measured directly (adjacent profiled/unprofiled pairs) and accounted (the fixed cost of
   a session plus the measured cost of one sample times the sample rate); see overhead().
With --all, every interpreter `make which-python` lists, then a summary of the goals.
"""
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def recurse(n, fn):
    if n <= 0:
        return fn()
    return recurse(n - 1, fn)


# Three functions calling each other in turn: no two neighbouring frames share a code object,
# so the walker judges every frame's code object (recursion lets it judge one per run).
def turn_a(n, fn):
    return fn() if n <= 0 else turn_b(n - 1, fn)


def turn_b(n, fn):
    return fn() if n <= 0 else turn_c(n - 1, fn)


def turn_c(n, fn):
    return fn() if n <= 0 else turn_a(n - 1, fn)


def handler_cost():
    from spprof import _native
    print("cost per walk on a live Python stack (ns); chase = the same walk unvalidated:")
    print(f"  {'stack':<9} {'depth':>5} {'frames':>6} {'sample':>7} | {'hot: walk':>9} "
          f"{'chase':>6} {'ns/frame':>8} {'ratio':>6} | {'cold: walk':>10} {'chase':>6} "
          f"{'ns/frame':>8} {'ratio':>6}")
    out, runs = {}, {}
    for shape, descend in (("recursion", recurse), ("in turn", turn_a)):
        for depth in (10, 50, 200):
            r = descend(depth - 3, lambda: _native._bench(2000))
            runs[shape, depth] = r
            n = r["frames_followed"]
            hot, cold = r["walk_ns"] / r["chase_ns"], r["cold_walk_ns"] / r["cold_chase_ns"]
            out[f"{shape}/{depth}"] = (hot, cold)
            print(f"  {shape:<9} {depth:>5} {n:>6} {r['sample_ns']:>7.0f} | {r['walk_ns']:>9.0f} "
                  f"{r['chase_ns']:>6.0f} {r['walk_ns'] / n:>8.2f} {hot:>5.2f}x | "
                  f"{r['cold_walk_ns']:>10.0f} {r['cold_chase_ns']:>6.0f} "
                  f"{r['cold_walk_ns'] / n:>8.2f} {cold:>5.2f}x")
    print("  recursion: one function calling itself; in turn: three functions calling each other"
          " (no two\n  neighbouring frames share a code object). hot: best of 15 rounds of"
          " back-to-back calls\n  (everything in L1); cold: median of 120 single calls, each"
          " after 4 MiB of other memory traffic\n  (the frames no longer in L1/L2)")
    # A walk also pays once per sample for the fault guard and the thread check, which the
    # chase does not; what one more frame costs is the slope between depths 10 and 200.
    print("  per frame, from depth 10 to 200 (the once-per-walk costs cancel out):")
    for shape in ("recursion", "in turn"):
        a, b = runs[shape, 10], runs[shape, 200]
        frames = b["frames_followed"] - a["frames_followed"]
        slopes = []
        for key in ("walk_ns", "chase_ns", "cold_walk_ns", "cold_chase_ns"):
            slopes.append((b[key] - a[key]) / frames)
        hot, cold = slopes[0] / slopes[1], slopes[2] / slopes[3]
        out[f"{shape}/slope"] = (hot, cold)
        print(f"  {shape:<9} hot: walk {slopes[0]:.2f} ns, chase {slopes[1]:.2f} ns, {hot:.2f}x"
              f" | cold: walk {slopes[2]:.2f} ns, chase {slopes[3]:.2f} ns, {cold:.2f}x")
    return out


def work(n):
    x = 0
    for i in range(n):
        x += i * i % 7
    return x


CHUNK = 1_500_000  # iterations of work(): about 0.1 s of CPU
SCAN_NS = 20 * 10**6  # the consumer's period (SPP_SCAN_NS in python/src/shim.h)


def chunk(interval_ns, timer, scan_ns=0):
    """CPU seconds of the process (worker and consumer threads) for one fixed piece of work,
    profiled at interval_ns (0: not profiled), and the signals and consumer rounds it took.
    scan_ns: the consumer's period (0: the shim's default)."""
    from spprof import _native
    if interval_ns:
        _native._start(interval_ns, timer, scan_ns)
    c0 = time.process_time()
    work(CHUNK)
    cpu = time.process_time() - c0
    signals = rounds = 0
    if interval_ns:
        _native._stop()
        st = _native.stats()
        signals, rounds = st["signals"], st["consumer_rounds"]
    return cpu, signals, rounds


def pairs(interval_ns, timer, n, scan_ns=0):
    """n adjacent (unprofiled, profiled) chunks, order alternating: the machine's speed drifts
    by tens of percent over seconds here, but little between two neighbouring chunks.
    Returns the per-pair overheads, extra CPU per signal and per consumer round (seconds)."""
    rel, per_signal, per_round = [], [], []
    for i in range(n):
        if i % 2:
            (a, sig, rnd), (b, _, _) = chunk(interval_ns, timer, scan_ns), chunk(0, timer)
        else:
            (b, _, _), (a, sig, rnd) = chunk(0, timer), chunk(interval_ns, timer, scan_ns)
        rel.append(a / b - 1)
        per_signal.append((a - b) / sig if sig else 0.0)
        per_round.append((a - b) / rnd if rnd else 0.0)
    return rel, per_signal, per_round


def session_cost(timer, n=16):
    """CPU seconds a session costs once, from _start() until it is armed and idle: each of n
    sessions (no samples: a one-hour interval) is measured 5 ms after _start(), within the
    consumer's first period, so what is counted is the start and the first scan."""
    from spprof import _native
    out = []
    for _ in range(n):
        c0 = time.process_time()
        _native._start(3_600 * 10**9, timer)
        time.sleep(0.005)
        out.append(time.process_time() - c0)
        _native._stop()
    return out


def quartiles(v):
    q = statistics.quantiles(v, n=4)
    return q[0], statistics.median(v), q[2]


def overhead(timers):
    """Overhead of profiling one CPU-bound thread, two ways. Direct: median of adjacent
    profiled/unprofiled pairs at 10 ms and 1 ms (honest but noisy here: read the IQR).
    Accounted (perf_event): the session's fixed cost (consumer wake-ups, each measured by
    taking many), plus the cost of one sample, measured by taking many at 50 and 250 us
    intervals where they dominate (the larger figure), times the samples per CPU-second."""
    work(200_000)  # warm up
    out = {}
    # The session's fixed cost is the consumer's wake-ups: measured per wake-up with no
    # samples (a one-hour interval) and the consumer woken every 1 ms, then scaled to its
    # real period.
    _, _, per_round = pairs(3_600 * 10**9, timers[0], 16, scan_ns=10**6)
    r_lo, r_med, r_hi = quartiles(per_round)
    i_med = r_med * 1e9 / SCAN_NS
    print(f"profiling overhead, 1 CPU-bound thread, adjacent pairs of ~0.1 s chunks:")
    print(f"  one consumer wake-up costs {r_med * 1e6:.1f} us (IQR {r_lo * 1e6:.1f}..{r_hi * 1e6:.1f},"
          f" measured at 1 ms); every {SCAN_NS // 10**6} ms that is {100 * i_med:+.2f}%")
    s_lo, s_med, s_hi = quartiles(session_cost(timers[0]))
    chunk_cpu = statistics.median(chunk(0, timers[0])[0] for _ in range(5))
    print(f"  starting a session costs {s_med * 1e6:.0f} us once (IQR {s_lo * 1e6:.0f}.."
          f"{s_hi * 1e6:.0f}): not a rate, so not in the accounted figures; each profiled"
          f" chunk\n  of the direct pairs below starts one, which adds about"
          f" {100 * s_med / chunk_cpu:.2f}% to their medians")
    for timer in timers:
        direct = {m: pairs(m * 10**6, timer, 20) for m in (10, 1)}
        c_med = None
        if timer == "perf_event":
            # Measured at two rates: were sparse samples dearer (colder caches on the way
            # in and out), the 250 us figure would show it. The larger one is used.
            for period_us, n in ((50, 10), (250, 20)):
                _, cost, _ = pairs(period_us * 1000, timer, n)
                c_lo, med, c_hi = quartiles(cost)
                c_med = med if c_med is None else max(c_med, med)
                print(f"  {timer}: one sample costs {med * 1e6:.1f} us (IQR {c_lo * 1e6:.1f}.."
                      f"{c_hi * 1e6:.1f}, measured at {period_us} us)")
        else:
            print(f"  {timer}: no accounted figure (these timers cannot sample faster than the "
                  f"4 ms tick, so one sample's cost cannot be amplified out of the noise)")
        for m in (10, 1):
            rel = direct[m][0]
            lo, med, hi = quartiles(rel)
            model = None if c_med is None else i_med + c_med * 1000 / m
            out[(timer, m)] = (model, med)
            acc = "" if model is None else f"accounted {100 * model:+.2f}%   "
            print(f"    {m:>2} ms: {acc}direct {100 * med:+.2f}% (IQR {100 * lo:+.2f}.."
                  f"{100 * hi:+.2f}%, 20 pairs)")
    return out


def main():
    if "--all" in sys.argv:
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
        lines = subprocess.run([os.path.join(ROOT, "ci", "which-python.sh")], capture_output=True,
                               text=True).stdout.split("\n")
        results = {}
        for line in filter(None, lines):
            tag, exe = line.split()
            subprocess.run(["make", "-s", "ext", f"PYTHON={exe}"], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
            print(f"== {tag} ({exe})", flush=True)
            r = subprocess.run([exe, __file__], env=env, check=True, capture_output=True, text=True)
            for out_line in r.stdout.splitlines():
                if out_line.startswith("RESULT "):
                    results[tag] = json.loads(out_line[7:])
                else:
                    print(out_line, flush=True)
        summary(results)
        return
    import spprof  # noqa: F401
    from spprof import _native
    print(f"python {sys.version.split()[0]} "
          f"{'free-threaded' if 'free-threading' in sys.version else 'default build'}, walker "
          f"instantiated on the {_native.layout_info()['walker']} frame layout")
    ratios = handler_cost()
    timers = ["perf_event", "posix_cpu_timer"] if perf_allowed() else ["posix_cpu_timer"]
    o = overhead(timers)
    print("RESULT " + json.dumps({
        "walk_ratio": ratios,
        "overhead": {f"{t}/{m}": v for (t, m), v in o.items()}}))


def perf_allowed():
    from spprof import _native
    try:
        _native._start(10**9, "perf_event")
    except RuntimeError:
        return False
    _native._stop()
    return True


def summary(results):
    """The goals, side by side for every interpreter measured in this run."""
    print("== summary (goals: walk <= 1.25x the unvalidated chase; overhead < 1% at 10 ms, "
          "< 5% at 1 ms; free-threaded within 1.2x of the default build)")
    for tag, r in results.items():
        w = r["walk_ratio"]
        print(f"  {tag:<6} walk/chase per frame (slope 10..200): recursion hot "
              f"{w['recursion/slope'][0]:.2f}x cold {w['recursion/slope'][1]:.2f}x, in turn hot "
              f"{w['in turn/slope'][0]:.2f}x cold {w['in turn/slope'][1]:.2f}x\n        ", end="")
        for key, (model, direct) in sorted(r["overhead"].items()):
            acc = "" if model is None else f"{100 * model:+.2f}% "
            print(f" | {key} {acc}(direct {100 * direct:+.2f}%)", end="")
        print()
    ft = [t for t in results if t.endswith("t")]
    gil = [t for t in results if not t.endswith("t")]
    for f in ft:
        for g in gil:
            if f[:-1] != g:
                continue
            for key, (model, _) in sorted(results[f]["overhead"].items()):
                base = results[g]["overhead"].get(key)
                if model is not None and base and base[0]:
                    print(f"  {f}/{g} {key}: accounted overhead ratio {model / base[0]:.2f}x")


if __name__ == "__main__":
    main()
