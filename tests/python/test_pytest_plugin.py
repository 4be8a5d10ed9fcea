"""The pytest plugin (spprof/pytest_plugin.py): pytest runs in a subprocess on a small
generated test file whose tests burn CPU in several threads, with --spprof."""
import os
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

import spprof
from conftest import PYDIR
from test_install import download_command, ensure_wheels

#: pytest-run-parallel, pinned (in step with ci/bootstrap.sh), imported from its wheel in
#: $SPPROF_CACHE/wheels when this interpreter does not have it installed.
RUN_PARALLEL = "pytest-run-parallel==0.10.0"

TESTS = '''
import os, signal, threading, time

def hot_loop(cpu_seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < cpu_seconds:
        for i in range(5000):
            x += i
    return x

def test_threads():
    open("ran", "w").close()  # the bad-path tests check that no test ran
    ts = [threading.Thread(target=hot_loop, args=(0.25,), name=f"hot{i}") for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()

def test_fails():
    hot_loop(float(os.environ.get("SPPROF_PLUGIN_SELF", "0.05")))  # in the calling thread
    assert os.environ.get("SPPROF_PLUGIN_FAIL") != "1"

def test_interrupted():
    if os.environ.get("SPPROF_PLUGIN_INTERRUPT") == "1":
        os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C does
'''

# Installed, spprof's pytest11 entry point loads the plugin already, and `-p` again would
# register it twice (pytest refuses that).
LOAD = [] if any(e.name == "spprof" for e in entry_points(group="pytest11")) else [
    "-p", "spprof.pytest_plugin"]


def run_pytest(tmp_path, *args, env_extra=None, pythonpath=()):
    (tmp_path / "test_work.py").write_text(TESTS)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([PYDIR, *pythonpath])
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *LOAD, *args], capture_output=True, text=True, cwd=str(tmp_path),
                          env=env, timeout=120)


def hot_threads(prof, also=None):
    """The names of the threads with samples in hot_loop (and in ``also`` if given)."""
    names = set()
    for r in prof.stacks:
        fns = {f.function for f in r.frames}
        if "hot_loop" in fns and (also is None or any(also in f for f in fns)):
            names.add(prof._thread_of(r).name)
    return names


@pytest.mark.parametrize("name", ["out.spprof", "out.html"])
def test_profiles_the_session_and_a_failure_still_writes(tmp_path, name):
    r = run_pytest(tmp_path, f"--spprof={name}", "--spprof-interval", "5",
                   env_extra={"SPPROF_PLUGIN_FAIL": "1"})
    assert r.returncode == 1 and "1 failed, 2 passed" in r.stdout, (r.stdout, r.stderr)
    line = [l for l in r.stdout.splitlines() if l.startswith("spprof: ")]
    assert len(line) == 1 and line[0].endswith(f"written to {name}"), r.stdout
    prof = spprof.Profile.load(str(tmp_path / name))
    assert prof.interval_ms == 5
    assert f"spprof: {prof.total_samples} samples (" in line[0]
    assert {"hot0", "hot1", "hot2"} <= hot_threads(prof), \
        (hot_threads(prof), prof.samples_by_thread(), prof.stats)
    # the failing test's own work, in the main thread
    assert "MainThread" in hot_threads(prof, also="test_fails"), prof.stacks[:5]


def test_default_path_and_threads_option(tmp_path):
    # after the test path, --spprof takes no value: the default file
    r = run_pytest(tmp_path, "test_work.py", "--spprof-threads", "--spprof")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "written to spprof-pytest.html" in r.stdout
    prof = spprof.Profile.load(str(tmp_path / "spprof-pytest.html"))
    assert {"hot0", "hot1", "hot2"} <= hot_threads(prof)


def test_interrupted_session_still_writes(tmp_path):
    r = run_pytest(tmp_path, "--spprof=out.spprof",
                   env_extra={"SPPROF_PLUGIN_INTERRUPT": "1"})
    assert r.returncode == 2 and "KeyboardInterrupt" in r.stdout, (r.stdout, r.stderr)
    assert "written to out.spprof" in r.stdout
    assert {"hot0", "hot1", "hot2"} <= hot_threads(spprof.Profile.load(
        str(tmp_path / "out.spprof")))


@pytest.mark.parametrize("arg, why", [
    ("--spprof=missing/out.html", "does not exist"),
    ("--spprof=out.py", "unknown extension '.py'"),
    ("--spprof=out", "no extension"),
    ("--spprof=.", "names a directory"),
    ("--spprof-interval=0", "interval_ms must be >= 1"),
])
def test_bad_arguments_are_usage_errors_before_any_test(tmp_path, arg, why):
    args = [arg] if arg.startswith("--spprof=") else ["--spprof=out.spprof", arg]
    r = run_pytest(tmp_path, *args)
    assert r.returncode == pytest.ExitCode.USAGE_ERROR, (r.stdout, r.stderr)
    assert "ERROR: --spprof" in r.stderr and why in r.stderr, r.stderr
    assert not (tmp_path / "ran").exists()


def test_a_test_path_taken_for_the_profile_path_is_explained(tmp_path):
    (tmp_path / "sub").mkdir()
    r = run_pytest(tmp_path, "--spprof", "sub")
    assert r.returncode == pytest.ExitCode.USAGE_ERROR
    assert "--spprof=PATH" in r.stderr, r.stderr


def test_without_the_option_nothing_happens(tmp_path):
    r = run_pytest(tmp_path, "-W", "error")
    assert r.returncode == 0 and "spprof" not in r.stdout + r.stderr, (r.stdout, r.stderr)
    assert set(os.listdir(tmp_path)) - {"__pycache__"} == {"ran", "test_work.py"}


def test_already_running_warns_and_goes_on(tmp_path):
    # as under `spprof run -m pytest --spprof`: the session is someone else's
    (tmp_path / "conftest.py").write_text(
        "import spprof\nspprof.start()\n"
        "def pytest_unconfigure(config):\n    spprof.stop()\n")
    r = run_pytest(tmp_path, "--spprof=out.spprof")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "already running" in r.stdout + r.stderr, (r.stdout, r.stderr)
    assert not (tmp_path / "out.spprof").exists()


def test_a_test_that_stops_the_profiler(tmp_path):
    (tmp_path / "test_stop.py").write_text(
        "import spprof\ndef test_stop():\n    spprof.stop()\n")
    r = run_pytest(tmp_path, "--spprof=out.spprof", "test_stop.py")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "a test stopped the profiler" in r.stdout, r.stdout
    assert not (tmp_path / "out.spprof").exists()


def run_parallel_path():
    """Where pytest-run-parallel comes from: () if installed here, else its cached wheel."""
    try:
        import pytest_run_parallel  # noqa: F401
        return ()
    except ImportError:
        pass
    wheels = ensure_wheels(RUN_PARALLEL)
    name, version = RUN_PARALLEL.split("==")
    path = os.path.join(wheels, f"{name.replace('-', '_')}-{version}-py3-none-any.whl")
    assert os.path.isfile(path), f"{path} is missing: {download_command([RUN_PARALLEL])}"
    return (path,)  # a pure-Python wheel imports as a zip; its entry point registers it


def test_run_parallel_worker_threads_are_profiled(tmp_path):
    r = run_pytest(tmp_path, "--parallel-threads=3", "--spprof=out.spprof", "-k", "fails",
                   env_extra={"SPPROF_PLUGIN_SELF": "0.2"}, pythonpath=run_parallel_path())
    assert r.returncode == 0 and "1 passed" in r.stdout, (r.stdout, r.stderr)
    # test_fails ran in 3 worker threads at once, each burning CPU itself
    prof = spprof.Profile.load(str(tmp_path / "out.spprof"))
    workers = hot_threads(prof, also="test_fails")
    assert len(workers - {"MainThread"}) == 3, workers
