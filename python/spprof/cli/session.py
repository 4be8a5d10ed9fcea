"""One profiled process of a command-line run: start sampling, and finish exactly once
however the process ends — normal exit (after its non-daemon threads, from atexit, so the
program's own atexit handlers are profiled too), ``os._exit``, SIGTERM, the end of
``--duration`` — by stopping, trimming spprof's own frames, and writing the profile.

The program's process writes the user's file; a child process (``--subprocesses``) writes
its profile into the run's children folder for the parent to merge (spprof.cli.children).
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Callable, List, Optional

from .. import _api, _native
from .._profile import Profile
from .report import Progress

#: The frame under which the program runs (spprof.cli.run): it and everything outside it
#: is spprof's, not the program's.
MARKER = "_spprof_program"
_HERE = os.path.dirname(os.path.abspath(__file__))
_RUNPY = ("<frozen runpy>",)

_current: Optional["Session"] = None  # the session of this process (pid-checked)
_real_exit = os._exit


def _exit_hook(code):
    s = _current
    if s is not None and s.pid == os.getpid():
        s.finish("os._exit")
    _real_exit(code)


def _die_of_sigterm() -> None:
    _flush()
    _native._sigterm_die()


def _is_ours(file: str) -> bool:
    return file.startswith(_HERE + os.sep)


def trim(profile: Profile, own_threads) -> Profile:
    """The program's samples only: stacks cut at the marker frame (and runpy's frames
    just inside it), samples of spprof's own threads and of its own start-up dropped."""
    agg = {}
    ours = 0  # samples of spprof's own work, left out (counted in stats["samples_of_spprof"])
    for r in profile.stacks:
        th = profile._thread_of(r)
        if (th.ident, th.native_id) in own_threads:
            ours += r.count
            continue
        frames = r.frames
        m = next((i for i in range(len(frames) - 1, -1, -1)
                  if frames[i].function == MARKER and _is_ours(frames[i].file)), None)
        if m is not None:  # and the runner's own frames (spprof's, runpy's) inside it
            frames = frames[:m]
            while frames and (_is_ours(frames[-1].file) or frames[-1].file in _RUNPY or
                              os.path.basename(frames[-1].file) == "runpy.py"):
                frames = frames[:-1]
        elif any(_is_ours(f.file) for f in frames):
            ours += r.count  # spprof starting or finishing on the main thread
            continue
        key = (th, frames)
        agg[key] = agg.get(key, 0) + r.count
    threads = [t for t in profile.threads if (t.ident, t.native_id) not in own_threads]
    stats = dict(profile.stats, samples_of_spprof=ours)
    return Profile._of(agg, profile.interval_ms, profile.duration_s, stats,
                       threads, profile.mode, profile.path_roots)


class Session:
    """``start()`` then, once, ``finish()``. ``write`` receives the trimmed Profile."""

    def __init__(self, interval_ms: float, max_depth: Optional[int],
                 write: Callable[[Profile], None], duration: Optional[float] = None,
                 progress: bool = False, mode: str = "cpu", engine: Optional[str] = None,
                 keep_drops: Optional[str] = None, max_drops: Optional[int] = None):
        self.interval_ms = interval_ms
        self.keep_drops, self.max_drops = keep_drops, max_drops
        self.max_depth = max_depth
        self.mode, self.engine = mode, engine
        self.write = write
        self.duration = duration
        self.want_progress = progress
        self.pid = os.getpid()
        self.own_threads = set()
        self.progress: Optional[Progress] = None
        self.finished = False  # finish() has begun
        self.done = threading.Event()  # ... and ended
        self._finisher = 0  # the thread that finishes
        self.profile: Optional[Profile] = None
        self._lock = threading.Lock()
        self._sigterm_thread: Optional[threading.Thread] = None

    def own(self, t: threading.Thread) -> threading.Thread:
        """Start ``t`` as one of spprof's threads: its samples are not the program's."""
        t.start()
        self.own_threads.add((t.ident, t.native_id))
        return t

    def start(self) -> "Session":
        global _current
        _api.start(self.interval_ms, self.max_depth, self.mode, self.engine,
                   keep_drops=self.keep_drops, max_drops=self.max_drops)
        _current = self
        atexit.register(self.finish, "exit")
        os._exit = _exit_hook
        self._watch_sigterm()
        if self.want_progress:
            self.progress = Progress(self._counts)
            self.own(self.progress.thread)
        if self.duration is not None:
            t = threading.Timer(self.duration, self.finish, args=("duration",))
            t.name, t.daemon = "spprof-duration", True
            self.own(t)
        return self

    def _watch_sigterm(self) -> None:
        # SIGTERM (sigterm.c says why not a Python handler): a thread of ours finishes
        fd = _native._sigterm_watch()
        if fd < 0:
            return  # the program handles SIGTERM itself
        t = threading.Thread(target=self._on_sigterm, args=(fd,), name="spprof-sigterm",
                             daemon=True)
        self.own(t)
        self._sigterm_thread = t

    def _unwatch_sigterm(self) -> None:
        # Not from the SIGTERM thread itself: it goes on to die of SIGTERM.
        t, self._sigterm_thread = self._sigterm_thread, None
        if t is not None and t is not threading.current_thread():
            _native._sigterm_unwatch()

    def _on_sigterm(self, fd: int) -> None:
        while True:
            try:
                b = os.read(fd, 1)
            except InterruptedError:
                continue
            except OSError:
                return
            if b != b"\x01":
                return  # 0: the session ended and unwatched (finish)
            break
        if os.getpid() != self.pid:
            return
        self.finish("SIGTERM")  # or wait for the finish already under way (atexit)
        self.done.wait()
        _die_of_sigterm()

    @staticmethod
    def _counts():
        st = _api.stats()
        return st["samples_captured"], st["samples_dropped"]

    def trimmed(self, profile: Profile) -> Profile:
        return trim(profile, self.own_threads)

    def finish(self, why: str = "exit") -> Optional[Profile]:
        if os.getpid() != self.pid:
            return None  # an atexit or os._exit inherited by a forked child
        with self._lock:
            first = not self.finished
            self.finished = True
            if first:
                self._finisher = threading.get_ident()
        if not first:
            # finishing on another thread (SIGTERM's, while the program calls os._exit or
            # returns): the process must not end before the profile is written
            if self._finisher != threading.get_ident():
                self.done.wait()
            return self.profile
        if self.progress is not None:
            self.progress.stop()
        if not _api.is_active():
            self._unwatch_sigterm()
            self.done.set()
            print("spprof: profiling was stopped by the program itself (spprof.stop()); "
                  "no profile written", file=sys.stderr)
            return None
        try:
            self.profile = trim(_api.stop(), self.own_threads)
            self.profile.stats["ended_by"] = why
            self.write(self.profile)
        finally:
            self._unwatch_sigterm()  # the program may run on (--duration)
            self.done.set()
        return self.profile


def _flush() -> None:
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:
            pass
