"""The real-snapshot regression suite: every snapshot in corpus/snapshots/ must replay
to exactly its stored expected output, with the default build and under ASan+UBSan, and
the stored expectation must agree with what the interpreter itself reported."""
import json
import os
import subprocess

import pytest

import workload
from conftest import CORPUS, SPWALK, SPWALK_ASAN

ENTRIES = sorted(d.name for d in CORPUS.iterdir() if (d / "snapshot.spw").exists())
# Drop files (start(keep_drops=...), docs/regressions.md) have no oracle: the live walk
# dropped; their note region says what it said.
DROPS = [e for e in ENTRIES if not (CORPUS / e / "oracle.json").exists()]
SANITIZERS = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
              "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
VARIANTS = {"gcc": SPWALK, "asan": SPWALK_ASAN}


def run(variant, *args):
    exe = VARIANTS[variant]
    if not exe.exists():
        pytest.fail(f"{exe} is missing: run `make {exe.relative_to(CORPUS.parents[1])}`")
    env = dict(os.environ, **SANITIZERS)
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, env=env, timeout=120)


def test_corpus_covers_every_interpreter_flavour():
    tags = {name.split("-")[0] for name in ENTRIES}
    assert {"3.13t", "3.13", "3.14t"} <= tags, tags


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("entry", ENTRIES)
def test_replay_is_exact(entry, variant):
    d = CORPUS / entry
    snap = d / "snapshot.spw"
    v = run(variant, "verify", snap)
    assert (v.returncode, v.stderr) == (0, b""), v.stderr.decode()
    assert b"ok, replay matches" in v.stdout
    j = run(variant, "replay", "--json", snap)
    assert (j.returncode, j.stderr) == (0, b""), j.stderr.decode()
    assert j.stdout == (d / "expected.json").read_bytes()
    t = run(variant, "replay", snap)
    assert (t.returncode, t.stderr) == (0, b""), t.stderr.decode()
    assert t.stdout == (d / "expected.txt").read_bytes()


@pytest.mark.parametrize("entry", sorted(set(ENTRIES) - set(DROPS)))
def test_expectation_matches_interpreter(entry):
    d = CORPUS / entry
    expected = json.loads((d / "expected.json").read_text(encoding="utf-8"))
    oracle = json.loads((d / "oracle.json").read_text(encoding="utf-8"))
    assert expected["python"] == oracle["python"]
    assert workload.stacks(expected) == workload.stacks(oracle)
    assert all(t["status"] == "ok" for t in expected["threads"])


def drop_note(path):
    """The key: value lines of a drop file's note (docs/snapshot-format.md, drop files)."""
    data = path.read_bytes()
    start = data.index(b"spprof drop 1\n")
    text = data[start:data.index(b"\0", start)].decode()
    return dict(line.split(": ", 1) for line in text.splitlines()[1:])


@pytest.mark.parametrize("entry", DROPS)
def test_drop_replays_to_its_live_status(entry):
    d = CORPUS / entry
    note = drop_note(d / "snapshot.spw")
    (thread,) = json.loads((d / "expected.json").read_text(encoding="utf-8"))["threads"]
    if note["live_status"] != "torn":  # a torn file replays to whatever its bytes give
        assert (thread["status"], thread["reason"]) == (note["live_status"],
                                                        note["live_reason"]), note


QEMU = {"QEMU_LD_PREFIX": "/"}  # the multiarch arm64 libc: ci/qemu-python.sh says why


@pytest.fixture(scope="module")
def spwalk_arm64():
    """spwalk cross-built for aarch64 (the Makefile's arm64 variant), run under qemu-aarch64."""
    import shutil
    from conftest import BUILD, ROOT
    for tool in ("qemu-aarch64", "aarch64-linux-gnu-gcc"):
        if shutil.which(tool) is None:  # ci/bootstrap.sh installs both
            pytest.skip(f"{tool} is not installed: the aarch64 replay needs it")
    exe = BUILD / "arm64" / "bin" / "spwalk"
    r = subprocess.run(["make", "-s", "--no-print-directory", f"BUILD={BUILD}", str(exe)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return exe


@pytest.mark.arm64
@pytest.mark.parametrize("entry", ENTRIES)
def test_replay_is_the_same_under_qemu_aarch64(entry, spwalk_arm64):
    """Snapshots replay bit for bit on any architecture: the aarch64 build, under user-mode
    emulation, prints exactly the stored expected output (drop files included)."""
    d = CORPUS / entry
    for args, want in ((("replay", "--json"), "expected.json"), (("replay",), "expected.txt")):
        r = subprocess.run(["qemu-aarch64", str(spwalk_arm64), *args, str(d / "snapshot.spw")],
                           capture_output=True, env=dict(os.environ, **QEMU), timeout=300)
        assert (r.returncode, r.stderr) == (0, b""), r.stderr.decode()
        assert r.stdout == (d / want).read_bytes(), (entry, want)
