"""No crash under contention: 32 threads, churn, generators, coroutines, exceptions, GC,
deep recursion and exec'd code, at 1 ms, for 20 s (in a subprocess, so a crash is a
failure with its output, not a dead test run). SPPROF_CONTENTION_SECONDS shortens it for
local iteration only; make python-test runs the full 20 s."""
import json
import os
import sys

from conftest import check_identities, run_child

HERE = os.path.dirname(os.path.abspath(__file__))


def test_no_crash_under_contention():
    seconds = float(os.environ.get("SPPROF_CONTENTION_SECONDS", "20"))
    code = (f"import sys; sys.argv = ['w', '{seconds}']; sys.path.insert(0, {HERE!r});"
            "import contention_workload; contention_workload.main()")
    r = run_child(code, timeout=seconds + 90)
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-4000:])
    res = json.loads(r.stdout.strip().splitlines()[-1])
    st = res["stats"]
    check_identities(st)
    check_identities(res["mid"])
    assert st["threads_armed"] >= 33, st
    assert st["samples_captured"] > 0 and res["total"] == st["samples_captured"], st
    # every kind of worker was seen on some stack
    assert set(res["kinds"]) >= {"churn", "generators", "coroutines", "exceptions", "garbage",
                                 "deep", "execs", "cpu"}, res["kinds"]
    print(json.dumps(st))
