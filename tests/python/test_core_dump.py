"""spprof dump --core and spprof._remote.dump_core(): stacks from an ELF core file.

The core is the kernel's, of a fresh interpreter of the same build as the one running the
tests that aborts inside a walk of its own frames after reporting the stack it aborts
with (tests/harness/crashing.py). spprof must print that stack, through spwalk.
"""
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PYDIR, ROOT
from spprof import _remote

SPWALK = Path(ROOT) / "build" / "bin" / "spwalk"
CRASHING = Path(ROOT) / "tests" / "harness" / "crashing.py"
pytestmark = pytest.mark.skipif(not SPWALK.exists(),
                                reason=f"{SPWALK} is missing: run `make build/bin/spwalk`")


def spprof(*args):
    env = dict(os.environ, PYTHONPATH=PYDIR, SPPROF_SPWALK=str(SPWALK))
    return subprocess.run([sys.executable, "-m", "spprof", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    """(oracle frames, core path) of an aborted interpreter."""
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern != "core" and not pattern.startswith("core"):
        pytest.skip(f"core_pattern is {pattern!r}: the kernel does not write the core into "
                    f"the process's directory (tests/harness/test_core.py sets it as root)")
    tmp = tmp_path_factory.mktemp("core")
    report = tmp / "report.json"

    def limits():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2)

    proc = subprocess.run([sys.executable, str(CRASHING), str(report), "abort"], cwd=tmp,
                          preexec_fn=limits, capture_output=True, timeout=120,
                          env=dict(os.environ, MIMALLOC_ARENA_RESERVE="16MiB",
                                   MALLOC_ARENA_MAX="1"))
    assert proc.returncode < 0, proc.stderr
    cores = [p for p in tmp.iterdir() if p.name.startswith("core")]
    if not cores:
        pytest.skip("the kernel wrote no core file here")
    want = [(f["function"], f["file"], f["line"])
            for f in json.loads(report.read_text())["threads"][0]["frames"]]
    yield want, cores[0]
    cores[0].unlink()


def test_dump_core(crashed):
    want, core = crashed
    [thread] = _remote.dump_core(core)
    assert thread["frames"] == want
    assert (thread["status"], thread["reason"]) == ("ok", None)
    assert thread["name"] == "MainThread"  # the core holds threading._active
    assert thread["state"] == "unknown"


def test_cli_dump_core_text_and_json(crashed):
    want, core = crashed
    out = spprof("dump", "--core", core)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Thread ") and lines[0].endswith('(unknown): "MainThread"')
    assert lines[1:1 + len(want)] == [f"    {fn} ({file}:{line})" for fn, file, line in want]
    out = spprof("dump", "--core", core, "--json")
    assert out.returncode == 0, out.stderr
    [thread] = json.loads(out.stdout)
    assert [tuple(f) for f in thread["frames"]] == want


def test_cli_dump_core_errors(tmp_path, crashed):
    _, core = crashed
    bogus = tmp_path / "not-a-core"
    bogus.write_bytes(b"hello")
    out = spprof("dump", "--core", bogus)
    assert out.returncode == 1
    assert out.stderr == f"spprof dump: error: spwalk: {bogus} is not an ELF core file " \
                         f"(not an ELF file)\n"
    out = spprof("dump", "--core", core, "--exe", tmp_path / "gone")
    assert out.returncode == 1 and "--exe" in out.stderr and "No such file" in out.stderr
    for args in (["--core", core, "--pid", "1"], ["--pid", "1", "--exe", "/bin/true"],
                 ["--core", core, "--nonblocking"], []):
        out = spprof("dump", *args)
        assert out.returncode == 2, (args, out.stderr)
    with pytest.raises(RuntimeError, match="not an ELF core file"):
        _remote.dump_core(bogus)
