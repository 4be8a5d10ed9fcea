"""A self-contained HTML flame graph (docs/flamegraph.md): one file, no network, our own
renderer (flamegraph/flame.js), the data as JSON in the page.

The page gets the samples, not a laid-out tree, so that it can re-merge them for one
thread (the thread filter) and for the zoom; frames are interned by label, so that a
baseline's frames match the profile's by the label path from the root (the diff).

Two JSON elements: ``spprof-flame``, the compact data the page draws, and, when ``embed``
is given, ``spprof-profile``, spprof's own profile that Profile.load finds again."""
from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Dict, List, Optional

_MARK = re.compile(r"@@(CSS|JS|DATA|EMBED)@@")


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("flamegraph", name).read_text("utf-8")


def _script_json(text: str) -> str:
    """JSON text made safe inside a <script> element. ``</`` would end the element, and
    ``<!--`` followed by ``<script`` would make the parser skip our closing tag. In JSON
    a ``<`` can only be inside a string, where ``<\\/`` and ``\\u003c`` read back as the
    same characters; ``<\\/`` is what Profile.load un-escapes."""
    return text.replace("</", "<\\/").replace("<!--", "\\u003c!--")


def _data(view, baseline) -> dict:
    labels: List[str] = []
    files: List[str] = []
    index: Dict[str, int] = {}

    def intern(v) -> List[int]:
        out = []
        for i in range(len(v.frames)):
            lab = v.label(i)
            j = index.get(lab)
            if j is None:
                j = index[lab] = len(labels)
                labels.append(lab)
                files.append(v.full_files[i])
            out.append(j)
        return out

    remap = intern(view)
    threads = list(view.thread_labels)
    data = {
        "mode": view.mode, "interval_ms": view.interval_ms, "per_thread": view.per_thread,
        "lineno": view.lineno, "labels": labels, "files": files, "threads": threads,
        "nthreads": len(threads),
        # one [thread, count, frame, ...] per sample, root first
        "samples": [[s.thread, s.count] + [remap[i] for i in s.frames]
                    for s in view.samples],
        "base": None,
    }
    if baseline is not None:
        bremap = intern(baseline)
        tix = {t: i for i, t in enumerate(threads)}
        bthread = []
        for t in baseline.thread_labels:       # the same thread label is the same thread
            if t not in tix:
                tix[t] = len(threads)
                threads.append(t)
            bthread.append(tix[t])
        data["base"] = {
            "interval_ms": baseline.interval_ms, "mode": baseline.mode,
            "samples": [[bthread[s.thread], s.count] + [bremap[i] for i in s.frames]
                        for s in baseline.samples],
        }
    return data


def render(view, embed: Optional[str] = None, baseline=None) -> bytes:
    data = json.dumps(_data(view, baseline), separators=(",", ":"))
    parts = {
        "CSS": _asset("flame.css"),
        "JS": _asset("flame.js"),
        "DATA": _script_json(data),
        "EMBED": "" if embed is None else
        '<script type="application/json" id="spprof-profile">%s</script>'
        % _script_json(embed),
    }
    # one pass, so that nothing substituted is scanned for markers again
    page = _MARK.sub(lambda m: parts[m.group(1)], _asset("page.html"))
    return page.encode("utf-8")
