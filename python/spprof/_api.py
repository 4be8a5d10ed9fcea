"""The public API of spprof (re-exported by the package)."""
from __future__ import annotations

import functools
import math
import os
import threading
import warnings
from typing import Callable, Dict, Optional, Tuple

# No silent fallback: if the extension cannot load, importing spprof fails with the reason.
from . import _native
from ._model import Frame, StackRecord, ThreadInfo, ThreadSamples  # noqa: F401
from ._names import NameCapture
from ._profile import Profile, check_output_path

#: Environment variable choosing the signal engine's timer source: "auto" (default:
#: perf_event when the kernel allows it, else POSIX CPU timers), "perf_event" or
#: "posix_cpu_timer"; "sampler" makes the sampler thread the default engine for cpu mode too.
TIMER_ENV = "SPPROF_TIMER"

#: Bounds of ``interval_ms``. Above one second a thread needs seconds of CPU per sample and
#: nothing is saved any more: a sample costs ~32 us, so 1000 ms is already ~0.003 %, below
#: the consumer's fixed 20 ms wake-ups (docs/python-api.md).
INTERVAL_MIN_MS = 1
INTERVAL_MAX_MS = 1000

#: Bounds and default of ``max_depth`` (frames kept per sample, innermost first).
MAX_DEPTH = _native.MAX_DEPTH
DEFAULT_MAX_DEPTH = _native.DEFAULT_DEPTH

_lock = threading.Lock()


class _Session:
    """What the Python side keeps of the running session."""

    __slots__ = ("interval_ms", "names")

    def __init__(self, interval_ms: float, names: NameCapture):
        self.interval_ms = interval_ms
        self.names = names


_session: Optional[_Session] = None


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


#: What a sample measures, and the engines that take samples (docs/python-api.md).
MODES = ("cpu", "wall")
ENGINES = ("signal", "sampler")


def _check_mode(mode: str, engine: Optional[str]) -> Tuple[str, str]:
    """(mode, the native timer name) for start(mode=, engine=)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if engine is not None and engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    env = os.environ.get(TIMER_ENV, "auto") or "auto"
    if mode == "wall":
        if engine == "signal":
            raise ValueError("mode='wall' needs engine='sampler': CPU-time signals never come "
                             "to a thread that waits")
        return mode, "sampler"
    if engine == "sampler" or (engine is None and env == "sampler"):
        return mode, "sampler"
    return mode, "auto" if env == "sampler" else env


# ---- start / stop ------------------------------------------------------------------------
def _check_keep_drops(keep_drops, max_drops):
    """(directory or None, max_drops) for start(keep_drops=, max_drops=)."""
    if keep_drops is None:
        if max_drops is not None:
            raise ValueError("max_drops needs keep_drops (the directory to write them to)")
        return None, 0
    keep_drops = os.fspath(keep_drops)
    if isinstance(keep_drops, bytes):
        keep_drops = os.fsdecode(keep_drops)
    if not keep_drops:
        raise ValueError("keep_drops must name a directory")
    if max_drops is None:
        max_drops = DEFAULT_MAX_DROPS
    if isinstance(max_drops, bool) or not isinstance(max_drops, int):
        raise TypeError(f"max_drops must be an int, not {type(max_drops).__name__}")
    if not 1 <= max_drops <= 1_000_000:
        raise ValueError(f"max_drops must be between 1 and 1000000, got {max_drops!r}")
    return os.path.abspath(keep_drops), max_drops


#: Drop files one session writes at most when ``max_drops`` is not given.
DEFAULT_MAX_DROPS = 16


def _start_locked(interval_ms: float, depth: int, mode: str = "cpu",
                  timer: str = "auto", keep_drops: Optional[str] = None,
                  max_drops: int = 0) -> _Session:
    global _session
    if _native.is_active():
        raise RuntimeError("spprof: the profiler is already running")
    names = NameCapture()
    names.install()  # before sampling starts: a thread started meanwhile is recorded
    try:
        _native._start(int(round(interval_ms * 1e6)), timer, 0, depth, mode, keep_drops,
                       max_drops)
    except BaseException:
        names.uninstall()
        raise
    names.record_alive()
    _session = _Session(interval_ms, names)
    return _session


def start(interval_ms: float = 10, max_depth: Optional[int] = None, mode: str = "cpu",
          engine: Optional[str] = None, keep_drops=None,
          max_drops: Optional[int] = None) -> None:
    """Start sampling every thread of this process every ``interval_ms`` of its CPU time
    (``mode="cpu"``) or of elapsed time, waiting included (``mode="wall"``), keeping at most
    ``max_depth`` frames per sample (default 256, at most 4096). ``engine``: ``"signal"``
    (per-thread CPU timers and SIGPROF; cpu mode's default) or ``"sampler"`` (one thread
    that samples every thread; wall mode's only engine). ``keep_drops``: a directory where
    each dropped walk is written as a snapshot file that ``spwalk replay`` walks again to
    the same status and reason, at most ``max_drops`` (default 16) a session
    (``stats()["drops_kept"]``, ``["drops_not_kept"]``; docs/python-api.md).

    Raises ValueError if ``interval_ms`` is not within 1..1000, ``max_depth`` not within
    1..4096, or mode/engine unknown or incompatible, TypeError for a non-number,
    RuntimeError if already running, if this interpreter is not supported (the message
    names its version), if another SIGPROF handler is installed (signal engine), or if
    ``keep_drops`` is not a directory this process can create files in."""
    value = _check_interval(interval_ms)
    depth = _check_max_depth(max_depth)
    mode, timer = _check_mode(mode, engine)
    drops_dir, n_drops = _check_keep_drops(keep_drops, max_drops)
    with _lock:
        _start_locked(value, depth, mode, timer, drops_dir, n_drops)


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


def snapshot() -> "Profile":
    """The running session's profile so far, without stopping it (for a live view such
    as ``spprof top``; samples reach it within about 20 ms). RuntimeError if not running."""
    with _lock:
        session = _session
        raw = _native._snapshot()
        st = _native.stats()
    if session is not None:
        return Profile._from_native(raw, st, session.interval_ms, session.names.resolver())
    return Profile._from_native(raw, st, st.get("interval_ns", 10_000_000) / 1e6)


def is_active() -> bool:
    """True between start() and stop()."""
    return _native.is_active()


def stats() -> Dict[str, object]:
    """Counters of the running session, or of the last one after stop() (see
    docs/python-api.md for every key). All sample counts are in timer expirations:
    samples_captured + samples_dropped == timer_expirations."""
    return _native.stats()


# ---- context manager and decorator --------------------------------------------------------
class Profiler:
    """Context manager: ``with spprof.Profiler(interval_ms=5) as p: ...``; then
    ``p.profile`` holds the Profile. Entering while a session runs raises RuntimeError."""

    def __init__(self, interval_ms: float = 10, max_depth: Optional[int] = None,
                 mode: str = "cpu", engine: Optional[str] = None):
        self.interval_ms = _check_interval(interval_ms)
        self.max_depth = max_depth
        self._depth = _check_max_depth(max_depth)
        self.mode, self._timer = _check_mode(mode, engine)
        self.profile: Optional[Profile] = None

    def __enter__(self) -> "Profiler":
        with _lock:
            _start_locked(self.interval_ms, self._depth, self.mode, self._timer)
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
        path = os.path.abspath(check_output_path(output_path)[0])

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
