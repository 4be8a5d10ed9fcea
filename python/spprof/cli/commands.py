"""The commands behind ``spprof``: each takes the parsed arguments and returns the exit
status (``run`` and ``top`` return the program's)."""
from __future__ import annotations

import atexit
import json
import os
import sys
from typing import Optional

from .. import _api
from .._profile import Profile, write_atomic
from . import children, options, run as runner
from .options import Output, UsageError
from .report import summary
from .session import Session

def _program(args):
    if args.module is not None:
        if args.program and args.program[0] == "--":
            args.program = args.program[1:]
        return None, args.module, args.program
    if not args.program:
        raise UsageError("name the program: a script (script.py [args]) or -m module")
    return args.program[0], None, args.program[1:]


def _depth(args) -> Optional[int]:
    try:
        return _api._check_max_depth(args.max_depth) or None
    except (TypeError, ValueError) as e:
        raise UsageError(f"--max-depth: {e}") from None


def _keep_drops(args):
    """(directory or None, max_drops or None) from --keep-drops/--max-drops, checked before
    the program runs (start() checks again that files can be made there)."""
    keep, most = getattr(args, "keep_drops", None), getattr(args, "max_drops", None)
    try:
        _api._check_keep_drops(keep, most)
    except (TypeError, ValueError) as e:
        raise UsageError(f"--max-drops: {e}" if keep else f"--max-drops needs --keep-drops"
                         ) from None
    if keep is not None and not os.path.isdir(keep):
        raise UsageError(f"--keep-drops: {keep!r} is not a directory")
    return keep, most


def write_outputs(profile: Profile, out: Output, quiet: bool, children_n: int = 0,
                  report: bool = True) -> bool:
    """Write the file (if any), print the report and the summary; False if writing
    failed (the error is printed)."""
    ok = True
    if out.path is not None:
        try:
            write_atomic(out.path, profile.render(out.format, **out.render_options()))
        except OSError as e:
            print(f"spprof: error: could not write the profile to {out.path!r}: {e}",
                  file=sys.stderr)
            ok = False
    if not quiet:
        if report:
            sys.stderr.write("\n" + profile.report(**out.render_options()))
        sys.stderr.write("\n" + summary(profile, out.path if ok else None, out.format,
                                        children_n) + "\n")
        sys.stderr.flush()
    return ok


def _session_for(args, deliver) -> Session:
    interval = options.interval_ms(args)
    try:
        mode, _ = _api._check_mode(args.mode or "cpu", args.engine)
    except ValueError as e:
        raise UsageError(str(e)) from None
    keep, most = _keep_drops(args)
    return Session(interval, _depth(args), deliver, options.duration(args),
                   progress=not args.quiet and args.command == "run", mode=mode,
                   engine=args.engine, keep_drops=keep, max_drops=most)


def _merge_children(profile: Profile, folder: Optional[str]):
    if folder is None:
        return profile, 0
    found, running, problems = children.collect(folder)
    for p in problems:
        print(f"spprof: a child's profile could not be read: {p}", file=sys.stderr)
    if running:
        print(f"spprof: {running} child process{'es were' if running > 1 else ' was'} "
              f"still running when the program ended: not included", file=sys.stderr)
    children.cleanup(folder)
    return (Profile.merge([profile] + found) if found else profile), len(found)


def run(args, top_view=None) -> int:
    script, module, rest = _program(args)
    out = options.output(args, module or script)
    folder = None

    def deliver(profile: Profile) -> None:
        merged, n = _merge_children(profile, folder)
        if top_view is not None:
            top_view.stop()
            top_view.draw(merged)  # the last table: the whole run
        write_outputs(merged, out, args.quiet, n)
        runner.kill_if_interrupted()

    session = _session_for(args, deliver)
    try:
        runner.prepare(script, module, rest)
    except FileNotFoundError as e:
        print(f"{sys.executable}: {e}", file=sys.stderr)  # as python says it
        return 2
    if args.subprocesses:
        folder = children.enable(session.interval_ms, session.max_depth, session.mode,
                                 session.engine, session.keep_drops, session.max_drops)
    if top_view is not None:
        top_view.attach(session)
    code = runner.execute(session, script, module)
    if session.finished:  # --duration ended it already: an interrupt still ends by SIGINT
        atexit.register(runner.kill_if_interrupted)
    return code


def top(args) -> int:
    from .top import TopView
    _pid_options(args)
    if args.pid is not None:
        if args.program or args.module:
            raise UsageError("give a program or --pid, not both")
        return _remote_top(args)
    return run(args, top_view=TopView(options.output(args, args.module or
                                                      (args.program or ["top"])[0])))


# What `top --pid` cannot do: a process read from outside is sampled by spwalk record
# (wall-clock only, its own depth, no drop files, no children of its own). None: not given.
_NOT_WITH_PID = (("engine", "--engine: a process read from outside is sampled by spwalk"),
                 ("max_depth", "--max-depth is for a program spprof runs"),
                 ("keep_drops", "--keep-drops is for a program spprof runs"),
                 ("max_drops", "--max-drops is for a program spprof runs"))


def _pid_options(args) -> None:
    """top's and record's options that only make sense with --pid, or only without it."""
    if args.blocking and args.nonblocking:
        raise UsageError("give --blocking or --nonblocking, not both")
    if args.pid is None:
        if args.blocking or args.nonblocking:
            raise UsageError("--blocking and --nonblocking go with --pid")
        return
    if args.command != "top":
        return
    if args.mode == "cpu":
        raise UsageError("--mode cpu: a process read from outside is sampled in wall mode "
                         "only (give --mode wall, or leave --mode out)")
    if args.subprocesses:
        raise UsageError("--subprocesses is for a program spprof runs")
    for name, why in _NOT_WITH_PID:
        if getattr(args, name) is not None:
            raise UsageError(why)


def _remote_top(args) -> int:
    from .. import _remote
    from .top import TopView
    interval = options.interval_ms(args)
    out = options.output(args, f"pid{args.pid}")
    view = TopView(out, pid=args.pid)
    profile = _remote.record(args.pid, duration=options.duration(args), rate=1000 / interval,
                             blocking=args.blocking, on_update=view.draw)
    write_outputs(profile, out, args.quiet)
    return 0


def record(args) -> int:
    from .. import _remote
    from .report import Progress
    _pid_options(args)
    interval = options.interval_ms(args)
    out = options.output(args, f"pid{args.pid}")
    latest = {"captured": 0, "dropped": 0}

    def update(p: Profile) -> None:
        latest["captured"] = p.stats.get("samples_captured", p.total_samples)
        latest["dropped"] = p.stats.get("samples_dropped", 0)

    progress = None if args.quiet else Progress(
        lambda: (latest["captured"], latest["dropped"]), attached=True).start()
    try:
        profile = _remote.record(args.pid, duration=options.duration(args),
                                 rate=1000 / interval, blocking=args.blocking,
                                 on_update=update)
    finally:
        if progress is not None:
            progress.stop()
    return 0 if write_outputs(profile, out, args.quiet) else 1


def dump(args) -> int:
    from .. import _remote
    if args.core is None and (args.exe or args.lib):
        raise UsageError("--exe and --lib go with --core")
    if args.core is not None:
        if args.nonblocking:
            raise UsageError("--nonblocking is for --pid; a core holds still")
        threads = _remote.dump_core(args.core, exe=args.exe, lib=args.lib)
    else:
        threads = _remote.dump(args.pid, nonblocking=args.nonblocking)
    if args.json:
        print(json.dumps(threads, indent=2))
    else:
        sys.stdout.write(_remote.format_dump(threads))
    return 0


def diff(args) -> int:
    out = Output(args.output, None, args.threads, not args.nolineno, args.full_filenames)
    # (diff has no --idle option: Output's default keeps idle samples)
    try:
        path, fmt = options.check_output_path(args.output)
    except (ValueError, OSError) as e:
        raise UsageError(str(e).removeprefix("spprof: ")) from None
    if fmt != "flamegraph":
        raise UsageError(f"a differential profile is a flame graph: -o must end in .html, "
                         f"not {args.output!r}")
    before, after = Profile.load(args.before), Profile.load(args.after)
    write_atomic(path, after.render("flamegraph", baseline=before, **out.render_options()))
    if not args.quiet:
        from .top import changes
        sys.stderr.write(changes(before, after, out) +
                         f"\nspprof: wrote a differential flame graph of {args.after} "
                         f"against {args.before} to {path}; open it in a web browser "
                         f"(red: a larger share of samples than before, blue: smaller).\n")
    return 0
