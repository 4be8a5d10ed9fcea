"""speedscope JSON (https://www.speedscope.app/file-format-schema.json).

Frames are functions (name and file, no line): speedscope's sandwich view sums a frame,
so a frame per line would split one function into many rows. Merged threads give one
profile named "all threads"; with ``threads`` there is one profile per thread, busiest
first, and speedscope opens the first. Weights are milliseconds of CPU (or wall) time."""
from __future__ import annotations

import json
from typing import Dict, List, Tuple


def render(view) -> bytes:
    index: Dict[Tuple[str, str], int] = {}
    frames: List[dict] = []
    remap: List[int] = []
    for i, fr in enumerate(view.frames):
        key = (fr.function, fr.file)
        j = index.get(key)
        if j is None:
            j = index[key] = len(frames)
            d = {"name": fr.function}
            if fr.file:
                d["file"] = view.frames[i].file
            frames.append(d)
        remap.append(j)
    groups: Dict[int, Tuple[list, list]] = {}
    for s in view.samples:
        g = s.thread if view.per_thread else 0
        samples, weights = groups.setdefault(g, ([], []))
        samples.append([remap[i] for i in s.frames])
        weights.append(s.count * view.interval_ms)
    profiles = []
    for g in sorted(groups, key=lambda g: (-sum(groups[g][1]), g)):
        samples, weights = groups[g]
        profiles.append({
            "type": "sampled",
            "name": view.thread_labels[g] if view.per_thread else
            f"all threads ({len(view.threads)})",
            "unit": "milliseconds",
            "startValue": 0,
            "endValue": sum(weights),
            "samples": samples,
            "weights": weights,
        })
    doc = {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "exporter": "spprof",
        "name": f"spprof {view.mode} profile",
        "activeProfileIndex": 0,
        "shared": {"frames": frames},
        "profiles": profiles,
    }
    return json.dumps(doc).encode("utf-8")
