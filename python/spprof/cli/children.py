"""``--subprocesses``: every Python process the program starts is profiled too, and its
profile merged into the program's.

- A child that is a new interpreter (``subprocess``, ``multiprocessing``'s spawn and
  forkserver) inherits two environment variables and a ``PYTHONPATH`` entry whose
  ``sitecustomize`` (spprof/_boot) starts a child session before the child's own code
  runs, then hands over to any other ``sitecustomize`` on the path. An interpreter that
  cannot load spprof (another version) just runs unprofiled.
- A forked child (``os.fork``, multiprocessing's fork, the forkserver's workers) starts a
  child session from an at-fork hook.
- multiprocessing's resource tracker and forkserver processes are not profiled (they
  serve the program for its whole life and do none of its work).
- Each child writes ``<pid>.spprof`` into the run's folder when it ends (exit, ``os._exit``,
  SIGTERM — which is how ``multiprocessing.Pool`` ends its workers); it marks its start
  with ``<pid>.started`` so the parent can tell how many were still running when it
  finished (they are left out, and the summary says so).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from typing import List, Optional, Tuple

from .. import _api
from .._profile import Profile
from .session import Session

ENV_DIR = "SPPROF_CHILDREN_DIR"
ENV_OPTS = "SPPROF_CHILDREN_OPTS"
BOOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_boot")
PACKAGE_PARENT = os.path.dirname(os.path.dirname(BOOT))

_options: Optional[dict] = None  # set in a process whose children are profiled


def enable(interval_ms: float, max_depth: Optional[int], mode: str = "cpu",
           engine: Optional[str] = None, keep_drops: Optional[str] = None,
           max_drops: Optional[int] = None) -> str:
    """Make this process's future children profiled (with the parent's options; with
    ``keep_drops``, each child keeps at most ``max_drops`` drop files of its own in the same
    folder: their names carry the pid); returns the children folder."""
    global _options
    folder = tempfile.mkdtemp(prefix="spprof-children-")
    _options = {"interval_ms": interval_ms, "max_depth": max_depth, "mode": mode,
                "engine": engine, "dir": folder, "path": PACKAGE_PARENT,
                "keep_drops": os.path.abspath(keep_drops) if keep_drops else None,
                "max_drops": max_drops}
    os.environ[ENV_DIR] = folder
    os.environ[ENV_OPTS] = json.dumps(_options)
    pp = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = BOOT + (os.pathsep + pp if pp else "")
    os.register_at_fork(after_in_child=_forked)
    return folder


def _child_session(opts: dict) -> Optional[Session]:
    folder = opts["dir"]
    pid = os.getpid()

    def write(profile: Profile) -> None:
        if os.path.isdir(folder):  # else the program has ended and merged without us
            profile.save(os.path.join(folder, f"{pid}.spprof"))

    try:
        open(os.path.join(folder, f"{pid}.started"), "w").close()
        return Session(opts["interval_ms"], opts["max_depth"], write,
                       mode=opts.get("mode", "cpu"), engine=opts.get("engine"),
                       keep_drops=opts.get("keep_drops"),
                       max_drops=opts.get("max_drops")).start()
    except Exception as e:  # never break the child over its profile
        print(f"spprof: process {pid} is not profiled: {e}", file=sys.stderr)
        return None


def _forked() -> None:
    if _options is not None and not _api.is_active():
        _child_session(_options)


def boot() -> None:
    """Called by spprof/_boot/sitecustomize.py in a new interpreter."""
    global _options
    raw = os.environ.get(ENV_OPTS)
    if not raw:
        return
    opts = json.loads(raw)
    _options = opts
    os.register_at_fork(after_in_child=_forked)
    if not _is_helper():
        _child_session(opts)


#: multiprocessing's own servers: they live as long as the program and do none of its work
#: (the forkserver's forked workers are profiled, from the at-fork hook).
HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def _is_helper() -> bool:
    argv = " ".join(getattr(sys, "orig_argv", []))
    return any(f"from {h} import main" in argv for h in HELPERS)


def collect(folder: str) -> Tuple[List[Profile], int, List[str]]:
    """The children's profiles, how many children were still running, and problems."""
    profiles, problems, started, done = [], [], set(), set()
    for name in sorted(os.listdir(folder)):
        pid, _, ext = name.partition(".")
        if ext == "started":
            started.add(pid)
        elif ext == "spprof":
            done.add(pid)
            try:
                profiles.append(Profile.load(os.path.join(folder, name)))
            except (OSError, ValueError) as e:
                problems.append(f"process {pid}: {e}")
    return profiles, len(started - done), problems


def cleanup(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)
