"""Hostile input: damaged, truncated, empty, oversized, random and forged snapshot files.

The rule: spwalk answers every file with either a replay (exit 0) or one line
"spwalk: error: ..." and exit status 1 — never a crash, a sanitizer report or a hang. Any
damage the CRC covers must be refused (exit 1). Forged files (damage with the CRC made
right again) get past the decoder's integrity check and test everything behind it: the
layout parser, the walker and the symbolizer on nonsense memory.
"""
import os
import random
import struct
import subprocess
import zlib

import pytest

from conftest import CORPUS, SPWALK, SPWALK_ASAN

SEED_FILE = CORPUS / "3.14t-generators" / "snapshot.spw"
SANITIZERS = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
              "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
VARIANTS = {"gcc": SPWALK, "asan": SPWALK_ASAN}


@pytest.fixture(params=sorted(VARIANTS))
def tool(request):
    exe = VARIANTS[request.param]
    if not exe.exists():
        pytest.fail(f"{exe} is missing: build it first")
    return str(exe)


def spwalk(tool, *args):
    env = dict(os.environ, **SANITIZERS)
    return subprocess.run([tool, *map(str, args)], capture_output=True, env=env, timeout=60)


def assert_refused(out, what):
    err = out.stderr.decode("utf-8", "replace")
    assert out.returncode == 1, f"{what}: exit {out.returncode}: {err}"
    assert err.startswith("spwalk: error: ") and err.count("\n") == 1, f"{what}: {err!r}"
    assert out.stdout == b"", what


def assert_no_crash(out, what):
    err = out.stderr.decode("utf-8", "replace")
    assert out.returncode in (0, 1), f"{what}: exit {out.returncode}: {err}"
    if out.returncode == 1:
        assert err.startswith("spwalk: error: ") and err.count("\n") == 1, f"{what}: {err!r}"
    else:
        assert err == "", f"{what}: {err!r}"


def forge(data):
    """Recompute the CRC-32 trailer (last 8 bytes: crc, zero) over everything before it."""
    body = bytes(data[:-8])
    return body + struct.pack("<II", zlib.crc32(body), 0)


def seed():
    return SEED_FILE.read_bytes()


def test_zero_length(tool, tmp_path):
    f = tmp_path / "empty"
    f.write_bytes(b"")
    for cmd in ("replay", "verify", "show"):
        assert_refused(spwalk(tool, cmd, f), cmd)


def test_truncated(tool, tmp_path):
    data = seed()
    rng = random.Random(1)
    lengths = sorted(set(range(1, 130)) | {len(data) - k for k in range(1, 40)}
                     | {rng.randrange(1, len(data)) for _ in range(60)})
    f = tmp_path / "cut"
    for n in lengths:
        f.write_bytes(data[:n])
        assert_refused(spwalk(tool, "replay", f), f"cut at {n}")


def test_trailing_bytes(tool, tmp_path):
    f = tmp_path / "long"
    f.write_bytes(seed() + b"\0")
    assert_refused(spwalk(tool, "verify", f), "one byte appended")


def test_every_bit_flip_the_crc_covers_is_refused(tool, tmp_path):
    data = seed()
    rng = random.Random(2)
    # Every bit of the 64-byte header, then bits spread over the rest of the file.
    positions = [(i, b) for i in range(64) for b in range(8)]
    positions += [(rng.randrange(64, len(data)), rng.randrange(8)) for _ in range(250)]
    f = tmp_path / "flip"
    for i, b in positions:
        d = bytearray(data)
        d[i] ^= 1 << b
        f.write_bytes(d)
        assert_refused(spwalk(tool, "replay", "--json", f), f"bit {b} of byte {i}")


def region_data_spans(data):
    """[(file offset, length)] of each region's bytes (docs/snapshot-format.md: u32
    offsets_len at 32, n_threads at 36, n_regions at 40; the 64-byte header, the offsets
    blob padded to 8, 24-byte thread entries, then 24-byte region entries: addr, len,
    data offset)."""
    offsets_len, n_threads, n_regions = struct.unpack_from("<III", data, 32)
    table = 64 + (offsets_len + 7) // 8 * 8 + 24 * n_threads
    return [struct.unpack_from("<QQQ", data, table + 24 * i)[1:][::-1]
            for i in range(n_regions)]


def test_forged_files_never_crash(tool, tmp_path):
    data = seed()
    rng = random.Random(3)
    f = tmp_path / "forged"
    for case in range(150):
        d = bytearray(data)
        # One to eight random byte changes anywhere before the trailer, CRC fixed up.
        for _ in range(rng.randrange(1, 9)):
            d[rng.randrange(0, len(d) - 8)] = rng.randrange(256)
        f.write_bytes(forge(d))
        for cmd in (("replay", "--json"), ("verify",), ("show",)):
            out = spwalk(tool, *cmd, f)
            if cmd[0] == "verify" and out.returncode == 1 and b"differs" in out.stderr:
                continue  # a mismatch report is a multi-line diff by design
            assert_no_crash(out, f"case {case} {cmd[0]}")


def test_forged_memory_is_walked_not_refused(tool, tmp_path):
    """Damage confined to the captured memory passes every check of the file format, so
    it must always replay (exit 0); the walker and symbolizer meet the garbage."""
    data = seed()
    spans = region_data_spans(data)
    assert spans and sum(n for _, n in spans) > 1000
    expected = spwalk(tool, "replay", "--json", SEED_FILE).stdout
    rng = random.Random(5)
    f = tmp_path / "forged"
    changed = 0
    for case in range(200):
        d = bytearray(data)
        for _ in range(rng.randrange(1, 5)):
            off, n = rng.choice(spans)
            i = off + rng.randrange(n)
            # Mostly whole garbage bytes, sometimes one bit (a nearly right pointer).
            d[i] = rng.randrange(256) if case % 2 else d[i] ^ (1 << rng.randrange(8))
        f.write_bytes(forge(d))
        out = spwalk(tool, "replay", "--json", f)
        assert out.returncode == 0 and out.stderr == b"", f"case {case}: {out.stderr!r}"
        changed += out.stdout != expected
    # The damage reached walks and names: a test that never changes the output proves
    # nothing about how it is handled.
    assert changed > 50, changed


def test_random_files(tool, tmp_path):
    rng = random.Random(4)
    f = tmp_path / "random"
    header = seed()[:16]
    for case in range(100):
        body = bytes(rng.randrange(256) for _ in range(rng.choice([1, 7, 63, 64, 65, 500, 5000])))
        # Half of them start like a real snapshot, so they get past the magic check.
        f.write_bytes(header + body if case % 2 else body)
        assert_refused(spwalk(tool, "replay", f), f"random case {case}")


def test_oversized(tool, tmp_path):
    f = tmp_path / "huge"
    with open(f, "wb") as h:
        h.write(seed())
        h.truncate((256 << 20) + 1)  # sparse: one byte over spwalk's cap
    out = spwalk(tool, "replay", f)
    assert_refused(out, "oversized")
    assert b"larger than" in out.stderr


def test_not_a_regular_file(tool, tmp_path):
    assert_refused(spwalk(tool, "replay", tmp_path), "a directory")
    assert_refused(spwalk(tool, "replay", tmp_path / "missing"), "a missing file")


def build_snapshot(header_from, threads, regions):
    """Encode a snapshot (docs/snapshot-format.md, version 1) that reuses the architecture,
    Python version, PyCode_Type and debug offsets of the file `header_from`."""
    src = header_from
    offsets_len, = struct.unpack_from("<I", src, 32)
    offsets = src[64:64 + offsets_len]
    pad = lambda b: b + b"\0" * (-len(b) % 8)  # noqa: E731
    tables = b"".join(struct.pack("<QQQ", *t) for t in threads)
    data_at = 64 + len(pad(offsets)) + len(tables) + 24 * len(regions)
    rtable, rdata = b"", b""
    for addr, blob in regions:
        rtable += struct.pack("<QQQ", addr, len(blob), data_at + len(rdata))
        rdata += pad(blob)
    size = data_at + len(rdata) + 8
    header = (b"SPWSNAP\0" + struct.pack("<HHBBBB", 1, 64, src[12], src[13], src[14], 0)
              + src[16:32] + struct.pack("<IIIIQQ", offsets_len, len(threads), len(regions),
                                         0, size, 0))
    body = header + pad(offsets) + tables + rtable + rdata
    return body + struct.pack("<II", zlib.crc32(body), 0)


def test_work_is_bounded(tool, tmp_path):
    """65536 threads sharing one chain of 16384 frames that are all skipped (owner 3, C
    stack): each walk is legal, together they would take minutes. Refused quickly."""
    src = (CORPUS / "3.13t-generators" / "snapshot.spw").read_bytes()
    off = lambda slot: struct.unpack_from("<Q", src, 64 + 8 * slot)[0]  # noqa: E731
    # 3.13 _Py_DebugOffsets: 3 header slots, runtime group (3), interpreter group (13),
    # thread-state group at slot 19 (current_frame is field 4), frame group at slot 28
    # (size, previous, executable, instr_ptr, localsplus, owner).
    current_frame = off(19 + 4)
    f_size, f_prev, f_owner = off(28), off(29), off(28 + 5)
    base = 0x10000000
    n = 16384
    frames = bytearray(n * f_size)
    for i in range(n):
        struct.pack_into("<Q", frames, i * f_size + f_prev, base + (i + 1) * f_size if i + 1 < n else 0)
        frames[i * f_size + f_owner] = 3
    tstate = bytearray(current_frame + 8)
    struct.pack_into("<Q", tstate, current_frame, base)
    f = tmp_path / "work.spw"
    f.write_bytes(build_snapshot(src, [(0x20000000, 1, 1)] * 65536,
                                 [(base, bytes(frames)), (0x20000000, bytes(tstate))]))
    out = spwalk(tool, "replay", f)
    assert_refused(out, "too much work")
    assert b"not a real capture" in out.stderr



def snapshot_parts(data):
    """(thread entries [(tstate, thread_id, native_id)], regions [(addr, bytes)])."""
    offsets_len, n_threads, n_regions = struct.unpack_from("<III", data, 32)
    threads_at = 64 + (offsets_len + 7) // 8 * 8
    regions_at = threads_at + 24 * n_threads
    threads = [struct.unpack_from("<QQQ", data, threads_at + 24 * i) for i in range(n_threads)]
    regions = []
    for i in range(n_regions):
        addr, n, off = struct.unpack_from("<QQQ", data, regions_at + 24 * i)
        regions.append((addr, data[off:off + n]))
    return threads, regions


def run_limited(tool, tmp_path, *args, limit_mib=256):
    """(exit status, stdout size, stderr, seconds) of one spwalk run whose address space is
    capped at limit_mib (RLIMIT_AS: stricter than resident memory; a run that needs more
    fails to allocate and says "out of memory"). The sanitizers' shadow memory needs
    terabytes of address space, so the ASan build runs without the cap."""
    import resource
    import time

    def cap():
        n = limit_mib << 20
        resource.setrlimit(resource.RLIMIT_AS, (n, n))

    env = dict(os.environ, **SANITIZERS)
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
        t0 = time.monotonic()
        rc = subprocess.run([tool, *map(str, args)], stdout=out, stderr=err, env=env,
                            timeout=120, preexec_fn=None if "asan" in tool else cap).returncode
        seconds = time.monotonic() - t0
    return rc, (tmp_path / "out").stat().st_size, (tmp_path / "err").read_bytes(), seconds


DEEP = CORPUS / "3.13t-deep" / "snapshot.spw"


@pytest.mark.parametrize("copies,filler_mib", [(32, 0), (65536, 0), (65536, 60)])
def test_amplification_is_refused_within_bounds(tool, tmp_path, copies, filler_mib):
    """Every thread entry of a forged file names the deepest thread of a real capture (905
    frames with their real names): each walk is legal, together they would print
    gigabytes. Refused within the documented bounds (docs/spwalk.md: the bounds of a
    rendering), in time and memory that do not grow with what the file asks for; the
    filler makes the input as large as the goal says (≤ 64 MiB: ≤ 2 s, ≤ 256 MiB)."""
    src = DEEP.read_bytes()
    threads, regions = snapshot_parts(src)
    deepest = threads[1]
    if filler_mib:
        assert regions[0][0] > 0x1000_0000 + (filler_mib << 20)
        regions.insert(0, (0x1000_0000, b"\x01" * (filler_mib << 20)))
    f = tmp_path / "amplified.spw"
    f.write_bytes(build_snapshot(src, [deepest] * copies, regions))
    size = f.stat().st_size
    assert size <= 64 << 20
    bound = min(64 << 20, (1 << 20) + 4 * size)  # docs/spwalk.md: the bounds of a rendering
    for cmd in (("replay", "--json"), ("replay",)):
        rc, out_bytes, err, seconds = run_limited(tool, tmp_path, *cmd, f)
        print(f"{os.path.basename(tool)} {' '.join(cmd)}: {copies} entries, {size >> 10} KiB "
              f"in: exit {rc}, {out_bytes >> 10} KiB out, {seconds:.2f} s")
        assert seconds <= 60, (cmd, seconds)  # a hang, not a figure: bench/ prints those
        if rc == 0:  # the text form of the fewest copies is small enough to print
            assert cmd == ("replay",) and out_bytes <= bound and err == b"", (cmd, err)
            continue
        assert rc == 1 and out_bytes == 0, (cmd, rc, err)
        assert err.startswith(b"spwalk: error: ") and err.count(b"\n") == 1, err
        assert b"not a real capture" in err, err
        assert b"would print more than" in err or b"reads of memory" in err, err


def test_real_captures_are_far_inside_the_bounds(tool, tmp_path):
    """The bounds refuse only forgeries: every committed real capture replays, and needs
    less than a fifth of the output the bound allows for its size."""
    for snap in sorted(CORPUS.glob("*/snapshot.spw")):
        out = spwalk(tool, "replay", "--json", snap)
        assert out.returncode == 0, (snap, out.stderr)
        assert len(out.stdout) * 5 < (1 << 20) + 4 * snap.stat().st_size, snap
