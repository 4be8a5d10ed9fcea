"""spprof._remote: another process profiled and dumped through spwalk (docs/spwalk.md).

The target is a fresh interpreter of the same build as the one running the tests: one
thread spinning in spin_here(), one parked, the main thread asleep."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PYDIR, ROOT
from spprof import Profile, _remote

SPWALK = Path(ROOT) / "build" / "bin" / "spwalk"
pytestmark = pytest.mark.skipif(not SPWALK.exists(),
                                reason=f"{SPWALK} is missing: run `make build/bin/spwalk`")

TARGET = r"""
import json, sys, threading, time

def spin_here():
    while True:
        for i in range(1000):
            pass

done = threading.Event()

def parked():
    done.wait()

threads = [threading.Thread(target=spin_here, name="spinner", daemon=True),
           threading.Thread(target=parked, name="parked", daemon=True)]
for t in threads:
    t.start()
print(json.dumps({t.name: t.native_id for t in threads}), flush=True)
time.sleep(float(sys.argv[1]))
"""


@pytest.fixture
def target():
    """target(lifetime=60) -> (process, {thread name: native id})."""
    procs = []

    def start(lifetime=60.0):
        proc = subprocess.Popen([sys.executable, "-c", TARGET, str(lifetime)],
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc, json.loads(proc.stdout.readline())

    yield start
    for p in procs:
        p.kill()
        p.wait()


def on_top(profile, native_id):
    """(samples with spin_here innermost, all samples) of one thread."""
    mine = [r for r in profile.stacks if r.native_thread_id == native_id]
    return (sum(r.count for r in mine if r.frames and r.frames[0].function == "spin_here"),
            sum(r.count for r in mine))


def not_stopped(pid):
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] in "tT":
                return False
    return True


# ---- spwalk_path -------------------------------------------------------------------------
def fake_tool(path: Path, script: str = "exit 0") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return path


def test_spwalk_path_order(monkeypatch, tmp_path):
    monkeypatch.delenv("SPPROF_SPWALK", raising=False)
    # In this source tree, without a bundled binary: build/bin/spwalk.
    monkeypatch.setattr(_remote, "_BUNDLED", tmp_path / "none" / "spwalk")
    assert _remote.spwalk_path() == str(SPWALK)
    # The bundled binary comes first.
    bundled = fake_tool(tmp_path / "_bin" / "spwalk")
    monkeypatch.setattr(_remote, "_BUNDLED", bundled)
    assert _remote.spwalk_path() == str(bundled)
    # Outside a source tree: PATH.
    monkeypatch.setattr(_remote, "_BUNDLED", tmp_path / "none" / "spwalk")
    monkeypatch.setattr(_remote, "_SOURCE_TREE", tmp_path / "site-packages")
    on_path = fake_tool(tmp_path / "bin" / "spwalk")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert _remote.spwalk_path() == str(on_path)
    # SPPROF_SPWALK overrides everything, and must name an executable.
    monkeypatch.setenv("SPPROF_SPWALK", str(bundled))
    assert _remote.spwalk_path() == str(bundled)
    monkeypatch.setenv("SPPROF_SPWALK", str(tmp_path / "nothing"))
    with pytest.raises(RuntimeError, match="SPPROF_SPWALK"):
        _remote.spwalk_path()


def test_spwalk_path_missing_says_how_to_build(monkeypatch, tmp_path):
    monkeypatch.delenv("SPPROF_SPWALK", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(_remote, "_BUNDLED", tmp_path / "none" / "spwalk")
    tree = tmp_path / "clone"
    (tree / "harness").mkdir(parents=True)
    (tree / "harness" / "spwalk.c").write_text("")
    monkeypatch.setattr(_remote, "_SOURCE_TREE", tree)
    with pytest.raises(RuntimeError, match=r"make build/bin/spwalk` in .*clone"):
        _remote.spwalk_path()
    monkeypatch.setattr(_remote, "_SOURCE_TREE", tmp_path / "site-packages")
    with pytest.raises(RuntimeError, match="make build/bin/spwalk"):
        _remote.record(1)


# ---- record ---------------------------------------------------------------------------
def test_record(target):
    proc, tids = target()
    p = _remote.record(proc.pid, duration=1.0)
    assert isinstance(p, Profile) and p.mode == "wall" and p.interval_ms == 10
    assert p.timer == "spwalk-record" and p.stats["final"] and not p.stats["target_exited"]
    assert 0.95 <= p.duration_s < 2.0
    hot, total = on_top(p, tids["spinner"])
    assert total > 0 and hot >= 0.9 * total, (hot, total)
    assert {t.native_id for t in p.threads} >= set(tids.values())
    assert not_stopped(proc.pid)


def test_record_nonblocking_at_a_rate(target):
    proc, tids = target()
    p = _remote.record(proc.pid, duration=1.0, rate=50)
    assert p.interval_ms == 20 and p.stats["nonblocking"] and p.stats["rate_hz"] == 50
    assert 10 <= p.stats["ticks"] <= 51
    hot, total = on_top(p, tids["spinner"])
    assert hot >= 0.8 * total > 0


def test_record_updates(target):
    proc, _ = target()
    seen = []
    p = _remote.record(proc.pid, duration=1.4, on_update=seen.append, every=0.3)
    assert len(seen) >= 3, len(seen)
    totals = [u.total_samples for u in seen] + [p.total_samples]
    assert totals == sorted(set(totals)), totals
    assert not any(u.stats["final"] for u in seen) and p.stats["final"]


def test_record_stops_when_the_target_exits(target):
    proc, tids = target(lifetime=1.0)
    p = _remote.record(proc.pid)
    assert p.stats["target_exited"] and p.total_samples > 0
    assert on_top(p, tids["spinner"])[0] > 0


CHILD = r"""
import json, sys
from spprof import _remote
print("recording", flush=True)
p = _remote.record(int(sys.argv[1]))
print(json.dumps({"samples": p.total_samples, "ticks": p.stats["ticks"],
                  "exited": p.stats["target_exited"]}), flush=True)
"""


@pytest.mark.parametrize("group", [False, True], ids=["to-python", "to-group"])
def test_sigint_is_a_clean_stop(target, group):
    """SIGINT to the recording Python (or, as Ctrl-C does, to its whole process group)
    ends the recording with what was recorded; the target runs on."""
    proc, _ = target()
    env = dict(os.environ, PYTHONPATH=PYDIR + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(proc.pid)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=group)
    try:
        assert child.stdout.readline() == "recording\n"
        time.sleep(1.0)
        if group:
            os.killpg(child.pid, signal.SIGINT)
        else:
            child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    got = json.loads(out)
    assert got["samples"] > 0 and got["ticks"] > 10 and not got["exited"]
    assert proc.poll() is None and not_stopped(proc.pid)


# ---- dump -----------------------------------------------------------------------------
def test_dump(target):
    proc, tids = target()
    time.sleep(0.2)
    threads = _remote.dump(proc.pid)
    by_tid = {t["native_id"]: t for t in threads}
    assert set(tids.values()) <= set(by_tid)
    spinner, parked = by_tid[tids["spinner"]], by_tid[tids["parked"]]
    # threading names, from the target's memory (on 3.13 the kernel has python3.13t)
    assert (spinner["name"], parked["name"]) == ("spinner", "parked")
    assert [t["name"] for t in threads if t["native_id"] == proc.pid] == ["MainThread"]
    assert spinner["frames"][0][0] == "spin_here" and spinner["status"] == "ok"
    assert spinner["state"] == "running" and spinner["state_code"] == "R"
    assert parked["state"] == "idle" and parked["state_code"] == "S"
    assert [f[0] for f in parked["frames"]][-1] == "Thread._bootstrap"
    assert all(isinstance(line, int) for _, _, line in spinner["frames"])
    text = _remote.format_dump(threads)
    assert f'Thread {tids["spinner"]} (running): "{spinner["name"]}"\n    spin_here (' in text
    assert json.loads(json.dumps(threads))  # the CLI prints it as JSON
    assert not_stopped(proc.pid)


def test_format_dump():
    threads = [
        {"ident": 1, "native_id": 11, "name": "MainThread", "state": "running",
         "state_code": "R", "status": "ok", "reason": None,
         "frames": [("inner", "/a.py", 3), ("<module>", "/a.py", None)]},
        {"ident": 2, "native_id": 12, "name": "w", "state": "idle", "state_code": "D",
         "status": "dropped", "reason": "unreadable", "frames": [("f", "/b.py", 7)]},
        {"ident": 3, "native_id": 13, "name": "c", "state": "idle", "state_code": "S",
         "status": "ok", "reason": None, "frames": []},
    ]
    assert _remote.format_dump(threads) == (
        'Thread 11 (running): "MainThread"\n'
        "    inner (/a.py:3)\n"
        "    <module> (/a.py:?)\n"
        "\n"
        'Thread 12 (idle, D): "w"\n'
        "    f (/b.py:7)\n"
        "    [stack unreadable: unreadable]\n"
        "\n"
        'Thread 13 (idle): "c"\n'
        "    (no Python frame)\n")


# ---- errors ---------------------------------------------------------------------------
def test_no_such_process():
    for call in (lambda: _remote.dump(4194305), lambda: _remote.record(4194305, duration=1)):
        with pytest.raises(ProcessLookupError, match="^spwalk: no such process: 4194305$"):
            call()


def test_not_a_python():
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        time.sleep(0.1)
        for call in (lambda: _remote.dump(sleeper.pid),
                     lambda: _remote.record(sleeper.pid, duration=1)):
            with pytest.raises(RuntimeError, match="is not a supported Python"):
                call()
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize("script,exc,match", [
    ('echo "spwalk: error: permission denied: cannot stop process 7 (ptrace)" >&2; exit 1',
     PermissionError, r"^spwalk: permission denied: cannot stop process 7 \(ptrace\)"),
    ('echo "spwalk: error: process 7 runs Python 3.12.1, which is not supported" >&2; exit 1',
     RuntimeError, r"^spwalk: process 7 runs Python 3\.12\.1"),
    ("kill -9 $$", RuntimeError, "killed by signal 9"),
    ("exit 0", RuntimeError, "without writing a profile"),
])
def test_spwalk_errors_are_passed_through(monkeypatch, tmp_path, script, exc, match):
    monkeypatch.setenv("SPPROF_SPWALK", str(fake_tool(tmp_path / "spwalk", script)))
    with pytest.raises(exc, match=match):
        _remote.record(7, duration=1)


@pytest.mark.parametrize("kw,exc", [
    ({"pid": 0}, ValueError), ({"pid": -3}, ValueError), ({"pid": "12"}, TypeError),
    ({"pid": True}, TypeError), ({"pid": 1, "rate": 0}, ValueError),
    ({"pid": 1, "duration": -1}, ValueError), ({"pid": 1, "rate": "fast"}, ValueError),
])
def test_bad_arguments(kw, exc):
    with pytest.raises(exc):
        _remote.record(**kw)
