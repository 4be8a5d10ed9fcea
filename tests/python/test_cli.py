"""The spprof command (docs/cli.md), run as users run it: `python -m spprof ...` in a child
process, on real programs (tests/python/cli_programs/), its outputs read back."""
import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

import spprof
from conftest import PYDIR, QEMU, QEMU_FORK_THREAD

PROGRAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli_programs")
THREADS = os.path.join(PROGRAMS, "threads.py")
FOREVER = os.path.join(PROGRAMS, "forever.py")
CHILDREN = os.path.join(PROGRAMS, "children.py")


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = PYDIR
    e.pop("SPPROF_CHILDREN_OPTS", None)
    return e


def spprof_cmd(*args, cwd=None, timeout=120, input=None):
    return subprocess.run([sys.executable, "-m", "spprof", *args], cwd=cwd, env=env(),
                          capture_output=True, text=True, timeout=timeout, input=input)


def self_of(p, name):
    """Samples with ``name`` anywhere on the stack."""
    return p.functions(inclusive=True).get(name, 0)


def test_help_documents_every_command():
    r = spprof_cmd("--help")
    assert r.returncode == 0
    for c in ("run", "top", "record", "dump", "diff"):
        assert f"  {c} " in r.stdout
    for c in ("run", "top", "record", "dump", "diff"):
        h = spprof_cmd(c, "--help")
        assert h.returncode == 0 and "usage: spprof " + c in h.stdout, h.stdout
    run_help = spprof_cmd("run", "--help").stdout
    for opt in ("-o", "--format", "--rate", "--interval", "--mode", "--duration", "--threads",
                "--nolineno", "--full-filenames", "--subprocesses", "--max-depth", "-m",
                "--quiet"):
        assert opt in run_help, opt
    assert spprof_cmd().returncode == 2


def test_run_script_like_python(tmp_path):
    """argv, __main__, sys.path[0], exit status, and the profile of three threads."""
    out = tmp_path / "p.spprof"
    r = spprof_cmd("run", "-o", str(out), THREADS, "3", "--not-ours", cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert f"argv={[THREADS, '3', '--not-ours']!r}" in r.stdout
    assert "name=__main__" in r.stdout and f"path0={PROGRAMS}" in r.stdout
    p = spprof.Profile.load(out)
    by = {name: self_of(p, name) for name in ("hot_main", "hot_worker_a", "hot_worker_b")}
    # 0.3 / 0.3 / 0.15 s of CPU at 10 ms: 30 / 30 / 15 samples
    assert 20 <= by["hot_main"] <= 40 and 20 <= by["hot_worker_a"] <= 40, by
    assert 8 <= by["hot_worker_b"] <= 22, by
    names = {t.name for t in p.threads}
    assert {"MainThread", "worker-a", "worker-b"} <= names, names
    assert not any(n.startswith("spprof-") for n in names), names
    # spprof's own frames are cut: the main thread's stacks start at the script
    for rec in p.stacks:
        assert not any("spprof/cli" in f.file or "runpy" in f.file for f in rec.frames), rec
        if rec.thread_name == "MainThread" and rec.frames:
            assert rec.frames[-1].function == "<module>" and rec.frames[-1].file == THREADS
    # the report and the summary, on stderr
    assert "Top functions by self samples" in r.stderr and "hot_main (threads.py)" in r.stderr
    assert "Hot lines of the top functions" in r.stderr
    assert f"Wrote an spprof profile to {out}" in r.stderr and "none dropped" in r.stderr


def test_run_module_like_python_dash_m(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "tool.py").write_text(
        "import sys\nprint('argv', sys.argv, __name__, sys.path[0])\n"
        "x = 0\nfor i in range(3_000_000):\n    x += i\nsys.exit(5)\n")
    out = tmp_path / "m.spprof"
    r = spprof_cmd("run", "-o", str(out), "-m", "pkg.tool", "a", "-b", cwd=tmp_path)
    assert r.returncode == 5, r.stderr
    assert f"argv {[str(tmp_path / 'pkg' / 'tool.py'), 'a', '-b']!r} __main__ {tmp_path}" \
        in r.stdout
    p = spprof.Profile.load(out)
    roots = [rec.frames[-1] for rec in p.stacks if rec.frames]
    # outermost: the module (or importlib while `-m` looks for it), never spprof or runpy
    assert any(f.function == "<module>" and f.file.endswith("tool.py") for f in roots)
    assert not any("spprof" in f.file or "runpy" in f.file for f in roots), roots


def test_exception_is_reported_as_python_does_and_the_profile_written(tmp_path):
    out = tmp_path / "e.spprof"
    r = spprof_cmd("run", "-o", str(out), THREADS, "raise")
    plain = subprocess.run([sys.executable, THREADS, "raise"], capture_output=True,
                           text=True, timeout=60)
    assert r.returncode == plain.returncode == 1
    tb = r.stderr[:r.stderr.index("ValueError: boom")]
    assert "Traceback (most recent call last):" in tb and THREADS in tb
    assert "spprof" not in tb and "runpy" not in tb, tb  # the program's frames only
    assert tb.count('File "') == plain.stderr.count('File "')
    assert spprof.Profile.load(out).total_samples > 0


@pytest.mark.parametrize("action,status", [("0", 0), ("message", 1), ("os_exit", 7)])
def test_exit_paths_write_the_profile(tmp_path, action, status):
    out = tmp_path / "x.spprof"
    r = spprof_cmd("run", "-o", str(out), THREADS, action)
    assert r.returncode == status, r.stderr
    if action == "message":
        assert "a message to stderr" in r.stderr
    p = spprof.Profile.load(out)
    assert self_of(p, "hot_main") > 0 and p.stats["ended_by"] == \
        ("os._exit" if action == "os_exit" else "exit")


def _start_forever(tmp_path, reap, *extra):
    out = tmp_path / "f.spprof"
    proc = subprocess.Popen([sys.executable, "-m", "spprof", "run", "-o", str(out), *extra,
                             FOREVER], env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    reap(proc.pid)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    return proc, out


def test_ctrl_c_writes_the_profile_then_dies_of_sigint(tmp_path, reap):
    proc, out = _start_forever(tmp_path, reap)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT, err  # as an interrupted python does
    assert "KeyboardInterrupt" in err and "hot_loop" in err
    p = spprof.Profile.load(out)
    assert self_of(p, "hot_loop") >= 20, p.functions()


def test_sigterm_writes_the_profile_then_dies_of_sigterm(tmp_path, reap):
    proc, out = _start_forever(tmp_path, reap)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM
    p = spprof.Profile.load(out)
    assert self_of(p, "hot_loop") >= 20 and p.stats["ended_by"] == "SIGTERM"


def test_sigterm_needs_no_help_from_the_main_thread(tmp_path):
    """A main thread that cannot take SIGTERM (here it blocks it; in a multiprocessing.Pool
    worker the signal lands just before it waits on the queue's lock) never ran a Python
    handler, and the process hung instead of dying. The profile is written and the process
    dies of SIGTERM all the same; the program still sees SIGTERM at its default."""
    out = tmp_path / "b.spprof"
    proc = subprocess.Popen([sys.executable, "-m", "spprof", "run", "-o", str(out), FOREVER,
                             "blocked"], env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().split() == ["ready", "True"]
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError("SIGTERM did not end the program")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGTERM
    p = spprof.Profile.load(out)
    assert self_of(p, "hot_loop") >= 20 and p.stats["ended_by"] == "SIGTERM"


def program_tasks(script):
    """The threads (/proc/PID/task) of ``script`` run without spprof, once it is ready."""
    proc = subprocess.Popen([sys.executable, script], env=env(), stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        return os.listdir(f"/proc/{proc.pid}/task")
    finally:
        proc.kill()
        proc.wait()


def test_duration_stops_sampling_and_the_program_goes_on(tmp_path, reap):
    out = tmp_path / "d.spprof"
    proc = subprocess.Popen([sys.executable, "-m", "spprof", "run", "-d", "0.5", "-o",
                             str(out), FOREVER], env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    reap(proc.pid)
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 30
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert proc.poll() is None  # still running after its profile was written
    # nothing of spprof's is left running in it: no thread (as many as the same program
    # has without spprof: 1, or 2 under qemu-user, which has a thread of its own), no
    # SIGTERM handler
    want = len(program_tasks(FOREVER))
    deadline = time.monotonic() + 10
    while len(tasks := os.listdir(f"/proc/{proc.pid}/task")) > want and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(tasks) == want, (tasks, want)
    proc.send_signal(signal.SIGTERM)  # dies of it at once, as without spprof
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    p = spprof.Profile.load(out)
    assert 25 <= self_of(p, "hot_loop") <= 75 and p.stats["ended_by"] == "duration"



def test_bad_input_is_a_usage_error_before_the_program_runs(tmp_path):
    marker = tmp_path / "ran"
    prog = tmp_path / "prog.py"
    prog.write_text(f"open({str(marker)!r}, 'w').close()\n")
    cases = [
        (["-o", str(tmp_path / "p.bmp")], "unknown extension '.bmp'"),
        (["-f", "gif", "-o", str(tmp_path / "p.html")], "invalid choice: 'gif'"),
        (["-o", str(tmp_path / "missing" / "p.html")], "does not exist"),
        (["-o", str(tmp_path)], "names a directory"),
        (["-r", "5000"], "within 1..1000 Hz"),
        (["-i", "0.1"], "-i/--interval must be within"),
        (["-r", "10", "-i", "10"], "not both"),
        (["-d", "0"], "positive number"),
        (["--max-depth", "0"], "--max-depth"),
        (["--mode", "wall", "--engine", "signal"], "mode='wall' needs engine='sampler'"),
    ]
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    if os.geteuid() != 0:  # root writes anywhere
        cases.append((["-o", str(ro / "p.html")], "not writable"))
    for opts, message in cases:
        r = spprof_cmd("run", *opts, str(prog))
        assert r.returncode == 2, (opts, r.stderr)
        assert message in r.stderr, (opts, r.stderr)
        assert not marker.exists(), opts
    r = spprof_cmd("run", str(tmp_path / "nope.py"))
    assert r.returncode == 2 and "can't open file" in r.stderr
    r = spprof_cmd("run")
    assert r.returncode == 2 and "name the program" in r.stderr


def test_format_option_and_default_name(tmp_path):
    r = spprof_cmd("run", "-q", "-f", "collapsed", THREADS, cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    (name,) = os.listdir(tmp_path)
    assert name.startswith("spprof-threads-") and name.endswith(".txt"), name
    text = (tmp_path / name).read_text()
    assert "hot_worker_a (threads.py:" in text
    # -f wins over the extension
    r = spprof_cmd("run", "-q", "-f", "speedscope", "-o", str(tmp_path / "s.txt"), THREADS)
    assert r.returncode == 0 and (tmp_path / "s.txt").read_text().startswith("{")


def test_view_options_reach_the_file(tmp_path):
    base = ["run", "-q", "-r", "200", "-o"]
    r = spprof_cmd(*base, str(tmp_path / "merged.txt"), THREADS)
    assert r.returncode == 0, r.stderr
    merged = (tmp_path / "merged.txt").read_text().splitlines()
    assert merged and not any(" (tid " in line for line in merged)
    assert any(line.startswith("Thread._bootstrap (threading.py:") for line in merged)
    r = spprof_cmd(*base, str(tmp_path / "threads.txt"), "--threads", "--nolineno",
                   "--full-filenames", THREADS)
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "threads.txt").read_text().splitlines()
    roots = {line.split(";", 1)[0].split(" (tid ")[0] for line in lines}
    assert {"MainThread", "worker-a", "worker-b"} <= roots, roots
    assert any(f"hot_worker_a ({THREADS}) " in line + " " or
               f";hot_worker_a ({THREADS})" in line for line in lines), lines[:3]
    assert not any(f"({THREADS}:" in line for line in lines)  # no line numbers


def test_progress_line_on_a_terminal(tmp_path, reap):
    """On a terminal the progress line is rewritten in place (\\r), then erased."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(env())
        os.execv(sys.executable, [sys.executable, "-m", "spprof", "run", "-o",
                                  str(tmp_path / "t.spprof"), FOREVER])
    reap(pid)
    buf = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and buf.count(b"\r\x1b[Kspprof: ") < 2:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                buf += os.read(fd, 4096)
            except OSError:
                break
    os.kill(pid, signal.SIGINT)
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    _, status = os.waitpid(pid, 0)
    text = buf.decode("utf-8", "replace")
    assert text.count("\r\x1b[Kspprof: ") >= 2, text[-500:]
    assert " samples, 0 dropped" in text and "Wrote an spprof profile" in text


@pytest.mark.parametrize("method", ["os.fork", "subprocess", "fork", "spawn", "forkserver"])
def test_subprocesses_are_profiled_and_merged(tmp_path, method):
    if QEMU and method in ("os.fork", "fork"):  # a forked child that profiles starts a thread
        pytest.skip(QEMU_FORK_THREAD)
    out = tmp_path / "c.spprof"
    r = spprof_cmd("run", "--subprocesses", "-o", str(out), CHILDREN, method, timeout=120)
    assert r.returncode == 0, r.stderr
    p = spprof.Profile.load(out)
    parent = {t.pid for t in p.threads if t.name == "MainThread" and
              any(rec.thread == t and any(f.function == "parent_work" for f in rec.frames)
                  for rec in p.stacks)}
    assert len(parent) == 1, p.threads
    child = sum(rec.count for rec in p.stacks if rec.thread.pid not in parent and
                any(f.function == "child_work" for f in rec.frames))
    want = 25 if method in ("os.fork", "subprocess") else 50  # CPU seconds x 100 Hz
    assert 0.6 * want <= child <= 1.5 * want, (child, want, r.stderr)
    assert "processes" in r.stderr and "still running" not in r.stderr, r.stderr
    # without the option the children are not profiled
    r = spprof_cmd("run", "-o", str(out), CHILDREN, method, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len({t.pid for t in spprof.Profile.load(out).threads}) == 1


@pytest.mark.parametrize("method", ["os.fork", "subprocess"])
def test_subprocesses_keep_their_drops(tmp_path, method):
    """--keep-drops with --subprocesses: each child keeps its own dropped samples (at most
    --max-drops of them) in the same folder, named by its pid."""
    if QEMU and method == "os.fork":
        pytest.skip(QEMU_FORK_THREAD)
    drops = tmp_path / "drops"
    drops.mkdir()
    e = env()
    e["CHILDREN_DROPS"] = "1"
    r = subprocess.run([sys.executable, "-m", "spprof", "run", "--subprocesses", "-q",
                        "--keep-drops", "drops", "--max-drops", "3", "-o", "c.spprof",
                        CHILDREN, method], cwd=tmp_path, env=e, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    p = spprof.Profile.load(tmp_path / "c.spprof")
    pids = {t.pid for t in p.threads}
    files = sorted(f.name for f in drops.iterdir())
    by_pid = {}
    for name in files:  # spprof-drop-<pid>-<n>-<reason>.spw
        assert name.startswith("spprof-drop-") and name.endswith("-cycle.spw"), files
        by_pid.setdefault(int(name.split("-")[2]), []).append(name)
    # the parent's (its parent_work feeds cycles too) and the child's, 3 each
    assert len(by_pid) == 2 and set(by_pid) <= pids, (pids, files)
    assert all(len(kept) == 3 for kept in by_pid.values()), files
    assert p.stats["dropped_by_reason"]["cycle"] >= 3, p.stats


@pytest.mark.parametrize("args,message", [
    (["top", "--pid", "1", "--mode", "cpu"], "wall mode only"),
    (["top", "--pid", "1", "--engine", "sampler"], "--engine"),
    (["top", "--pid", "1", "--max-depth", "10"], "--max-depth"),
    (["top", "--pid", "1", "--subprocesses"], "--subprocesses"),
    (["top", "--blocking", FOREVER], "go with --pid"),
    (["record", "--pid", "1", "--blocking", "--nonblocking"], "not both"),
])
def test_attach_options_that_do_not_apply_are_usage_errors(args, message):
    """What `top --pid` and `record` cannot honour is refused, not ignored (docs/cli.md)."""
    r = spprof_cmd(*args)
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_top_shows_the_hot_functions(tmp_path):
    r = spprof_cmd("top", "-o", str(tmp_path / "t.spprof"), "--", THREADS, "0")
    assert r.returncode == 0, r.stderr
    assert "spprof top: pid" in r.stderr and "%Own" in r.stderr
    assert "hot_main (threads.py)" in r.stderr or "hot_worker_a (threads.py)" in r.stderr
    assert spprof.Profile.load(tmp_path / "t.spprof").total_samples > 0


def test_diff_writes_a_differential_flame_graph(tmp_path):
    a, b = tmp_path / "a.spprof", tmp_path / "b.spprof"
    assert spprof_cmd("run", "-q", "-o", str(a), THREADS).returncode == 0
    assert spprof_cmd("run", "-q", "-o", str(b), THREADS).returncode == 0
    r = spprof_cmd("diff", str(a), str(b), "-o", str(tmp_path / "d.html"))
    assert r.returncode == 0, r.stderr
    assert "Largest changes in self share" in r.stderr
    assert (tmp_path / "d.html").read_text().lstrip().lower().startswith("<!doctype html")
    r = spprof_cmd("diff", str(a), str(b), "-o", str(tmp_path / "d.json"))
    assert r.returncode == 2 and "must end in .html" in r.stderr
    r = spprof_cmd("diff", str(a), str(tmp_path / "missing.spprof"), "-o",
                   str(tmp_path / "d.html"))
    assert r.returncode == 1 and "No such file" in r.stderr


def test_every_example_in_docs_cli_runs(tmp_path):
    """The `$ spprof ...` lines of docs/cli.md, run in order from a folder where docs/ is
    the repository's (their outputs land in tmp_path)."""
    from conftest import ROOT
    doc = open(os.path.join(ROOT, "docs", "cli.md"), encoding="utf-8").read()
    lines = [l[2:] for l in doc.splitlines() if l.startswith("$ spprof ")]
    assert len(lines) >= 8, lines
    os.symlink(os.path.join(ROOT, "docs"), tmp_path / "docs")
    # busy_processes.py's pool forks its workers (the default start method)
    left_out = [l for l in lines if QEMU and "busy_processes.py" in l]
    for line in lines:
        if line in left_out:
            continue
        r = spprof_cmd(*line.split()[1:], cwd=tmp_path, timeout=120)
        assert r.returncode == 0, (line, r.stderr[-2000:])
        for word in line.split():
            if word.startswith(("profile.", "diff.", "before.", "after.")):
                assert (tmp_path / word).stat().st_size > 0, (line, word)
    if left_out:
        pytest.skip(f"the other {len(lines) - len(left_out)} lines ran and passed; "
                    f"{left_out} did not run: {QEMU_FORK_THREAD}")


def test_interval_engine_and_depth_reach_the_session(tmp_path):
    """-i, --engine sampler and --max-depth, as the session's stats record them."""
    out = tmp_path / "o.spprof"
    r = spprof_cmd("run", "-q", "-i", "5", "--engine", "sampler", "--max-depth", "3",
                   "-o", str(out), THREADS)
    assert r.returncode == 0, r.stderr
    p = spprof.Profile.load(out)
    assert p.interval_ms == 5 and p.stats["timer"] == "sampler" and p.mode == "cpu", p.stats
    depths = {len(rec.frames) for rec in p.stacks}
    assert max(depths) == 4, depths  # 3 frames, then <truncated> outermost
    assert any(rec.frames[-1].function == "<truncated>" for rec in p.stacks if len(rec.frames) == 4)
    assert p.stats["samples_truncated"] > 0, p.stats


def test_wall_mode_shows_waiting_threads(tmp_path):
    waits = os.path.join(PROGRAMS, "waits.py")
    out = tmp_path / "w.spprof"
    r = spprof_cmd("run", "--mode", "wall", "-o", str(out), waits)
    assert r.returncode == 0, r.stderr
    assert "of wall-clock time" in r.stderr
    p = spprof.Profile.load(out)
    assert p.mode == "wall"
    by = {t.name: n for t, n in p.samples_by_thread().items()}
    for name in ("sleeper", "lock-waiter", "queue-waiter", "worker"):
        assert 70 <= by.get(name, 0) <= 130, by  # 1 s at 100 Hz each
    idle = {r.thread_name for r in p.stacks if r.frames and r.frames[0].function == "<idle>"}
    assert {"sleeper", "lock-waiter", "queue-waiter"} <= idle, idle
    # --no-idle leaves the waiting out; in cpu mode the waiters have next to no samples
    r = spprof_cmd("run", "--mode", "wall", "--no-idle", "-f", "collapsed", "-o",
                   str(tmp_path / "w.txt"), waits)
    assert r.returncode == 0 and "<idle>" not in (tmp_path / "w.txt").read_text()
    r = spprof_cmd("run", "-o", str(out), waits)
    p = spprof.Profile.load(out)
    by = {t.name: n for t, n in p.samples_by_thread().items()}
    # (the worker's CPU time depends on the machine's load; the waiters have none)
    assert by.get("worker", 0) >= 20 and by.get("sleeper", 0) <= 3, by


def test_a_second_finish_waits_for_the_first_to_write():
    """SIGTERM's thread finishing while the program calls os._exit: the exit must wait for
    the profile (a multiprocessing worker's was lost: "1 child process was still running").
    In a child process: a session leaves its SIGTERM thread behind."""
    script = """if 1:
        import threading, time
        from spprof.cli.session import Session
        written = []

        def slow_write(profile):
            time.sleep(0.5)
            written.append(profile)

        s = Session(10, None, slow_write).start()
        first = threading.Thread(target=s.finish, args=("SIGTERM",))
        first.start()
        while not s.finished:
            time.sleep(0.001)
        second = s.finish("os._exit")  # returns only once the first has written
        print(len(written), second is written[0], written[0].stats["ended_by"])
        first.join()
    """
    r = subprocess.run([sys.executable, "-c", script], env=env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.split() == ["1", "True", "SIGTERM"], r
