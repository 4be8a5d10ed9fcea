"""The public API of spprof (re-exported by the package)."""
from __future__ import annotations

import functools
import json
import math
import os
import threading
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

# No silent fallback: if the extension cannot load, importing spprof fails with the reason.
from . import _native

#: Environment variable choosing the timer source: "auto" (default: perf_event when the
#: kernel allows it, else POSIX CPU timers), "perf_event" or "posix_cpu_timer".
TIMER_ENV = "SPPROF_TIMER"

_lock = threading.Lock()
_interval_ms: Optional[float] = None


class Frame(NamedTuple):
    """One Python frame: qualified function name, file, line (-1 when unknown)."""

    function: str
    file: str
    line: int


class StackRecord(NamedTuple):
    """One distinct stack of one thread and how many samples landed on it.

    ``count`` is in timer expirations (each sample weighted by the expirations it stands
    for), so ``count * interval_ms`` is the CPU time spent there."""

    thread_id: int          # threading.get_ident() of the thread
    native_thread_id: int   # threading.get_native_id() (the kernel tid)
    frames: Tuple[Frame, ...]  # innermost first
    count: int


def _check_interval(interval_ms) -> float:
    if isinstance(interval_ms, bool) or not isinstance(interval_ms, (int, float)):
        raise TypeError(f"interval_ms must be a number, not {type(interval_ms).__name__}")
    value = float(interval_ms)
    if math.isnan(value) or value < 1:
        raise ValueError(f"interval_ms must be >= 1, got {interval_ms!r}")
    if value > 3_600_000:
        raise ValueError(f"interval_ms must be at most one hour, got {interval_ms!r}")
    return value


def start(interval_ms: float = 10) -> None:
    """Start sampling every thread of this process every ``interval_ms`` of its CPU time.

    Raises ValueError if ``interval_ms < 1``, RuntimeError if already running, if this
    interpreter is not supported (the message names its version), or if another SIGPROF
    handler is installed."""
    global _interval_ms
    value = _check_interval(interval_ms)
    timer = os.environ.get(TIMER_ENV, "auto") or "auto"
    with _lock:
        if _native.is_active():
            raise RuntimeError("spprof: the profiler is already running")
        _native._start(int(round(value * 1e6)), timer)
        _interval_ms = value


def stop() -> "Profile":
    """Stop sampling and return the Profile. RuntimeError if not running."""
    with _lock:
        if not _native.is_active():
            raise RuntimeError("spprof: the profiler is not running")
        raw = _native._stop()
        return Profile._from_native(raw, _native.stats(), _interval_ms or 10.0)


def is_active() -> bool:
    """True between start() and stop()."""
    return _native.is_active()


def stats() -> Dict[str, object]:
    """Counters of the running session, or of the last one after stop().

    Keys: samples_captured, samples_dropped, dropped_by_reason (cycle, invalid_frame,
    invalid_code, unreadable, overflow), validation_drops (cycle + invalid_frame +
    invalid_code), timer_expirations, timer ("perf_event" / "posix_cpu_timer"), and
    diagnostics (interval_ns, samples_truncated, signals, threads_armed, threads_active,
    arm_failures, timer_rearms, symbolize_errors, records, consumer_rounds, active). All sample counts are in timer
    expirations: samples_captured + samples_dropped == timer_expirations."""
    return _native.stats()


class Profile:
    """The result of one profiling session."""

    def __init__(self, stacks: List[StackRecord], interval_ms: float, duration_s: float,
                 stats: Dict[str, object]):
        self.stacks = stacks
        self.interval_ms = interval_ms
        self.duration_s = duration_s
        self.stats = stats
        self.timer = stats.get("timer")

    @classmethod
    def _from_native(cls, raw, stats, interval_ms) -> "Profile":
        t0, t1, syms, threads, stacks = raw
        frames = [Frame(f, file, line) for (f, file, line) in syms]
        records = [
            StackRecord(threads[t][0], threads[t][1], tuple(frames[i] for i in ids), count)
            for (t, ids, count) in stacks
        ]
        records.sort(key=lambda r: -r.count)
        return cls(records, interval_ms, max(0, t1 - t0) / 1e9, stats)

    @property
    def total_samples(self) -> int:
        """Sum of counts over all stacks (timer expirations)."""
        return sum(r.count for r in self.stacks)

    def samples_by_thread(self) -> Dict[int, int]:
        """Samples per thread, keyed by threading.get_ident()."""
        out: Dict[int, int] = {}
        for r in self.stacks:
            out[r.thread_id] = out.get(r.thread_id, 0) + r.count
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
        """Write speedscope JSON (``.json``) or collapsed stacks (``.txt``/``.collapsed``)."""
        p = os.fspath(path)
        ext = os.path.splitext(p)[1].lower()
        if ext == ".json":
            data = self.to_speedscope()
            with open(p, "w", encoding="utf-8") as f:
                json.dump(data, f)
        elif ext in (".txt", ".collapsed"):
            with open(p, "w", encoding="utf-8") as f:
                f.write(self.to_collapsed())
        else:
            raise ValueError(f"unknown profile format {ext!r}: use .json, .txt or .collapsed")

    @staticmethod
    def _frame_label(fr: Frame) -> str:
        return f"{fr.function} ({fr.file}:{fr.line})".replace(";", ":").replace("\n", " ")

    def to_collapsed(self) -> str:
        """Brendan Gregg's collapsed format: ``thread;root;...;leaf count`` per line."""
        agg: Dict[str, int] = {}
        for r in self.stacks:
            parts = [f"thread {r.native_thread_id}"]
            parts += [self._frame_label(f) for f in reversed(r.frames)]
            key = ";".join(parts)
            agg[key] = agg.get(key, 0) + r.count
        return "".join(f"{k} {v}\n" for k, v in sorted(agg.items()))

    def to_speedscope(self) -> dict:
        """A speedscope document: one sampled profile per thread, weights in ms of CPU."""
        frame_index: Dict[Frame, int] = {}
        frames: List[dict] = []
        per_thread: Dict[Tuple[int, int], Tuple[list, list]] = {}
        for r in self.stacks:
            idx = []
            for fr in reversed(r.frames):  # speedscope wants root first
                i = frame_index.get(fr)
                if i is None:
                    i = frame_index[fr] = len(frames)
                    d = {"name": fr.function, "file": fr.file}
                    if fr.line >= 0:
                        d["line"] = fr.line
                    frames.append(d)
                idx.append(i)
            samples, weights = per_thread.setdefault((r.thread_id, r.native_thread_id), ([], []))
            samples.append(idx)
            weights.append(r.count * self.interval_ms)
        profiles = []
        for (tid, nid), (samples, weights) in sorted(per_thread.items(), key=lambda kv: kv[0][1]):
            profiles.append({
                "type": "sampled",
                "name": f"thread {nid} (ident {tid})",
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


class Profiler:
    """Context manager: ``with spprof.Profiler(interval_ms=5) as p: ...``; then
    ``p.profile`` holds the Profile."""

    def __init__(self, interval_ms: float = 10):
        self.interval_ms = _check_interval(interval_ms)
        self.profile: Optional[Profile] = None

    def __enter__(self) -> "Profiler":
        start(self.interval_ms)
        return self

    def __exit__(self, *exc) -> bool:
        self.profile = stop()
        return False


def profile(func: Optional[Callable] = None, *, output_path=None, interval_ms: float = 10):
    """Decorator: profile each call of the function; with ``output_path`` save the profile
    there (format by extension). The last Profile is kept as ``wrapper.last_profile``.

        @spprof.profile(output_path="work.json")
        def work(): ...
    """
    _check_interval(interval_ms)

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            start(interval_ms)
            try:
                return fn(*args, **kwargs)
            finally:
                prof = stop()
                wrapper.last_profile = prof
                if output_path is not None:
                    prof.save(output_path)

        wrapper.last_profile = None
        return wrapper

    if func is not None:
        return decorate(func)
    return decorate
