"""spwalk record: a wall-clock profile of another process, as spprof's own document.

The target runs three threads, each spinning in a function of its own; `spwalk record`
must find each function on top of its thread, stop when told (duration, target exit,
SIGINT, SIGTERM) with the document written, and never leave the target stopped or traced.
"""
import json
import os
import signal
import subprocess
import sys
import time
import types

import pytest

from conftest import PYTHONS, ROOT, SPWALK, SPWALK_ASAN

HOT = ("hot_alpha", "hot_beta", "hot_gamma")

# argv[1]: lifetime in seconds. Prints one JSON line {function: [ident, native id]} once
# every thread spins, then "time work" every quarter second (work: loops done since the
# line before), then exits.
# Each hot function also sleeps now and then (in C: its own frame stays on top), so that
# three of them leave a 2-core machine some time for the tests themselves.
WORKLOAD = r"""
import json, sys, threading, time

def hot_alpha(n):
    while True:
        for i in range(2000):
            pass
        n[0] += 1
        if n[0] % 16 == 0:
            time.sleep(0.001)

def hot_beta(n):
    while True:
        x = 0
        for i in range(2000):
            x ^= i
        n[0] += 1
        if n[0] % 16 == 0:
            time.sleep(0.001)

def hot_gamma(n):
    while True:
        s = ""
        for i in range(200):
            s = str(i)
        n[0] += 1
        if n[0] % 16 == 0:
            time.sleep(0.001)

ids, counters = {}, []
ready = threading.Barrier(4)

def run(f, n):
    ids[f.__name__] = [threading.get_ident(), threading.get_native_id()]
    ready.wait()
    f(n)

for f in (hot_alpha, hot_beta, hot_gamma):
    counters.append([0])
    threading.Thread(target=run, args=(f, counters[-1]), name=f.__name__, daemon=True).start()
ready.wait()
print(json.dumps(ids), flush=True)
end = time.monotonic() + float(sys.argv[1])
done = 0
while time.monotonic() < end:
    time.sleep(0.25)
    total = sum(c[0] for c in counters)
    print(time.monotonic(), total - done, flush=True)
    done = total
"""

BINARIES = [pytest.param(SPWALK, id="gcc")] + (
    [pytest.param(SPWALK_ASAN, id="asan")] if SPWALK_ASAN.exists() else [])
EACH_PYTHON = pytest.mark.parametrize("python", [p for _, p in PYTHONS],
                                      ids=[t for t, _ in PYTHONS])


def profile_class():
    """spprof.Profile from the source tree without the extension, which need not be built
    for the interpreter that runs these tests (the document format is pure Python)."""
    if "spprof" not in sys.modules:
        pkg = types.ModuleType("spprof")
        pkg.__path__ = [str(ROOT / "python" / "spprof")]
        sys.modules["spprof"] = pkg
    from spprof._profile import Profile
    return Profile


Profile = profile_class()


@pytest.fixture
def hot(request):
    """Start the workload: hot(python, lifetime=60) -> (process, {function: (ident, tid)})."""
    procs = []

    def start(python, lifetime=60.0):
        proc = subprocess.Popen([python, "-c", WORKLOAD, str(lifetime)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"the workload did not start: {proc.stderr.read()}")
        return proc, {k: tuple(v) for k, v in json.loads(line).items()}

    yield start
    for p in procs:
        p.kill()
        p.wait()


def record(binary, pid, *args, timeout=60):
    return subprocess.run([str(binary), "record", "--pid", str(pid), *map(str, args)],
                          capture_output=True, timeout=timeout)


def parse(out):
    assert out.returncode == 0, out.stderr.decode()
    lines = out.stdout.decode().splitlines()
    return [Profile.from_dict(json.loads(l), "spwalk's output") for l in lines]


def one_error_line(out):
    err = out.stderr.decode()
    return err.startswith("spwalk: error: ") and err.count("\n") == 1


def assert_running_untraced(pid):
    """No thread of pid is stopped or traced."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            tracer = [l.split()[1] for l in f if l.startswith("TracerPid:")][0]
        assert state not in "tT" and tracer == "0", (tid, state, tracer)


def check_stats(p, pid):
    st = p.stats
    assert st["timer"] == "spwalk-record" and st["pid"] == pid
    assert p.mode == "wall"
    assert st["samples_captured"] == p.total_samples
    assert sum(st["dropped_by_reason"].values()) == st["samples_dropped"]
    assert set(st["dropped_by_reason"]) == {"cycle", "invalid_frame", "invalid_code",
                                            "unreadable", "torn"}
    assert st["walk_retries"] >= st["dropped_by_reason"]["torn"] * 3
    if not st["nonblocking"]:  # a stopped target cannot move under a walk
        assert st["walk_retries"] == st["dropped_by_reason"]["torn"] == 0
    assert st["samples_other_threads"] == st["samples_other_stacks"] == 0
    assert all(t.pid == pid for t in p.threads)


def assert_hot_dominate(p, ids, share=0.9):
    """Each hot thread's samples have its own function on top."""
    for name, (ident, tid) in ids.items():
        mine = [r for r in p.stacks if (r.thread_id, r.native_thread_id) == (ident, tid)]
        total = sum(r.count for r in mine)
        on_top = sum(r.count for r in mine if r.frames and r.frames[0].function == name)
        assert total > 0 and on_top >= share * total, (name, on_top, total)


@EACH_PYTHON
@pytest.mark.parametrize("binary", BINARIES)
@pytest.mark.parametrize("mode", [["--blocking"], []], ids=["stopped", "nonblocking"])
def test_hot_functions_dominate(hot, python, binary, mode):
    proc, ids = hot(python)
    t0 = time.monotonic()
    out = record(binary, proc.pid, "--duration", 1.5, "--rate", 100, *mode)
    wall = time.monotonic() - t0
    [p] = parse(out)
    check_stats(p, proc.pid)
    assert p.interval_ms == 10
    assert not p.stats["target_exited"] and p.stats["final"]
    # --duration: the document says 1.5 s, the command took about that (start-up aside).
    assert 1.45 <= p.duration_s <= 2.0, p.duration_s
    assert 1.45 <= wall <= 8.0, wall
    assert 40 <= p.stats["ticks"] <= 152, p.stats
    assert_hot_dominate(p, ids)
    # Each thread under its threading name (read from threading._active: on 3.13 the
    # kernel's name is the interpreter's, python3.13t, for every thread).
    for name, (ident, tid) in ids.items():
        [t] = [t for t in p.threads if (t.ident, t.native_id) == (ident, tid)]
        assert t.name == name
    assert_running_untraced(proc.pid)


@EACH_PYTHON
@pytest.mark.parametrize("binary", BINARIES)
def test_target_exit_ends_the_recording(hot, python, binary):
    proc, ids = hot(python, lifetime=1.5)
    out = record(binary, proc.pid, timeout=30)
    [p] = parse(out)
    check_stats(p, proc.pid)
    assert p.stats["target_exited"] and p.stats["final"]
    assert p.duration_s < 10 and p.stats["ticks"] >= 5, p.stats
    assert_hot_dominate(p, ids, share=0.8)
    assert b"the target exited" in out.stderr


@EACH_PYTHON
@pytest.mark.parametrize("sig,mode", [(signal.SIGINT, ["--blocking"]), (signal.SIGTERM, [])],
                         ids=["SIGINT", "SIGTERM-nonblocking"])
def test_signal_writes_the_document(hot, python, sig, mode, tmp_path):
    proc, ids = hot(python)
    dest = tmp_path / "p.json"
    rec = subprocess.Popen([str(SPWALK), "record", "--pid", str(proc.pid), "-o", str(dest),
                            "--rate", "200", *mode], stderr=subprocess.PIPE)
    time.sleep(1.0)
    rec.send_signal(sig)
    assert rec.wait(30) == 0, rec.stderr.read()
    p = Profile.from_dict(json.loads(dest.read_text()), str(dest))
    check_stats(p, proc.pid)
    # a second at 200 Hz; a loaded machine gets fewer ticks done, the document is the point
    assert not p.stats["target_exited"] and p.stats["ticks"] >= 3
    assert_hot_dominate(p, ids, share=0.8)
    assert_running_untraced(proc.pid)
    assert proc.poll() is None


@pytest.mark.parametrize("binary", BINARIES)
def test_every_writes_growing_documents(hot, binary):
    proc, _ = hot(PYTHONS[0][1])
    docs = parse(record(binary, proc.pid, "--duration", 1.6, "--every", 0.3))
    assert len(docs) >= 4, [d.stats["ticks"] for d in docs]
    assert [d.stats["final"] for d in docs] == [False] * (len(docs) - 1) + [True]
    totals = [d.total_samples for d in docs]
    assert totals == sorted(set(totals)), totals
    for d in docs:
        check_stats(d, proc.pid)


def test_killed_mid_tick_leaves_the_target_running(hot):
    """However spwalk ends, the kernel lets the target go (stop.c)."""
    proc, _ = hot(PYTHONS[0][1])
    for _ in range(5):
        rec = subprocess.Popen([str(SPWALK), "record", "--pid", str(proc.pid), "--rate", "1000",
                                "-o", os.devnull], stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        rec.kill()
        rec.wait()
        time.sleep(0.05)
        assert_running_untraced(proc.pid)


def work_rate(lines, start, end):
    """Loops per second the workload reported between start and end (monotonic): each
    line counts the loops since the line before."""
    pts = [(float(t), int(w)) for t, w in (l.split() for l in lines)]
    inside = [(t, w) for t, w in pts if start < t <= end]
    assert len(inside) >= 3, (start, end, pts)
    return sum(w for _, w in inside[1:]) / (inside[-1][0] - inside[0][0])


@EACH_PYTHON
def test_stopping_at_100_hz_does_not_stall_the_target(hot, python):
    """Blocking mode holds the target a fraction of each 10 ms; the bound is generous
    because the machine the tests run on may be shared."""
    proc, _ = hot(python)
    time.sleep(1.5)
    t0 = time.monotonic()
    out = record(SPWALK, proc.pid, "--duration", 1.5)
    t1 = time.monotonic()
    time.sleep(0.5)
    proc.kill()
    lines = proc.stdout.read().splitlines()
    [p] = parse(out)
    assert p.stats["ticks"] >= 5
    alone, sampled = work_rate(lines, 0, t0), work_rate(lines, t0, t1)
    assert sampled >= 0.35 * alone, (sampled, alone)


def test_bad_targets():
    out = record(SPWALK, 4194304 + 1, "--duration", 1)  # above pid_max: never a process
    assert out.returncode == 1 and one_error_line(out) and b"no such process" in out.stderr
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        time.sleep(0.1)
        out = record(SPWALK, sleeper.pid, "--duration", 1)
        assert out.returncode == 1 and one_error_line(out)
        assert b"is not a supported Python" in out.stderr
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize("args", [
    [], ["--pid", "1", "--rate", "0"], ["--pid", "1", "--rate", "x"],
    ["--pid", "1", "--duration", "-1"], ["--pid", "1", "--every"], ["--pid", "1", "--json"],
    ["--pid", "1", "--rate", "100000"], ["--pid", "1", "--duration", "nan"],
])
def test_usage_errors(args):
    out = subprocess.run([str(SPWALK), "record", *args], capture_output=True, timeout=30)
    assert out.returncode == 2 and one_error_line(out), out


def test_unwritable_output_fails_before_recording(hot, tmp_path):
    proc, _ = hot(PYTHONS[0][1])
    t0 = time.monotonic()
    out = record(SPWALK, proc.pid, "--duration", 30, "-o", tmp_path / "missing" / "p.json")
    assert out.returncode == 1 and one_error_line(out) and b"cannot write" in out.stderr
    assert time.monotonic() - t0 < 20


# The torn-stack oracle from outside: the target's threads race through a known call graph
# (tests/torn/call_graph.py), read while they run; every stack spwalk record emits
# must be a path of the graph (tests/python/test_wall.py has the same in-process).
@EACH_PYTHON
def test_no_impossible_stack_while_the_target_runs(python):
    sys.path.insert(0, str(ROOT / "tests" / "torn"))
    import call_graph
    proc = subprocess.Popen([python, str(ROOT / "tests" / "torn" / "call_graph.py"), "30"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        [p] = parse(record(SPWALK, proc.pid, "--duration", 2, "--rate", 1000))
    finally:
        proc.kill()
        proc.wait()
    st = p.stats
    total, impossible = call_graph.count((r.frames, r.count) for r in p.stacks)
    torn = st["dropped_by_reason"]["torn"]
    print(f"record oracle: {total} samples in the graph, {impossible} impossible, {torn} torn, "
          f"{st['walk_retries']} retries")
    assert total >= 100 and impossible == 0, (total, impossible, st)
