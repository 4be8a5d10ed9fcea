"""The public API of spprof (re-exported by the package)."""
from __future__ import annotations

import functools
import json
import math
import os
import threading
import warnings
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

# No silent fallback: if the extension cannot load, importing spprof fails with the reason.
from . import _native
from ._names import NameCapture

#: Environment variable choosing the timer source: "auto" (default: perf_event when the
#: kernel allows it, else POSIX CPU timers), "perf_event" or "posix_cpu_timer".
TIMER_ENV = "SPPROF_TIMER"

#: Bounds of ``interval_ms``. Above one second a thread needs seconds of CPU per sample and
#: nothing is saved any more: a sample costs ~32 us, so 1000 ms is already ~0.003 %, below
#: the consumer's fixed 20 ms wake-ups (docs/python-api.md).
INTERVAL_MIN_MS = 1
INTERVAL_MAX_MS = 1000

#: Bounds and default of ``max_depth`` (frames kept per sample, innermost first).
MAX_DEPTH = _native.MAX_DEPTH
DEFAULT_MAX_DEPTH = _native.DEFAULT_DEPTH

#: The formats ``Profile.save()`` writes, by file extension.
FORMATS = {".json": "speedscope", ".txt": "collapsed", ".collapsed": "collapsed"}

_lock = threading.Lock()


class _Session:
    """What the Python side keeps of the running session."""

    __slots__ = ("interval_ms", "names")

    def __init__(self, interval_ms: float, names: NameCapture):
        self.interval_ms = interval_ms
        self.names = names


_session: Optional[_Session] = None


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
    kernel's name of a thread made from C)."""

    ident: int
    native_id: int
    name: str


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


class ThreadSamples(dict):
    """``{ThreadInfo: samples}``, as returned by ``Profile.samples_by_thread()``.

    A plain int key is also understood as a ``threading.get_ident()`` value: ``d[ident]``,
    ``d.get(ident)`` and ``ident in d`` give the samples of every thread that had that ident
    during the session (pthread reuses idents, so that may be several threads)."""

    def _ident_total(self, key):
        if isinstance(key, int) and not isinstance(key, bool):
            found = [v for k, v in self.items() if k.ident == key]
            if found:
                return sum(found)
        raise KeyError(key)

    def __missing__(self, key):
        return self._ident_total(key)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key) -> bool:
        if dict.__contains__(self, key):
            return True
        return isinstance(key, int) and not isinstance(key, bool) and \
            any(k.ident == key for k in self)


# ---- argument checks ---------------------------------------------------------------------
def _check_interval(interval_ms) -> float:
    if isinstance(interval_ms, bool) or not isinstance(interval_ms, (int, float)):
        raise TypeError(f"interval_ms must be a number, not {type(interval_ms).__name__}")
    value = float(interval_ms)
    if math.isnan(value) or value < INTERVAL_MIN_MS:
        raise ValueError(f"interval_ms must be >= {INTERVAL_MIN_MS}, got {interval_ms!r}")
    if value > INTERVAL_MAX_MS:
        raise ValueError(
            f"interval_ms must be at most {INTERVAL_MAX_MS} (one sample per second of a "
            f"thread's CPU time), got {interval_ms!r}: a thread would need more CPU time "
            f"than that per sample, and a longer interval costs no less")
    return value


def _check_max_depth(max_depth) -> int:
    """0 for the native default, else the validated depth."""
    if max_depth is None:
        return 0
    if isinstance(max_depth, bool) or not isinstance(max_depth, int):
        raise TypeError(f"max_depth must be an int, not {type(max_depth).__name__}")
    if not 1 <= max_depth <= MAX_DEPTH:
        raise ValueError(f"max_depth must be between 1 and {MAX_DEPTH}, got {max_depth!r}")
    return max_depth


def _check_output_path(path) -> Tuple[str, str]:
    """Validate a path Profile.save() can write: (the path as str, the format). Raises
    TypeError, ValueError (no or an unknown extension), IsADirectoryError (a directory),
    FileNotFoundError (its directory does not exist), NotADirectoryError."""
    if isinstance(path, bool) or not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"the profile path must be a str or os.PathLike, not "
                        f"{type(path).__name__}")
    p = os.fsdecode(os.fspath(path))
    known = ", ".join(f"{e} ({f})" for e, f in FORMATS.items())
    if p == "":
        raise ValueError(f"spprof: the profile path is empty; give a file name ending in "
                         f"{known}")
    if os.path.isdir(p) or p.endswith(os.sep):
        raise IsADirectoryError(f"spprof: cannot save a profile to {p!r}: it names a "
                                f"directory; give a file name ending in {known}")
    ext = os.path.splitext(p)[1].lower()
    if ext not in FORMATS:
        what = f"unknown extension {ext!r}" if ext else "no extension"
        raise ValueError(f"spprof: cannot save a profile to {p!r}: {what}; the known "
                         f"formats are {known}")
    parent = os.path.dirname(os.path.abspath(p))
    if not os.path.exists(parent):
        raise FileNotFoundError(f"spprof: cannot save a profile to {p!r}: the directory "
                                f"{parent!r} does not exist")
    if not os.path.isdir(parent):
        raise NotADirectoryError(f"spprof: cannot save a profile to {p!r}: {parent!r} is "
                                 f"not a directory")
    return p, FORMATS[ext]


# ---- start / stop ------------------------------------------------------------------------
def _start_locked(interval_ms: float, depth: int) -> _Session:
    global _session
    timer = os.environ.get(TIMER_ENV, "auto") or "auto"
    if _native.is_active():
        raise RuntimeError("spprof: the profiler is already running")
    names = NameCapture()
    names.install()  # before sampling starts: a thread started meanwhile is recorded
    try:
        _native._start(int(round(interval_ms * 1e6)), timer, 0, depth)
    except BaseException:
        names.uninstall()
        raise
    names.record_alive()
    _session = _Session(interval_ms, names)
    return _session


def start(interval_ms: float = 10, max_depth: Optional[int] = None) -> None:
    """Start sampling every thread of this process every ``interval_ms`` of its CPU time,
    keeping at most ``max_depth`` frames per sample (default 256, at most 4096).

    Raises ValueError if ``interval_ms`` is not within 1..1000 or ``max_depth`` not within
    1..4096, TypeError for a non-number, RuntimeError if already running, if this
    interpreter is not supported (the message names its version), or if another SIGPROF
    handler is installed."""
    value = _check_interval(interval_ms)
    depth = _check_max_depth(max_depth)
    with _lock:
        _start_locked(value, depth)


_SIGPROF_REPLACED = (
    "spprof: the SIGPROF handler was replaced during the session (by "
    "signal.signal(signal.SIGPROF, ...) or another profiler), so sampling stopped when "
    "that happened and this profile is incomplete; the new handler was left in place")


def _stop_locked(stacklevel: int) -> "Profile":
    global _session
    if not _native.is_active():
        raise RuntimeError("spprof: the profiler is not running")
    session = _session
    try:
        raw = _native._stop()
    finally:
        _session = None
        if session is not None:
            session.names.uninstall()
    st = _native.stats()
    if session is not None:
        name_of = session.names.resolver()
        session.names.clear()
        interval = session.interval_ms
    else:  # started through _native directly
        name_of = NameCapture().resolver()
        interval = st.get("interval_ns", 10_000_000) / 1e6
    prof = Profile._from_native(raw, st, interval, name_of)
    if st.get("sigprof_replaced"):
        warnings.warn(_SIGPROF_REPLACED, RuntimeWarning, stacklevel=stacklevel + 1)
    return prof


def stop() -> "Profile":
    """Stop sampling and return the Profile. RuntimeError if not running.

    Warns (RuntimeWarning) if some code replaced spprof's SIGPROF handler during the
    session: sampling then stopped silently at that moment (``stats["sigprof_replaced"]``)."""
    with _lock:
        return _stop_locked(stacklevel=2)


def is_active() -> bool:
    """True between start() and stop()."""
    return _native.is_active()


def stats() -> Dict[str, object]:
    """Counters of the running session, or of the last one after stop() (see
    docs/python-api.md for every key). All sample counts are in timer expirations:
    samples_captured + samples_dropped == timer_expirations."""
    return _native.stats()


# ---- the profile -------------------------------------------------------------------------
def _clean(text: str) -> str:
    return text.replace(";", ":").replace("\n", " ").replace("\r", " ")


class Profile:
    """The result of one profiling session."""

    def __init__(self, stacks: List[StackRecord], interval_ms: float, duration_s: float,
                 stats: Dict[str, object], threads: Optional[List[ThreadInfo]] = None):
        self.stacks = stacks
        self.interval_ms = interval_ms
        self.duration_s = duration_s
        self.stats = stats
        self.timer = stats.get("timer")
        if threads is None:
            seen: Dict[ThreadInfo, None] = {}
            for r in stacks:
                seen.setdefault(self._thread_of(r), None)
            threads = list(seen)
        self.threads = threads

    @staticmethod
    def _thread_of(r: StackRecord) -> ThreadInfo:
        if r.thread is not None:
            return r.thread
        return ThreadInfo(r.thread_id, r.native_thread_id,
                          r.thread_name or f"thread {r.native_thread_id}")

    @classmethod
    def _from_native(cls, raw, stats, interval_ms, name_of=None) -> "Profile":
        t0, t1, syms, threads, stacks = raw
        frames = [Frame(f, file, line) for (f, file, line) in syms]
        # One ThreadInfo per (ident, native id): the native side has one entry per arming,
        # and a thread re-armed (a C thread whose thread state was re-created) is one thread.
        by_key: Dict[Tuple[int, int], ThreadInfo] = {}
        infos: List[ThreadInfo] = []
        for ident, nid in threads:
            info = by_key.get((ident, nid))
            if info is None:
                name = name_of(ident, nid) if name_of else f"thread {nid}"
                info = by_key[(ident, nid)] = ThreadInfo(ident, nid, name)
            infos.append(info)
        agg: Dict[Tuple[ThreadInfo, Tuple[Frame, ...]], int] = {}
        for (t, ids, count) in stacks:
            key = (infos[t], tuple(frames[i] for i in ids))
            agg[key] = agg.get(key, 0) + count
        records = [StackRecord(th.ident, th.native_id, fr, count, th.name, th)
                   for (th, fr), count in agg.items()]
        records.sort(key=lambda r: -r.count)
        return cls(records, interval_ms, max(0, t1 - t0) / 1e9, stats,
                   threads=list(by_key.values()))

    @property
    def total_samples(self) -> int:
        """Sum of counts over all stacks (timer expirations)."""
        return sum(r.count for r in self.stacks)

    def samples_by_thread(self) -> ThreadSamples:
        """Samples per thread: ``{ThreadInfo(ident, native_id, name): samples}`` (a thread
        with no sample is absent). A plain ident also works as a key (see ThreadSamples)."""
        out = ThreadSamples()
        for r in self.stacks:
            th = self._thread_of(r)
            out[th] = out.get(th, 0) + r.count
        return out

    def functions(self, inclusive: bool = False) -> Dict[str, int]:
        """Samples per qualified function name: where the thread was (innermost frame), or
        with inclusive=True anywhere on the stack (counted once per stack)."""
        out: Dict[str, int] = {}
        for r in self.stacks:
            names = {f.function for f in r.frames} if inclusive else (
                {r.frames[0].function} if r.frames else set())
            for n in names:
                out[n] = out.get(n, 0) + r.count
        return out

    def save(self, path) -> None:
        """Write speedscope JSON (``.json``) or collapsed stacks (``.txt``/``.collapsed``).

        Raises ValueError for no or an unknown extension (the message lists the known
        ones), IsADirectoryError for a directory, FileNotFoundError if the file's directory
        does not exist, TypeError for a path that is not a str/bytes/os.PathLike."""
        p, fmt = _check_output_path(path)
        text = json.dumps(self.to_speedscope()) if fmt == "speedscope" else self.to_collapsed()
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)

    @staticmethod
    def _frame_label(fr: Frame) -> str:
        if not fr.file and fr.line < 0:  # <truncated>, <freed code>
            return _clean(fr.function)
        return _clean(f"{fr.function} ({fr.file}:{fr.line})")

    def _thread_labels(self, clean: bool) -> Dict[ThreadInfo, str]:
        """``name (tid N)`` per thread, made unique with `` #2``... if two threads of the
        session would get the same label (the same name and a reused tid); with clean, ';'
        and line breaks replaced (the collapsed format's separators)."""
        labels: Dict[ThreadInfo, str] = {}
        used: Dict[str, int] = {}
        ordered = sorted({self._thread_of(r) for r in self.stacks} | set(self.threads),
                         key=lambda t: (t.native_id, t.ident, t.name))
        for th in ordered:
            base = f"{th.name} (tid {th.native_id})"
            if clean:
                base = _clean(base)
            n = used.get(base, 0) + 1
            used[base] = n
            labels[th] = base if n == 1 else f"{base} #{n}"
        return labels

    def to_collapsed(self) -> str:
        """Brendan Gregg's collapsed format: ``thread;root;...;leaf count`` per line, the
        thread as ``name (tid N)``."""
        labels = self._thread_labels(clean=True)
        agg: Dict[str, int] = {}
        for r in self.stacks:
            parts = [labels[self._thread_of(r)]]
            parts += [self._frame_label(f) for f in reversed(r.frames)]
            key = ";".join(parts)
            agg[key] = agg.get(key, 0) + r.count
        return "".join(f"{k} {v}\n" for k, v in sorted(agg.items()))

    def to_speedscope(self) -> dict:
        """A speedscope document: one sampled profile per thread (named ``name (tid N)``),
        weights in ms of CPU."""
        labels = self._thread_labels(clean=False)
        frame_index: Dict[Frame, int] = {}
        frames: List[dict] = []
        per_thread: Dict[ThreadInfo, Tuple[list, list]] = {}
        for r in self.stacks:
            idx = []
            for fr in reversed(r.frames):  # speedscope wants root first
                i = frame_index.get(fr)
                if i is None:
                    i = frame_index[fr] = len(frames)
                    d = {"name": fr.function}
                    if fr.file:
                        d["file"] = fr.file
                    if fr.line >= 0:
                        d["line"] = fr.line
                    frames.append(d)
                idx.append(i)
            samples, weights = per_thread.setdefault(self._thread_of(r), ([], []))
            samples.append(idx)
            weights.append(r.count * self.interval_ms)
        profiles = []
        for th, (samples, weights) in sorted(
                per_thread.items(), key=lambda kv: (kv[0].native_id, kv[0].ident)):
            profiles.append({
                "type": "sampled",
                "name": labels[th],
                "unit": "milliseconds",
                "startValue": 0,
                "endValue": sum(weights),
                "samples": samples,
                "weights": weights,
            })
        return {
            "$schema": "https://www.speedscope.app/file-format-schema.json",
            "exporter": "spprof",
            "name": "spprof profile",
            "activeProfileIndex": 0,
            "shared": {"frames": frames},
            "profiles": profiles,
        }

    def __repr__(self) -> str:
        return (f"<spprof.Profile {len(self.stacks)} stacks, {self.total_samples} samples "
                f"at {self.interval_ms:g} ms, {self.duration_s:.3f} s, timer={self.timer}>")


# ---- context manager and decorator --------------------------------------------------------
class Profiler:
    """Context manager: ``with spprof.Profiler(interval_ms=5) as p: ...``; then
    ``p.profile`` holds the Profile. Entering while a session runs raises RuntimeError."""

    def __init__(self, interval_ms: float = 10, max_depth: Optional[int] = None):
        self.interval_ms = _check_interval(interval_ms)
        self.max_depth = max_depth
        self._depth = _check_max_depth(max_depth)
        self.profile: Optional[Profile] = None

    def __enter__(self) -> "Profiler":
        with _lock:
            _start_locked(self.interval_ms, self._depth)
        return self

    def __exit__(self, *exc) -> bool:
        with _lock:
            self.profile = _stop_locked(stacklevel=2)
        return False


def _warn_call(fn: Callable, what: str, err: BaseException, stacklevel: int) -> None:
    name = getattr(fn, "__qualname__", repr(fn))
    warnings.warn(f"spprof.profile: {name}: {what}: {type(err).__name__}: {err}",
                  RuntimeWarning, stacklevel=stacklevel + 1)


def profile(func: Optional[Callable] = None, *, output_path=None, interval_ms: float = 10,
            max_depth: Optional[int] = None):
    """Decorator: profile each call of the function; with ``output_path`` save the profile
    there (format by extension, checked when decorating). The last Profile is kept as
    ``wrapper.last_profile``.

        @spprof.profile(output_path="work.json")
        def work(): ...

    A decorated call behaves as the undecorated one: when a session is already running
    (a recursive or concurrent call, a Profiler, start()), the call just runs inside it and
    ``last_profile`` is left as it was; if profiling cannot start, or the profile cannot be
    saved after the call, a RuntimeWarning says so and the call's result or exception is
    kept."""
    value = _check_interval(interval_ms)
    depth = _check_max_depth(max_depth)
    path = None
    if output_path is not None:
        path = os.path.abspath(_check_output_path(output_path)[0])

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            session = None
            if not _native.is_active():
                with _lock:
                    if not _native.is_active():
                        try:
                            session = _start_locked(value, depth)
                        except Exception as e:
                            _warn_call(fn, "runs unprofiled", e, stacklevel=2)
            if session is None:
                return fn(*args, **kwargs)
            try:
                return fn(*args, **kwargs)
            finally:
                _finish_call(wrapper, fn, session, path)

        wrapper.last_profile = None
        return wrapper

    if func is not None:
        return decorate(func)
    return decorate


def _finish_call(wrapper, fn, session, path) -> None:
    """Stop the session this call started (unless the call stopped it itself) and save."""
    prof = None
    with _lock:
        if _session is session and _native.is_active():
            try:
                prof = _stop_locked(stacklevel=3)
            except Exception as e:
                _warn_call(fn, "could not stop profiling", e, stacklevel=3)
    if prof is None:
        return
    wrapper.last_profile = prof
    if path is not None:
        try:
            prof.save(path)
        except Exception as e:
            _warn_call(fn, f"could not save the profile to {path!r}", e, stacklevel=3)


def _after_fork_in_child() -> None:
    """A child forked while profiling is not profiling (the native side stopped there):
    forget the parent's session, stop recording thread names, and take a fresh lock (the
    parent's may have been held by another thread at the fork)."""
    global _lock, _session
    _lock = threading.Lock()
    session, _session = _session, None
    if session is not None:
        session.names.uninstall()


os.register_at_fork(after_in_child=_after_fork_in_child)
