"""Thread names from outside: spwalk reads each thread's `threading` name from the target's
memory (threading._active, core/thread_names.h), in dump, capture (and so replay), record
and cores, on every interpreter. On 3.13 the kernel's name of every thread is the
interpreter's ("python3.13t"), and on 3.14 it is cut to 15 bytes: neither is what a user
named the thread.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import PYTHONS, QEMU_PYTHONS, SPWALK, SPWALK_ASAN
from test_core import SMALL_HEAP, gcore

# Prints {name: [ident, native id]} once every thread is up, then sleeps. "renamed" is
# renamed after it registered; "raw" is started with _thread and never enters _active;
# "ünïcødé-名前" is not ASCII; LONG is longer than the kernel's 15 bytes.
LONG = "a-thread-name-much-longer-than-fifteen-bytes"
TARGET = r"""
import _thread, json, sys, threading, time
ids, up = {}, threading.Barrier(6)
def park(key):
    ids[key] = [threading.get_ident(), threading.get_native_id()]
    up.wait()
    while True:
        time.sleep(0.05)
def raw():
    ids["raw"] = [_thread.get_ident(), _thread.get_native_id()]
    up.wait()
    while True:
        time.sleep(0.05)
names = ["worker-1", "ünïcødé-名前", %r, "renamed-before"]
threads = [threading.Thread(target=park, args=(n,), name=n, daemon=True) for n in names]
for t in threads:
    t.start()
_thread.start_new_thread(raw, ())
up.wait()
threads[3].name = "renamed"
ids["MainThread"] = [threading.get_ident(), threading.get_native_id()]
print(json.dumps(ids), flush=True)
time.sleep(120)
""" % LONG

WANT = {"MainThread": "MainThread", "worker-1": "worker-1", "ünïcødé-名前": "ünïcødé-名前",
        LONG: LONG, "renamed-before": "renamed"}
BINARIES = [pytest.param(SPWALK, id="gcc")] + (
    [pytest.param(SPWALK_ASAN, id="asan")] if SPWALK_ASAN.exists() else [])


# The aarch64 interpreter runs under qemu-user, read from outside through the qemu process.
EVERY_PYTHON = [pytest.param(p, id=t) for t, p in PYTHONS] + [
    pytest.param(p, id=t, marks=pytest.mark.arm64) for t, p in QEMU_PYTHONS]


@pytest.fixture(scope="module", params=EVERY_PYTHON)
def target(request):
    proc = subprocess.Popen([request.param, "-c", TARGET], stdout=subprocess.PIPE,
                            text=True, encoding="utf-8", env=dict(os.environ, **SMALL_HEAP))
    try:
        ids = json.loads(proc.stdout.readline())
        time.sleep(0.2)  # every thread parked in its sleep
        yield proc, {k: tuple(v) for k, v in ids.items()}
    finally:
        proc.kill()
        proc.wait()


def spwalk(binary, *args):
    out = subprocess.run([str(binary), *map(str, args)], capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return out.stdout.decode("utf-8")


def names_of(doc_threads):
    """{(ident, native id): name or None} of stack-JSON threads."""
    return {(t["thread_id"], t["native_thread_id"]): t.get("name") for t in doc_threads}


def assert_named(got, ids):
    for key, name in WANT.items():
        assert got[ids[key]] == name, (key, got)
    assert got[ids["raw"]] is None  # not in threading._active: no name, never a guess


@pytest.mark.parametrize("binary", BINARIES)
def test_dump_names_every_thread(target, binary):
    proc, ids = target
    assert_named(names_of(json.loads(spwalk(binary, "dump", "--pid", proc.pid, "--json"))
                          ["threads"]), ids)
    text = spwalk(binary, "dump", "--pid", proc.pid)
    assert f'Thread {ids[LONG][0]} (native {ids[LONG][1]}) "{LONG}": ok' in text
    assert f'Thread {ids["raw"][0]} (native {ids["raw"][1]}): ok' in text


def test_capture_keeps_the_names_for_replay(target, tmp_path):
    """A snapshot holds the memory the names were read from: its replay names the threads
    (and `verify` holds it to the capture's own output)."""
    proc, ids = target
    snap = tmp_path / "t.spwsnap"
    spwalk(SPWALK, "capture", "--pid", proc.pid, "-o", snap)
    spwalk(SPWALK, "verify", snap)
    assert_named(names_of(json.loads(spwalk(SPWALK, "replay", "--json", snap))["threads"]),
                 ids)


@pytest.mark.parametrize("mode", [["--blocking"], []], ids=["stopped", "running"])
def test_record_names_every_thread(target, mode, tmp_path):
    proc, ids = target
    out = tmp_path / "rec.json"
    spwalk(SPWALK, "record", "--pid", proc.pid, "--duration", 0.5, "--rate", 50, *mode,
           "-o", out)
    got = {(i, n): name for i, n, name, _ in json.loads(out.read_text("utf-8"))["threads"]}
    for key, name in WANT.items():
        assert got[ids[key]] == name, (key, got)
    with open(f"/proc/{proc.pid}/task/{ids['raw'][1]}/comm") as f:
        assert got[ids["raw"]] == f.read().rstrip("\n")  # the kernel's, for want of better


def test_core_names_every_thread(target, tmp_path):
    proc, ids = target
    core = gcore(proc.pid, tmp_path / "core")
    try:
        doc = json.loads(spwalk(SPWALK, "dump", "--core", core, "--json"))
    finally:
        core.unlink()
    assert_named(names_of(doc["threads"]), ids)


# A thread renamed while it is recorded, when SIGUSR1 comes.
RENAMED = r"""
import json, signal, threading, time
up = threading.Event()
def park():
    up.set()
    while True:
        time.sleep(0.05)
t = threading.Thread(target=park, name="before-rename", daemon=True)
t.start()
up.wait()
signal.signal(signal.SIGUSR1, lambda *a: setattr(t, "name", "after-rename"))
print(json.dumps([t.ident, t.native_id]), flush=True)
while True:
    time.sleep(0.05)
"""


@pytest.mark.parametrize("python", [pytest.param(p, id=t) for t, p in PYTHONS])
def test_record_follows_a_rename(python):
    """record looks every thread up again once a second (harness/record.c, REC_RENAME_S):
    the profile so far (--every) names the thread as it is named then."""
    proc = subprocess.Popen([python, "-c", RENAMED], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, **SMALL_HEAP))
    rec = None
    try:
        key = tuple(json.loads(proc.stdout.readline()))
        rec = subprocess.Popen([str(SPWALK), "record", "--pid", str(proc.pid), "--rate", "50",
                                "--every", "0.2", "--duration", "20", "-o", "-"],
                               stdout=subprocess.PIPE, text=True, encoding="utf-8")
        seen = []
        for line in rec.stdout:
            name = {(i, n): name for i, n, name, _ in json.loads(line)["threads"]}.get(key)
            seen.append(name)
            if name == "before-rename" and seen.count(name) == 3:
                proc.send_signal(signal.SIGUSR1)
            if name == "after-rename" or len(seen) == 50:
                break
        # named at once, then renamed within the second (and a tick) after the signal
        assert seen[0] == "before-rename" and seen[-1] == "after-rename", seen
        sent = 2  # the third document
        assert seen.index("after-rename") <= sent + 1 / 0.2 + 2, seen
    finally:
        if rec:
            rec.kill()
            rec.wait()
        proc.kill()
        proc.wait()
