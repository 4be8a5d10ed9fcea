"""Run a workload from tests/workloads/ and wait until its threads are parked."""
import json
import subprocess
import time
from pathlib import Path

WORKLOADS = Path(__file__).resolve().parents[1] / "workloads"


class WorkloadError(Exception):
    pass


def names():
    return sorted(p.stem for p in WORKLOADS.glob("*.py") if p.stem != "parking")


def start(python, name, report, timeout=60.0):
    """Start workload `name` under `python`; return the process once its report exists."""
    proc = subprocess.Popen([python, str(WORKLOADS / f"{name}.py"), str(report)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while not Path(report).exists():
        if proc.poll() is not None:
            raise WorkloadError(f"{name} exited with {proc.returncode}: "
                                f"{proc.stderr.read().decode(errors='replace')}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise WorkloadError(f"{name} wrote no report within {timeout:.0f} s")
        time.sleep(0.02)
    return proc


def stacks(doc):
    """thread_id -> (native id, [(function, file, line)]) of the threads with frames."""
    return {t["thread_id"]: (t["native_thread_id"],
                             [(f["function"], f["file"], f["line"]) for f in t["frames"]])
            for t in doc["threads"] if t["frames"]}


def dump(spwalk, pid):
    """`spwalk dump --pid PID --json`, parsed; raises on a nonzero exit."""
    out = subprocess.run([spwalk, "dump", "--pid", str(pid), "--json"], capture_output=True,
                         timeout=60)
    if out.returncode != 0 or out.stderr:
        raise WorkloadError(f"spwalk dump exited {out.returncode}: {out.stderr.decode()}")
    return json.loads(out.stdout.decode("utf-8"))


def settle(spwalk, pid, oracle, tries=100):
    """Dump until spwalk sees the oracle's stacks (the reporting thread enters park() just
    after writing its report) or the tries run out; return the last dump."""
    want = stacks(oracle)
    for _ in range(tries):
        doc = dump(spwalk, pid)
        if stacks(doc) == want:
            break
        time.sleep(0.05)
    return doc
