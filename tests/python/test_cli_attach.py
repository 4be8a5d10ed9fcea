"""The spprof command's out-of-process side (docs/cli.md): `record --pid`, `dump --pid` and
`top --pid`, run as users run them against a real target (cli_programs/forever.py with a
waiting thread beside its hot main thread), their outputs read back."""
import json
import os
import subprocess
import sys
import time

import pytest

import spprof
from conftest import QEMU
from test_cli import FOREVER, PROGRAMS, spprof_cmd

SPWALK = os.path.join(os.path.dirname(PROGRAMS), "..", "..", "build", "bin", "spwalk")
pytestmark = [
    pytest.mark.skipif(not os.path.exists(SPWALK), reason="build/bin/spwalk is missing: run "
                       "`make build/bin/spwalk`"),
    pytest.mark.skipif(QEMU, reason="spwalk is a host binary: under qemu-user it cannot read "
                       "the guest through ptrace (docs/spwalk.md reads it from the host)"),
]


@pytest.fixture
def target():
    """The running target, from its directory (its files are short under its cwd)."""
    proc = subprocess.Popen([sys.executable, FOREVER, "waiter"], cwd=PROGRAMS,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        # the waiter is on its way into its wait for a moment after "ready" (seen in CI as
        # running inside Condition.wait): go on once the kernel has it asleep
        deadline = time.monotonic() + 20
        while not waiter_asleep(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        yield proc
    finally:
        proc.kill()
        proc.wait()


def waiter_asleep(pid):
    """Is the target's other thread asleep (state S in /proc/PID/task/TID/stat)?"""
    for tid in os.listdir(f"/proc/{pid}/task"):
        if int(tid) == pid:
            continue
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "S"
        except (OSError, IndexError):
            return False
    return False


def frames_of(p, thread_pred):
    out = {}
    for r in p.stacks:
        if thread_pred(r.thread):
            key = tuple(f.function for f in r.frames)
            out[key] = out.get(key, 0) + r.count
    return out


def test_record_writes_a_wall_profile_with_idle_and_short_paths(target, tmp_path):
    out = tmp_path / "r.spprof"
    r = spprof_cmd("record", "--pid", str(target.pid), "-d", "1", "-r", "100", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "Wrote an spprof profile" in r.stderr and "dropped" in r.stderr, r.stderr
    assert "?" not in r.stderr.split("dropped", 1)[0][-40:], r.stderr  # a ratio, not "?"
    p = spprof.Profile.load(out)
    assert p.mode == "wall" and p.stats["pid"] == target.pid
    hot = sum(n for k, n in frames_of(p, lambda t: t.native_id == target.pid).items()
              if "hot_loop" in k)
    assert hot >= 70, p.stacks  # 1 s at 100 Hz
    waiting = frames_of(p, lambda t: t.native_id != target.pid)
    idle = sum(n for k, n in waiting.items() if k[:1] == ("<idle>",))
    assert idle >= 0.9 * sum(waiting.values()) - 1 and idle >= 70, waiting
    # (the hot thread too, for a tick it spent waiting for a CPU on a loaded machine)
    assert p.stats["samples_idle"] == sum(r.count for r in p.stacks
                                          if r.frames and r.frames[0].function == "<idle>")
    files = {f.file for r in p.stacks for f in r.frames if f.file}
    view = {f.file for f in p.view().frames}  # short by default
    assert any(f.endswith("/threading.py") for f in files), files
    assert "threading.py" in view and "forever.py" in view, view
    # --no-idle leaves the waiting thread's samples out; --full-filenames keeps paths whole
    out2 = tmp_path / "r.collapsed"
    r = spprof_cmd("record", "--pid", str(target.pid), "-d", "0.5", "--no-idle",
                   "--full-filenames", "-q", "-o", str(out2))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = out2.read_text()
    assert "<idle>" not in text and "hot_loop" in text and FOREVER in text, text[:500]


def test_dump_shows_every_thread(target):
    r = spprof_cmd("dump", "--pid", str(target.pid), "--json")
    assert r.returncode == 0, r.stderr
    threads = json.loads(r.stdout)
    assert len(threads) == 2, threads
    main = next(t for t in threads if t["native_id"] == target.pid)
    other = next(t for t in threads if t["native_id"] != target.pid)
    # frames: [function, file, line], innermost first
    assert main["frames"][0][0] == "hot_loop" and main["status"] == "ok", main
    assert main["frames"][0][1] == FOREVER, main
    assert any(f[0] == "Event.wait" for f in other["frames"]), other
    assert other["state"] == "idle", other
    text = spprof_cmd("dump", "--pid", str(target.pid))
    assert text.returncode == 0 and "hot_loop" in text.stdout and "Event.wait" in text.stdout


def test_top_watches_a_process(target, tmp_path):
    out = tmp_path / "t.spprof"
    r = spprof_cmd("top", "--pid", str(target.pid), "-d", "1.5", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert f"spprof top: pid {target.pid}" in r.stderr and "hot_loop (forever.py)" in r.stderr
    assert spprof.Profile.load(out).mode == "wall"
