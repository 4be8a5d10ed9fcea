"""One view of a Profile that every writer renders (flame graph, pprof, speedscope,
collapsed, text): the display options applied once, here, so no two writers can disagree
on what a frame is called or which thread a sample belongs to.

Options (named after the command-line flags):

- ``threads``: one root per thread (``True``) or every thread merged (``False``, default).
  The samples always keep their thread, so a writer may still filter or label by thread.
- ``lineno``: frames keep their line (default) or are aggregated by function (``False``:
  every frame's line becomes -1).
- ``full_filenames``: absolute paths, or (default) the path relative to the longest
  ``sys.path`` entry or working directory the profiled process had that contains it
  (``threading.py``, ``json/decoder.py``, ``myapp/models.py``), as py-spy shows them.
- ``idle``: wall mode's samples of threads that were not running (their innermost frame
  is ``<idle>``) are kept (default) or left out.
"""
from __future__ import annotations

import os
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from ._model import Frame, ThreadInfo


class Sample(NamedTuple):
    """``count`` samples of thread ``threads[thread]`` on the stack ``frames`` (indices into
    ``View.frames``, root first)."""

    thread: int
    frames: Tuple[int, ...]
    count: int


class View(NamedTuple):
    frames: List[Frame]          # display frames: short or full file, line -1 with lineno off
    full_files: List[str]        # frames[i]'s absolute file (for tooltips and pprof)
    threads: List[ThreadInfo]    # busiest first
    thread_labels: List[str]     # unique display label of each thread, same order
    samples: List[Sample]        # merged per (thread, stack), largest first
    per_thread: bool             # the threads option
    lineno: bool
    interval_ms: float
    mode: str                    # "cpu" or "wall"
    total: int                   # sum of counts

    def weight_ns(self, count: int) -> int:
        """The CPU (or wall) time ``count`` samples stand for, in nanoseconds."""
        return int(round(count * self.interval_ms * 1e6))

    def label(self, i: int) -> str:
        """``function (file:line)``, ``function (file)`` with lineno off, or just the name
        of a pseudo-frame (``<truncated>``, ``<freed code>``, ``<unsampled>``)."""
        return frame_label(self.frames[i])


def frame_label(fr: Frame) -> str:
    if not fr.file and fr.line < 0:
        return fr.function
    if fr.line < 0:
        return f"{fr.function} ({fr.file})"
    return f"{fr.function} ({fr.file}:{fr.line})"


def shortener(roots: Iterable[str]):
    """A function mapping an absolute file name to its short form under ``roots`` (the
    longest root that contains it wins); a file under none of them, or a pseudo file such
    as ``<frozen importlib._bootstrap>`` or ``<string>``, is left as it is."""
    clean = sorted({os.path.normpath(r) for r in roots if r and os.path.isabs(r)},
                   key=len, reverse=True)
    memo: Dict[str, str] = {}

    def short(path: str) -> str:
        got = memo.get(path)
        if got is not None:
            return got
        got = path
        if path.startswith("/"):
            for r in clean:
                base = r if r.endswith("/") else r + "/"
                if path.startswith(base) and len(path) > len(base):
                    got = path[len(base):]
                    break
        memo[path] = got
        return got

    return short


def thread_labels(threads: Sequence[ThreadInfo]) -> List[str]:
    """``name (tid N)`` per thread, with ``pid P`` too when the threads come from several
    processes, made unique with `` #2``... when two would read the same (a reused tid)."""
    multi = len({t.pid for t in threads}) > 1
    out, used = [], {}
    for t in threads:
        base = f"{t.name} (pid {t.pid}, tid {t.native_id})" if multi \
            else f"{t.name} (tid {t.native_id})"
        n = used.get(base, 0) + 1
        used[base] = n
        out.append(base if n == 1 else f"{base} #{n}")
    return out


IDLE = Frame("<idle>", "", -1)  # wall mode: the innermost frame of a thread that waited


def make_view(profile, threads: bool = False, lineno: bool = True,
              full_filenames: bool = False, idle: bool = True) -> View:
    short = (lambda p: p) if full_filenames else shortener(profile.path_roots)
    frame_ix: Dict[Frame, int] = {}   # display frame -> index
    of_raw: Dict[Frame, int] = {}     # the profile's frame -> index (the hot lookup)
    frames: List[Frame] = []
    full: List[str] = []
    busy: Dict[ThreadInfo, int] = {}  # the threads with samples
    agg: Dict[Tuple[ThreadInfo, Tuple[int, ...]], int] = {}
    for r in profile.stacks:
        if not idle and r.frames and r.frames[0] == IDLE:
            continue
        th = profile._thread_of(r)
        busy[th] = busy.get(th, 0) + r.count
        ids = []
        for fr in reversed(r.frames):
            i = of_raw.get(fr)
            if i is None:
                d = Frame(fr.function, short(fr.file), fr.line if lineno else -1)
                i = frame_ix.get(d)
                if i is None:
                    i = frame_ix[d] = len(frames)
                    frames.append(d)
                    full.append(fr.file)
                of_raw[fr] = i
            ids.append(i)
        key = (th, tuple(ids))
        agg[key] = agg.get(key, 0) + r.count
    order = sorted(busy, key=lambda t: (-busy[t], t.pid, t.native_id, t.ident, t.name))
    tix = {t: i for i, t in enumerate(order)}
    samples = [Sample(tix[th], ids, n) for (th, ids), n in agg.items()]
    samples.sort(key=lambda s: (-s.count, s.thread, s.frames))
    return View(frames, full, order, thread_labels(order), samples, threads, lineno,
                profile.interval_ms, profile.mode, sum(s.count for s in samples))


def function_key(fr: Frame) -> Tuple[str, str]:
    return (fr.function, fr.file)


def self_and_total(view: View, by_function: bool = True
                   ) -> Tuple[Dict[object, int], Dict[object, int]]:
    """Samples per function (``(name, file)``) or per frame index: where the thread was
    (self) and anywhere on its stack (total, counted once per sample)."""
    self_: Dict[object, int] = {}
    total: Dict[object, int] = {}
    key = [function_key(f) for f in view.frames] if by_function else \
        list(range(len(view.frames)))
    for s in view.samples:
        if not s.frames:
            continue
        n = s.count
        leaf = key[s.frames[-1]]
        self_[leaf] = self_.get(leaf, 0) + n
        for k in {key[i] for i in s.frames}:
            total[k] = total.get(k, 0) + n
    return self_, total


def pick(view: View, thread: Optional[int]) -> List[Sample]:
    """The samples of one thread (an index into view.threads), or all of them."""
    return view.samples if thread is None else [s for s in view.samples if s.thread == thread]
