"""The ``spprof`` command (also ``python -m spprof``): ``run``, ``top``, ``record``,
``dump`` and ``diff``. docs/cli.md documents every command and option; ``spprof CMD
--help`` prints them."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .. import __version__
from .options import UsageError, add_output, add_sampling

DESCRIPTION = """\
spprof: a sampling profiler for free-threaded CPython (3.13t, 3.14t; also 3.13).

commands:
  run      run a Python program with profiling on, then write its profile
  top      a live, top-like view of the hottest functions of a program or process
  record   sample another Python process (--pid) and write its profile
  dump     print the Python stack of every thread of another process (or a core file)
  diff     a differential flame graph of two profiles

examples:
  spprof run -o profile.html script.py arg1 arg2
  spprof run -o profile.pb.gz -m mypackage.cli --verbose
  spprof top script.py
  spprof record --pid 1234 -d 30 -o profile.html
  spprof dump --pid 1234
  spprof dump --core core.1234
  spprof diff before.spprof after.spprof -o diff.html
"""


def _program_parser(sub, name: str, help_: str, output_note: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_, description=help_,
                       usage=f"spprof {name} [options] (script.py | -m module) [args ...]"
                       + (" | --pid PID" if name == "top" else ""),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_sampling(p, modes=("cpu", "wall"))
    p.add_argument("--max-depth", type=int, metavar="N",
                   help="frames kept per sample, innermost first (default 256, 1..4096)")
    p.add_argument("--keep-drops", metavar="DIR",
                   help="write every dropped sample (a walk the profiler could not finish) "
                        "to DIR as a snapshot file that `spwalk replay` reproduces, for a "
                        "bug report (docs/regressions.md)")
    p.add_argument("--max-drops", type=int, metavar="N",
                   help="with --keep-drops: at most N files (default 16)")
    p.add_argument("--subprocesses", action="store_true",
                   help="profile the Python processes the program starts too (subprocess, "
                        "multiprocessing: fork, spawn, forkserver; os.fork) and merge their "
                        "profiles into this one")
    add_output(p, output_note)
    p.add_argument("-m", dest="module", metavar="MODULE",
                   help="run a library module as a script, as python -m does")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spprof", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"spprof {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _program_parser(sub, "run", "run a Python program with profiling on, then write its "
                    "profile and print a report", "default: no file, the report only")
    top = _program_parser(sub, "top", "a live view of the hottest functions, refreshed "
                          "every second on the terminal", "written when the program ends")
    top.add_argument("--pid", type=int, help="watch another Python process instead")
    top.add_argument("--blocking", action="store_true",
                     help="with --pid: stop the process for each sample (default: read it "
                          "while it runs)")
    top.add_argument("--nonblocking", action="store_true",
                     help="with --pid: read it while it runs (the default; py-spy's name)")
    rec = sub.add_parser("record", help="sample another Python process and write its profile",
                         description="sample every thread of another Python process (3.13, "
                         "3.13t, 3.14, 3.14t) from outside, until --duration, Ctrl-C or the "
                         "process exits; then write the profile",
                         usage="spprof record --pid PID [options]")
    rec.add_argument("--pid", type=int, required=True, help="the process to sample")
    add_sampling(rec, modes=("wall",), default_mode="wall")
    rec.add_argument("--nonblocking", action="store_true",
                     help="read the process while it runs: the default (py-spy's name for it)")
    rec.add_argument("--blocking", action="store_true",
                     help="stop the process for the instant of each sample, for exact stacks "
                          "(default: read it while it runs; a walk whose memory changed under "
                          "it is retried, then dropped as torn)")
    add_output(rec, "default: no file, the report only")
    dump = sub.add_parser("dump", help="print every thread's Python stack of another process",
                          description="print the Python stack of every thread of another "
                          "Python process, with its name and whether it is running, or of "
                          "an ELF core file of one (gcore's, or a crash's)",
                          usage="spprof dump (--pid PID | --core CORE [--exe PATH] "
                                "[--lib PATH]) [--json] [--nonblocking]")
    source = dump.add_mutually_exclusive_group(required=True)
    source.add_argument("--pid", type=int, help="the process to read")
    source.add_argument("--core", metavar="CORE", help="an ELF core file to read instead")
    dump.add_argument("--exe", metavar="PATH",
                      help="--core: the interpreter the process ran, when it is no longer "
                           "where the core says")
    dump.add_argument("--lib", metavar="PATH",
                      help="--core: its libpython, when it is no longer where the core says")
    dump.add_argument("--json", action="store_true", help="print JSON instead of text")
    dump.add_argument("--nonblocking", action="store_true",
                      help="read without stopping the process")
    diff = sub.add_parser("diff", help="a differential flame graph: AFTER coloured by the "
                          "change from BEFORE",
                          description="write a flame graph of AFTER in which each frame's "
                          "colour is the change of its share of self samples since BEFORE "
                          "(red grew, blue shrank); both are profiles spprof wrote "
                          "(.spprof or .html)")
    diff.add_argument("before", help="the profile to compare against (.spprof or .html)")
    diff.add_argument("after", help="the profile to draw, coloured by its change")
    diff.add_argument("-o", "--output", metavar="FILE.html", required=True,
                      help="the differential flame graph to write")
    diff.add_argument("--threads", action="store_true",
                      help="one root per thread (default: the stacks of every thread merged)")
    diff.add_argument("--nolineno", action="store_true",
                      help="compare by function, without line numbers")
    diff.add_argument("--full-filenames", action="store_true",
                      help="absolute file names (default: short, as the profiles record them)")
    diff.add_argument("-q", "--quiet", action="store_true",
                      help="no table of the largest changes, no summary")
    return parser


def split_program(parser: argparse.ArgumentParser, argv: List[str]):
    """``run``/``top`` argv split where the program begins: spprof's options, then
    ``script.py args...`` or ``-m module args...``: the program's arguments are never
    parsed as spprof's."""
    takes_value = {s for a in parser._actions for s in a.option_strings
                   if a.nargs != 0 and not isinstance(a, (argparse._StoreTrueAction,
                                                          argparse._HelpAction))}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return argv[:i], argv[i + 1:]
        if a == "-m":
            return argv[:i + 2], argv[i + 2:]
        if not a.startswith("-") or a == "-":
            return argv[:i], argv[i:]
        if a in takes_value:
            i += 1
        i += 1
    return argv, []


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices
    if argv and argv[0] in ("run", "top"):
        ours, program = split_program(sub[argv[0]], argv[1:])
        args = parser.parse_args([argv[0]] + ours)
        args.program = program
    else:
        args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from . import commands
    try:
        return getattr(commands, args.command)(args)
    except UsageError as e:
        sub[args.command].print_usage(sys.stderr)
        print(f"spprof {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except (OSError, RuntimeError, ValueError) as e:
        print(f"spprof {args.command}: error: {str(e).removeprefix('spprof: ')}",
              file=sys.stderr)
        return 1


__all__ = ["main", "build_parser"]
