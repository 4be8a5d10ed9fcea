"""The torn-stack oracle from outside, at scale: `spwalk record` (the target read while it
runs, its default) sampling the call-graph workload until over a million samples fall in
the graph (figures printed; an impossible stack is printed loudly, with its frames).

    python3.13t bench/record_oracle.py PYTHON [PYTHON ...]     # each target interpreter
    python3.13t bench/record_oracle.py --target 100000 PYTHON  # fewer samples

The driver runs under an interpreter spprof's extension is built for (it reads spwalk's
output with spprof.Profile); the targets may be any 3.13/3.13t/3.14/3.14t.

The target is tests/torn/call_graph.py (4 threads racing through a known call graph, a
call or return every few tens of nanoseconds; every true stack is a path of the graph
from g0), recorded at spwalk's highest rate (10 kHz) in sessions of up to 30 s, a fresh
target each, until the samples in the graph reach the target count or 600 s have gone by.
tests/harness/test_record.py runs the same check for 2 s.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(ROOT, "python"), os.path.join(ROOT, "tests", "torn")]
import call_graph  # noqa: E402
from spprof import Profile  # noqa: E402

SPWALK = os.path.join(ROOT, "build", "bin", "spwalk")
WORKLOAD = os.path.join(ROOT, "tests", "torn", "call_graph.py")
CAP_S = 600.0


def session(python, seconds):
    proc = subprocess.Popen([python, WORKLOAD, str(seconds + 30)], stdout=subprocess.PIPE,
                            text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"{python}: the workload did not start")
        out = subprocess.run([SPWALK, "record", "--pid", str(proc.pid), "--rate", "10000",
                              "--duration", str(seconds)], capture_output=True,
                             timeout=seconds + 60)
    finally:
        proc.kill()
        proc.wait()
    if out.returncode != 0:
        raise SystemExit(f"spwalk record failed: {out.stderr.decode().strip()}")
    [line] = out.stdout.decode().splitlines()
    return Profile.from_dict(json.loads(line), "spwalk's output")


def oracle(python, target):
    tot = {"samples": 0, "impossible": 0, "torn": 0, "retries": 0, "ticks": 0, "seconds": 0.0}
    rate = None
    t0 = time.monotonic()
    while tot["samples"] < target and time.monotonic() - t0 < CAP_S:
        left = target - tot["samples"]
        secs = 30.0 if rate is None else min(30.0, max(2.0, 1.1 * left / rate))
        p = session(python, secs)
        st = p.stats
        total, impossible = call_graph.count((r.frames, r.count) for r in p.stacks)
        if impossible:
            for r in p.stacks:
                _, bad = call_graph.count([(r.frames, r.count)])
                if bad:
                    print("   IMPOSSIBLE:", r.count, " <- ".join(f.function for f in r.frames))
        tot["samples"] += total
        tot["impossible"] += impossible
        tot["torn"] += st["dropped_by_reason"].get("torn", 0)
        tot["retries"] += st.get("walk_retries", 0)
        tot["ticks"] += st.get("ticks", 0)
        tot["seconds"] += secs
        rate = max(1.0, tot["samples"] / tot["seconds"])
        print(f"   session of {secs:.0f} s: {total:,} in the graph, {impossible} impossible, "
              f"{st['dropped_by_reason'].get('torn', 0):,} torn", flush=True)
    return tot


def main():
    args = sys.argv[1:]
    target = 1_000_000
    if "--target" in args:
        k = args.index("--target")
        target = int(args[k + 1])
        del args[k:k + 2]
    if not args:
        raise SystemExit(__doc__)
    if not os.path.exists(SPWALK):
        raise SystemExit(f"{SPWALK} is missing: make build/bin/spwalk")
    for python in args:
        ver = subprocess.run([python, "-c", "import sys, sysconfig; print(sys.version.split()[0]"
                              " + ('t' if sysconfig.get_config_var('Py_GIL_DISABLED') else ''))"],
                             capture_output=True, text=True).stdout.strip()
        print(f"spwalk record, call-graph oracle, {ver}: 10 kHz until >= {target:,} samples "
              f"in the graph", flush=True)
        t = oracle(python, target)
        walks = t["samples"] + t["torn"]
        print(f"   total: {t['samples']:,} samples in the graph in {t['seconds']:.0f} s of "
              f"recording, impossible: {t['impossible']}"
              f"{'  <-- IMPOSSIBLE STACKS' if t['impossible'] else ''}; torn {t['torn']:,} "
              f"({100 * t['torn'] / max(1, walks):.1f} % of walks), retries {t['retries']:,}",
              flush=True)


if __name__ == "__main__":
    main()
