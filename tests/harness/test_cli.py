"""spwalk's command line: exit statuses, messages, and what capture does to the target."""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

import workload
from conftest import CORPUS, PYTHONS, SPWALK


def spwalk(*args, **kw):
    return subprocess.run([str(SPWALK), *map(str, args)], capture_output=True, timeout=60, **kw)


def one_error_line(out):
    err = out.stderr.decode()
    return err.startswith("spwalk: error: ") and err.count("\n") == 1


@pytest.mark.parametrize("args", [
    [], ["frob"], ["replay"], ["replay", "a", "b"], ["dump"], ["dump", "--pid", "x"],
    ["dump", "--pid", "0"], ["dump", "--pid"], ["capture", "--pid", "1"],
    ["verify", "f", "--json"], ["show", "--pid=3", "f"], ["replay", "--json=1", "f"],
])
def test_usage_errors_exit_2(args):
    out = spwalk(*args)
    assert out.returncode == 2, out
    assert one_error_line(out), out.stderr


def test_help():
    out = spwalk("--help")
    assert out.returncode == 0
    for cmd in (b"capture", b"dump", b"replay", b"show", b"verify"):
        assert b"spwalk " + cmd in out.stdout


def test_no_such_process():
    pid = 4194304 + 1  # above the kernel's pid_max limit: never a process
    out = spwalk("dump", "--pid", pid)
    assert out.returncode == 1 and one_error_line(out)
    assert b"no such process" in out.stderr


def test_not_a_python():
    proc = subprocess.Popen(["sleep", "60"])
    try:
        out = spwalk("dump", "--pid", proc.pid)
        assert out.returncode == 1 and one_error_line(out)
        assert b"is not a supported Python" in out.stderr
    finally:
        proc.kill()
        proc.wait()


def test_capture_to_a_device_writes_through_it(parked):
    """-o /dev/stdout (or any existing non-regular file) is written in place, never
    replaced by a rename."""
    proc, _ = parked
    for dest in ("/dev/stdout", "-"):
        out = spwalk("capture", "--pid", proc.pid, "-o", dest)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(b"SPWSNAP\0")
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


def test_pipe_capture_into_replay(parked):
    proc, oracle = parked
    cap = subprocess.Popen([str(SPWALK), "capture", "--pid", str(proc.pid), "-o", "-"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    rep = subprocess.run([str(SPWALK), "replay", "--json", "-"], stdin=cap.stdout,
                         capture_output=True)
    cap.stdout.close()
    assert cap.wait() == 0 and rep.returncode == 0, rep.stderr
    assert workload.stacks(json.loads(rep.stdout)) == workload.stacks(oracle)


def test_exited_process_is_not_found():
    proc = subprocess.Popen(["true"])
    proc.wait()
    out = spwalk("capture", "--pid", proc.pid, "-o", "unused.spw")
    assert out.returncode == 1 and b"no such process" in out.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root to run spwalk as another user")
def test_permission_denied(tmp_path):
    python = PYTHONS[0][1]
    proc = subprocess.Popen([python, "-c", "import time; time.sleep(60)"])
    tool = tmp_path / "spwalk"
    shutil.copy(SPWALK, tool)
    tmp_path.chmod(0o755)
    try:
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              str(tool), "dump", "--pid", str(proc.pid)], capture_output=True)
        assert out.returncode == 1 and one_error_line(out)
        assert b"permission denied" in out.stderr
    finally:
        proc.kill()
        proc.wait()


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields


@pytest.fixture(params=PYTHONS, ids=[t for t, _ in PYTHONS])
def parked(request, tmp_path):
    """A parked `generators` workload and its oracle report."""
    report = tmp_path / "report.json"
    proc = workload.start(request.param[1], "generators", report)
    oracle = json.loads(report.read_text(encoding="utf-8"))
    workload.settle(str(SPWALK), proc.pid, oracle)
    yield proc, oracle
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("mode", [[], ["--nonblocking"]], ids=["stopped", "nonblocking"])
def test_capture_then_verify(parked, mode, tmp_path):
    proc, oracle = parked
    snap = tmp_path / "x.spw"
    out = spwalk("capture", "--pid", proc.pid, "-o", snap, *mode)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"" and out.stderr.startswith(b"spwalk: captured ")
    v = spwalk("verify", snap)
    assert v.returncode == 0, v.stderr
    replay = json.loads(spwalk("replay", "--json", snap).stdout)
    assert workload.stacks(replay) == workload.stacks(oracle)
    # The target goes on as before: not stopped, not traced, all threads there.
    st = proc_status(proc.pid)
    assert st["TracerPid"] == "0"
    assert st["State"][0] in "SR", st["State"]
    assert int(st["Threads"]) == len(oracle["threads"])


SIGNAL_COUNTER = """
import os, signal, sys
r, w = os.pipe()
os.set_blocking(w, False)
os.set_blocking(r, False)
signal.signal(signal.SIGRTMIN, lambda *a: None)
# The C-level handler writes one byte per delivery: an exact count, unlike Python-level
# handlers, which coalesce deliveries that arrive before the handler runs.
signal.set_wakeup_fd(w, warn_on_full_buffer=False)
print("ready", flush=True)
count = 0
for line in sys.stdin:
    try:
        while True:
            count += len(os.read(r, 4096))
    except BlockingIOError:
        pass
    print(count, flush=True)
"""


def test_capture_does_not_lose_signals():
    """Queued (real-time) signals sent while the target is held must all be delivered."""
    import signal
    import threading
    python = PYTHONS[0][1]
    proc = subprocess.Popen([python, "-c", SIGNAL_COUNTER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"ready\n"
        batches, per_batch = 20, 50
        sent = batches * per_batch
        done = threading.Event()
        dumps = [0]

        def sender():
            # each batch waits for a dump that ran after the previous one, so signals keep
            # arriving while the target is held however slow a loaded machine makes dumps
            for b in range(batches):
                for _ in range(per_batch):
                    os.kill(proc.pid, signal.SIGRTMIN)
                    time.sleep(0.0005)
                deadline = time.monotonic() + 30
                while dumps[0] < b + 1 and time.monotonic() < deadline:
                    time.sleep(0.001)
            done.set()

        t = threading.Thread(target=sender)
        t.start()
        while not done.is_set():
            out = spwalk("dump", "--pid", proc.pid)
            assert out.returncode == 0, out.stderr
            dumps[0] += 1
        t.join()
        assert dumps[0] >= batches
        time.sleep(0.2)
        proc.stdin.write(b"count\n")
        proc.stdin.flush()
        assert int(proc.stdout.readline()) == sent
    finally:
        proc.kill()
        proc.wait()


def test_dump_text_and_json_agree_with_replay(parked, tmp_path):
    proc, _ = parked
    snap = tmp_path / "x.spw"
    assert spwalk("capture", "--pid", proc.pid, "-o", snap).returncode == 0
    # Parked threads do not move: a second capture and a dump see the same stacks.
    for fmt in ([], ["--json"]):
        d = spwalk("dump", "--pid", proc.pid, *fmt)
        r = spwalk("replay", snap, *fmt)
        assert d.returncode == r.returncode == 0
        assert d.stdout == r.stdout


def test_replay_is_deterministic():
    snap = CORPUS / "3.13t-names" / "snapshot.spw"
    runs = {spwalk("replay", "--json", snap).stdout for _ in range(3)}
    runs |= {spwalk("replay", "--json", snap, env={"LC_ALL": "C", "TZ": "UTC"}).stdout}
    assert len(runs) == 1


def test_verify_reports_a_mismatch(tmp_path):
    """A snapshot whose stored expectation is wrong fails verify with a diff. Built by
    re-encoding: flip one character in the expected section and fix the CRC."""
    import struct
    import zlib
    data = bytearray((CORPUS / "3.13-generators" / "snapshot.spw").read_bytes())
    i = data.rfind(b'"line": ')
    data[i + 8] = ord("9") if data[i + 8] != ord("9") else ord("8")
    body = bytes(data[:-8])
    bad = tmp_path / "bad.spw"
    bad.write_bytes(body + struct.pack("<II", zlib.crc32(body), 0))
    out = spwalk("verify", bad)
    assert out.returncode == 1
    err = out.stderr.decode()
    assert err.startswith("spwalk: error: ") and "differs from the expected output" in err
    assert "\n-" in err and "\n+" in err
