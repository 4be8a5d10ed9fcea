"""Shared set-up of the spwalk tests: where the tool and the interpreters are."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BUILD", ROOT / "build"))
SPWALK = BUILD / "bin" / "spwalk"
SPWALK_ASAN = BUILD / "asan" / "bin" / "spwalk"

WORKLOADS = ROOT / "tests" / "workloads"
CORPUS = ROOT / "corpus" / "snapshots"


def which_python():
    """[(tag, path)] from `make which-python` ("3.13t /path" lines); when that target is
    not available yet, the interpreters ci/bootstrap.sh builds, plus SPPROF_PY314T."""
    try:
        out = subprocess.run(["make", "-s", "--no-print-directory", "which-python"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
        pairs = [l.split(None, 1) for l in out.stdout.splitlines() if l.strip()]
        if out.returncode == 0 and pairs and all(len(p) == 2 for p in pairs):
            return [(t, p.strip()) for t, p in pairs]
    except (OSError, subprocess.TimeoutExpired):
        pass
    cache = Path(os.environ.get("SPPROF_CACHE", Path.home() / ".cache" / "spprof"))
    found = [("3.13t", cache / "cpython-3.13.5-ft" / "bin" / "python3.13t"),
             ("3.13", cache / "cpython-3.13.5-gil" / "bin" / "python3.13")]
    if os.environ.get("SPPROF_PY314T"):
        found.append(("3.14t", Path(os.environ["SPPROF_PY314T"])))
    return [(t, str(p)) for t, p in found if os.access(p, os.X_OK)]


PYTHONS = which_python()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "arm64: runs aarch64 code under qemu-aarch64 (make check runs these as "
                   "their own stage, corpus-arm64: `-m arm64`; the harness stage `-m 'not arm64'`)")

# The cross-built aarch64 python3.13t, run under qemu-user by ci/qemu-python.sh (built by
# `make pythons`). spwalk reads it from outside through the qemu process: an x86-64 process
# that maps the guest's ELF objects at the guest's own addresses (docs/spwalk.md).
QEMU_PYTHON = ROOT / "ci" / "qemu-python.sh"
ARM64_EXE = (Path(os.environ.get("SPPROF_CACHE", Path.home() / ".cache" / "spprof"))
              / "cpython-3.13.5-ft-arm64" / "bin" / "python3.13t")
QEMU_PYTHONS = [("3.13t-aarch64", str(QEMU_PYTHON))] if os.access(ARM64_EXE, os.X_OK) else []


@pytest.fixture(scope="session")
def spwalk():
    if not SPWALK.exists():
        pytest.fail(f"{SPWALK} is missing: run `make {SPWALK.relative_to(ROOT)}` first")
    return str(SPWALK)
