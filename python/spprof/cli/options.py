"""The options every profiling command shares, named as py-spy names them where it has
them, and their checks: a bad option is a usage error (exit status 2) before any program
runs or any process is attached."""
from __future__ import annotations

import argparse
import math
import os
import time
from typing import NamedTuple, Optional

from .. import _api, writers
from .._profile import check_output_path

RATE_DEFAULT = 100  # Hz: py-spy's default, 10 ms


class UsageError(Exception):
    """A bad command line: printed as ``spprof <cmd>: error: ...``, exit status 2."""


class Output(NamedTuple):
    path: Optional[str]  # None: no file, only the report
    format: Optional[str]
    threads: bool
    lineno: bool
    full_filenames: bool
    idle: bool = True

    def render_options(self) -> dict:
        return dict(threads=self.threads, lineno=self.lineno,
                    full_filenames=self.full_filenames, idle=self.idle)


def add_output(p: argparse.ArgumentParser, default_note: str) -> None:
    g = p.add_argument_group("output")
    g.add_argument("-o", "--output", metavar="FILE",
                   help="write the profile to FILE; the format comes from its extension: "
                        ".html flame graph, .pb.gz pprof, .json speedscope, .txt/.collapsed/"
                        ".folded collapsed stacks, .spprof spprof's own (" + default_note + ")")
    g.add_argument("-f", "--format", choices=list(writers.FORMATS),
                   help="the output format, whatever FILE's extension (without -o: a file "
                        "named spprof-<program>-<time>.<ext> is written)")
    g.add_argument("--threads", action="store_true",
                   help="one root per thread (default: the stacks of every thread merged)")
    g.add_argument("--nolineno", action="store_true",
                   help="aggregate by function, without line numbers")
    g.add_argument("--full-filenames", action="store_true",
                   help="absolute file names (default: relative to the program's sys.path "
                        "entry or working directory that contains them)")
    g.add_argument("--idle", dest="idle", action="store_true", default=True,
                   help="wall mode: keep the samples of threads that were waiting, their "
                        "innermost frame <idle> (the default)")
    g.add_argument("--no-idle", dest="idle", action="store_false",
                   help="wall mode: leave out the samples of threads that were waiting")
    g.add_argument("-q", "--quiet", action="store_true",
                   help="no progress line, report or summary (errors are still printed)")


def add_sampling(p: argparse.ArgumentParser, modes=("cpu", "wall"), default_mode="cpu"
                 ) -> None:
    g = p.add_argument_group("sampling")
    g.add_argument("-r", "--rate", type=float, metavar="HZ",
                   help=f"samples per second of each thread's {default_mode} time "
                        f"(default {RATE_DEFAULT}; 1..1000)")
    g.add_argument("-i", "--interval", type=float, metavar="MS",
                   help="the same as a sampling interval in milliseconds (1..1000); give "
                        "-r or -i, not both")
    # None when not given: `top --pid` is wall mode, a program's session cpu mode
    g.add_argument("--mode", choices=list(modes), default=None if "cpu" in modes else default_mode,
                   help=f"what a sample measures (default {default_mode}): cpu = time on "
                        "CPU, wall = elapsed time, waiting included" if "cpu" in modes else
                        "what a sample measures: wall = elapsed time, waiting included (a "
                        "process read from outside has no CPU-time timer; a sample of a "
                        "thread that did not run since the last one ends in <idle>)")
    g.add_argument("-d", "--duration", type=float, metavar="S",
                   help="stop sampling after S seconds (the program keeps running)")
    if "cpu" in modes:
        g.add_argument("--engine", choices=list(_api.ENGINES),
                       help="what takes the samples: signal = per-thread CPU timers and "
                            "SIGPROF (cpu mode's default), sampler = one thread that samples "
                            "every thread (wall mode's only engine)")


def interval_ms(args) -> float:
    if args.rate is not None and args.interval is not None:
        raise UsageError("give -r/--rate or -i/--interval, not both")
    if args.interval is not None:
        ms = args.interval
    else:
        rate = RATE_DEFAULT if args.rate is None else args.rate
        if math.isnan(rate) or not 1 <= rate <= 1000:
            raise UsageError(f"-r/--rate must be within 1..1000 Hz, got {args.rate:g}")
        ms = 1000.0 / rate
    if math.isnan(ms) or not _api.INTERVAL_MIN_MS <= ms <= _api.INTERVAL_MAX_MS:
        raise UsageError(f"-i/--interval must be within {_api.INTERVAL_MIN_MS}.."
                         f"{_api.INTERVAL_MAX_MS} ms, got {ms:g}")
    return ms


def duration(args) -> Optional[float]:
    d = args.duration
    if d is not None and (math.isnan(d) or d <= 0):
        raise UsageError(f"-d/--duration must be a positive number of seconds, got {d:g}")
    return d


def _default_name(program: str, fmt: str) -> str:
    ext = next(e for e, f in writers.EXTENSIONS if f == fmt) if fmt != "text" else ".txt"
    base = os.path.splitext(os.path.basename(program))[0] or "program"
    return f"spprof-{base}-{time.strftime('%Y%m%d-%H%M%S')}{ext}"


def output(args, program: str) -> Output:
    """The checked output: the file must be creatable now, not only at the end of a long
    run."""
    path, fmt = args.output, args.format
    if path is None and fmt is not None:
        path = _default_name(program, fmt)
    if path is not None:
        try:
            path, fmt = check_output_path(path, fmt)
        except (ValueError, OSError, TypeError) as e:
            raise UsageError(str(e).removeprefix("spprof: ")) from None
        parent = os.path.dirname(os.path.abspath(path))
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UsageError(f"cannot write {path!r}: the directory {parent!r} is not "
                             f"writable")
        if os.path.isfile(path) and not os.access(path, os.W_OK):
            raise UsageError(f"cannot write {path!r}: the file is not writable")
    return Output(path, fmt, args.threads, not args.nolineno, args.full_filenames, args.idle)
