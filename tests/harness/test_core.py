"""Stacks from ELF core files: `spwalk dump --core`, `spwalk capture --core`.

Real cores, made the way users make them, under every interpreter PYTHONS lists:
  - gcore (Debian's gdb) of a running oracle workload (tests/workloads/mixed.py) whose
    threads report their own stacks: the dump of the core equals the oracle and the live
    dump, and a capture of the core is a small snapshot that replays to the same output;
  - the kernel's core of a process that crashes (SIGABRT, SIGSEGV) inside a walk of its
    own frames (crashing.py): the dump shows the stack at the crash, as it reported it;
  - the executable the core names gone: one error saying to pass --exe, and --exe works;
  - the aarch64 python3.13t under qemu-user crashing: qemu's aarch64 core of its guest and
    the kernel's x86-64 core of qemu both show the stack at the crash (marker arm64).
Hostile core files get one error line and exit 1, from the plain and the ASan+UBSan build.
"""
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
from pathlib import Path

import pytest

import workload
from conftest import ARM64_EXE, PYTHONS, QEMU_PYTHON, QEMU_PYTHONS, SPWALK, SPWALK_ASAN

HERE = Path(__file__).resolve().parent
# Smaller cores of the free-threaded build: mimalloc reserves 1 GiB arenas and glibc 64 MiB
# ones per thread by default, which gcore writes out in full (1.6 GB instead of ~300 MB).
SMALL_HEAP = {"MIMALLOC_ARENA_RESERVE": "16MiB", "MALLOC_ARENA_MAX": "1"}
SANITIZERS = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
              "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
IDS = [t for t, _ in PYTHONS]


def run(tool, *args, env=None):
    return subprocess.run([tool, *map(str, args)], capture_output=True, timeout=120,
                          env=dict(os.environ, **(env or {})))


def ok(out):
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return out.stdout.decode("utf-8")


def assert_refused(out, what):
    err = out.stderr.decode("utf-8", "replace")
    assert out.returncode == 1, f"{what}: exit {out.returncode}: {err}"
    assert err.startswith("spwalk: error: ") and err.count("\n") == 1, f"{what}: {err!r}"
    assert out.stdout == b"", what
    return err


def gcore(pid, prefix):
    if not shutil.which("gcore"):
        pytest.fail("gcore is missing: ci/bootstrap.sh installs Debian's gdb")
    out = subprocess.run(["gcore", "-o", str(prefix), str(pid)], capture_output=True,
                         timeout=120)
    core = Path(f"{prefix}.{pid}")
    assert out.returncode == 0 and core.exists(), out.stderr.decode(errors="replace")
    return core


@pytest.fixture(scope="module", params=PYTHONS, ids=IDS)
def gcored(request, tmp_path_factory):
    """(python, oracle, live dump, core) of mixed.py parked, gcore'd, then killed."""
    tag, python = request.param
    tmp = tmp_path_factory.mktemp(f"gcore-{tag}")
    report = tmp / "report.json"
    env = dict(os.environ, **SMALL_HEAP)
    proc = subprocess.Popen([python, str(workload.WORKLOADS / "mixed.py"), str(report)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        for _ in range(3000):
            if report.exists() or proc.poll() is not None:
                break
            subprocess.run(["sleep", "0.02"])
        assert report.exists(), proc.stderr.read().decode(errors="replace")
        oracle = json.loads(report.read_text(encoding="utf-8"))
        live = workload.settle(str(SPWALK), proc.pid, oracle)
        core = gcore(proc.pid, tmp / "core")
    finally:
        proc.kill()
        proc.wait()
    yield python, oracle, live, core
    core.unlink()


def test_gcore_dump_equals_oracle(spwalk, gcored):
    _, oracle, live, core = gcored
    out = run(spwalk, "dump", "--core", core, "--json")
    doc = json.loads(ok(out))
    assert out.stderr == b""  # mixed.py's threads all have thread states
    assert doc["python"] == oracle["python"]
    assert workload.stacks(doc) == workload.stacks(oracle)
    assert doc == live  # the same threads, frames, code addresses as the live dump
    for t in doc["threads"]:
        assert (t["status"], t["reason"]) == ("ok", None), t
    text = ok(run(spwalk, "dump", "--core", core))
    assert text.startswith(f"Python {oracle['python']['version']}")
    assert "park (" in text


def test_gcore_capture_is_small_and_replays(spwalk, gcored, tmp_path):
    _, _, live, core = gcored
    snap = tmp_path / "x.spw"
    out = run(spwalk, "capture", "--core", core, "-o", snap)
    ok(out)
    assert b"captured" in out.stderr
    size, core_size = snap.stat().st_size, core.stat().st_size
    # Only the bytes the walk and symbolizer read: a few hundred KiB of a ~300 MB core.
    assert size * 500 < core_size, (size, core_size)
    assert json.loads(ok(run(spwalk, "replay", snap, "--json"))) == live
    assert "replay matches the expected output" in ok(run(spwalk, "verify", snap))
    assert ok(run(spwalk, "replay", snap)) == ok(run(spwalk, "dump", "--core", core))


def kernel_core(python, tmp_path, how):
    """Run crashing.py so that the kernel writes its core into tmp_path; (oracle, core)."""
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    restore = None
    if pattern.startswith("|") or "/" in pattern:
        # A pipe to a crash collector (systemd-coredump, apport), or a fixed directory:
        # the test can only get the core file itself by setting a plain pattern for the
        # duration of the test, which needs root.
        if not os.access("/proc/sys/kernel/core_pattern", os.W_OK):
            pytest.skip(f"core_pattern is {pattern!r} and not writable here (not root): the "
                        f"kernel would not write the core where this test can read it")
        restore = pattern
        Path("/proc/sys/kernel/core_pattern").write_text("core")
        pattern = "core"
    report = tmp_path / "report.json"

    def limits():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2)

    try:
        proc = subprocess.run([python, str(HERE / "crashing.py"), str(report), how],
                              cwd=tmp_path, preexec_fn=limits, capture_output=True,
                              timeout=120, env=dict(os.environ, **SMALL_HEAP))
    finally:
        if restore is not None:
            Path("/proc/sys/kernel/core_pattern").write_text(restore)
    sig = signal.SIGABRT if how == "abort" else signal.SIGSEGV
    assert proc.returncode == -sig, proc.stderr.decode(errors="replace")
    cores = [p for p in tmp_path.iterdir() if p.name == pattern or
             p.name.startswith(pattern + ".")]
    if not cores:
        pytest.skip(f"the kernel wrote no core (core_pattern {pattern!r}, "
                    f"suid_dumpable {Path('/proc/sys/fs/suid_dumpable').read_text().strip()})")
    return json.loads(report.read_text(encoding="utf-8")), cores[0]


def check_crash_core(spwalk, core, oracle, tmp_path, *exe):
    """The core dumps to the stack crashing.py reported, and captures to a snapshot that
    replays to the same; returns the dump."""
    doc = json.loads(ok(run(spwalk, "dump", "--core", core, *exe, "--json")))
    assert doc["python"] == oracle["python"]
    [thread] = doc["threads"]
    want = [(f["function"], f["file"], f["line"]) for f in oracle["threads"][0]["frames"]]
    got = [(f["function"], f["file"], f["line"]) for f in thread["frames"]]
    assert got == want
    assert got[0][0] == "visit" and got[1][0] == "walk"
    assert (thread["status"], thread["reason"]) == ("ok", None)
    snap = tmp_path / "crash.spw"
    ok(run(spwalk, "capture", "--core", core, *exe, "-o", snap))
    assert json.loads(ok(run(spwalk, "replay", snap, "--json"))) == doc
    return doc


@pytest.mark.parametrize("how", ["abort", "segv"])
@pytest.mark.parametrize("tag,python", PYTHONS, ids=IDS)
def test_crash_core_shows_the_stack_at_the_crash(spwalk, tag, python, how, tmp_path):
    oracle, core = kernel_core(python, tmp_path, how)
    try:
        check_crash_core(spwalk, core, oracle, tmp_path)
    finally:
        core.unlink()


@pytest.mark.arm64
@pytest.mark.parametrize("how", ["abort", "segv"])
def test_qemu_cores_show_the_stack_at_the_crash(spwalk, how, tmp_path):
    """The aarch64 python3.13t under qemu-user crashes: two cores, both read on x86-64.
    qemu writes the guest's own, an aarch64 core (qemu_<exe>_<time>_<pid>.core) with every
    page and no NT_FILE table, so the interpreter comes from --exe and the entry point; the
    kernel then writes qemu's, an x86-64 core holding the guest at its own addresses, whose
    NT_FILE table maps the aarch64 interpreter (docs/spwalk.md, "Under qemu-user")."""
    if not QEMU_PYTHONS:
        pytest.skip("the aarch64 python3.13t is not built (make pythons builds it)")
    oracle, host_core = kernel_core(str(QEMU_PYTHON), tmp_path, how)
    [guest_core] = [p for p in tmp_path.iterdir()
                    if p.name.startswith("qemu_") and p.name.endswith(".core")]
    try:
        for core, exe in ((host_core, ()), (guest_core, ("--exe", ARM64_EXE))):
            doc = check_crash_core(spwalk, core, oracle, tmp_path, *exe)
            assert "aarch64" in ok(run(spwalk, "dump", "--core", core, *exe)).splitlines()[0]
            assert doc["threads"][0]["native_thread_id"] > 0
        err = assert_refused(run(spwalk, "dump", "--core", guest_core), "guest core, no --exe")
        assert "no table of mapped files (NT_FILE): pass --exe PATH" in err
    finally:
        host_core.unlink()
        guest_core.unlink()


def test_moved_executable_needs_exe(spwalk, tmp_path):
    """The core names an interpreter path that no longer exists: the error says --exe."""
    tag, python = PYTHONS[0]
    moved = tmp_path / Path(python).name
    try:
        os.link(python, moved)  # the same file under a path the test can take away
    except OSError:
        shutil.copy2(python, moved)
    oracle, core = kernel_core(str(moved), tmp_path, "abort")
    moved.unlink()
    try:
        err = assert_refused(run(spwalk, "dump", "--core", core), "moved exe")
        assert f"the core maps {moved}, which is missing; pass --exe" in err
        doc = json.loads(ok(run(spwalk, "dump", "--core", core, "--exe", python, "--json")))
        got = [f["function"] for f in doc["threads"][0]["frames"]]
        assert got == [f["function"] for f in oracle["threads"][0]["frames"]]
        err = assert_refused(run(spwalk, "dump", "--core", core, "--exe", tmp_path / "nope"),
                             "missing --exe")
        assert "--exe" in err and "No such file" in err
    finally:
        core.unlink()


# ---- hostile core files ------------------------------------------------------------------

def elf_core(phdrs, notes=b"", machine=62, data=b""):
    """A small ELF core: header, program headers [(type, offset, vaddr, filesz, memsz)],
    then `notes` and `data` (offsets in phdrs are absolute)."""
    head = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    head += struct.pack("<HHIQQQIHHHHHH", 4, machine, 1, 0, 64, 0, 0, 64, 56, len(phdrs),
                        64, 0, 0)
    table = b"".join(struct.pack("<IIQQQQQQ", t, 6, off, va, 0, fs, ms, 1)
                     for t, off, va, fs, ms in phdrs)
    return head + table + notes + data


def note(name, type_, desc):
    n = name + b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(n), len(desc), type_) + pad(n) + pad(desc)


def hostile_cores():
    base = 64 + 56 * 2
    nt_file = note(b"CORE", 0x46494C45, struct.pack("<QQ", 1, 4096) +
                   struct.pack("<QQQ", 0x400000, 0x401000, 0) + b"/nonexistent/python3.13t\0")
    good_notes = note(b"CORE", 1, bytes(336)) + nt_file
    data_at = base + len(good_notes)
    cores = {
        "empty": b"",
        "not elf": b"hello world, this is not an ELF core file at all" * 4,
        "elf header only": elf_core([])[:40],
        "32-bit": b"\x7fELF\x01\x01\x01" + bytes(57),
        "not a core (ET_EXEC)": elf_core([])[:16] + b"\x02\x00" + elf_core([])[18:],
        "arm (EM_ARM)": elf_core([], machine=40),
        "phdrs past the end": elf_core([(1, 0, 0x1000, 0, 0x1000)] * 3)[:64 + 56],
        "segment past the end": elf_core([(4, base, 0, len(good_notes), 0),
                                          (1, 1 << 40, 0x10000, 4096, 4096)], good_notes),
        "overlapping segments": elf_core([(1, base, 0x10000, 16, 0x2000),
                                          (1, base, 0x11000, 16, 0x1000)], data=bytes(16)),
        "note past the end": elf_core([(4, base, 0, 12 + 8 + 16, 0), (1, 0, 0x1000, 0, 0)],
                                      struct.pack("<III", 5, 0x7FFFFFF0, 1) + b"CORE\0\0\0\0"
                                      + bytes(16)),
        "no NT_FILE": elf_core([(4, base, 0, len(note(b"CORE", 1, bytes(336))), 0),
                                (1, 0, 0x1000, 0, 0)], note(b"CORE", 1, bytes(336))),
        "interpreter missing": elf_core([(4, base, 0, len(good_notes), 0),
                                         (1, data_at, 0x400000, 16, 0x1000)], good_notes,
                                        data=bytes(16)),
    }
    n = note(b"CORE", 0x46494C45, struct.pack("<QQ", 1 << 60, 4096) + bytes(24))
    cores["NT_FILE huge count"] = elf_core([(4, base, 0, len(n), 0), (1, 0, 0x1000, 0, 0)], n)
    return cores


@pytest.mark.parametrize("variant", ["gcc", "asan"])
def test_hostile_cores_refused(spwalk, variant, tmp_path):
    tool = spwalk if variant == "gcc" else str(SPWALK_ASAN)
    if not Path(tool).exists():
        pytest.fail(f"{tool} is missing: build it first (make build/asan/bin/spwalk)")
    expect = {
        "empty": "not an ELF core file", "not elf": "not an ELF core file",
        "elf header only": "truncated", "32-bit": "not a 64-bit",
        "not a core (ET_EXEC)": "not a core file", "arm (EM_ARM)": "unsupported architecture",
        "phdrs past the end": "truncated", "segment past the end": "memory segment",
        "overlapping segments": "segments overlap", "note past the end": "note runs past",
        "NT_FILE huge count": "NT_FILE", "no NT_FILE": "no table of mapped files",
        "interpreter missing": "/nonexistent/python3.13t, which is missing; pass --lib",
    }
    for name, data in hostile_cores().items():
        path = tmp_path / "core"
        path.write_bytes(data)
        for cmd in (["dump", "--core", path], ["capture", "--core", path, "-o", tmp_path / "x"]):
            err = assert_refused(run(tool, *cmd, env=SANITIZERS), name)
            assert expect[name] in err, (name, err)
    # Usage errors: --core with --pid, --exe without --core.
    assert run(tool, "dump", "--core", path, "--pid", "1").returncode == 2
    assert run(tool, "dump", "--pid", "1", "--exe", "/bin/true").returncode == 2
    assert run(tool, "dump", "--core", path, "--nonblocking").returncode == 2
