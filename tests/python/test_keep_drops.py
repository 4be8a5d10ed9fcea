"""start(keep_drops=DIR): every dropped walk written as a snapshot file that `spwalk replay`
walks again to the same status and reason (docs/python-api.md, docs/snapshot-format.md).

The drops are provoked through the real handler with the crafted chains of
_native._feed_crafted (a cycle, an executable that is not a code object, a link into a
PROT_NONE page), and through the sampler thread with _native._test_torn_feed (a chain a C
thread rewrites all the time, so every re-read check fails and the sample is torn)."""
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

import spprof
from spprof import _native

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPWALK = ROOT / "build" / "bin" / "spwalk"


def spin(seconds):
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        for i in range(2000):
            x += i
    return x


def replay(path):
    if not SPWALK.exists():
        pytest.fail(f"{SPWALK} is missing: run `make build/bin/spwalk`")
    r = subprocess.run([str(SPWALK), "replay", "--json", str(path)], capture_output=True,
                       timeout=60)
    assert (r.returncode, r.stderr) == (0, b""), r.stderr.decode()
    return r.stdout


def note(path):
    """The drop file's note region (address 0), as its key: value lines."""
    data = pathlib.Path(path).read_bytes()
    start = data.index(b"spprof drop 1\n")
    text = data[start:data.index(b"\0", start)].decode()
    return dict(line.split(": ", 1) for line in text.splitlines()[1:])


def embedded_expected(path):
    """The expected output stored in the file (format §3: expected_len at 44, before the
    8-byte trailer, padded to 8)."""
    data = pathlib.Path(path).read_bytes()
    n = int.from_bytes(data[44:48], "little")
    end = len(data) - 8
    pad = (n + 7) & ~7
    return data[end - pad:end - pad + n]


def provoke(tmp_path, feed, stop_feed, want, max_drops=3, engine=None, mode="cpu",
            seconds=20):
    spprof.start(interval_ms=1, keep_drops=tmp_path, max_drops=max_drops, engine=engine,
                 mode=mode)
    try:
        feed()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and spprof.stats()["drops_kept"] < want:
            spin(0.02)
    finally:
        stop_feed()
    return spprof.stop().stats


@pytest.mark.parametrize("kind", ["cycle", "invalid_code", "unreadable"])
def test_handler_drops_are_written_and_replay_to_their_reason(tmp_path, kind):
    st = provoke(tmp_path, lambda: _native._feed_crafted(kind),
                 lambda: _native._feed_crafted(False), want=2, max_drops=2)
    files = sorted(tmp_path.iterdir())
    assert st["drops_kept"] == len(files) == 2, (st, files)
    assert st["dropped_by_reason"][kind] >= 2, st
    # every drop is kept or counted as not kept (samples_dropped counts weights: a sample
    # can stand for more than one expiration)
    assert 2 <= st["drops_kept"] + st["drops_not_kept"] <= st["samples_dropped"], st
    for f in files:
        assert f.name.endswith(f"-{kind}.spw"), f.name
        out = replay(f)
        assert out == embedded_expected(f)
        thread = json.loads(out)["threads"][0]
        assert (thread["status"], thread["reason"]) == ("dropped", kind), thread
        assert thread["native_thread_id"] > 0
        n = note(f)
        assert (n["live_status"], n["live_reason"], n["engine"]) == ("dropped", kind, "signal")


def tasks_named(*names, timeout=10):
    """{name: tid} of this process's threads with those names, once all of them exist."""
    deadline = time.monotonic() + timeout
    while True:
        found = {}
        for comm in pathlib.Path("/proc/self/task").glob("*/comm"):
            try:
                name = comm.read_text().strip()
            except OSError:  # the thread ended
                continue
            if name in names:
                found[name] = int(comm.parent.name)
        if len(found) == len(names) or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


def torn_feed_apart():
    """Start the torn chain's writer on a CPU of its own. The sampler sees a torn walk only
    while the writer runs during it; on one CPU with it, the sampler's wake-up preempts
    the writer and every walk reads a chain at rest (on 2 CPUs: 0 torn in 3 s, against
    ~1,000 apart; seen in CI as a 60 s run without one)."""
    _native._test_torn_feed(True)
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return
    tids = tasks_named("spprof-torn", "spprof-sampler")
    assert len(tids) == 2, tids
    os.sched_setaffinity(tids["spprof-torn"], {cpus[0]})
    os.sched_setaffinity(tids["spprof-sampler"], set(cpus[1:]))


def test_sampler_torn_drop_is_written_with_its_live_status(tmp_path):
    st = provoke(tmp_path, torn_feed_apart,
                 lambda: _native._test_torn_feed(False), want=1, engine="sampler",
                 mode="wall", max_drops=2, seconds=60)
    torn = sorted(tmp_path.glob("*-torn.spw"))
    assert st["dropped_by_reason"]["torn"] >= 1, st
    assert torn and st["drops_kept"] >= len(torn), (st, torn)
    for f in torn:
        out = replay(f)
        assert out == embedded_expected(f)
        n = note(f)
        assert (n["live_status"], n["live_reason"], n["engine"]) == ("torn", "torn", "sampler")
        # the recorded bytes are one reading of the rewritten chain: frame1 -> NULL (ok)
        # or frame1 -> frame2 -> NULL (ok); either way a walk that ends, no frame emitted
        thread = json.loads(out)["threads"][0]
        assert (thread["status"], thread["frames"]) == ("ok", []), thread


def test_sampler_drops_other_than_torn(tmp_path):
    st = provoke(tmp_path, lambda: _native._feed_crafted("cycle"),
                 lambda: _native._feed_crafted(False), want=1, engine="sampler",
                 mode="wall", max_drops=1)
    files = sorted(tmp_path.iterdir())
    assert st["drops_kept"] == len(files) == 1, (st, files)
    thread = json.loads(replay(files[0]))["threads"][0]
    assert (thread["status"], thread["reason"]) == ("dropped", "cycle")
    assert note(files[0])["engine"] == "sampler"


def test_max_drops_is_honoured_and_counted(tmp_path):
    st = provoke(tmp_path, lambda: _native._feed_crafted("cycle"),
                 lambda: _native._feed_crafted(False), want=2, max_drops=2)
    assert st["drops_kept"] == 2 == len(list(tmp_path.iterdir())), st
    assert st["dropped_by_reason"]["cycle"] > 2, st
    assert 1 <= st["drops_not_kept"] <= st["dropped_by_reason"]["cycle"] - 2, st


def test_bad_directory_is_an_error_at_start(tmp_path):
    with pytest.raises(RuntimeError, match="keep_drops directory .*missing"):
        spprof.start(keep_drops=tmp_path / "missing")
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(RuntimeError, match="not a directory"):
        spprof.start(keep_drops=f)
    # root may write anywhere access() says; /proc/self takes no new files for anyone
    with pytest.raises(RuntimeError, match="cannot create files there"):
        spprof.start(keep_drops="/proc/self")
    assert not spprof.is_active()
    with pytest.raises(ValueError):
        spprof.start(max_drops=3)
    with pytest.raises(ValueError):
        spprof.start(keep_drops=tmp_path, max_drops=0)
    with pytest.raises(TypeError):
        spprof.start(keep_drops=tmp_path, max_drops="3")


def test_keep_drops_off_costs_nothing(tmp_path):
    """Off, no thread gets a recorder (stats()["drop_recorders"] counts the armed threads
    that have one); on, every armed thread has one, and nothing is written without a drop."""
    spprof.start(interval_ms=1)
    try:
        spin(0.1)
        off = spprof.stats()
    finally:
        st = spprof.stop().stats
    assert off["threads_active"] >= 1 and off["drop_recorders"] == 0, off
    assert st["drops_kept"] == st["drops_not_kept"] == 0
    spprof.start(interval_ms=1, keep_drops=tmp_path)
    try:
        spin(0.1)
        on = spprof.stats()
    finally:
        st = spprof.stop().stats
    assert on["drop_recorders"] == on["threads_active"] >= 1, on
    assert st["samples_dropped"] == 0 and list(tmp_path.iterdir()) == [], st


def test_cli_keep_drops(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(
        "import time\nfrom spprof import _native\n"
        "_native._feed_crafted('invalid_code')\n"
        "end = time.monotonic() + 10\nx = 0\n"
        "while time.monotonic() < end and len(__import__('os').listdir(%r)) < 1:\n"
        "    for i in range(20000): x += i\n"
        "_native._feed_crafted(False)\n" % str(tmp_path / "drops"))
    (tmp_path / "drops").mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    r = subprocess.run([sys.executable, "-m", "spprof", "run", "-q", "--rate", "1000",
                        "--keep-drops", str(tmp_path / "drops"), "--max-drops", "1",
                        str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    files = list((tmp_path / "drops").iterdir())
    assert len(files) == 1 and files[0].name.endswith("-invalid_code.spw"), files
    thread = json.loads(replay(files[0]))["threads"][0]
    assert (thread["status"], thread["reason"]) == ("dropped", "invalid_code")
    bad = subprocess.run([sys.executable, "-m", "spprof", "run", "--keep-drops",
                          str(tmp_path / "nowhere"), str(script)], capture_output=True,
                         text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "--keep-drops" in bad.stderr, bad.stderr
    bad = subprocess.run([sys.executable, "-m", "spprof", "run", "--max-drops", "3",
                          str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "--keep-drops" in bad.stderr, bad.stderr


def test_running_out_of_memory_writing_a_drop_file_does_not_end_the_program():
    """The drop files are written with spwalk's own code, whose answer to an allocation
    failure is to exit; inside a profiled program it gives the file up instead."""
    r = subprocess.run([sys.executable, "-c", "from spprof import _native; "
                        "print(_native._test_harness_oom(), 'alive')"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert r.returncode == 0 and r.stdout.split() == ["False", "alive"], r
