"""spprof's collapsed stacks and speedscope files as the tools people open them with read
them: inferno's flame graph (the Rust flamegraph.pl) rendered from our .collapsed file, its
SVG parsed back; speedscope's JSON checked against the schema speedscope publishes."""
import json
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

import spprof
import tools
from conftest import profile_of_threads, spin
from spprof import Frame, Profile, StackRecord, ThreadInfo


def interop_hot_a():
    return spin(0.25)


def interop_hot_b():
    return spin(0.1)


@pytest.fixture(scope="module")
def real():
    p = profile_of_threads({"hot-a": interop_hot_a, "hot-b": interop_hot_b})
    assert p.total_samples > 250 and len(p.samples_by_thread()) >= 3, p
    return p


# ---- inferno-flamegraph ------------------------------------------------------------------
TITLE = re.compile(r"^(.*) \(([\d,]+) samples?, [\d.]+%\)$", re.S)


def flamegraph(collapsed, tmp_path):
    """inferno-flamegraph's SVG of the collapsed file, as [(label, samples)] per frame box
    (its <title>s), every frame kept (--minwidth 0)."""
    exe = tools.inferno_flamegraph()
    r = subprocess.run([exe, "--minwidth", "0", str(collapsed)], capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    svg = tmp_path / (collapsed.name + ".svg")
    svg.write_bytes(r.stdout)
    boxes = []
    for t in ET.fromstring(r.stdout).iter("{http://www.w3.org/2000/svg}title"):
        m = TITLE.match(t.text or "")
        assert m, t.text
        boxes.append((m.group(1), int(m.group(2).replace(",", ""))))
    return boxes


def summed(boxes, match):
    return sum(n for label, n in boxes if match(label))


def test_inferno_renders_our_collapsed_stacks_merged(real, tmp_path):
    path = tmp_path / "p.collapsed"
    assert real.save(path) == "collapsed"
    boxes = flamegraph(path, tmp_path)
    # merged, a sample with no frame has no line in the file
    frameless = sum(r.count for r in real.stacks if not r.frames)
    assert summed(boxes, lambda l: l == "all") == real.total_samples - frameless
    incl = real.functions(inclusive=True)
    # each of these is called from one place and never recursively: its boxes add up to
    # the samples with it anywhere on the stack
    for fn in ("interop_hot_a", "interop_hot_b", "spin"):
        got = summed(boxes, lambda l: l.startswith(fn + " (test_interop.py:" if fn != "spin"
                                                   else "spin (conftest.py:"))
        assert got == incl[fn], (fn, got, incl[fn])
    assert incl["interop_hot_a"] > incl["interop_hot_b"] > 0
    # the leaf boxes: spin's lines, as many samples as spin has by line (self)
    view = real.view()
    by_line = {}
    for s in view.samples:
        if s.frames and view.frames[s.frames[-1]].function == "spin":
            lab = view.label(s.frames[-1])
            by_line[lab] = by_line.get(lab, 0) + s.count
    for lab, n in by_line.items():
        assert summed(boxes, lambda l: l == lab) == n, lab


def test_inferno_renders_our_collapsed_stacks_per_thread(real, tmp_path):
    path = tmp_path / "t.collapsed"
    real.save(path, threads=True)
    boxes = flamegraph(path, tmp_path)
    view = real.view(threads=True)
    by_thread = real.samples_by_thread()
    # one root box per thread (a sample with no frame is still its thread's)
    assert summed(boxes, lambda l: l == "all") == real.total_samples
    for lab, t in zip(view.thread_labels, view.threads):
        if by_thread.get(t):
            assert [b for b in boxes if b[0] == lab] == [(lab, by_thread[t])]
    hot_a = next(lab for lab in view.thread_labels if lab.startswith("hot-a (tid "))
    assert summed(boxes, lambda l: l == hot_a) >= \
        real.functions(inclusive=True)["interop_hot_a"]


def test_inferno_keeps_hostile_names(tmp_path):
    """XML-special and non-ASCII names come back from the SVG as the collapsed file wrote
    them (``;`` and newlines, which would split a line, as ``:`` and a space)."""
    th = ThreadInfo(1, 101, 'w<1> & "q"', 0)
    names = ["naïve_函数", 'say "hi" & <bye>', "<module>", "a;b", "line1\nline2"]
    root = Frame("<module>", "/src/r.py", 9)
    stacks = [StackRecord(1, 101, (Frame(n, "/src/m.py", i + 1), root), 10 * (i + 1),
                          th.name, th) for i, n in enumerate(names)]
    p = Profile(stacks, 1.0, 1.0, {}, threads=[th], path_roots=["/src"])
    path = tmp_path / "h.collapsed"
    p.save(path, threads=True)
    boxes = dict(flamegraph(path, tmp_path))
    assert boxes['w<1> & "q" (tid 101)'] == p.total_samples
    assert boxes["<module> (r.py:9)"] == p.total_samples
    for i, n in enumerate(names):
        shown = n.replace(";", ":").replace("\n", " ")
        assert boxes[f"{shown} (m.py:{i + 1})"] == 10 * (i + 1), (n, boxes)


# ---- speedscope --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def validate():
    try:
        import fastjsonschema
    except ImportError:
        tools.missing("fastjsonschema", "run `ci/bootstrap.sh pythons`")
    with open(tools.speedscope_schema(), encoding="utf-8") as f:
        return fastjsonschema.compile(json.load(f))


def speedscope(p, tmp_path, **options):
    path = tmp_path / "p.json"
    assert p.save(path, **options) == "speedscope"
    return json.loads(path.read_text(encoding="utf-8"))


def check_frames_are_functions(doc, view):
    frames = doc["shared"]["frames"]
    keys = [(f["name"], f.get("file", "")) for f in frames]
    assert len(set(keys)) == len(keys)  # one frame per function
    assert set(keys) == {(fr.function, fr.file) for fr in view.frames}
    assert all(set(f) <= {"name", "file"} for f in frames)  # no line split
    return keys


def test_speedscope_merged_follows_the_schema(real, tmp_path, validate):
    doc = speedscope(real, tmp_path)
    validate(doc)
    view = real.view()
    keys = check_frames_are_functions(doc, view)
    assert len(doc["profiles"]) == 1
    prof = doc["profiles"][0]
    assert prof["name"] == f"all threads ({len(real.threads)})"
    assert sum(prof["weights"]) == pytest.approx(real.total_samples * real.interval_ms)
    assert prof["endValue"] == pytest.approx(sum(prof["weights"]))
    spin_ms = sum(w for s, w in zip(prof["samples"], prof["weights"])
                  if s and keys[s[-1]][0] == "spin")  # the leaf is last: root first
    assert spin_ms == pytest.approx(real.functions()["spin"] * real.interval_ms)


def test_speedscope_per_thread_follows_the_schema(real, tmp_path, validate):
    doc = speedscope(real, tmp_path, threads=True)
    validate(doc)
    view = real.view(threads=True)
    keys = check_frames_are_functions(doc, view)
    by_thread = real.samples_by_thread()
    busy = [(lab, by_thread[t]) for lab, t in zip(view.thread_labels, view.threads)
            if by_thread.get(t)]
    assert [p["name"] for p in doc["profiles"]] == [lab for lab, _ in busy]  # busiest first
    for prof, (lab, n) in zip(doc["profiles"], busy):
        assert sum(prof["weights"]) == pytest.approx(n * real.interval_ms), lab
    hot_a = next(p for p in doc["profiles"] if p["name"].startswith("hot-a (tid "))
    names = {keys[i][0] for s in hot_a["samples"] for i in s}
    assert {"interop_hot_a", "spin"} <= names and "interop_hot_b" not in names
