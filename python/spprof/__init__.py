"""spprof — a sampling profiler for free-threaded CPython (3.13t, 3.14t; also 3.13).

Every Python thread is interrupted by SIGPROF for the CPU time it spends; the signal
handler walks that thread's own interpreter frames speculatively (every pointer validated,
every fault caught) and a background thread symbolizes and aggregates the samples.

    import spprof
    spprof.start(interval_ms=10)
    ...                                  # your code, any number of threads
    profile = spprof.stop()
    profile.save("out.html")             # flame graph; .pb.gz pprof, .json speedscope, ...

or, without editing the program: ``spprof run -o out.html script.py`` (docs/cli.md).

See docs/python-api.md for every function and docs/live-shim.md for how sampling works.
"""
from ._model import Function, FunctionSamples
from ._api import (
    DEFAULT_MAX_DEPTH,
    INTERVAL_MAX_MS,
    INTERVAL_MIN_MS,
    MAX_DEPTH,
    Frame,
    Profile,
    Profiler,
    StackRecord,
    ThreadInfo,
    ThreadSamples,
    is_active,
    profile,
    snapshot,
    start,
    stats,
    stop,
)

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "INTERVAL_MAX_MS",
    "INTERVAL_MIN_MS",
    "MAX_DEPTH",
    "Frame",
    "Function",
    "FunctionSamples",
    "Profile",
    "Profiler",
    "StackRecord",
    "ThreadInfo",
    "ThreadSamples",
    "is_active",
    "profile",
    "snapshot",
    "start",
    "stats",
    "stop",
]
__version__ = "0.1.0"
