"""The text report: the hottest functions by self samples (where the thread was) with
their total (anywhere on the stack), then the hottest lines of the top functions.
Printed by ``spprof run`` and ``Profile.print_stats()``."""
from __future__ import annotations

from typing import Dict, Tuple

from .._view import self_and_total


def _pct(n: int, total: int) -> str:
    return f"{100.0 * n / total:5.1f}%" if total else "    -"


def _fn(name: str, file: str) -> str:
    return f"{name} ({file})" if file else name


def render(view, limit: int = 15, lines_of: int = 5, lines_per: int = 5) -> bytes:
    total = view.total
    secs = view.weight_ns(total) / 1e9
    what = "CPU" if view.mode == "cpu" else "wall-clock time"
    out = [f"spprof {view.mode} profile: {total:,} sample{'' if total == 1 else 's'} at "
           f"{view.interval_ms:g} ms ({secs:.2f} s of {what}) from {len(view.threads)} thread"
           f"{'' if len(view.threads) == 1 else 's'}"]
    if not total:
        out.append("no samples (the program used less CPU than one interval)")
        return ("\n".join(out) + "\n").encode("utf-8", "replace")
    self_, incl = self_and_total(view)
    top = sorted(incl, key=lambda k: (-self_.get(k, 0), -incl[k], k))[:limit]
    out += ["", "Top functions by self samples",
            f"{'self':>8} {'%':>6} {'total':>8} {'%':>6}  function (file)"]
    for k in top:
        s, t = self_.get(k, 0), incl[k]
        out.append(f"{s:>8,} {_pct(s, total)} {t:>8,} {_pct(t, total)}  {_fn(*k)}")
    if view.lineno:
        # a line's self samples: the samples whose innermost frame is that line
        lines: Dict[Tuple[str, str], Dict[int, int]] = {}
        for smp in view.samples:
            if smp.frames:
                fr = view.frames[smp.frames[-1]]
                per = lines.setdefault((fr.function, fr.file), {})
                per[fr.line] = per.get(fr.line, 0) + smp.count
        hot = [k for k in top if self_.get(k, 0) and k in lines][:lines_of]
        if hot:
            out += ["", "Hot lines of the top functions (self samples)"]
            for k in hot:
                out.append(f"  {_fn(*k)}")
                per = lines[k]
                for line in sorted(per, key=lambda ln: (-per[ln], ln))[:lines_per]:
                    where = f"line {line}" if line >= 0 else "line ?"
                    out.append(f"    {where:<12} {per[line]:>8,} {_pct(per[line], total)}")
    return ("\n".join(out) + "\n").encode("utf-8", "replace")
