"""The output formats, one module per format, each rendering a View (spprof._view) to bytes.

``render(fmt, view)`` is the only entry point; the formats are chosen by file extension
(``format_for``) or named. spprof's own format (``.spprof``) is written by the Profile
itself (it holds the data, not a view of it), so it is listed here but not rendered."""
from __future__ import annotations

import importlib
import os
from typing import Optional, Tuple

#: Extension -> format, longest first so that ``.pb.gz`` wins over ``.gz``.
EXTENSIONS = (
    (".pb.gz", "pprof"), (".pprof", "pprof"),
    (".html", "flamegraph"), (".htm", "flamegraph"),
    (".json", "speedscope"),
    (".txt", "collapsed"), (".collapsed", "collapsed"), (".folded", "collapsed"),
    (".spprof", "spprof"),
)
#: Format -> (module, what it is): the formats ``-f/--format`` accepts.
FORMATS = {
    "flamegraph": ("flamegraph", "self-contained HTML flame graph"),
    "speedscope": ("speedscope", "speedscope JSON"),
    "pprof": ("pprof", "gzipped pprof profile.proto"),
    "collapsed": ("collapsed", "collapsed stacks for flame graph tools"),
    "text": ("text", "text report: top functions and hot lines"),
    "spprof": (None, "spprof's own profile, for Profile.load and spprof diff"),
}


def known() -> str:
    return ", ".join(f"{e} ({f})" for e, f in EXTENSIONS)


def format_for(path: str, fmt: Optional[str] = None) -> str:
    """The format of ``path``: ``fmt`` if given (checked), else from its extension.
    ValueError names the known ones."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"spprof: unknown format {fmt!r}; the formats are "
                             f"{', '.join(FORMATS)}")
        return fmt
    low = path.lower()
    for ext, f in EXTENSIONS:
        if low.endswith(ext):
            return f
    ext = os.path.splitext(path)[1]
    what = f"unknown extension {ext!r}" if ext else "no extension"
    raise ValueError(f"spprof: cannot save a profile to {path!r}: {what}; the known "
                     f"extensions are {known()} (or name a format: "
                     f"{', '.join(FORMATS)})")


def render(fmt: str, view, **options) -> bytes:
    mod, _ = FORMATS[fmt]
    if mod is None:
        raise ValueError(f"spprof: format {fmt!r} is written by Profile.save()")
    return importlib.import_module(f"{__name__}.{mod}").render(view, **options)


def split_ext(path: str) -> Tuple[str, str]:
    """``("out", ".pb.gz")`` for ``out.pb.gz``: the known double extension kept whole."""
    low = path.lower()
    for ext, _ in EXTENSIONS:
        if low.endswith(ext):
            return path[: len(path) - len(ext)], path[len(path) - len(ext):]
    return os.path.splitext(path)
