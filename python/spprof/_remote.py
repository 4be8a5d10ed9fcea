"""Another process, from outside: ``spwalk record`` and ``spwalk dump`` (docs/spwalk.md).

spwalk reads the Python stacks of a running CPython 3.13 or 3.14 (free-threaded or not)
through ``process_vm_readv``, holding the target still with ptrace for each look unless
asked not to. Nothing runs inside the target, so it needs no spprof and no restart; it
needs the permission a debugger needs (same user and ``kernel.yama.ptrace_scope`` 0, or
root / CAP_SYS_PTRACE).

    from spprof import _remote
    profile = _remote.record(pid, duration=10)      # a wall-clock spprof.Profile
    print(_remote.format_dump(_remote.dump(pid)))   # every thread's stack, now
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from typing import Callable, Dict, List, Optional

from ._profile import Profile

_HERE = Path(__file__).resolve().parent
#: Where the pip build puts the tool.
_BUNDLED = _HERE / "_bin" / "spwalk"
#: The repository, when this package is imported from a source tree (python/spprof).
_SOURCE_TREE = _HERE.parent.parent
_ERROR_PREFIX = "spwalk: error: "


def _executable(p: Path) -> bool:
    return p.is_file() and os.access(p, os.X_OK)


def spwalk_path() -> str:
    """The spwalk binary to run: ``$SPPROF_SPWALK`` if set, else the one bundled with the
    package (``spprof/_bin/spwalk``), else ``build/bin/spwalk`` of the source tree this
    package is imported from, else ``spwalk`` on PATH. RuntimeError when there is none."""
    env = os.environ.get("SPPROF_SPWALK")
    if env:
        if _executable(Path(env)):
            return env
        raise RuntimeError(f"spprof: SPPROF_SPWALK={env!r} is not an executable file")
    if _executable(_BUNDLED):
        return str(_BUNDLED)
    in_tree = (_SOURCE_TREE / "harness" / "spwalk.c").is_file()
    built = _SOURCE_TREE / "build" / "bin" / "spwalk"
    if in_tree and _executable(built):
        return str(built)
    found = shutil.which("spwalk")
    if found:
        return found
    how = (f"build it with `make build/bin/spwalk` in {_SOURCE_TREE}" if in_tree else
           "build it from spprof's source tree with `make build/bin/spwalk` and put it on "
           "PATH, or set SPPROF_SPWALK to its path")
    raise RuntimeError(f"spprof: the spwalk tool was not found (not bundled in {_BUNDLED}, "
                       f"not on PATH): {how}")


def _check_pid(pid) -> int:
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise TypeError(f"spprof: a process id must be an int, not {type(pid).__name__}")
    if pid <= 0:
        raise ValueError(f"spprof: invalid process id {pid}")
    return pid


def _ptrace_hint() -> str:
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            scope = int(f.read().strip())
    except (OSError, ValueError):
        return ""
    if scope == 0 or os.geteuid() == 0:
        return " (the target must run as your user)"
    if scope == 3:
        return (" (kernel.yama.ptrace_scope is 3: no process may be traced until reboot)")
    return (f" (kernel.yama.ptrace_scope is {scope}: only a parent may trace its children; "
            f"`sudo sysctl kernel.yama.ptrace_scope=0`, or run as root)")


def _error(stderr: bytes, returncode: int) -> Exception:
    """The exception for a failed spwalk run: its own message, passed through."""
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    msg = next((l[len(_ERROR_PREFIX):] for l in lines if l.startswith(_ERROR_PREFIX)), None)
    if msg is None:
        why = f"killed by signal {-returncode}" if returncode < 0 else f"exit status {returncode}"
        return RuntimeError(f"spwalk failed ({why})" + (f": {lines[-1]}" if lines else ""))
    text = "spwalk: " + msg
    if msg.startswith("no such process"):
        return ProcessLookupError(text)
    if msg.startswith("permission denied"):
        return PermissionError(text + _ptrace_hint())
    return RuntimeError(text)


def _documents(proc: subprocess.Popen):
    """Each line spwalk writes on stdout, as bytes."""
    fd = proc.stdout.fileno()
    pending = b""
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            if pending.strip():
                yield pending
            return
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from (l for l in lines if l.strip())


def record(pid: int, duration: Optional[float] = None, rate: float = 100,
           blocking: bool = False, on_update: Optional[Callable[[Profile], None]] = None,
           every: float = 1.0) -> Profile:
    """Sample every thread of process ``pid`` ``rate`` times a second (wall clock) for
    ``duration`` seconds, or until it exits or, when called from the main thread, this
    process gets SIGINT (Ctrl-C: spwalk is told to stop, and what it recorded is
    returned). With ``on_update``, it is called with the profile so far every ``every``
    seconds (for a live view). The target is read while it runs (a walk whose memory
    changed under it is retried, then dropped as torn); ``blocking`` stops it for each
    sample instead.

    Raises ProcessLookupError (no such process), PermissionError (not allowed to trace it),
    RuntimeError (not a supported Python, or another spwalk error, with its message),
    ValueError or TypeError for bad arguments."""
    pid = _check_pid(pid)
    args = [spwalk_path(), "record", "--pid", str(pid), "-o", "-"]
    for name, value in (("--rate", rate), ("--duration", duration),
                        ("--every", every if on_update is not None else None)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"spprof: {name[2:]} must be a number above 0, not {value!r}")
        args += [name, repr(float(value))]
    if blocking:
        args.append("--blocking")

    last = None
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    installed, previous = False, None
    if threading.current_thread() is threading.main_thread():
        def forward(signum, frame):
            # A clean stop: spwalk writes what it recorded, and the reads below get it. No
            # KeyboardInterrupt, which could cut the reading of that last document short.
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        previous = signal.signal(signal.SIGINT, forward)
        installed = True
    try:
        for line in _documents(proc):
            last = line
            if on_update is not None:
                doc = json.loads(line)
                if not doc.get("stats", {}).get("final", True):
                    on_update(Profile.from_dict(doc, "spwalk's profile"))
        err = proc.stderr.read()
        rc = proc.wait()
    finally:
        if installed:  # None: a handler set from C, which Python cannot put back
            signal.signal(signal.SIGINT, previous if previous is not None else
                          signal.default_int_handler)
        if proc.poll() is None:  # on_update raised: stop spwalk; it releases the target
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    if rc != 0:
        raise _error(err, rc)
    if last is None:
        raise RuntimeError("spwalk record exited without writing a profile")
    profile = Profile.from_dict(json.loads(last), "spwalk's profile")
    profile.path_roots = list(dict.fromkeys(profile.path_roots + target_roots(pid)))
    return profile


def target_roots(pid: int) -> List[str]:
    """Where another process's interpreter finds the standard library and installed packages
    (its sys.path is in its memory, not readable from here): <prefix>/lib/pythonX.Y*, its
    site-packages, and for a virtual environment (pyvenv.cfg) the base interpreter's too.
    spwalk's document gives the working directory; file names are shown short under any of
    them, as an in-process profile's are under its sys.path. [] when /proc says nothing."""
    try:
        exe = os.path.realpath(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return []
    prefixes = [os.path.dirname(os.path.dirname(exe))]
    try:  # a venv: /proc's exe is the base interpreter; argv[0] is the venv's bin/python
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = os.fsdecode(f.read().split(b"\0", 1)[0])
        if "/" in argv0:
            where = os.path.join(os.readlink(f"/proc/{pid}/cwd"), argv0)
            venv = os.path.dirname(os.path.dirname(os.path.abspath(where)))
            if os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
                prefixes.insert(0, venv)
    except OSError:
        pass
    roots = []
    for prefix in prefixes:
        for lib in sorted(glob.glob(os.path.join(prefix, "lib", "python3.*"))):
            roots += glob.glob(os.path.join(lib, "site-packages")) + [lib]
    return roots


def _task_file(pid: int, tid: int, name: str) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/task/{tid}/{name}", "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def _state_letter(pid: int, tid: int) -> str:
    stat = _task_file(pid, tid, "stat")
    if not stat:
        return "?"
    rest = stat[stat.rfind(")") + 1:].split()  # the name in (...) may hold anything
    return rest[0] if rest else "?"


def _threads(doc, describe) -> List[Dict[str, object]]:
    """spwalk's JSON threads as dump() returns them; describe(native id) gives
    (name, state, state letter)."""
    threads = []
    for t in doc["threads"]:
        nid = t["native_thread_id"]
        name, state, letter = describe(nid)
        name = t.get("name", name)  # its threading name, when _active has it
        threads.append({
            "ident": t["thread_id"], "native_id": nid, "name": name,
            "state": state, "state_code": letter,
            "status": t["status"], "reason": t["reason"],
            "frames": [(f["function"], f["file"], f["line"]) for f in t["frames"]],
        })
    return threads


def _run_dump(args) -> dict:
    out = subprocess.run(args, capture_output=True)
    if out.returncode != 0:
        raise _error(out.stderr, out.returncode)
    return json.loads(out.stdout.decode("utf-8"))


def dump(pid: int, nonblocking: bool = False) -> List[Dict[str, object]]:
    """Every Python thread of process ``pid`` now, as ``spwalk dump`` reads it: one dict
    per thread, in the interpreter's order, with ``ident`` (threading.get_ident()),
    ``native_id``, ``name`` (its ``threading`` name, read from threading._active in
    the target's memory; the kernel's, /proc/PID/task/TID/comm, for a thread that is not
    there), ``state``
    ("running" when the kernel had it runnable just before the dump, "idle" otherwise;
    "unknown" when gone),
    ``state_code`` (the letter of /proc/PID/task/TID/stat), ``status`` and ``reason`` of
    the walk (docs/stack-json.md) and ``frames``: [(function, file, line)], innermost
    first, line None when unknown. Raises as record() does."""
    pid = _check_pid(pid)
    args = [spwalk_path(), "dump", "--pid", str(pid), "--json"]
    if nonblocking:
        args.append("--nonblocking")
    # The states as they were before the dump: stopping the process (ptrace) wakes a
    # thread blocked in a system call, which is then runnable for a moment after.
    try:
        before = {int(t): _state_letter(pid, int(t)) for t in os.listdir(f"/proc/{pid}/task")}
    except OSError:
        before = {}
    doc = _run_dump(args)

    def describe(nid):
        comm = _task_file(pid, nid, "comm")
        letter = before.get(nid) or _state_letter(pid, nid)
        state = "running" if letter == "R" else "unknown" if letter == "?" else "idle"
        return (comm.rstrip("\n") if comm else f"thread {nid}"), state, letter

    return _threads(doc, describe)


def dump_core(core, exe=None, lib=None) -> List[Dict[str, object]]:
    """Every Python thread of an ELF core file (gcore's, or a crash's), as ``spwalk dump
    --core`` reads it: the same dicts as dump(), with ``name`` the ``threading`` name
    the core's memory holds ("thread NID" when it holds none) and ``state`` "unknown"
    (a core keeps no scheduler state). ``exe`` / ``lib``: where the interpreter or
    libpython is when the files the core maps have moved. Raises RuntimeError with
    spwalk's message (not a core, no CPython in it, a missing file: pass exe=...)."""
    args = [spwalk_path(), "dump", "--core", os.fspath(core), "--json"]
    if exe is not None:
        args += ["--exe", os.fspath(exe)]
    if lib is not None:
        args += ["--lib", os.fspath(lib)]
    doc = _run_dump(args)
    return _threads(doc, lambda nid: (f"thread {nid}", "unknown", "?"))


def format_dump(threads: List[Dict[str, object]]) -> str:
    """dump()'s threads as text, as py-spy dump shows them:

        Thread 1234 (running): "worker"
            work (/srv/app/jobs.py:42)
            Thread.run (/usr/lib/python3.13t/threading.py:994)

    innermost frame first; files as the code objects name them."""
    out = []
    for t in threads:
        state = t["state"]
        if state == "idle" and t.get("state_code") not in (None, "S"):
            state = f"idle, {t['state_code']}"
        out.append(f'Thread {t["native_id"]} ({state}): "{t["name"]}"')
        for function, file, line in t["frames"]:
            out.append(f"    {function} ({file}:{'?' if line is None else line})")
        if t.get("status") == "dropped":
            out.append(f"    [stack unreadable: {t.get('reason')}]")
        elif not t["frames"]:
            out.append("    (no Python frame)")
        out.append("")
    return "\n".join(out)
