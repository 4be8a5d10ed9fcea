"""The records a Profile is made of: frames, threads, stacks, and the two dict types
keyed by them (a thread, a function) that also accept the plain key people reach for
first (an ident, a function name)."""
from __future__ import annotations

from typing import NamedTuple, Optional, Tuple


class Frame(NamedTuple):
    """One Python frame: qualified function name, file, line (-1 when unknown).

    Two pseudo-frames have file "" and line -1: ``<truncated>`` (the outermost frame of a
    stack cut at ``max_depth``) and ``<freed code>`` (a code object freed before it could
    be named)."""

    function: str
    file: str
    line: int


class ThreadInfo(NamedTuple):
    """One thread of a session. ``ident`` is ``threading.get_ident()`` (pthread reuses it
    for threads started after others ended), ``native_id`` the kernel tid; together they
    tell the threads of a session apart. ``name`` is the ``threading`` name (or the
    kernel's name of a thread made from C); ``pid`` the process it ran in, which tells
    apart the threads of profiles merged from several processes."""

    ident: int
    native_id: int
    name: str
    pid: int = 0            # the process (0: not recorded; set by Profile for merges)


class StackRecord(NamedTuple):
    """One distinct stack of one thread and how many samples landed on it.

    ``count`` is in timer expirations (each sample weighted by the expirations it stands
    for), so ``count * interval_ms`` is the CPU time spent there."""

    thread_id: int          # threading.get_ident() of the thread
    native_thread_id: int   # threading.get_native_id() (the kernel tid)
    frames: Tuple[Frame, ...]  # innermost first
    count: int
    thread_name: str = ""   # the thread's name (see ThreadInfo)
    thread: Optional[ThreadInfo] = None  # the thread, as a key of samples_by_thread()


class _Totals(dict):
    """Samples keyed by records (a thread, a function), also looked up by the one field
    people reach for first: ``d[alias]``, ``d.get(alias)`` and ``alias in d`` cover every
    record whose field equals it, and give their sum."""

    def _alias_of(self, key):  # the records' field to compare `key` with, or None
        return None

    def _matches(self, key):
        field = self._alias_of(key)
        return [] if field is None else [v for k, v in self.items()
                                         if getattr(k, field, None) == key]

    def __missing__(self, key):
        found = self._matches(key)
        if found:
            return sum(found)
        raise KeyError(key)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key) -> bool:
        return dict.__contains__(self, key) or bool(self._matches(key))


class ThreadSamples(_Totals):
    """``{ThreadInfo: samples}``, as returned by ``Profile.samples_by_thread()``.

    A plain int key is also understood as a ``threading.get_ident()`` value: ``d[ident]``,
    ``d.get(ident)`` and ``ident in d`` give the samples of every thread that had that ident
    during the session (pthread reuses idents, so that may be several threads)."""

    def _alias_of(self, key):
        return "ident" if isinstance(key, int) and not isinstance(key, bool) else None


class Function(NamedTuple):
    """A function as ``Profile.functions()`` counts it: qualified name and file, so that
    two same-named functions of different modules stay apart."""

    name: str
    file: str


class FunctionSamples(_Totals):
    """``{Function(name, file): samples}``, as returned by ``Profile.functions()``. A plain
    str key is also understood as a qualified name: ``d["work"]``, ``d.get("work")`` and
    ``"work" in d`` give the samples of every function of that name, in any file."""

    def _alias_of(self, key):
        return "name" if isinstance(key, str) else None
