"""Collapsed stacks (Brendan Gregg's format, read by flamegraph.pl, inferno, speedscope):
one ``root;...;leaf count`` line per distinct stack, frames as ``function (file:line)`` so
that tools which truncate labels keep the function name. With ``threads`` the thread's
label is the root. ``;`` and line breaks inside a label would split it, so they become
``:`` and spaces."""
from __future__ import annotations

from typing import Dict


def _clean(text: str) -> str:
    return text.replace(";", ":").replace("\n", " ").replace("\r", " ")


def render(view) -> bytes:
    labels = [_clean(view.label(i)) for i in range(len(view.frames))]
    agg: Dict[str, int] = {}
    for s in view.samples:
        parts = [_clean(view.thread_labels[s.thread])] if view.per_thread else []
        parts += [labels[i] for i in s.frames]
        if not parts:
            continue
        key = ";".join(parts)
        agg[key] = agg.get(key, 0) + s.count
    return "".join(f"{k} {v}\n" for k, v in sorted(agg.items())).encode("utf-8", "replace")
