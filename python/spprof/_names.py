"""Thread names for a profiling session (used by _api.start() and _api.stop()).

The native side identifies a thread by (threading.get_ident(), kernel tid). A name is found
at stop() for each such pair, in this order:

1. a ``threading.Thread`` alive at stop(): its current name;
2. a ``threading.Thread`` alive at start() or started during the session: its current name
   if the Thread object still exists (even after the thread ended), else the name it had
   when it started;
3. a thread made from C (no ``threading.Thread``; or a ``threading._DummyThread``, which
   ``threading.current_thread()`` makes up for such a thread): the kernel's name, read from
   ``/proc/self/task/<tid>/comm`` if that thread is still alive at stop(), else
   ``thread <tid>``.

Threads started during the session are recorded by a wrapper put around
``threading._start_joinable_thread`` (the function ``Thread.start()`` calls, 3.13 and 3.14)
while the session runs: after the thread has been started, in the thread that called
``Thread.start()``, it waits for the new thread's ident and native id (which
``Thread.start()`` does itself right after) and records ``(ident, native_id) -> (name,
weak reference to the Thread)``. The same wrapper makes the new thread run
``_native._run_thread`` (C, no frame) before ``Thread._bootstrap``: it waits, at most 10 ms,
until the profiler's consumer has armed the thread, so that a thread shorter than one
interval is still counted from its first Python instruction. The record is bounded (``CAPTURE_LIMIT`` threads per session; later threads
fall back to rules 1 and 3) and dropped at stop().
"""
from __future__ import annotations

import functools
import threading
import weakref
from typing import Dict, Optional, Tuple

from . import _native

#: At most this many threads started during one session have their name recorded.
CAPTURE_LIMIT = 65536

_Key = Tuple[int, int]


def _is_dummy(t: threading.Thread) -> bool:
    dummy = getattr(threading, "_DummyThread", None)
    return dummy is not None and isinstance(t, dummy)


def _key_of(t: threading.Thread) -> Optional[_Key]:
    ident, nid = t.ident, getattr(t, "native_id", None)
    if ident is None or nid is None:
        return None
    return (ident, nid)


def read_comm(native_id: int) -> Optional[str]:
    """The kernel's name of this process's thread ``native_id``, or None if it is gone."""
    try:
        with open(f"/proc/self/task/{int(native_id)}/comm", "rb") as f:
            return f.read().rstrip(b"\n").decode("utf-8", "replace")
    except OSError:
        return None


def _start_joinable_thread(capture: "NameCapture", orig, function, *args, **kwargs):
    """threading._start_joinable_thread while a session runs (bound to the session's
    NameCapture and the function it replaced with functools.partial): start the thread,
    then record its name. This frame shows in the starting thread's stacks while it waits
    in Thread.start()."""
    # The new thread first waits (in C, no frame) until the profiler samples it, so its CPU
    # time is counted from its first Python instruction however short it is.
    run = functools.partial(_native._run_thread, function) if capture._on else function
    handle = orig(run, *args, **kwargs)
    if capture._on:
        capture._record_started(function)
    return handle


class NameCapture:
    """The names of one session's threads (see the module docstring)."""

    def __init__(self) -> None:
        self._names: Dict[_Key, Tuple[str, Optional[weakref.ref]]] = {}
        self._on = False
        self._orig = None
        self._wrapper = None
        self.installed = False

    # -- start() ------------------------------------------------------------------------
    def install(self) -> None:
        """Begin recording threads started from now on (no-op where threading has no
        _start_joinable_thread)."""
        orig = getattr(threading, "_start_joinable_thread", None)
        if not callable(orig):
            return
        wrapper = functools.partial(_start_joinable_thread, self, orig)
        self._orig, self._wrapper, self._on = orig, wrapper, True
        threading._start_joinable_thread = wrapper
        self.installed = True

    def record_alive(self) -> None:
        """Record the threading.Threads alive now (called once the sampling runs)."""
        for t in threading.enumerate():
            if not _is_dummy(t):
                self._record(t)

    def _record(self, t: threading.Thread) -> None:
        key = _key_of(t)
        if key is None:
            return
        if len(self._names) >= CAPTURE_LIMIT and key not in self._names:
            return
        try:
            ref = weakref.ref(t)
        except TypeError:
            ref = None
        self._names[key] = (t.name, ref)  # the last thread seen with this key wins

    def _record_started(self, function) -> None:
        # Never let a failure here reach Thread.start(): the name is then found otherwise.
        try:
            t = getattr(function, "__self__", None)
            if not isinstance(t, threading.Thread):
                return
            started = getattr(t, "_started", None)
            if started is not None:
                started.wait()  # what Thread.start() does next: ident and native_id are set
            self._record(t)
        except Exception:
            pass

    # -- stop() -------------------------------------------------------------------------
    def uninstall(self) -> None:
        """Stop recording and put threading._start_joinable_thread back (unless someone
        replaced our wrapper meanwhile: then it stays in their chain, inert)."""
        self._on = False
        if self._wrapper is not None and \
                getattr(threading, "_start_joinable_thread", None) is self._wrapper:
            threading._start_joinable_thread = self._orig
        self._wrapper = None
        self.installed = False

    def resolver(self):
        """A function (ident, native_id) -> name, for the threads of the session just
        stopped (alive threads read now)."""
        alive: Dict[_Key, threading.Thread] = {}
        for t in threading.enumerate():
            key = _key_of(t)
            if key is not None:
                alive[key] = t
        names = self._names

        def name_of(ident: int, native_id: int) -> str:
            if ident == 0 and native_id == 0:
                # the native side's shared record for threads past its per-session limit
                return "<other threads>"
            key = (ident, native_id)
            t = alive.get(key)
            if t is not None and not _is_dummy(t):
                return t.name
            entry = names.get(key)
            if entry is not None and t is None:
                obj = entry[1]() if entry[1] is not None else None
                return obj.name if obj is not None else entry[0]
            comm = read_comm(native_id)
            if comm:
                return comm
            if t is not None:  # a _DummyThread whose task is gone (or unreadable)
                return t.name
            return f"thread {native_id}"

        return name_of

    def clear(self) -> None:
        self._names = {}
