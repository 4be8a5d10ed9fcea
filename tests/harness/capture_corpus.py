#!/usr/bin/env python3
"""Capture the real-snapshot regression corpus (corpus/snapshots/<tag>-<workload>/).

    tests/harness/capture_corpus.py [--spwalk build/bin/spwalk] TAG=PYTHON ...

e.g. 3.13t=.../python3.13t 3.13=.../python3.13 3.14t=/opt/py314-ft/bin/python3.14t
3.13t-aarch64=ci/qemu-python.sh.
For each workload listed for TAG below: run it, wait until `spwalk dump` sees exactly the
stacks the interpreter reports (the oracle), capture it with `spwalk capture`, and write

    snapshot.spw    the snapshot (its expected output embedded)
    expected.json   `spwalk replay --json` of it (the same bytes as the embedded copy)
    expected.txt    `spwalk replay` of it
    oracle.json     the stacks the interpreter itself reported

A snapshot whose stacks differ from the oracle is refused, so the corpus only ever holds
walks known to be right.
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import workload

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "corpus" / "snapshots"

# Which workloads to keep per interpreter: every feature under the free-threaded builds,
# and enough of the default builds to cover their different object layouts.
PLAN = {
    "3.13t": ["deep", "names", "generators", "exec_code", "many_threads"],
    "3.13": ["names", "generators", "exec_code"],
    "3.14t": ["mixed", "deep", "names", "generators", "exec_code"],
    "3.14": ["mixed"],
    # The cross-built aarch64 3.13t under qemu-user (ci/qemu-python.sh), captured from
    # outside through the qemu process (docs/spwalk.md, "Under qemu-user").
    "3.13t-aarch64": ["deep", "names"],
}


def run(cmd):
    out = subprocess.run(cmd, capture_output=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))}: exit {out.returncode}: {out.stderr.decode()}")
    return out.stdout


def capture(spwalk, tag, python, name):
    dest = CORPUS / f"{tag}-{name}"
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        proc = workload.start(python, name, report)
        try:
            oracle = json.loads(report.read_text(encoding="utf-8"))
            doc = workload.settle(spwalk, proc.pid, oracle)
            if workload.stacks(doc) != workload.stacks(oracle):
                sys.exit(f"{tag}-{name}: spwalk dump does not match the interpreter; "
                         "run tests/harness/test_oracle.py")
            snap = Path(tmp) / "snapshot.spw"
            run([spwalk, "capture", "--pid", str(proc.pid), "-o", str(snap)])
        finally:
            proc.kill()
            proc.wait()
        expected = run([spwalk, "replay", "--json", str(snap)])
        if workload.stacks(json.loads(expected)) != workload.stacks(oracle):
            sys.exit(f"{tag}-{name}: the captured snapshot does not match the interpreter")
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        shutil.copy(snap, dest / "snapshot.spw")
        (dest / "expected.json").write_bytes(expected)
        (dest / "expected.txt").write_bytes(run([spwalk, "replay", str(snap)]))
        # One thread per line: compact, still diffable.
        lines = [json.dumps(t, ensure_ascii=False) for t in oracle["threads"]]
        (dest / "oracle.json").write_text(
            '{"python": ' + json.dumps(oracle["python"]) + ',\n "threads": [\n  '
            + ",\n  ".join(lines) + "\n]}\n", encoding="utf-8")
    print(f"{dest.relative_to(ROOT)}: {(dest / 'snapshot.spw').stat().st_size} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spwalk", default=str(ROOT / "build" / "bin" / "spwalk"))
    ap.add_argument("pythons", nargs="+", metavar="TAG=PYTHON")
    args = ap.parse_args()
    for item in args.pythons:
        tag, _, python = item.partition("=")
        if tag not in PLAN or not python:
            sys.exit(f"bad argument {item!r}: TAG is one of {', '.join(PLAN)}")
        for name in PLAN[tag]:
            capture(args.spwalk, tag, python, name)


if __name__ == "__main__":
    main()
