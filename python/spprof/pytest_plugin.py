"""pytest plugin: ``pytest --spprof[=PATH]`` profiles the whole test session.

Sampling starts when the session starts (before collection) and stops when it finishes,
whether the tests passed, failed or were interrupted (Ctrl-C); it covers every thread of
the pytest process, so the worker threads of pytest-run-parallel or of the tests
themselves too. The profile goes to PATH (default ``spprof-pytest.html``), in the format
its extension names (as ``Profile.save``), and the terminal summary says where, in one
line. A bad PATH is a usage error before any test runs. docs/pytest-plugin.md has it all.

Installed, spprof registers this plugin through the ``pytest11`` entry point, so pytest
loads it in every run (importing spprof starts nothing); without ``--spprof`` it does
nothing. From a clone, load it with ``-p spprof.pytest_plugin``."""
from __future__ import annotations

import os
import sys
import warnings
from typing import Optional

import pytest

from . import _api, _native
from ._profile import check_output_path

DEFAULT_PATH = "spprof-pytest.html"


def pytest_addoption(parser) -> None:
    group = parser.getgroup("spprof", "profiling the session with spprof")
    group.addoption(
        "--spprof", dest="spprof", nargs="?", const=DEFAULT_PATH, default=None,
        metavar="PATH",
        help=f"profile the whole session, every thread, and write the profile to PATH "
             f"(default {DEFAULT_PATH}); its extension names the format: .html flame "
             f"graph, .spprof, .json speedscope, .pb.gz pprof, .txt collapsed stacks")
    group.addoption(
        "--spprof-interval", dest="spprof_interval", type=float, default=10, metavar="MS",
        help="with --spprof: sample each thread every MS milliseconds of its CPU time "
             "(default 10, 1..1000)")
    group.addoption(
        "--spprof-threads", dest="spprof_threads", action="store_true",
        help="with --spprof: keep the threads apart, one root per thread")


def pytest_configure(config) -> None:
    raw = config.getoption("spprof")
    # A pytest-xdist worker is a process of its own, with the same options: it must not
    # write over the profile of the process that runs pytest.
    if raw is None or hasattr(config, "workerinput"):
        return
    config.pluginmanager.register(
        SessionProfiler(raw, config.getoption("spprof_interval"),
                        config.getoption("spprof_threads")), "spprof-session")


def _bare(e: BaseException) -> str:
    """An error's message without the "spprof: " spprof's own messages start with."""
    msg = str(e)
    return msg[len("spprof: "):] if msg.startswith("spprof: ") else msg


def _threads(n: int) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


class SessionProfiler:
    """One profiling session around one pytest session."""

    def __init__(self, raw: str, interval_ms: float, threads: bool):
        self.shown = raw  # as given: the summary line names it so
        expanded = os.path.expanduser(raw)
        try:
            path, self.format = check_output_path(expanded)
        except (TypeError, ValueError, OSError) as e:
            hint = ""
            if os.path.exists(expanded):
                # `pytest --spprof tests/` takes tests/ for the optional PATH.
                hint = ("; --spprof takes an optional PATH, so give it as --spprof=PATH "
                        "or after the test paths")
            raise pytest.UsageError(f"--spprof: {_bare(e)}{hint}") from None
        try:
            self.interval_ms = _api._check_interval(interval_ms)
        except (TypeError, ValueError) as e:
            raise pytest.UsageError(f"--spprof-interval: {_bare(e)}") from None
        self.path = os.path.abspath(path)  # the tests may change directory
        self.threads = threads
        self.session = None  # spprof's session, once started by this plugin
        self.finished = False
        self.summary: Optional[str] = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session) -> None:
        with _api._lock:
            if _native.is_active():
                self._warn("spprof: already running when the test session started (under "
                           "`spprof run`, or started by a conftest), so --spprof writes no "
                           "profile of its own")
                self.finished = True
                return
            try:
                self.session = _api._start_locked(self.interval_ms, 0)
            except RuntimeError as e:  # this interpreter, another SIGPROF handler
                raise pytest.UsageError(
                    f"--spprof: cannot start profiling: {_bare(e)}") from None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session) -> None:
        self._finish()

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.summary:
            terminalreporter.write_line(self.summary)
            self.summary = None

    def pytest_unconfigure(self, config) -> None:
        # The session did not finish normally (pytest stopped between its start and its
        # end): still stop sampling and write what there is, and say so on stderr.
        self._finish()
        if self.summary:
            sys.stderr.write(self.summary + "\n")

    def _finish(self) -> None:
        if self.session is None or self.finished:
            return
        self.finished = True
        with _api._lock:
            prof = None
            if _api._session is self.session and _native.is_active():
                prof = _api._stop_locked(stacklevel=2)
        if prof is None:
            self._warn("spprof: a test stopped the profiler during the session "
                       "(spprof.stop()), so --spprof wrote no profile")
            return
        try:
            prof.save(self.path, format=self.format, threads=self.threads)
        except Exception as e:  # the disk, or a writer: the tests' outcome stands
            self._warn(f"spprof: could not write the profile to {self.shown}: "
                       f"{type(e).__name__}: {e}")
            return
        st = prof.stats
        self.summary = (f"spprof: {prof.total_samples} samples "
                        f"({st.get('samples_dropped', 0)} dropped) in "
                        f"{_threads(len(prof.samples_by_thread()))} written to {self.shown}")

    def _warn(self, msg: str) -> None:
        self.summary = msg
        warnings.warn(pytest.PytestWarning(msg), stacklevel=2)
