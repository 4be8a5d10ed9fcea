"""``spprof run``: run a program as ``python script.py`` or ``python -m module`` would —
the same ``sys.argv``, ``sys.path[0]``, a fresh ``__main__``, exit status, exception
output and signals — with profiling on from its first line, then write the profile."""
from __future__ import annotations

import builtins
import io
import os
import runpy
import signal
import sys
import types
from typing import List, Optional

from .session import MARKER, Session, _flush, _is_ours


def _spprof_program(fn, *args, **kwargs):  # noqa: N802 (its name is the MARKER)
    return fn(*args, **kwargs)


assert _spprof_program.__name__ == MARKER


def _run_script(path: str) -> None:
    if os.path.isdir(path) or not path.endswith((".py", ".pyw")) and _is_zip(path):
        runpy.run_path(path, run_name="__main__")  # a directory or zip with __main__.py
        return
    with io.open_code(path) as f:
        code = compile(f.read(), path, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__builtins__ = builtins
    main.__spec__ = None
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def _is_zip(path: str) -> bool:
    import zipfile
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def _run_module(name: str) -> None:
    sys.modules["__main__"] = types.ModuleType("__main__")
    runpy._run_module_as_main(name, alter_argv=True)  # what `python -m` itself calls


def prepare(script: Optional[str], module: Optional[str], args: List[str]) -> str:
    """Set sys.argv and sys.path[0] as the interpreter would; returns the program's name.
    Raises UsageError-worthy OSError for a missing script."""
    if module is not None:
        sys.argv = [module] + args  # runpy replaces argv[0] with the module's file
        sys.path[0] = os.getcwd()
        return module
    if not os.path.exists(script):
        raise FileNotFoundError(f"can't open file {os.path.abspath(script)!r}: "
                                f"[Errno 2] No such file or directory")
    sys.argv = [script] + args
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    return script


def _exit_code(e: SystemExit) -> int:
    code = e.code
    if code is None:
        return 0
    if isinstance(code, int) and not isinstance(code, bool):
        return code & 0xFF  # as the kernel keeps it: sys.exit(-1) is 255
    print(code, file=sys.stderr)  # sys.exit("message"): printed, status 1
    return 1


def _program_tb(tb):
    """The traceback from the program's first frame on (spprof's and runpy's cut)."""
    while tb is not None and (_is_ours(tb.tb_frame.f_code.co_filename) or
                              tb.tb_frame.f_code.co_filename in ("<frozen runpy>",) or
                              os.path.basename(tb.tb_frame.f_code.co_filename) == "runpy.py"):
        tb = tb.tb_next
    return tb


def execute(session: Session, script: Optional[str], module: Optional[str]) -> int:
    """Run the prepared program under ``session``; the exit status Python would give.
    A KeyboardInterrupt is reported as Python reports it, and the process later dies of
    SIGINT (from ``kill_if_interrupted``) once the profile is written."""
    global _interrupted
    session.start()
    try:
        if module is not None:
            _spprof_program(_run_module, module)
        else:
            _spprof_program(_run_script, script)
        return 0
    except SystemExit as e:
        return _exit_code(e)
    except BaseException as e:
        tb = e.__traceback__ = _program_tb(e.__traceback__)  # the hook prints its own
        sys.excepthook(type(e), e, tb)
        if isinstance(e, KeyboardInterrupt):
            _interrupted = True
            return 130
        return 1


_interrupted = False


def kill_if_interrupted() -> None:
    """After the profile is written: end as an interrupted Python does, by SIGINT."""
    if _interrupted:
        _flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)


