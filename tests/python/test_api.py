"""Profiler context manager, @profile decorator, Profile records and output formats."""
import json
import os

import spprof
from spprof import Frame, Profile, StackRecord
from conftest import spin


def busy_function():
    return spin(0.2)


def test_profiler_context_manager():
    with spprof.Profiler(interval_ms=2) as prof:
        assert spprof.is_active()
        busy_function()
    assert not spprof.is_active()
    p = prof.profile
    assert isinstance(p, Profile) and p.interval_ms == 2
    assert "busy_function" in p.functions(inclusive=True)
    for r in p.stacks:
        assert isinstance(r, StackRecord)
        assert all(isinstance(f, Frame) for f in r.frames)
        assert isinstance(r.count, int) and r.count > 0


def test_profile_decorator_saves(tmp_path):
    out = tmp_path / "decorated.json"

    @spprof.profile(output_path=str(out), interval_ms=1)
    def decorated():
        return busy_function() > 0

    assert decorated() is True
    assert not spprof.is_active()
    doc = json.loads(out.read_text())
    names = {f["name"] for f in doc["shared"]["frames"]}
    assert "test_profile_decorator_saves.<locals>.decorated" in names
    assert decorated.last_profile.total_samples > 0


def test_save_speedscope_and_collapsed(tmp_path):
    spprof.start(interval_ms=1)
    busy_function()
    p = spprof.stop()
    js = tmp_path / "p.json"
    p.save(js)
    doc = json.loads(js.read_text())
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    nframes = len(doc["shared"]["frames"])
    total = 0.0
    for prof in doc["profiles"]:
        assert prof["type"] == "sampled" and prof["unit"] == "milliseconds"
        assert len(prof["samples"]) == len(prof["weights"])
        for s in prof["samples"]:
            assert all(0 <= i < nframes for i in s)
        total += sum(prof["weights"])
    assert abs(total - p.total_samples * p.interval_ms) < 1e-6
    # root first in speedscope: the leaf of the hottest stack is last
    hottest = p.stacks[0]
    first = doc["profiles"][0]
    for c in (".txt", ".collapsed"):
        path = tmp_path / ("p" + c)
        p.save(path)
        lines = path.read_text().splitlines()
        assert lines and sum(int(l.rsplit(" ", 1)[1]) for l in lines) == p.total_samples
        assert any("busy_function" in l for l in lines)
        # merged threads by default: the root is a frame, not a thread
        assert not any(" (tid " in l.split(";", 1)[0] for l in lines), lines[:3]
        p.save(path, threads=True)
        lines = path.read_text().splitlines()
        assert all(l.split(";", 1)[0].endswith(")") and " (tid " in l.split(";", 1)[0]
                   for l in lines), lines[:3]
    assert hottest.count > 0 and first["samples"]
    try:
        p.save(tmp_path / "p.bin")
    except ValueError:
        pass
    else:
        raise AssertionError("unknown extension accepted")


def test_speedscope_file_follows_speedscopes_own_schema(tmp_path):
    """The JSON must satisfy the schema speedscope itself publishes (fetched from its npm
    package by `make pythons`), not just our reading of it."""
    import fastjsonschema

    cache = os.environ.get("SPPROF_CACHE", os.path.expanduser("~/.cache/spprof"))
    path = os.path.join(cache, "speedscope-1.22.2", "file-format-schema.json")
    assert os.path.exists(path), f"{path} is missing: run `make pythons`"
    with open(path, encoding="utf-8") as f:
        validate = fastjsonschema.compile(json.load(f))
    spprof.start(interval_ms=1)
    busy_function()
    p = spprof.stop()
    p.save(tmp_path / "p.json")
    doc = json.loads((tmp_path / "p.json").read_text())
    validate(doc)  # raises JsonSchemaException naming the offending field
    # and the schema does not accept everything: a sample that is not a list of indices fails
    doc["profiles"][0]["samples"][0] = "not a stack"
    try:
        validate(doc)
    except fastjsonschema.JsonSchemaException:
        pass
    else:
        raise AssertionError("schema accepted a malformed sample")


# ---- issue 12 item 11: the Python-side API traps ------------------------------------------
import _thread
import signal
import sys
import threading
import time
import warnings

import pytest

from spprof import ThreadInfo, _api, _native


def _no_warning_call(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*a, **kw)


# 1. @spprof.profile never changes what the call does
def test_decorator_recursive_calls_run_inside_the_outer_session():
    @spprof.profile(interval_ms=1)
    def fact(n):
        if n <= 1:
            spin(0.05)
            return 1
        return n * fact(n - 1)

    assert _no_warning_call(fact, 10) == 3628800
    assert not spprof.is_active()
    assert fact.last_profile is not None and fact.last_profile.total_samples > 0
    assert "test_decorator_recursive_calls_run_inside_the_outer_session.<locals>.fact" in \
        fact.last_profile.functions(inclusive=True)


def test_decorator_nested_in_another_decorated_function_and_in_a_profiler():
    @spprof.profile(interval_ms=1)
    def inner():
        return spin(0.05) > 0

    @spprof.profile(interval_ms=1)
    def outer():
        return inner()

    assert _no_warning_call(outer) is True
    assert inner.last_profile is None  # ran inside outer's session: not profiled separately
    assert any(f.function.endswith("inner") for r in outer.last_profile.stacks for f in r.frames)

    with spprof.Profiler(interval_ms=1) as p:
        assert _no_warning_call(inner) is True
    assert spprof.is_active() is False
    assert inner.last_profile is None
    assert any(f.function.endswith("inner") for r in p.profile.stacks for f in r.frames)

    spprof.start(interval_ms=1)
    try:
        assert _no_warning_call(inner) is True
        assert spprof.is_active()  # the decorated call did not stop someone else's session
    finally:
        spprof.stop()
    assert inner.last_profile is None


def test_decorator_three_concurrent_calls():
    inside = threading.Barrier(3, timeout=10)
    errors, results = [], {}

    @spprof.profile(interval_ms=1)
    def work(i):
        inside.wait()  # all three calls are running at once
        spin(0.03)
        return i * 10

    def call(i):
        try:
            results[i] = work(i)
        except BaseException as e:  # noqa: BLE001 - the test reports it
            errors.append(repr(e))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ts = [threading.Thread(target=call, args=(i,)) for i in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    assert errors == [] and results == {0: 0, 1: 10, 2: 20}
    assert not spprof.is_active()
    assert work.last_profile is not None


def test_decorator_call_that_stops_the_profiler_itself():
    @spprof.profile(interval_ms=1)
    def takes_over():
        spin(0.02)
        return spprof.stop().total_samples >= 0

    assert _no_warning_call(takes_over) is True
    assert takes_over.last_profile is None and not spprof.is_active()


def test_decorator_output_path_checked_when_decorating(tmp_path):
    ran = []

    def body():
        ran.append(1)
        return 42

    with pytest.raises(ValueError, match=r"\.json.*\.txt.*\.collapsed"):
        spprof.profile(output_path=str(tmp_path / "p.bin"))(body)
    with pytest.raises(IsADirectoryError, match="directory"):
        spprof.profile(output_path=str(tmp_path))(body)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        spprof.profile(output_path=str(tmp_path / "missing" / "p.json"))(body)
    with pytest.raises(TypeError):
        spprof.profile(output_path=3)(body)
    assert ran == []
    ok = spprof.profile(output_path=tmp_path / "p.collapsed", interval_ms=1)(body)
    assert ok() == 42 and (tmp_path / "p.collapsed").exists()


def test_decorator_keeps_result_and_exception_when_saving_fails(tmp_path):
    d = tmp_path / "out"
    d.mkdir()

    @spprof.profile(output_path=str(d / "p.json"), interval_ms=1)
    def good():
        spin(0.02)
        return "result"

    @spprof.profile(output_path=str(d / "q.json"), interval_ms=1)
    def bad():
        spin(0.02)
        raise KeyError("mine")

    d.rmdir()  # the directory vanished between decoration and the call
    with pytest.warns(RuntimeWarning, match="could not save the profile"):
        assert good() == "result"
    assert good.last_profile is not None
    with pytest.warns(RuntimeWarning, match="could not save the profile"):
        with pytest.raises(KeyError, match="mine") as ei:
            bad()
    assert ei.value.__context__ is None  # not replaced by, nor chained to, a save error


def test_decorator_runs_unprofiled_when_profiling_cannot_start():
    @spprof.profile(interval_ms=1)
    def work():
        return 7

    old = signal.signal(signal.SIGPROF, lambda *a: None)  # start() refuses a foreign handler
    try:
        with pytest.warns(RuntimeWarning, match="runs unprofiled.*SIGPROF"):
            assert work() == 7
    finally:
        signal.signal(signal.SIGPROF, old)
    assert work.last_profile is None and not spprof.is_active()


# 2. interval_ms has an upper bound
def test_interval_upper_bound():
    for bad in (1000.5, 100000, 3_600_000, float("inf")):
        with pytest.raises(ValueError, match="at most 1000"):
            spprof.start(interval_ms=bad)
        with pytest.raises(ValueError, match="at most 1000"):
            spprof.Profiler(interval_ms=bad)
        with pytest.raises(ValueError, match="at most 1000"):
            spprof.profile(interval_ms=bad)
    assert not spprof.is_active()
    spprof.start(interval_ms=1000)
    assert spprof.stats()["interval_ns"] == 10**9
    spprof.stop()


# 3. save() errors
def test_save_errors_name_the_problem(tmp_path):
    spprof.start(interval_ms=1)
    spin(0.02)
    p = spprof.stop()
    with pytest.raises(IsADirectoryError, match="directory"):
        p.save(tmp_path)
    with pytest.raises(IsADirectoryError, match="directory"):
        p.save(str(tmp_path) + "/")
    with pytest.raises(FileNotFoundError, match=r"directory .*missing.* does not exist"):
        p.save(tmp_path / "missing" / "p.json")
    with pytest.raises(ValueError, match=r"'\.bin'.*\.json \(speedscope\), \.txt \(collapsed\), "
                                         r"\.collapsed \(collapsed\)"):
        p.save(tmp_path / "p.bin")
    with pytest.raises(ValueError, match="no extension.*known extensions"):
        p.save(tmp_path / "profile")
    with pytest.raises(TypeError):
        p.save(None)
    assert list(tmp_path.iterdir()) == []
    p.save(tmp_path / "P.JSON")
    p.save(bytes(tmp_path / "p.txt"))
    assert json.loads((tmp_path / "P.JSON").read_text())["exporter"] == "spprof"


# 4. a SIGPROF handler installed after start() is reported at stop()
def test_stop_warns_when_sigprof_handler_was_replaced():
    spprof.start(interval_ms=1)
    try:
        signal.signal(signal.SIGPROF, lambda *a: None)
        spin(0.1)
        with pytest.warns(RuntimeWarning, match="SIGPROF handler was replaced") as w:
            p = spprof.stop()
        assert w[0].filename == __file__  # points at the caller of stop()
    finally:
        if spprof.is_active():
            spprof.stop()
        signal.signal(signal.SIGPROF, signal.SIG_DFL)
    assert p.stats["sigprof_replaced"] is True
    spprof.start(interval_ms=1)  # a normal session does not warn
    spin(0.02)
    p = _no_warning_call(spprof.stop)
    assert p.stats["sigprof_replaced"] is False


# 5. thread names
def _name_of(p, native_id):
    names = {r.thread_name for r in p.stacks if r.native_thread_id == native_id}
    assert len(names) == 1, (native_id, names)
    return names.pop()


def test_thread_names_in_stacks_and_outputs(tmp_path):
    go, done = threading.Event(), threading.Event()
    nids = {}

    def body(key, cpu):
        nids[key] = threading.get_native_id()
        spin(cpu)

    def waits_then_spins():
        go.wait()
        body("early", 0.03)
        done.wait()

    early = threading.Thread(target=waits_then_spins, name="early bird")
    early.start()  # alive at start()
    spprof.start(interval_ms=1)
    go.set()
    ended = threading.Thread(target=body, args=("ended", 0.03), name="ended;early")
    ended.start()
    ended.join()  # ended before stop(); its object is dropped below
    del ended
    renamed = threading.Thread(target=body, args=("renamed", 0.03), name="before")
    renamed.start()
    renamed.join()
    renamed.name = "after"  # renamed after it ended: the object still exists
    running = threading.Thread(target=lambda: (body("running", 0.03), done.wait()),
                               name="old name")
    running.start()
    while "running" not in nids or "early" not in nids:
        time.sleep(0.005)
    time.sleep(0.05)
    running.name = "new name"  # renamed while running: the name at stop() wins
    spin(0.02)
    p = spprof.stop()
    done.set()
    early.join()
    running.join()

    assert _name_of(p, threading.get_native_id()) == "MainThread"
    assert _name_of(p, nids["early"]) == "early bird"
    assert _name_of(p, nids["ended"]) == "ended;early"
    assert _name_of(p, nids["renamed"]) == "after"
    assert _name_of(p, nids["running"]) == "new name"
    for r in p.stacks:
        assert r.thread == ThreadInfo(r.thread_id, r.native_thread_id, r.thread_name, os.getpid())
    assert {t.name for t in p.threads} >= {"MainThread", "early bird", "ended;early", "after",
                                           "new name"}
    names = {prof["name"] for prof in p.to_speedscope(threads=True)["profiles"]}
    assert f"ended;early (tid {nids['ended']})" in names
    assert f"new name (tid {nids['running']})" in names
    roots = {line.split(";", 1)[0] for line in p.to_collapsed(threads=True).splitlines()}
    assert f"ended:early (tid {nids['ended']})" in roots  # ';' cannot appear in a frame
    assert f"MainThread (tid {threading.get_native_id()})" in roots
    # the name recorder is gone after stop()
    assert threading._start_joinable_thread is _thread.start_joinable_thread
    assert _api._session is None


def test_names_of_threads_made_without_threading():
    """A thread with no threading.Thread is named by the kernel (its comm) while alive at
    stop(), else 'thread <tid>'."""
    state = {}
    release = threading.Event()

    def c_like(key, comm, wait):
        nid = threading.get_native_id()
        if comm:
            with open(f"/proc/self/task/{nid}/comm", "w") as f:
                f.write(comm)
        spin(0.03)
        state[key] = nid
        if wait:
            release.wait()

    spprof.start(interval_ms=1)
    _thread.start_new_thread(c_like, ("alive", "cworker", True))
    _thread.start_new_thread(c_like, ("gone", "", False))
    deadline = time.monotonic() + 10
    while len(state) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.1)  # the second thread has ended
    p = spprof.stop()
    release.set()
    assert _name_of(p, state["alive"]) == "cworker"
    assert _name_of(p, state["gone"]) == f"thread {state['gone']}"


def test_thread_hooks_are_left_alone():
    def hook(*a):
        return None

    threading.setprofile(hook)
    try:
        spprof.start(interval_ms=1)
        seen = []
        t = threading.Thread(target=lambda: (seen.append(sys.getprofile()), spin(0.03)),
                             name="hooked")
        t.start()
        t.join()
        assert threading.getprofile() is hook
        p = spprof.stop()
    finally:
        threading.setprofile(None)
    assert seen == [hook]
    assert "hooked" in {th.name for th in p.threads}


def test_name_record_is_bounded(monkeypatch):
    from spprof import _names
    monkeypatch.setattr(_names, "CAPTURE_LIMIT", 3)
    spprof.start(interval_ms=1)
    keep = []
    for i in range(6):
        t = threading.Thread(target=spin, args=(0.01,), name=f"bounded-{i}")
        t.start()
        t.join()
        keep.append(t)
    assert len(_api._session.names._names) == 3  # MainThread + the first two
    p = spprof.stop()
    names = {th.native_id: th.name for th in p.threads}
    assert [names.get(t.native_id) for t in keep[:2]] == ["bounded-0", "bounded-1"]
    for t in keep[2:]:  # ended and not recorded: named by rule 3
        assert names.get(t.native_id) in (None, f"thread {t.native_id}")


# 6. samples_by_thread() tells apart threads that share an ident
def test_samples_by_thread_keys_are_unique_per_thread():
    out = []

    def worker():
        out.append((threading.get_ident(), threading.get_native_id()))
        spin(0.03)

    spprof.start(interval_ms=1)
    for i in range(6):
        t = threading.Thread(target=worker, name=f"seq-{i}")
        t.start()
        t.join()  # the next thread very likely gets the same ident
    p = spprof.stop()
    by = p.samples_by_thread()
    workers = {k: v for k, v in by.items() if k.name.startswith("seq-")}
    assert sorted(k.name for k in workers) == [f"seq-{i}" for i in range(6)], by
    assert {(k.ident, k.native_id) for k in workers} == set(out)
    assert all(isinstance(k, ThreadInfo) and v > 0 for k, v in workers.items())
    assert sum(by.values()) == p.total_samples
    # a plain ident still works as a key: the sum over the threads that had it
    ident = out[0][0]
    assert by[ident] == by.get(ident) == sum(v for k, v in by.items() if k.ident == ident)
    assert ident in by and 12345 not in by and by.get(12345, 0) == 0
    with pytest.raises(KeyError):
        by[12345]
    if len({i for i, _ in out}) < len(out):  # idents were reused, threads still apart
        assert len(workers) == 6


# 7. max_depth
def test_max_depth_is_validated():
    for bad, exc in ((0, ValueError), (-1, ValueError), (_native.MAX_DEPTH + 1, ValueError),
                     (True, TypeError), (1.5, TypeError), ("50", TypeError)):
        with pytest.raises(exc):
            spprof.start(max_depth=bad)
        with pytest.raises(exc):
            spprof.Profiler(max_depth=bad)
        with pytest.raises(exc):
            spprof.profile(max_depth=bad)
    assert not spprof.is_active()
    spprof.start(interval_ms=1)
    assert spprof.stats()["max_depth"] == spprof.DEFAULT_MAX_DEPTH == 256
    spprof.stop()
    spprof.start(interval_ms=1, max_depth=spprof.MAX_DEPTH)
    assert spprof.stats()["max_depth"] == 4096
    spprof.stop()


def _deep(n, cpu):
    if n == 0:
        return spin(cpu)
    return _deep(n - 1, cpu)


def test_max_depth_truncates_and_outputs_show_it(tmp_path):
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 3000))
    try:
        with spprof.Profiler(interval_ms=1, max_depth=50) as prof:
            assert spprof.stats()["max_depth"] == 50
            _deep(1000, 0.15)
    finally:
        sys.setrecursionlimit(old)
    p = prof.profile
    assert p.stats["max_depth"] == 50
    assert all(len(r.frames) <= 51 for r in p.stacks)
    deep = [r for r in p.stacks if r.frames and r.frames[0].function == "spin"]
    assert deep and sum(r.count for r in deep) > 50
    for r in deep:
        assert r.frames[-1] == spprof.Frame("<truncated>", "", -1), r.frames[-3:]
        assert [f.function for f in r.frames[1:-1]] == ["_deep"] * 49
    doc = p.to_speedscope()
    names = [f["name"] for f in doc["shared"]["frames"]]
    trunc = names.index("<truncated>")
    assert "file" not in doc["shared"]["frames"][trunc]
    assert any(s and s[0] == trunc for prof_ in doc["profiles"] for s in prof_["samples"])
    lines = p.to_collapsed(threads=True).splitlines()
    assert any(l.split(";")[1] == "<truncated>" and "spin (" in l for l in lines), lines[:3]

    @spprof.profile(interval_ms=1, max_depth=20)
    def deep_call():
        return _deep(100, 0.05)

    deep_call()
    assert deep_call.last_profile.stats["max_depth"] == 20
    assert max(len(r.frames) for r in deep_call.last_profile.stacks) <= 21


# 8. the public surface
def test_public_names():
    assert set(spprof.__all__) == {
        "DEFAULT_MAX_DEPTH", "INTERVAL_MAX_MS", "INTERVAL_MIN_MS", "MAX_DEPTH", "Frame",
        "Function", "FunctionSamples", "Profile", "Profiler", "StackRecord", "ThreadInfo", "ThreadSamples", "is_active",
        "profile", "snapshot", "start", "stats", "stop"}
    for name in spprof.__all__:
        assert hasattr(spprof, name), name
    assert spprof.MAX_DEPTH == _native.MAX_DEPTH and spprof.INTERVAL_MAX_MS == 1000
    r = StackRecord(1, 2, (), 3)  # the four original fields still build a record
    assert r.thread_name == "" and r.thread is None
    prof = Profile([r], 1, 0.0, {"timer": "x"})
    assert prof.samples_by_thread() == {ThreadInfo(1, 2, "thread 2"): 3}


def test_fork_child_forgets_the_session():
    from conftest import QEMU, QEMU_FORK_THREAD, run_child
    if QEMU:
        pytest.skip(QEMU_FORK_THREAD)
    code = """
import os, threading, _thread, spprof
from spprof import _api
spprof.start(interval_ms=1)
pid = os.fork()
if pid == 0:
    ok = _api._session is None and threading._start_joinable_thread is _thread.start_joinable_thread
    spprof.start(interval_ms=1)
    t = threading.Thread(target=lambda: None, name="child-thread"); t.start(); t.join()
    ok = ok and spprof.stop() is not None
    os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
spprof.stop()
assert os.waitstatus_to_exitcode(status) == 0
"""
    r = run_child(code, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
