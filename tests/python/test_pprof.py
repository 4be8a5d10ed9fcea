"""spprof's pprof files (.pb.gz) as the real ``go tool pprof`` reads them: its -raw, -top,
-traces and -tags outputs parsed and held against the profile that was saved."""
import re
import subprocess

import pytest

import spprof
import tools
from conftest import profile_of_threads, spin
from spprof import Frame, Profile, StackRecord, ThreadInfo
from spprof import writers


@pytest.fixture(scope="module")
def pprof(tmp_path_factory):
    """``pprof(file, *flags)`` -> stdout of ``go tool pprof flags file`` (its exit status
    0 and nothing on stderr: a warning such as "Main binary filename not available" is a
    defect of the file)."""
    go = tools.go_binary()
    home = str(tmp_path_factory.mktemp("gohome"))
    env = tools.go_env(home)

    def run(path, *flags):
        r = subprocess.run([go, "tool", "pprof", *flags, str(path)], cwd=home, env=env,
                           capture_output=True, timeout=600)
        out, err = r.stdout.decode("utf-8"), r.stderr.decode("utf-8", "replace")
        assert r.returncode == 0 and not err, (flags, r.returncode, err)
        return out
    return run


def pprof_hot_a():
    return spin(0.3)


def pprof_hot_b():
    return spin(0.15)


@pytest.fixture(scope="module")
def real():
    """A real profile of three threads: hot-a, hot-b and the main thread."""
    p = profile_of_threads({"hot-a": pprof_hot_a, "hot-b": pprof_hot_b})
    assert p.total_samples > 300 and len(p.samples_by_thread()) >= 3, p
    return p


# ---- parsers of go tool pprof's text outputs --------------------------------------------
ROW = re.compile(r"^\s*(\d+)(?:ns)?\s+[\d.]+%\s+[\d.]+%\s+(\d+)(?:ns)?\s+[\d.]+%\s+(.*)$")


def top(pprof, path, *flags):
    """-top with every node kept: (total, {node: (flat, cum)}, the nodes in order)."""
    out = pprof(path, "-top", "-nodecount=100000", "-nodefraction=0", "-edgefraction=0",
                *flags)
    total = int(re.search(r"of (\d+)(?:ns)? total", out).group(1))
    assert "Dropped" not in out, out
    rows = [ROW.match(line) for line in out.splitlines()]
    rows = [m for m in rows if m]
    nodes = {m.group(3): (int(m.group(1)), int(m.group(2))) for m in rows}
    assert len(nodes) == len(rows), out  # one row per node
    return total, nodes, [m.group(3) for m in rows]


def raw(pprof, path):
    """-raw: (header lines, samples as [count, ns, [location ids, leaf first], {label:
    value}], {location id: "function file:line"}, the mappings)."""
    out = pprof(path, "-raw")
    head, rest = out.split("\nSamples:\n", 1)
    body, tail = rest.split("\nLocations\n", 1)
    types, _, body = body.partition("\n")
    samples = []
    # a sample line, then its label lines (a value may hold a newline: re.S, up to "]")
    for m in re.finditer(r"^\s+(\d+)\s+(\d+):((?: \d+)*) ?$|^\s+(\w+):\[(.*?)\]$", body,
                         re.M | re.S):
        if m.group(1):
            samples.append([int(m.group(1)), int(m.group(2)),
                            [int(x) for x in m.group(3).split()], {}])
        else:
            samples[-1][3][m.group(4)] = m.group(5)
    locs, _, maps = tail.partition("\nMappings\n")  # none without a location
    locations = {}
    loc = r"^\s+(\d+): 0x0 M=1 (.*?):(\d+):0 s=0(?:\(\))?$"  # "()": the empty system name
    for m in re.finditer(loc, locs, re.M | re.S):
        locations[int(m.group(1))] = f"{m.group(2)}:{m.group(3)}"
    return head.splitlines() + [types], samples, locations, maps


def expected_stacks(view):
    """The view's samples as -raw shows them, sorted: (thread label, tid, ("function
    file:line", ...) leaf first, count, ns)."""
    out = []
    for s in view.samples:
        frames = tuple(f"{view.frames[i].function} {view.frames[i].file}:"
                       f"{max(view.frames[i].line, 0)}" for i in reversed(s.frames))
        out.append((view.thread_labels[s.thread], str(view.threads[s.thread].native_id),
                    frames, s.count, view.weight_ns(s.count)))
    return sorted(out)


def raw_stacks(samples, locations):
    return sorted((lab["thread"], lab["thread_id"], tuple(locations[i] for i in ids), n, ns)
                  for n, ns, ids, lab in samples)


def by_display(p, view, inclusive):
    """Profile.functions() keyed as pprof's -filefunctions names them: "function file"
    (the display file; a pseudo-frame has none)."""
    display = dict(zip(view.full_files, (f.file for f in view.frames)))
    out = {}
    for fn, n in p.functions(inclusive=inclusive).items():
        key = f"{fn.name} {display[fn.file]}".rstrip()
        out[key] = out.get(key, 0) + n
    return out


# ---- the tests ---------------------------------------------------------------------------
def test_raw_has_every_stack_count_and_thread(pprof, real, tmp_path):
    path = tmp_path / "p.pb.gz"
    assert real.save(path) == "pprof"
    head, samples, locations, maps = raw(pprof, path)
    assert head[:2] == ["PeriodType: cpu nanoseconds", "Period: 1000000"], head
    # the session's start and length (Profile.start_time, duration_s)
    assert head[2].startswith("Time: ") and head[3].startswith("Duration: "), head
    assert head[4:] == ["samples/count cpu/nanoseconds"], head
    assert "[FN][FL][LN]" in maps  # symbolized: pprof does not look for a binary
    view = real.view()
    assert raw_stacks(samples, locations) == expected_stacks(view)
    assert sum(s[0] for s in samples) == real.total_samples
    assert sum(s[1] for s in samples) == real.total_samples * 1_000_000


def test_top_totals_and_flat_counts_equal_the_profiles(pprof, real, tmp_path):
    path = tmp_path / "p.pb.gz"
    real.save(path)
    view = real.view()
    total, nodes, order = top(pprof, path, "-sample_index=samples", "-filefunctions")
    assert total == real.total_samples
    flat, cum = by_display(real, view, False), by_display(real, view, True)
    assert {k: v[0] for k, v in nodes.items() if v[0]} == flat
    assert {k: v[1] for k, v in nodes.items()} == cum
    # the hottest function first: spin, where both threads and the main thread burn CPU
    assert order[0] == "spin conftest.py" and nodes[order[0]][0] == max(flat.values())
    assert cum["pprof_hot_a test_pprof.py"] > cum["pprof_hot_b test_pprof.py"] > 0
    # the CPU time: interval x samples, in nanoseconds
    total_ns, nodes_ns, _ = top(pprof, path, "-sample_index=cpu", "-unit=ns")
    assert total_ns == real.total_samples * 1_000_000
    assert nodes_ns["spin"][0] == real.functions()["spin"] * 1_000_000


def test_traces_are_our_stacks(pprof, real, tmp_path):
    path = tmp_path / "p.pb.gz"
    real.save(path)
    out = pprof(path, "-traces", "-sample_index=samples")
    got = []
    for block in out.split("-----------+" + "-" * 55 + "\n")[1:]:
        if not block.strip():
            continue  # the closing rule
        lines = block.rstrip("\n").split("\n")
        label = re.match(r"^\s+thread:\s+(.*)$", lines[0]).group(1)
        assert re.match(r"^\s+thread_id:\s+\d+$", lines[1]), block
        n, leaf = re.match(r"^\s+(\d+)\s*(.*)$", lines[2]).groups()
        names = ([leaf] if leaf else []) + [ln.strip() for ln in lines[3:]]
        got.append((label, int(n), tuple(names)))
    view = real.view()
    # -traces leaves out a sample with no frame (pprof still counts it in the totals)
    want = [(view.thread_labels[s.thread], s.count,
             tuple(view.frames[i].function for i in reversed(s.frames)))
            for s in view.samples if s.frames]
    assert sorted(got) == sorted(want)


def test_thread_labels(pprof, real, tmp_path):
    path = tmp_path / "p.pb.gz"
    real.save(path)
    out = pprof(path, "-tags", "-sample_index=samples")
    sections = re.findall(r"^ (\w+): Total \d+ of \d+ .*?\n((?:\s+\d+ \(.*\n)*)", out, re.M)
    row = r"^\s+(\d+) \(\s*[\d.]+%\): (.*)$"  # "   301 (54.35%): hot-a (tid 123)"
    tags = {k: {v: int(n) for n, v in re.findall(row, s, re.M)} for k, s in sections}
    view = real.view()
    by_thread = real.samples_by_thread()
    assert tags["thread"] == {lab: by_thread[t]
                              for lab, t in zip(view.thread_labels, view.threads)}
    assert tags["thread_id"] == {str(t.native_id): by_thread[t] for t in view.threads}
    assert any(lab.startswith("hot-a (tid ") for lab in tags["thread"])
    # one root per thread, as docs/formats.md says: -tagroot=thread
    _, nodes, _ = top(pprof, path, "-sample_index=samples", "-tagroot=thread")
    for i, (lab, t) in enumerate(zip(view.thread_labels, view.threads)):
        frameless = sum(s.count for s in view.samples if s.thread == i and not s.frames)
        assert nodes[lab] == (frameless, by_thread[t])
    # the threads option changes nothing in a pprof file: threads are always labels
    assert real.render("pprof", threads=True) == real.render("pprof")


def test_line_numbers_with_and_without_lineno(pprof, real, tmp_path):
    on, off = tmp_path / "on.pb.gz", tmp_path / "off.pb.gz"
    real.save(on)
    real.save(off, lineno=False)
    _, samples, locations, maps = raw(pprof, on)
    assert "[FN][FL][LN]" in maps
    assert raw_stacks(samples, locations) == expected_stacks(real.view())
    spin_lines = {v for v in locations.values() if v.startswith("spin conftest.py:")}
    assert len(spin_lines) >= 2 and "spin conftest.py:0" not in spin_lines  # real lines
    _, nodes, _ = top(pprof, on, "-sample_index=samples", "-lines")
    assert sum(n[0] for k, n in nodes.items() if k.startswith("spin conftest.py:")) == \
        real.functions()["spin"]

    _, samples, locations, maps = raw(pprof, off)
    assert "[FN][FL]" in maps and "[LN]" not in maps
    flat = real.view(lineno=False)
    assert raw_stacks(samples, locations) == expected_stacks(flat)
    assert all(v.endswith(":0") for v in locations.values())  # 0: pprof's "no line"
    # one location per function: no line splits it
    assert len(locations) == len(set(locations.values())) == len(flat.frames)


def test_full_filenames_let_pprof_list_the_source(pprof, real, tmp_path):
    path = tmp_path / "full.pb.gz"
    real.save(path, full_filenames=True)
    _, _, locations, _ = raw(pprof, path)
    assert f"pprof_hot_a {__file__}:{pprof_hot_a.__code__.co_firstlineno + 1}" in \
        locations.values()
    out = pprof(path, "-list=^pprof_hot_a$", "-sample_index=samples")
    assert "return spin(0.3)" in out and __file__ in out


HOSTILE = ["naïve_函数", 'say "hi"', "it's", "a;b c", "line1\nline2", "<module>",
           "<lambda>", "f(x)[0]", "ns::T<int>::m", "_ZN3foo3barEv", "Outer.<locals>.inner",
           ""]


def test_hostile_names_round_trip(pprof, tmp_path):
    """Names pprof might split, demangle or trim come back as they were written: pprof
    "demangles" a function whose system name equals its name (and would make "" of
    <module>), so spprof leaves the system name out."""
    th = ThreadInfo(11, 1011, 'w "1";\nx', 7)
    files = ["/src/dir with space/módulo.py", "/src/x;y.py", ""]
    stacks = []
    for i, name in enumerate(HOSTILE):
        fr = (Frame(name, files[i % 3], i + 1 if files[i % 3] else -1),
              Frame("caller", "/src/main.py", 1))
        stacks.append(StackRecord(11, 1011, fr, i + 1, th.name, th))
    p = Profile(stacks, 2.0, 1.0, {}, threads=[th], path_roots=["/src"])
    path = tmp_path / "h.pb.gz"
    p.save(path)
    _, samples, locations, _ = raw(pprof, path)
    assert raw_stacks(samples, locations) == expected_stacks(p.view())  # names exact
    assert samples[0][3]["thread"] == 'w "1";\nx (tid 1011)'
    _, nodes, _ = top(pprof, path, "-sample_index=samples")
    for i, name in enumerate(HOSTILE):
        if "\n" not in name and name:
            assert nodes[name][0] == i + 1, (name, nodes)
    assert nodes["caller"] == (0, p.total_samples)
    assert p.total_samples == sum(range(1, len(HOSTILE) + 1))


def test_empty_profile_is_a_valid_file(pprof, tmp_path):
    p = Profile([], 1.0, 0.0, {}, threads=[])
    path = tmp_path / "empty.pb.gz"
    p.save(path)
    head, samples, locations, _ = raw(pprof, path)
    assert samples == [] and locations == {}
    assert head[-1] == "samples/count cpu/nanoseconds"
    total, nodes, _ = top(pprof, path)
    assert total == 0 and nodes == {}


def test_a_sample_without_frames_counts_in_the_totals(pprof, tmp_path):
    th = ThreadInfo(1, 101, "main", 0)
    p = Profile([StackRecord(1, 101, (), 3, "main", th),
                 StackRecord(1, 101, (Frame("f", "/a/x.py", 2),), 4, "main", th)],
                1.0, 1.0, {}, threads=[th], path_roots=["/a"])
    path = tmp_path / "e.pb.gz"
    p.save(path)
    _, samples, locations, _ = raw(pprof, path)
    assert raw_stacks(samples, locations) == [("main (tid 101)", "101", (), 3, 3_000_000),
                                              ("main (tid 101)", "101", ("f x.py:2",), 4,
                                               4_000_000)]
    assert top(pprof, path, "-sample_index=samples")[:2] == (7, {"f": (4, 4)})


def test_wall_mode_and_duration(pprof, tmp_path):
    th = ThreadInfo(1, 101, "main", 0)
    p = Profile([StackRecord(1, 101, (Frame("sleepy", "/a/s.py", 3),), 5, "main", th)],
                10.0, 2.5, {}, threads=[th], mode="wall", path_roots=["/a"])
    path = tmp_path / "w.pb.gz"
    start = 1_700_000_000_123_456_789  # 2023-11-14T22:13:20.123456789Z
    path.write_bytes(writers.render("pprof", p.view(), duration_ns=2_500_000_000,
                                    time_ns=start))
    head, samples, locations, _ = raw(pprof, path)
    assert head[:2] == ["PeriodType: wall nanoseconds", "Period: 10000000"], head
    assert head[2] == "Time: 2023-11-14 22:13:20.123456789 +0000 UTC", head
    assert head[3:] == ["Duration: 2.5s", "samples/count wall/nanoseconds"], head
    assert [s[:3] for s in samples] == [[5, 50_000_000, [1]]]
    assert locations == {1: "sleepy s.py:3"}
    out = pprof(path, "-top")
    assert "Type: wall" in out and "Duration: 2.50s, Total samples = 50ms" in out, out


def test_rendering_is_deterministic(real):
    assert real.render("pprof") == real.render("pprof")
