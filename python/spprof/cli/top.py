"""``spprof top``: the hottest functions, redrawn every second on stderr — of the program
``spprof top`` runs (from spprof.snapshot()) or of another process (``--pid``, from
``spwalk record --every``). On a terminal the screen is redrawn in place; otherwise each
refresh is printed as a block. Also the change table ``spprof diff`` prints."""
from __future__ import annotations

import os
import shutil
import sys
import threading
from typing import Optional

from .. import _api
from .._view import self_and_total

REFRESH_S = 1.0


def _fmt_time(ns: float) -> str:
    s = ns / 1e9
    return f"{s:8.2f}s" if s < 1000 else f"{s:8.0f}s"


def table(profile, rows: int, width: int, title: str) -> str:
    v = profile.view(lineno=False)
    self_, total = self_and_total(v)
    n = v.total
    st = profile.stats
    head = (f"{title} — {profile.duration_s:,.1f} s, {n:,} samples at {v.interval_ms:g} ms"
            f" ({profile.mode}), {st.get('samples_dropped', 0):,} dropped, "
            f"{len(v.threads)} thread{'' if len(v.threads) == 1 else 's'}")
    lines = [head[:width], "",
             f"{'%Own':>6} {'%Total':>7} {'OwnTime':>9} {'TotalTime':>9}  Function (file)"]
    order = sorted(total, key=lambda k: (-self_.get(k, 0), -total[k], k))
    for k in order[:max(1, rows - len(lines))]:
        s, t = self_.get(k, 0), total[k]
        name = f"{k[0]} ({k[1]})" if k[1] else k[0]
        row = (f"{100.0 * s / n if n else 0:6.1f} {100.0 * t / n if n else 0:7.1f} "
               f"{_fmt_time(v.weight_ns(s))} {_fmt_time(v.weight_ns(t))}  {name}")
        lines.append(row[:width])
    return "\n".join(lines) + "\n"


class TopView:
    """Draws tables; in-process it runs its own thread (one of spprof's, not profiled)."""

    def __init__(self, out, pid: Optional[int] = None, stream=None):
        self.out = out
        self.pid = pid if pid is not None else os.getpid()
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._stop = threading.Event()
        self.thread: Optional[threading.Thread] = None
        self.frames = 0

    def draw(self, profile) -> None:
        size = shutil.get_terminal_size((100, 30))
        text = table(profile, size.lines - 1, size.columns,
                     f"spprof top: pid {self.pid}")
        if self.tty:
            self.stream.write("\x1b[H\x1b[2J" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.frames += 1

    def attach(self, session) -> None:
        self.thread = threading.Thread(target=self._loop, name="spprof-top", daemon=True)
        session.want_progress = False
        self._session = session
        orig_start = session.start

        def start():
            r = orig_start()
            session.own(self.thread)
            return r

        session.start = start

    def _loop(self) -> None:
        while not self._stop.wait(REFRESH_S):
            try:
                self.draw(self._session.trimmed(_api.snapshot()))
            except RuntimeError:
                return  # the session ended meanwhile

    def stop(self) -> None:
        self._stop.set()
        if self.thread is not None and self.thread.is_alive() and \
                self.thread is not threading.current_thread():
            self.thread.join(2.0)


def changes(before, after, out, limit: int = 10) -> str:
    """The functions whose share of self samples changed most from before to after."""
    opts = dict(threads=False, lineno=False, full_filenames=out.full_filenames)
    (bs, _), (as_, _) = (self_and_total(p.view(**opts)) for p in (before, after))
    bt, at = before.total_samples or 1, after.total_samples or 1
    delta = {k: as_.get(k, 0) / at - bs.get(k, 0) / bt for k in set(bs) | set(as_)}
    order = sorted(delta, key=lambda k: (-abs(delta[k]), k))[:limit]
    lines = ["Largest changes in self share (before → after)"]
    for k in order:
        name = f"{k[0]} ({k[1]})" if k[1] else k[0]
        lines.append(f"  {100 * bs.get(k, 0) / bt:6.1f} % → {100 * as_.get(k, 0) / at:6.1f} %"
                     f"  ({100 * delta[k]:+6.1f})  {name}")
    return "\n".join(lines) + "\n"


__all__ = ["TopView", "table", "changes"]
