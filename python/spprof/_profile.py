"""The Profile: what one session (or several merged) sampled, and every way to save it.

Saving goes through one View (spprof._view) and one writer per format (spprof.writers).
spprof's own format (``.spprof``, JSON; docs/formats.md) keeps everything a Profile
holds, so ``Profile.load()`` gives back an equal Profile; a flame graph written by spprof
embeds the same document, so it loads too."""
from __future__ import annotations

import gzip
import json
import os
import re
import sys
import tempfile
import time
from typing import Dict, Iterable, List, Optional, Tuple

from . import writers
from ._model import Frame, Function, FunctionSamples, StackRecord, ThreadInfo, ThreadSamples
from ._view import View, make_view

#: The ``format`` field of spprof's own files, and the version this code writes and reads.
FILE_FORMAT = "spprof-profile"
FILE_VERSION = 1
#: The id of the <script> element in which a flame graph embeds its profile.
EMBED_ID = "spprof-profile"

_STAT_SUMS = ("samples_captured", "samples_dropped", "validation_drops", "timer_expirations",
              "samples_truncated", "samples_unsampled", "samples_lost", "signals",
              "threads_armed", "threads_unsampled", "symbolize_errors", "freed_code",
              "samples_of_spprof")


def _path_roots() -> List[str]:
    """Where this process finds its code: the roots files are shown relative to."""
    roots = [p for p in sys.path if p and os.path.isabs(p)]
    try:
        roots.append(os.getcwd())
    except OSError:
        pass
    return list(dict.fromkeys(roots))


def check_output_path(path, fmt: Optional[str] = None) -> Tuple[str, str]:
    """Validate a path a profile can be written to: (the path as str, the format). Raises
    TypeError, ValueError (no or an unknown extension or format), IsADirectoryError (a
    directory), FileNotFoundError (its directory does not exist), NotADirectoryError."""
    if isinstance(path, bool) or not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"the profile path must be a str or os.PathLike, not "
                        f"{type(path).__name__}")
    p = os.fsdecode(os.fspath(path))
    if p == "":
        raise ValueError(f"spprof: the profile path is empty; give a file name ending in "
                         f"{writers.known()}")
    if os.path.isdir(p) or p.endswith(os.sep):
        raise IsADirectoryError(f"spprof: cannot save a profile to {p!r}: it names a "
                                f"directory; give a file name ending in {writers.known()}")
    f = writers.format_for(p, fmt)
    parent = os.path.dirname(os.path.abspath(p))
    if not os.path.exists(parent):
        raise FileNotFoundError(f"spprof: cannot save a profile to {p!r}: the directory "
                                f"{parent!r} does not exist")
    if not os.path.isdir(parent):
        raise NotADirectoryError(f"spprof: cannot save a profile to {p!r}: {parent!r} is "
                                 f"not a directory")
    return p, f


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory, so an
    interrupted save never leaves half a profile (a device or pipe is written in place)."""
    if os.path.exists(path) and not os.path.isfile(path):
        with open(path, "wb") as f:
            f.write(data)
        return
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".spprof-", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


class Profile:
    """The result of one profiling session (or of several, merged)."""

    def __init__(self, stacks: List[StackRecord], interval_ms: float, duration_s: float,
                 stats: Dict[str, object], threads: Optional[List[ThreadInfo]] = None,
                 mode: str = "cpu", path_roots: Optional[List[str]] = None):
        self.stacks = stacks
        self.interval_ms = interval_ms
        self.duration_s = duration_s
        self.stats = stats
        self.timer = stats.get("timer")
        self.mode = mode
        #: when the session started (seconds since the epoch; None if not recorded)
        self.start_time: Optional[float] = None
        self.path_roots = list(path_roots) if path_roots is not None else _path_roots()
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
        pid = os.getpid()
        frames = [Frame(f, file, line) for (f, file, line) in syms]
        # One ThreadInfo per (ident, native id): the native side has one entry per arming,
        # and a thread re-armed (a C thread whose thread state was re-created) is one thread.
        by_key: Dict[Tuple[int, int], ThreadInfo] = {}
        infos: List[ThreadInfo] = []
        for ident, nid in threads:
            info = by_key.get((ident, nid))
            if info is None:
                name = name_of(ident, nid) if name_of else f"thread {nid}"
                info = by_key[(ident, nid)] = ThreadInfo(ident, nid, name, pid)
            infos.append(info)
        agg: Dict[Tuple[ThreadInfo, Tuple[Frame, ...]], int] = {}
        for (t, ids, count) in stacks:
            key = (infos[t], tuple(frames[i] for i in ids))
            agg[key] = agg.get(key, 0) + count
        p = cls._of(agg, interval_ms, max(0, t1 - t0) / 1e9, stats,
                    list(by_key.values()), stats.get("mode", "cpu"), None)
        p.start_time = time.time() - p.duration_s
        return p

    @classmethod
    def _of(cls, agg, interval_ms, duration_s, stats, threads, mode, roots) -> "Profile":
        records = [StackRecord(th.ident, th.native_id, fr, count, th.name, th)
                   for (th, fr), count in agg.items()]
        records.sort(key=lambda r: -r.count)
        return cls(records, interval_ms, duration_s, stats, threads=threads, mode=mode,
                   path_roots=roots)

    # ---- numbers ---------------------------------------------------------------------
    @property
    def total_samples(self) -> int:
        """Sum of counts over all stacks (timer expirations)."""
        return sum(r.count for r in self.stacks)

    def samples_by_thread(self) -> ThreadSamples:
        """Samples per thread: ``{ThreadInfo(ident, native_id, name, pid): samples}`` (a
        thread with no sample is absent). A plain ident also works as a key."""
        out = ThreadSamples()
        for r in self.stacks:
            th = self._thread_of(r)
            out[th] = out.get(th, 0) + r.count
        return out

    def functions(self, inclusive: bool = False) -> FunctionSamples:
        """Samples per function, keyed by ``Function(name, file)``: where the thread was
        (innermost frame), or with inclusive=True anywhere on the stack (counted once per
        stack). A plain qualified name also works as a key (see FunctionSamples)."""
        out = FunctionSamples()
        for r in self.stacks:
            keys = {Function(f.function, f.file) for f in r.frames} if inclusive else (
                {Function(r.frames[0].function, r.frames[0].file)} if r.frames else set())
            for k in keys:
                out[k] = dict.get(out, k, 0) + r.count
        return out

    # ---- views and writers -----------------------------------------------------------
    def view(self, threads: bool = False, lineno: bool = True,
             full_filenames: bool = False, idle: bool = True) -> View:
        """The profile as every writer sees it (spprof._view.View)."""
        return make_view(self, threads=threads, lineno=lineno, full_filenames=full_filenames,
                         idle=idle)

    def render(self, fmt: str, threads: bool = False, lineno: bool = True,
               full_filenames: bool = False, baseline: Optional["Profile"] = None,
               idle: bool = True) -> bytes:
        """The bytes ``save()`` would write in format ``fmt`` (see spprof.writers)."""
        fmt = writers.format_for("", fmt)
        if fmt == "spprof":
            return self.to_json().encode("utf-8")
        v = self.view(threads, lineno, full_filenames, idle)
        if fmt == "flamegraph":
            base = baseline.view(threads, lineno, full_filenames, idle) if baseline else None
            return writers.render(fmt, v, embed=self.to_json(), baseline=base)
        if baseline is not None:
            raise ValueError("spprof: a differential profile is a flame graph (.html)")
        if fmt == "pprof":
            return writers.render(fmt, v, duration_ns=int(self.duration_s * 1e9),
                                  time_ns=int(self.start_time * 1e9) if self.start_time
                                  else None)
        return writers.render(fmt, v)

    def save(self, path, format: Optional[str] = None, threads: bool = False,
             lineno: bool = True, full_filenames: bool = False, idle: bool = True) -> str:
        """Write the profile to ``path`` in ``format`` (default: from the extension:
        ``.html`` flame graph, ``.pb.gz`` pprof, ``.json`` speedscope, ``.txt`` /
        ``.collapsed`` / ``.folded`` collapsed stacks, ``.spprof`` spprof's own). Returns
        the format written. ``idle=False`` leaves out wall mode's samples of threads that
        were not running. The file is replaced whole, never left half written.

        Raises ValueError for no or an unknown extension or format (the message lists the
        known ones), IsADirectoryError for a directory, FileNotFoundError if the file's
        directory does not exist, TypeError for a path that is not a str/bytes/PathLike."""
        p, fmt = check_output_path(path, format)
        write_atomic(p, self.render(fmt, threads, lineno, full_filenames, idle=idle))
        return fmt

    def report(self, threads: bool = False, lineno: bool = True,
               full_filenames: bool = False, idle: bool = True) -> str:
        """The text report: top functions by self and total samples, and their hot lines."""
        return self.render("text", threads, lineno, full_filenames,
                           idle=idle).decode("utf-8")

    def print_stats(self, file=None, **options) -> None:
        """Print ``report(**options)`` to ``file`` (default sys.stdout)."""
        (file or sys.stdout).write(self.report(**options))

    def to_collapsed(self, threads: bool = False, **options) -> str:
        """Collapsed stacks, one ``thread;root;...;leaf count`` line per stack (the thread
        root unless threads=False)."""
        return self.render("collapsed", threads, **options).decode("utf-8")

    def to_speedscope(self, threads: bool = False, **options) -> dict:
        """The speedscope document (merged threads as one profile unless threads=True)."""
        return json.loads(self.render("speedscope", threads, **options))

    # ---- spprof's own format ---------------------------------------------------------
    def to_dict(self) -> dict:
        frames: Dict[Frame, int] = {}
        threads: Dict[ThreadInfo, int] = {t: i for i, t in enumerate(self.threads)}
        stacks = []
        for r in self.stacks:
            th = self._thread_of(r)
            ti = threads.setdefault(th, len(threads))
            stacks.append([ti, [frames.setdefault(f, len(frames)) for f in r.frames],
                           r.count])
        return {
            "format": FILE_FORMAT, "version": FILE_VERSION, "mode": self.mode,
            "interval_ms": self.interval_ms, "duration_s": self.duration_s,
            "start_time": self.start_time,
            "stats": self.stats, "path_roots": self.path_roots,
            "threads": [[t.ident, t.native_id, t.name, t.pid] for t in threads],
            "frames": [[f.function, f.file, f.line] for f in frames],
            "stacks": stacks,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict, source: str = "the document") -> "Profile":
        def bad(why: str) -> ValueError:
            return ValueError(f"spprof: {source} is not a valid spprof profile: {why}")
        if not isinstance(d, dict) or d.get("format") != FILE_FORMAT:
            raise bad(f"its format field is not {FILE_FORMAT!r}")
        if d.get("version") != FILE_VERSION:
            raise bad(f"version {d.get('version')!r}; this spprof reads version "
                      f"{FILE_VERSION}")
        try:
            threads = [ThreadInfo(int(a), int(b), str(c), int(p))
                       for a, b, c, p in d["threads"]]
            frames = [Frame(str(f), str(file), int(line)) for f, file, line in d["frames"]]
            agg: Dict[Tuple[ThreadInfo, Tuple[Frame, ...]], int] = {}
            for ti, ids, count in d["stacks"]:
                if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                    raise bad(f"a stack count of {count!r}")
                key = (threads[ti], tuple(frames[i] for i in ids))
                agg[key] = agg.get(key, 0) + count
            interval = float(d["interval_ms"])
            mode = str(d["mode"])
            stats = dict(d.get("stats") or {})
            roots = [str(r) for r in d.get("path_roots") or []]
            duration = float(d.get("duration_s", 0))
        except ValueError:
            raise
        except (KeyError, IndexError, TypeError) as e:
            raise bad(f"{type(e).__name__}: {e}") from None
        if mode not in ("cpu", "wall"):
            raise bad(f"mode {mode!r}")
        p = cls._of(agg, interval, duration, stats, threads, mode, roots)
        start = d.get("start_time")
        p.start_time = float(start) if isinstance(start, (int, float)) and \
            not isinstance(start, bool) else None
        return p

    @classmethod
    def load(cls, path) -> "Profile":
        """Read a profile spprof wrote: spprof's own ``.spprof`` file (plain or gzipped
        JSON) or a flame graph ``.html`` (which embeds one). ValueError says why a file
        is not one."""
        p = os.fsdecode(os.fspath(path))
        with open(p, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        text = data.decode("utf-8", "replace")
        if text.lstrip().startswith("{"):
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"spprof: {p!r} is not valid JSON: {e}") from None
            if isinstance(doc, dict) and "profiles" in doc and "shared" in doc:
                raise ValueError(f"spprof: {p!r} is a speedscope file; spprof loads its own "
                                 f".spprof files and its flame graphs (.html)")
            return cls.from_dict(doc, repr(p))
        m = re.search(r'<script type="application/json" id="%s">(.*?)</script>' % EMBED_ID,
                      text, re.S)
        if m:
            return cls.from_dict(json.loads(m.group(1).replace("<\\/", "</")), repr(p))
        raise ValueError(f"spprof: {p!r} is neither a .spprof profile nor a flame graph "
                         f"written by spprof")

    @classmethod
    def merge(cls, profiles: Iterable["Profile"]) -> "Profile":
        """One profile of all of ``profiles`` (e.g. a program and its subprocesses): the
        same mode and interval are required (ValueError otherwise); threads stay apart by
        (pid, ident, native id); durations take the longest, counters are summed."""
        profiles = list(profiles)
        if not profiles:
            raise ValueError("spprof: merge needs at least one profile")
        first = profiles[0]
        for p in profiles[1:]:
            if p.mode != first.mode or p.interval_ms != first.interval_ms:
                raise ValueError(
                    f"spprof: cannot merge a {p.mode} profile at {p.interval_ms:g} ms with a "
                    f"{first.mode} profile at {first.interval_ms:g} ms")
        agg: Dict[Tuple[ThreadInfo, Tuple[Frame, ...]], int] = {}
        threads: Dict[ThreadInfo, None] = {}
        roots: Dict[str, None] = {}
        stats: Dict[str, object] = {}
        for p in profiles:
            for t in p.threads:
                threads.setdefault(t, None)
            for r in p.path_roots:
                roots.setdefault(r, None)
            for r in p.stacks:
                key = (p._thread_of(r), r.frames)
                threads.setdefault(key[0], None)
                agg[key] = agg.get(key, 0) + r.count
            _add_stats(stats, p.stats)
        merged = cls._of(agg, first.interval_ms, max(p.duration_s for p in profiles), stats,
                         list(threads), first.mode, list(roots))
        starts = [p.start_time for p in profiles if p.start_time is not None]
        merged.start_time = min(starts) if starts else None
        return merged

    def __repr__(self) -> str:
        return (f"<spprof.Profile {self.mode}, {len(self.stacks)} stacks, "
                f"{self.total_samples} samples at {self.interval_ms:g} ms, "
                f"{self.duration_s:.3f} s, timer={self.timer}>")


def _add_stats(into: Dict[str, object], st: Dict[str, object]) -> None:
    for k, v in st.items():
        if k == "dropped_by_reason" and isinstance(v, dict):
            d = into.setdefault(k, {})
            for r, n in v.items():
                d[r] = d.get(r, 0) + n
        elif k in _STAT_SUMS and isinstance(v, int):
            into[k] = into.get(k, 0) + v
        else:
            into.setdefault(k, v)
