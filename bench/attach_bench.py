"""spwalk record beside py-spy record, both attached from outside (figures printed, never
asserted).

    python3.13 bench/attach_bench.py                 # 3 rounds x 5 s runs, about 4-5 min
    python3.13 bench/attach_bench.py --quick         # 2 rounds x 3 s runs
    python3.13 bench/attach_bench.py --rounds N --duration S --json FILE

Run it with an interpreter spprof's extension is built for (3.13, 3.13t, 3.14t); python/ is
put on sys.path. The target is this file with --target: 3 threads, each doing fixed-size
work units in a hot function of its own (hot_alpha, hot_beta, hot_gamma), counting the
units done in a shared file the driver reads, so the work rate is known without asking the
target. Each run starts a fresh target, lets it settle, attaches one profiler
configuration for DURATION s, and measures the target's rate in the middle of that window:

    none                      no profiler (the baseline)
    spwalk record             reads the target while it runs (the default)
    spwalk record --blocking  stops the target for each tick
    py-spy record             stops the target for each sample (py-spy's default)
    py-spy record --nonblocking

each at 100 Hz and 1000 Hz, the order turned by one each round. Per configuration (median
over its rounds): samples per second achieved on each hot thread, spwalk's dropped walks,
the target's slowdown against the no-profiler runs' median, the profiler's own CPU (its
rusage from os.wait4, start-up included, as % of one core over its wall time) and the
share of each hot thread's samples whose innermost frame is that thread's hot function
(~100 % when the profiler is right: each thread runs one). The target runs on the GIL build
of 3.13 (py-spy reads only GIL builds), then on 3.13t for spwalk alone. The machine's CPU
(/proc/stat) less the target's, the profiler's and the driver's tells what other processes
used meanwhile: a run during which they took more than OTHER_MAX % of a core is done again
(at most RERUNS times, RERUN_BUDGET s in all), the medians are of the runs without such
load (of all runs, marked *, when none was), and the tables say how many there were.

Found as: spwalk $SPPROF_SPWALK or build/bin/spwalk (make build/bin/spwalk); py-spy
$SPPROF_PYSPY or py-spy on PATH (never a dependency of spprof: without it the py-spy rows
are skipped); interpreters $SPPROF_PY313 / $SPPROF_PY313T or ci/bootstrap.sh's cache.
"""
import mmap
import os
import sys
import threading
import time

UNIT = 20_000          # loop iterations per work unit: about 1 ms of CPU on the 2-core VM
HOT = ("hot_alpha", "hot_beta", "hot_gamma")
SLOT_READY, SLOT_NID, SLOT_COUNT = 0, 1, 8   # q-slots of the shared file: 0, 1-3, 8-10
SHM_SIZE = 4096


# ---- the target -------------------------------------------------------------------------
def hot_alpha():
    x = 0
    for i in range(UNIT):
        x += i * i % 7
    return x


def hot_beta():
    x = 0
    for i in range(UNIT):
        x += i * i % 7
    return x


def hot_gamma():
    x = 0
    for i in range(UNIT):
        x += i * i % 7
    return x


READY_LOCK = threading.Lock()


def drive(fn, slot, counts):
    """Do work units in `fn` forever, storing the number done in the shared file."""
    counts[SLOT_NID + slot] = threading.get_native_id()
    with READY_LOCK:
        counts[SLOT_READY] += 1
    n = 0
    while True:
        fn()
        n += 1
        counts[SLOT_COUNT + slot] = n   # one aligned 8-byte store: read whole by the driver


def target(path):
    """3 threads doing work units until standard input closes; units done go to `path`."""
    fd = os.open(path, os.O_RDWR)
    mm = mmap.mmap(fd, SHM_SIZE)
    counts = memoryview(mm).cast("q")
    fns = (hot_alpha, hot_beta, hot_gamma)
    for slot, fn in enumerate(fns):
        threading.Thread(target=drive, args=(fn, slot, counts), daemon=True,
                         name=f"hot-{fn.__name__[4:]}").start()
    sys.stdin.read()   # the driver closes the pipe when the run is over
    done = [counts[SLOT_COUNT + i] for i in range(3)]
    print(" ".join(map(str, done)), flush=True)
    os._exit(0)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--target":
    target(sys.argv[2])

# ---- the driver -------------------------------------------------------------------------
import json            # noqa: E402  (the target above needs none of these)
import re              # noqa: E402
import shutil          # noqa: E402
import statistics      # noqa: E402
import subprocess      # noqa: E402
import tempfile        # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.environ.get("SPPROF_CACHE", os.path.expanduser("~/.cache/spprof"))


def arg(name, default, conv):
    if name in sys.argv:
        return conv(sys.argv[sys.argv.index(name) + 1])
    return default


QUICK = "--quick" in sys.argv
ROUNDS = arg("--rounds", 2 if QUICK else 3, int)
DURATION = arg("--duration", 3 if QUICK else 5, int)    # py-spy's --duration is whole seconds
JSON_OUT = arg("--json", None, str)
RATES = (100, 1000)
SETTLE = 0.3     # s between the target's threads all running and the profiler's start
LEAD = 0.5       # the work rate is measured from LEAD s after the profiler's start ...
TAIL = 0.25      # ... to TAIL s before its end: every profiler is sampling by then
OTHER_MAX = 15   # a run while other processes used more than this % of a core ...
RERUNS = 2       # ... is done again, at most this many times,
RERUN_BUDGET = [90.0]  # while the runs done again have taken less than this many s in all


def find_spwalk():
    exe = os.environ.get("SPPROF_SPWALK") or os.path.join(ROOT, "build", "bin", "spwalk")
    if not os.access(exe, os.X_OK):
        sys.exit(f"attach_bench: no spwalk at {exe} (run: make build/bin/spwalk)")
    return exe


def find_pyspy():
    exe = os.environ.get("SPPROF_PYSPY") or shutil.which("py-spy")
    if not exe or not os.access(exe, os.X_OK):
        print("py-spy not found (set SPPROF_PYSPY=/path/to/py-spy or put py-spy on PATH; "
              "e.g. python3.13 -m venv /tmp/pyspy-venv && /tmp/pyspy-venv/bin/pip install "
              "py-spy): the py-spy rows are skipped")
        return None, None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True)
    return exe, (out.stdout.strip() or out.stderr.strip())


def interpreters():
    found = []
    for tag, env, rel in (("3.13", "SPPROF_PY313", "cpython-3.13.5-gil/bin/python3.13"),
                          ("3.13t", "SPPROF_PY313T", "cpython-3.13.5-ft/bin/python3.13t")):
        exe = os.environ.get(env) or os.path.join(CACHE, rel)
        if os.access(exe, os.X_OK):
            found.append((tag, exe))
        else:
            print(f"attach_bench: {tag} skipped: no interpreter at {exe} (set {env})")
    return found


def configs(tag, pyspy):
    """[(name, tool, extra args)]; py-spy only on the GIL build."""
    out = [("spwalk record", "spwalk", []), ("spwalk record --blocking", "spwalk", ["--blocking"])]
    if pyspy and not tag.endswith("t"):
        out += [("py-spy record", "py-spy", []),
                ("py-spy record --nonblocking", "py-spy", ["--nonblocking"])]
    return out


def read_counts(counts):
    return [counts[SLOT_COUNT + i] for i in range(3)]


TICK = os.sysconf("SC_CLK_TCK")


def machine_busy():
    """CPU seconds the whole machine has spent busy (user+nice+system+irq+softirq)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:8]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / TICK


def process_cpu(pid):
    """User+system CPU seconds of process `pid`, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def one_run(py, tool, extra, rate, tools, tmp):
    """Start a target under `py`, attach `tool` (None: no profiler) at `rate` for DURATION s.
    Returns a dict: units (per thread, per s, in the measured window), and for a profiler
    cpu_pct, sps (samples/s per hot thread), share (hot function on top, per thread) and,
    for spwalk, drop_pct and its stats."""
    shm = os.path.join(tmp, "counts")
    with open(shm, "wb") as f:
        f.write(b"\0" * SHM_SIZE)
    fd = os.open(shm, os.O_RDWR)
    mm = mmap.mmap(fd, SHM_SIZE)
    os.close(fd)
    counts = memoryview(mm).cast("q")
    tgt = subprocess.Popen([py, os.path.abspath(__file__), "--target", shm],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    prof = None
    try:
        deadline = time.monotonic() + 20
        while counts[SLOT_READY] < 3:
            if time.monotonic() > deadline or tgt.poll() is not None:
                raise RuntimeError("attach_bench: the target did not start its 3 threads")
            time.sleep(0.01)
        nids = [counts[SLOT_NID + i] for i in range(3)]
        time.sleep(SETTLE)
        out = os.path.join(tmp, "profile.json")
        log = os.path.join(tmp, "profiler.log")
        if os.path.exists(out):
            os.unlink(out)
        t0 = time.monotonic()
        busy0, tcpu0, self0 = machine_busy(), process_cpu(tgt.pid), time.process_time()
        if tool == "spwalk":
            cmd = [tools["spwalk"], "record", "--pid", str(tgt.pid), "--duration",
                   str(DURATION), "--rate", str(rate), "-o", out] + extra
        elif tool == "py-spy":
            cmd = [tools["py-spy"], "record", "-p", str(tgt.pid), "-r", str(rate), "-d",
                   str(DURATION), "-f", "speedscope", "-o", out] + extra
        if tool:
            with open(log, "w") as lf:
                prof = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf)
        time.sleep(max(0.0, t0 + LEAD - time.monotonic()))
        m1, c1 = time.monotonic(), read_counts(counts)
        time.sleep(max(0.0, t0 + DURATION - TAIL - time.monotonic()))
        m2, c2 = time.monotonic(), read_counts(counts)
        res = {"units": [(b - a) / (m2 - m1) for a, b in zip(c1, c2)], "cpu_s": 0.0}
        if prof:
            _, status, ru = os.wait4(prof.pid, 0)
            wall = time.monotonic() - t0
            prof.returncode = os.waitstatus_to_exitcode(status)
            if prof.returncode != 0:
                with open(log) as lf:
                    raise RuntimeError(f"attach_bench: {' '.join(cmd)} exited "
                                       f"{prof.returncode}:\n{lf.read()[-2000:]}")
            res["cpu_s"] = ru.ru_utime + ru.ru_stime
            res["cpu_pct"] = 100 * res["cpu_s"] / wall
        # Everything else the machine did meanwhile (other people's jobs), in % of a core.
        mine = process_cpu(tgt.pid) - tcpu0 + res["cpu_s"] + time.process_time() - self0
        res["other_pct"] = 100 * max(0.0, machine_busy() - busy0 - mine) / (time.monotonic() - t0)
        if prof:
            with open(out) as f:
                doc = json.load(f)
            res.update(parse_spwalk(doc, nids) if tool == "spwalk" else parse_pyspy(doc, nids))
    finally:
        if prof and prof.returncode is None:   # only after an error: end it, then the target
            prof.kill()
            prof.wait()
        if tgt.poll() is None:
            tgt.communicate(timeout=20)   # closes its stdin: it prints its totals and exits
        del counts
        mm.close()
    return res


def parse_spwalk(doc, nids):
    from spprof import Profile
    p = Profile.from_dict(doc)
    per = {n: [0, 0] for n in nids}     # native id -> [samples, samples with its hot on top]
    for r in p.stacks:
        if r.native_thread_id in per:
            per[r.native_thread_id][0] += r.count
            if r.frames and r.frames[0].function == HOT[nids.index(r.native_thread_id)]:
                per[r.native_thread_id][1] += r.count
    st = p.stats
    walks = st["samples_captured"] + st["samples_dropped"]
    return {"sps": [per[n][0] / p.duration_s for n in nids],
            "share": [100 * per[n][1] / per[n][0] if per[n][0] else float("nan") for n in nids],
            "drop_pct": 100 * st["samples_dropped"] / walks if walks else 0.0,
            "stats": {k: st.get(k) for k in ("samples_captured", "samples_dropped",
                                             "dropped_by_reason", "ticks", "ticks_late",
                                             "tick_cpu_us_mean", "cpu_s")},
            "duration_s": p.duration_s}


def parse_pyspy(doc, nids):
    """py-spy's speedscope document: one profile per thread, named 'Thread NATIVE_ID "name"',
    each sample a list of frame indices, outermost first."""
    frames = doc["shared"]["frames"]
    per = {n: [0, 0] for n in nids}
    for prof in doc["profiles"]:
        m = re.match(r"Thread (\d+)", prof["name"])
        nid = int(m.group(1)) if m else None
        if nid not in per:
            continue
        hot = HOT[nids.index(nid)]
        for s in prof["samples"]:
            per[nid][0] += 1
            if s and frames[s[-1]]["name"] == hot:
                per[nid][1] += 1
    return {"sps": [per[n][0] / DURATION for n in nids],
            "share": [100 * per[n][1] / per[n][0] if per[n][0] else float("nan") for n in nids]}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def clean(r):
    return r["other_pct"] <= OTHER_MAX


def bench(tag, py, tools):
    cfgs = [(None, None, [], 0)] + [(name, tool, extra, rate) for rate in RATES
                                   for (name, tool, extra) in configs(tag, tools["py-spy"])]
    runs = {}   # (name, rate) -> [result per round]
    reruns = []  # other_pct of each run done again
    print(f"\n== {tag}: {py}")
    print(f"   {len(cfgs)} runs of {DURATION} s a round, {ROUNDS} rounds "
          f"(~{len(cfgs) * (DURATION + 0.8) * ROUNDS:.0f} s)", flush=True)
    with tempfile.TemporaryDirectory(prefix="attach_bench.", dir="/dev/shm"
                                     if os.path.isdir("/dev/shm") else None) as tmp:
        for rnd in range(ROUNDS):
            order = cfgs[rnd % len(cfgs):] + cfgs[:rnd % len(cfgs)]
            for name, tool, extra, rate in order:
                for attempt in range(1 + RERUNS):
                    t = time.monotonic()
                    r = one_run(py, tool, extra, rate, tools, tmp)
                    if attempt:
                        RERUN_BUDGET[0] -= time.monotonic() - t
                    if clean(r) or RERUN_BUDGET[0] <= 0 or attempt == RERUNS:
                        break
                    reruns.append(r["other_pct"])
                r["round"] = rnd
                runs.setdefault((name, rate), []).append(r)
            print(f"   round {rnd + 1}/{ROUNDS} done", flush=True)
    report(tag, cfgs, runs)
    others = [r["other_pct"] for rs in runs.values() for r in rs]
    print(f"   other processes meanwhile: median {med(others):.1f}%, max {max(others):.1f}% of a "
          f"core; {len(reruns)} run(s) done again for more than {OTHER_MAX}%")
    return {f"{name or 'none'}@{rate}": rs for (name, rate), rs in runs.items()}


def report(tag, cfgs, runs):
    """Medians over a configuration's clean runs (other processes under OTHER_MAX % of a
    core), or over all its runs, marked *, when none was clean. Slowdown is against the
    median of the clean no-profiler runs (of all of them, marked *, if none was clean)."""
    nones = runs[(None, 0)]
    base_rs = [r for r in nones if clean(r)] or nones
    mark = "" if any(clean(r) for r in nones) else "*"
    base = med([sum(r["units"]) for r in base_rs])
    print(f"\n   {tag}: baseline{mark} {base:.0f} work units/s in all (per thread "
          + "/".join(f"{med([r['units'][i] for r in base_rs]):.0f}" for i in range(3))
          + f"), median of {len(base_rs)} run(s) with no profiler")
    hdr = (f"   {'profiler':<28} {'Hz':>5} {'runs':>5} | {'samples/s per thread':>20} "
           f"{'drop':>6} | {'slowdown':>8} {'prof CPU':>8} | {'hot fn on top (a/b/g)':>23}")
    print(hdr)
    print("   " + "-" * (len(hdr) - 3))
    for name, tool, extra, rate in cfgs[1:]:
        rs = [r for r in runs[(name, rate)] if clean(r)]
        n = f"{len(rs)}/{len(runs[(name, rate)])}"
        if not rs:
            rs, n = runs[(name, rate)], "0*"
        sps = "/".join(f"{med([r['sps'][i] for r in rs]):.0f}" for i in range(3))
        drop = f"{med([r['drop_pct'] for r in rs]):.1f}%" if tool == "spwalk" else "-"
        share = "/".join(f"{med([r['share'][i] for r in rs]):.1f}" for i in range(3))
        slow = med([100 * (1 - sum(r["units"]) / base) for r in rs])
        print(f"   {name:<28} {rate:>5} {n:>5} | {sps:>20} {drop:>6} | {slow:>7.1f}% "
              f"{med([r['cpu_pct'] for r in rs]):>7.1f}% | {share + ' %':>23}")
    print("   runs: runs without other load / runs (0*: none was, the medians are of all); "
          "samples/s: samples a hot\n   thread got per second of the recording (spwalk: walks "
          "that gave a stack; drop: spwalk's walks\n   dropped, all threads); slowdown: work "
          "units/s against the baseline; prof CPU: the profiler\n   process's user+system CPU "
          "(os.wait4), start-up included, as % of one core over its wall time;\n   hot fn on "
          "top: share of a thread's samples whose innermost frame is its hot function")
    sw = [r["stats"] for (n, _), rs in runs.items() if n and n.startswith("spwalk") for r in rs]
    late = sum(s["ticks_late"] or 0 for s in sw)
    reasons = {}
    for s in sw:
        for k, v in (s["dropped_by_reason"] or {}).items():
            if v:
                reasons[k] = reasons.get(k, 0) + v
    print(f"   spwalk, all runs: {sum(s['ticks'] for s in sw)} ticks, {late} late; dropped: "
          f"{reasons or 'none'}")


def main():
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import spprof  # noqa: F401  (fail early if the driver interpreter cannot read profiles)
    tools = {"spwalk": find_spwalk()}
    tools["py-spy"], version = find_pyspy()
    if version:
        print(f"py-spy: {tools['py-spy']} ({version})")
    print(f"spwalk: {tools['spwalk']}; {os.cpu_count()} CPUs; work unit {UNIT} iterations")
    t = time.monotonic()
    out = {"py-spy": version, "duration_s": DURATION, "rounds": ROUNDS}
    for tag, py in interpreters():
        out[tag] = bench(tag, py, tools)
    print(f"\nattach_bench: {time.monotonic() - t:.0f} s in all")
    if JSON_OUT:
        with open(JSON_OUT, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
