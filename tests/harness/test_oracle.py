"""The oracle test: spwalk dump must see exactly the stacks the interpreter reports.

Each workload (tests/workloads/) parks its threads at known stacks and writes them as
sys._current_frames() describes them (co_qualname, co_filename, f_lineno). `spwalk dump
--pid P --json` of the parked process must list the same threads with the same frames,
frame by frame, under every interpreter `make which-python` lists and, when it is built,
the aarch64 python3.13t under qemu-user, read from outside through the qemu process.
"""
import json
import os

import pytest

import workload
from conftest import PYTHONS, QEMU_PYTHONS

ALL = ([pytest.param(t, p, id=t) for t, p in PYTHONS]
       + [pytest.param(t, p, marks=pytest.mark.arm64, id=t) for t, p in QEMU_PYTHONS])


def first_difference(want, got):
    for i, (a, b) in enumerate(zip(want, got)):
        if a != b:
            return f"frame {i}: interpreter {a} != spwalk {b}"
    return f"interpreter has {len(want)} frames, spwalk {len(got)}"


def test_interpreters_are_found():
    """The parametrized tests below would silently vanish without interpreters."""
    tags = {t for t, _ in PYTHONS + QEMU_PYTHONS}
    assert {"3.13t", "3.13"} <= tags, PYTHONS
    if os.environ.get("CI"):  # make pythons builds it there
        assert "3.13t-aarch64" in tags, "the aarch64 python3.13t is not built"


@pytest.mark.parametrize("tag,python", ALL)
@pytest.mark.parametrize("name", workload.names())
def test_dump_matches_interpreter(spwalk, tag, python, name, tmp_path):
    report = tmp_path / "report.json"
    try:
        proc = workload.start(python, name, report)
    except workload.WorkloadError as exc:
        pytest.fail(str(exc))
    try:
        oracle = json.loads(report.read_text(encoding="utf-8"))
        doc = workload.settle(spwalk, proc.pid, oracle)
        want, got = workload.stacks(oracle), workload.stacks(doc)
        assert doc["python"] == oracle["python"]
        assert sorted(got) == sorted(want), "different sets of threads with Python frames"
        for tid in want:
            assert got[tid][0] == want[tid][0], f"thread {tid}: native id"
            assert got[tid][1] == want[tid][1], f"thread {tid}: " + first_difference(
                want[tid][1], got[tid][1])
        # Every thread threading knows has its threading name (read from threading._active
        # in the target's memory), whole: the kernel has python3.13t on 3.13 and 15 bytes
        # on 3.14.
        names = {t["thread_id"]: t.get("name") for t in doc["threads"]}
        for t in oracle["threads"]:
            if t.get("name") is not None:
                assert names.get(t["thread_id"]) == t["name"], t["thread_id"]
        for t in doc["threads"]:
            assert (t["status"], t["reason"]) == ("ok", None), t
            for f in t["frames"]:
                assert "error" not in f, f
    finally:
        proc.kill()
        proc.wait()
