"""What a command tells its user while and after it profiles: one progress line on stderr
(rewritten in place on a terminal, a new line every minute otherwise) and a one-paragraph
summary at the end (samples, drops by reason, the file written and how to open it)."""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable, Optional

#: How to open each format, for the summary.
HOW_TO_OPEN = {
    "flamegraph": "open it in a web browser",
    "pprof": "open it with `go tool pprof -http=: {path}` (or `-top`), or upload it to "
             "Pyroscope/Grafana",
    "speedscope": "open it at https://www.speedscope.app or with `npx speedscope {path}`",
    "collapsed": "render it with `inferno-flamegraph {path} > flame.svg` or flamegraph.pl",
    "text": "it is plain text",
    "spprof": "load it with spprof.Profile.load() or compare two with `spprof diff`",
}
FORMAT_NAMES = {"flamegraph": "a flame graph", "pprof": "a pprof profile",
                "speedscope": "a speedscope profile", "collapsed": "collapsed stacks",
                "text": "a text report", "spprof": "an spprof profile"}


def _n(x: int, word: str) -> str:
    return f"{x:,} {word}{'' if x == 1 else 's'}"


def progress_text(elapsed: float, captured: int, dropped: int, attached: bool = False) -> str:
    what = ("Ctrl-C stops recording and writes the profile; the process runs on" if attached
            else "Ctrl-C stops the program and writes the profile")
    return f"spprof: {elapsed:,.0f} s, {_n(captured, 'sample')}, {dropped:,} dropped ({what})"


class Progress:
    """A daemon thread printing ``progress_text`` every ``every`` seconds after the first
    second. ``stats`` returns (captured, dropped)."""

    def __init__(self, stats: Callable[[], tuple], stream=None, every: float = 0.5,
                 attached: bool = False):
        self.attached = attached  # another process is recorded (spprof record)
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every if self.tty else 60.0
        self.stats = stats
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._shown = False
        self.thread = threading.Thread(target=self._run, name="spprof-progress", daemon=True)

    def start(self) -> "Progress":
        self.thread.start()
        return self

    def _run(self) -> None:
        wait = 1.0 if self.tty else self.every
        while not self._stop.wait(wait):
            wait = self.every
            try:
                captured, dropped = self.stats()
            except Exception:  # the session ended meanwhile
                return
            line = progress_text(time.monotonic() - self.t0, captured, dropped, self.attached)
            if self.tty:
                self.stream.write("\r\x1b[K" + line)
            else:
                self.stream.write(line + "\n")
            self.stream.flush()
            self._shown = True

    def stop(self) -> None:
        self._stop.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(1.0)
        if self._shown and self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def drops_text(stats: dict) -> str:
    dropped = int(stats.get("samples_dropped", 0) or 0)
    # every sample taken: in-process the timers' expirations; spwalk record has no timer
    total = int(stats.get("timer_expirations", 0) or 0) or (
        dropped + int(stats.get("samples_captured", 0) or 0))
    if not dropped:
        return "none dropped"
    reasons = {k: v for k, v in (stats.get("dropped_by_reason") or {}).items() if v}
    ratio = f"{100.0 * dropped / total:.2f} %" if total else "?"
    by = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in
                   sorted(reasons.items(), key=lambda kv: -kv[1]))
    return f"{dropped:,} dropped ({ratio}{': ' + by if by else ''})"


def summary(profile, path: Optional[str], fmt: Optional[str], children: int = 0) -> str:
    """The closing paragraph of a run."""
    st = profile.stats
    secs = profile.total_samples * profile.interval_ms / 1000.0
    what = "CPU" if profile.mode == "cpu" else "wall-clock time"
    nthreads = len({profile._thread_of(r) for r in profile.stacks})
    text = (f"spprof: {_n(profile.total_samples, 'sample')} ({secs:,.2f} s of {what} at "
            f"{profile.interval_ms:g} ms) from {_n(nthreads, 'thread')}")
    if children:
        text += f" in {children + 1:,} processes"
    text += f" over {profile.duration_s:,.1f} s; {drops_text(st)}."
    own = int(st.get("samples_of_spprof", 0) or 0)
    if own:
        text += f" {_n(own, 'sample')} of spprof's own start-up and threads left out."
    lost = int(st.get("samples_lost", 0) or 0)
    if lost:
        text += f" {lost:,} samples could not be stored (out of memory)."
    if path is None:
        text += " No file written: give -o FILE (e.g. -o profile.html) to keep the profile."
    else:
        text += (f" Wrote {FORMAT_NAMES[fmt]} to {path}; "
                 f"{HOW_TO_OPEN[fmt].format(path=path)}.")
    return text
