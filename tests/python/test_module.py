"""The extension loads, keeps the GIL off, reads its own layout and walks its own thread."""
import sys
import textwrap
import time

import pytest

import spprof
from spprof import _native

from conftest import FREE_THREADED, run_child


def test_layout_is_this_interpreters():
    info = _native.layout_info()
    assert info["py_version"] == sys.hexversion
    assert info["py_minor"] == sys.version_info.minor
    gil_build = not hasattr(sys, "_is_gil_enabled") or sys._is_gil_enabled()
    ft_build = "free-threading" in sys.version or "experimental free-threading" in sys.version
    assert info["free_threaded"] == (1 if ft_build else 0)
    if ft_build:
        assert not gil_build
    # The handler walks with this build's frame layout compiled in (core/walk_body.h); a
    # build that moved a field would fall back to run-time offsets, correct but slower.
    assert info["walker"] == f"3.{sys.version_info.minor}" + ("t" if ft_build else "")


@pytest.mark.skipif(not hasattr(sys, "_is_gil_enabled") or
                    "free-threading" not in sys.version, reason="free-threaded build only")
def test_gil_stays_disabled():
    r = run_child(textwrap.dedent("""
        import sys, threading
        import spprof
        assert not sys._is_gil_enabled(), "import enabled the GIL"
        spprof.start(1)
        t = threading.Thread(target=lambda: sum(range(10**6))); t.start(); t.join()
        p = spprof.stop()
        assert not sys._is_gil_enabled(), "profiling enabled the GIL"
        print("gil", sys._is_gil_enabled())
    """))
    assert r.returncode == 0, r.stderr
    assert "gil False" in r.stdout


def _py_stack():
    """(qualname, file, line) of every Python frame of the caller, innermost first."""
    f = sys._getframe(1)
    out = []
    while f is not None:
        out.append((f.f_code.co_qualname, f.f_code.co_filename, f.f_lineno))
        f = f.f_back
    return out


class Deep:
    def method(self, n):
        if n:
            return self.method(n - 1)
        expected = _py_stack(); got = _native._walk_self(4096)  # same line on purpose
        return expected, got


def test_walk_self_matches_getframe():
    expected, (status, reason, frames) = Deep().method(20)
    assert (status, reason) == ("ok", "")
    assert [tuple(f) for f in frames] == expected
    assert frames[0][0] == "Deep.method"


def _busy(seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        x += 1
    return x


def test_runtime_offsets_walker_sees_what_the_compiled_in_one_sees():
    """An interpreter whose frame layout matches no compiled-in shape is walked with offsets
    read at run time. Forced onto that walker, the walk of this stack and a live profile
    must come out as they do with the compiled-in one."""
    compiled_in = _native.layout_info()["walker"]
    try:
        _native._test_walker("runtime")
        assert _native.layout_info()["walker"] == "runtime"
        expected, (status, reason, frames) = Deep().method(20)
        assert (status, reason) == ("ok", "")
        assert [tuple(f) for f in frames] == expected
        spprof.start(interval_ms=1)
        _busy(0.2)
        profile = spprof.stop()
        st = spprof.stats()
        assert st["samples_captured"] >= 0.9 * st["timer_expirations"] > 0, st
        assert any(f.function.endswith("_busy") for s in profile.stacks for f in s.frames)
    finally:
        _native._test_walker(None)
    assert _native.layout_info()["walker"] == compiled_in


def test_walk_self_depth_limit():
    def rec(n):
        return rec(n - 1) if n else _native._walk_self(5)

    st, reason, frames = rec(30)
    assert st == "truncated" and reason == "" and len(frames) == 5


def test_walk_crafted_chain_into_prot_none_page():
    assert _native._walk_crafted() == ("dropped", "unreadable")
    # and the process is alive and can still walk itself
    assert _native._walk_self()[0] == "ok"


def test_public_api_surface():
    for name in ("start", "stop", "is_active", "stats", "Profiler", "profile", "Profile", "Frame"):
        assert hasattr(spprof, name), name
    assert spprof.is_active() is False
