"""The flame graph (spprof.writers.flamegraph, docs/flamegraph.md) in a real browser:
headless Chromium driven through the DevTools protocol (cdp.py). The page is checked
through its DOM: the boxes' widths against the samples, zoom, search, thread filter,
tooltips, the diff colours, hostile names, and a large profile.

Without chromium the browser tests skip, unless $CI is set: CI must run them."""
import json
import os
import random
import re
import threading
import time

import pytest

import cdp
import spprof
from conftest import ROOT
from spprof._model import Frame, StackRecord, ThreadInfo

W, H = 1200, 800                  # the page's viewport
ARTIFACTS = os.path.join(ROOT, "build", "test-artifacts")
HIGHLIGHT = "rgb(230, 60, 230)"   # flame.js: a frame matching the search


# ---- the browser ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    exe = cdp.find_chromium()
    if exe is None:
        why = "chromium not found (apt-get install chromium, or set SPPROF_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(why + "; CI must run the flame graph tests")
        pytest.skip(why)
    b = cdp.Browser(exe)
    yield b
    b.close()


@pytest.fixture
def page(browser):
    p = browser.new_page(W, H)
    yield p
    p.close()


def open_page(page, path):
    took = page.open(path)
    assert page.eval("!!window.spprofFlame"), "the flame graph did not draw"
    return took


def boxes(page):
    """The drawn boxes that carry a label: [{text, x, y, w, cls, bg}]."""
    return page.eval("""[...document.querySelectorAll('#graph div')].filter(e => e.textContent)
        .map(e => { const r = e.getBoundingClientRect();
                    return {text: e.textContent, x: r.x, y: r.y, w: r.width,
                            cls: e.className, bg: getComputedStyle(e).backgroundColor}; })""")


def box(page, text):
    found = [b for b in boxes(page) if b["text"] == text]
    assert found, f"no box labelled {text!r}"
    return max(found, key=lambda b: b["w"])


def graph_width(page):
    return page.eval("document.getElementById('graph').getBoundingClientRect().width")


def center(b):
    return b["x"] + b["w"] / 2, b["y"] + 9


def tip_text(page):
    return page.eval("(t => t.hidden ? null : t.innerText)(document.getElementById('tip'))")


def no_errors(page):
    errs = page.errors()
    assert not errs, errs


def merged(view, thread=None):
    """{label path: [total, self]} of the merged tree, built as flame.js builds it."""
    out = {(): [0, 0]}
    for s in view.samples:
        if thread is not None and s.thread != thread:
            continue
        path = ()
        out[path][0] += s.count
        keys = [view.thread_labels[s.thread]] if view.per_thread else []
        for k in keys + [view.label(i) for i in s.frames]:
            path += (k,)
            out.setdefault(path, [0, 0])[0] += s.count
        out[path][1] += s.count
    return out


def node_of(tree, prefix):
    """The widest node whose label starts with prefix: (path, [total, self])."""
    return max(((p, v) for p, v in tree.items() if p and p[-1].startswith(prefix)),
               key=lambda pv: pv[1][0])


def number(text, pattern):
    m = re.search(pattern, text)
    assert m, (pattern, text)
    return float(m.group(1).replace(",", ""))


def dur(samples, interval_ms=1.0):
    """flame.js dur(): a time as the page writes it."""
    ms = samples * interval_ms
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{float(f'{ms:.3g}'):g} ms"


def rgb(css):
    return [int(v) for v in re.findall(r"\d+", css)[:3]]


# ---- profiles ---------------------------------------------------------------------------
# Each hot loop is on one line, so that a function is one box (a frame is function and line).
def hot_alpha(cpu):
    end = time.thread_time() + cpu
    while time.thread_time() < end: sum(range(1000))  # noqa: E701


def hot_beta(cpu):
    end = time.thread_time() + cpu
    while time.thread_time() < end: sum(range(1000))  # noqa: E701


def hot_gamma(cpu):
    end = time.thread_time() + cpu
    while time.thread_time() < end: sum(range(1000))  # noqa: E701


@pytest.fixture(scope="module")
def real():
    """A profile of three threads, each with its own hot function, 1 : 2 : 3 of CPU."""
    spprof.start(interval_ms=1)
    ts = [threading.Thread(target=f, args=(cpu,), name=name) for f, cpu, name in
          ((hot_alpha, 0.1, "alpha"), (hot_beta, 0.2, "beta"), (hot_gamma, 0.3, "gamma"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return spprof.stop()


def synthetic(stacks, threads=None, interval_ms=1.0):
    """A Profile of [(thread, [frames root first], count)]."""
    th0 = ThreadInfo(11, 1011, "main", 1)
    recs = []
    for th, frames, count in stacks:
        th = th or th0
        recs.append(StackRecord(th.ident, th.native_id, tuple(reversed(frames)), count,
                                th.name, th))
    return spprof.Profile(recs, interval_ms, 1.0, {},
                          threads=threads or list({r.thread: None for r in recs}),
                          path_roots=["/srv"])


HOSTILE = ["<script>window.__pwned=1</script>", "</script><script>window.__pwned=2</script>",
           "<!--<script>", '<img src=x onerror="window.__pwned=3">', "&amp; &lt; &#60; &",
           "quotes \"double\" 'single' `back`", "emoji \U0001F525\U0001F40D \u00f1 \u4e2d\u6587",
           "back\\slash <\\/script> ${x} @@JS@@"]
HOSTILE_FILE = '/srv/<b>&"x"\U0001F525.py'
HOSTILE_THREAD = ThreadInfo(12, 1012, '<b>bold</b> & "t" \U0001F9F5 </script>', 1)


def hostile():
    root = Frame("main", "/srv/app.py", 1)
    return synthetic([(HOSTILE_THREAD if i % 2 else None,
                       [root, Frame(name, HOSTILE_FILE, 10 + i)], 10)
                      for i, name in enumerate(HOSTILE)])


def big(n=50_000, seed=7):
    """n distinct stacks of 4 threads, 4-24 deep over 600 functions, the choice at each
    level skewed (shared near the root, varied at the leaves): about 500,000 nodes."""
    rng = random.Random(seed)
    threads = [ThreadInfo(100 + i, 2000 + i, f"worker-{i}", 1) for i in range(4)]
    funcs = [Frame(f"mod{i % 40}.func_{i}", f"/srv/app/mod{i % 40}.py", 10 + i)
             for i in range(600)]
    seen = set()
    out = []
    while len(out) < n:
        th = threads[rng.randrange(4)]
        stack = tuple(funcs[int(rng.paretovariate(1.2) * (d + 1)) % len(funcs)]
                      for d in range(rng.randint(4, 24)))
        if (th, stack) not in seen:
            seen.add((th, stack))
            out.append((th, stack, rng.randint(1, 20)))
    return synthetic(out, threads=threads)


# ---- the tests --------------------------------------------------------------------------
def test_real_profile(page, real, tmp_path):
    path = tmp_path / "real.html"
    real.save(path)
    open_page(page, path)
    view = real.view()
    tree = merged(view)
    total = tree[()][0]
    gw = graph_width(page)
    assert abs(gw - (W - 24)) < 1          # flame.css: 12 px margins
    # the title, and the root: every sample
    title = page.eval("document.getElementById('title').textContent")
    assert title.startswith(f"spprof CPU flame graph: {total:,} samples at 1 ms"), title
    assert box(page, f"all threads: {total:,} samples, {dur(total)}")["w"] == pytest.approx(gw)

    # each hot function is one box, as wide as its share of the samples
    hot = {}
    for name in ("hot_alpha", "hot_beta", "hot_gamma"):
        p, (t, s) = node_of(tree, name + " (")
        b = box(page, p[-1])
        assert b["w"] == pytest.approx(gw * t / total, abs=0.5), (name, b, t, total)
        assert t > 0.1 * total, (name, t, total)
        hot[name] = (p, t, s, b)
    # and the CPU split of 1 : 2 : 3 shows
    wa, wb, wc = (hot[n][3]["w"] for n in ("hot_alpha", "hot_beta", "hot_gamma"))
    assert wa < wb < wc, (wa, wb, wc)

    # zoom: click hot_beta; it spans the width, its callers stay above, hot_alpha is gone
    label_b = hot["hot_beta"][0][-1]
    page.click(*center(hot["hot_beta"][3]))
    zb = box(page, label_b)
    assert zb["w"] == pytest.approx(gw) and zb["x"] == pytest.approx(12)
    texts = {b["text"]: b for b in boxes(page)}
    assert hot["hot_alpha"][0][-1] not in texts and hot["hot_gamma"][0][-1] not in texts
    for caller in hot["hot_beta"][0][:-1]:
        assert texts[caller]["cls"].split()[0] == "a" and texts[caller]["w"] == pytest.approx(gw)
    page.hover(*center(zb))
    assert "100.0 % of the zoomed frame" in tip_text(page).splitlines()[2]
    assert page.eval("document.getElementById('reset').disabled") is False
    reset = page.eval("(r => [r.x + r.width / 2, r.y + r.height / 2])"
                      "(document.getElementById('reset').getBoundingClientRect())")
    page.click(*reset)
    assert page.eval("document.getElementById('reset').disabled") is True
    assert box(page, hot["hot_alpha"][0][-1])["w"] == pytest.approx(hot["hot_alpha"][3]["w"])

    # search (any case): the matching boxes turn magenta, the share of their samples shows
    page.click(*page.eval("(r => [r.x + 20, r.y + r.height / 2])"
                          "(document.getElementById('search').getBoundingClientRect())"))
    page.type("HOT_BETA")
    want = sum(s.count for s in view.samples
               if any("hot_beta" in view.label(i).lower() for i in s.frames)) / total
    matched = page.eval("document.getElementById('matched').textContent")
    assert number(matched, r"^Matched: ([\d.]+) %$") == pytest.approx(100 * want, abs=0.051)
    for b in boxes(page):
        assert (b["bg"] == HIGHLIGHT) == ("hot_beta" in b["text"]), b
    page.eval("(s => { s.value = ''; s.dispatchEvent(new Event('input')); })"
              "(document.getElementById('search'))")
    assert page.eval("document.getElementById('matched').textContent") == ""
    assert all(b["bg"] != HIGHLIGHT for b in boxes(page))

    # the thread filter: the totals become gamma's; the other threads' frames go
    options = page.eval("[...document.getElementById('thread').options].map(o => o.text)")
    gi = next(i for i, t in enumerate(view.threads) if t.name == "gamma")
    per = real.samples_by_thread()
    gsamples = per[view.threads[gi]]
    assert options[0] == f"all threads ({total:,} samples)"
    assert options[1 + gi] == f"{view.thread_labels[gi]} ({gsamples:,} samples)", options
    page.eval(f"(s => {{ s.value = '{gi}'; s.dispatchEvent(new Event('change')); }})"
              "(document.getElementById('thread'))")
    gtree = merged(view, gi)
    assert gtree[()][0] == gsamples
    root = box(page, f"{view.thread_labels[gi]}: {gsamples:,} samples, {dur(gsamples)}")
    assert root["w"] == pytest.approx(gw)
    texts = {b["text"] for b in boxes(page)}
    assert hot["hot_alpha"][0][-1] not in texts and label_b not in texts
    p, (t, s) = node_of(gtree, "hot_gamma (")
    assert box(page, p[-1])["w"] == pytest.approx(gw * t / gsamples, abs=0.5)
    page.eval("(s => { s.value = '-1'; s.dispatchEvent(new Event('change')); })"
              "(document.getElementById('thread'))")

    # hover: a tooltip with the label, the full file, self and total samples and shares
    p, t, s, b = hot["hot_gamma"]
    page.hover(*center(box(page, p[-1])))
    tip = tip_text(page)
    assert tip is not None, "no tooltip"
    lines = tip.splitlines()
    assert lines[0] == p[-1] and lines[1] == __file__, lines
    assert number(tip, r"total: ([\d,]+) samples") == t
    assert number(tip, r"self: ([\d,]+) samples") == s
    assert number(tip, r"total: .*?([\d.]+) % of all") == pytest.approx(100 * t / total,
                                                                          abs=0.051)
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(os.path.join(ARTIFACTS, "flamegraph.png"))
    no_errors(page)


def test_hostile_names_are_text(page, tmp_path):
    path = tmp_path / "hostile.html"
    prof = hostile()
    prof.save(path, threads=True)
    open_page(page, path)
    no_errors(page)
    assert page.eval("window.__pwned") is None
    assert page.eval("document.querySelectorAll('img').length") == 0
    assert page.eval("document.scripts.length") == 3     # data, embedded profile, code
    assert page.eval("document.querySelectorAll('#graph *').length") == \
        page.eval("document.querySelectorAll('#graph > div').length")
    texts = {b["text"] for b in boxes(page)}
    for name in HOSTILE:
        assert f"{name} ({HOSTILE_FILE[5:]}:{10 + HOSTILE.index(name)})" in texts, name
    view = prof.view(threads=True)
    assert set(view.thread_labels) <= texts              # a root per thread
    options = page.eval("[...document.getElementById('thread').options].map(o => o.text)")
    assert f"{view.thread_labels[0]} (40 samples)" in options, options
    page.hover(*center(box(page, f"{HOSTILE[0]} ({HOSTILE_FILE[5:]}:10)")))
    assert tip_text(page).splitlines()[:2] == [f"{HOSTILE[0]} ({HOSTILE_FILE[5:]}:10)",
                                               HOSTILE_FILE]
    zoomed = f"{HOSTILE[1]} ({HOSTILE_FILE[5:]}:11)"
    page.click(*center(box(page, zoomed)))
    assert box(page, zoomed)["w"] == pytest.approx(graph_width(page))
    page.click(*page.eval("(r => [r.x + 20, r.y + r.height / 2])"
                          "(document.getElementById('search').getBoundingClientRect())"))
    page.type("</SCRIPT>")       # HOSTILE[0] and [1]: 2 stacks of 8, of the whole graph
    assert page.eval("document.getElementById('matched').textContent") == "Matched: 25.0 %"
    no_errors(page)


def test_empty_profile(page, tmp_path):
    path = tmp_path / "empty.html"
    synthetic([], threads=[]).save(path)
    open_page(page, path)
    assert box(page, "all threads: 0 samples, 0 ms")
    no_errors(page)


def test_diff_colours(page, tmp_path):
    main = Frame("main", "/srv/app.py", 1)
    f = {n: Frame(n, "/srv/app.py", i) for i, n in enumerate(["grow", "shrink", "same",
                                                              "fresh"], 10)}
    before = synthetic([(None, [main, f["grow"]], 10), (None, [main, f["shrink"]], 50),
                        (None, [main, f["same"]], 40)])
    after = synthetic([(None, [main, f["grow"]], 45), (None, [main, f["shrink"]], 10),
                       (None, [main, f["same"]], 40), (None, [main, f["fresh"]], 5)])
    path = tmp_path / "diff.html"
    path.write_bytes(after.render("flamegraph", baseline=before))
    open_page(page, path)
    no_errors(page)
    title = page.eval("document.getElementById('title').textContent")
    assert title.startswith("spprof differential CPU flame graph: 100 samples"), title
    assert "before: 100 samples" in title
    col = {n: rgb(box(page, f"{n} (app.py:{fr.line})")["bg"]) for n, fr in f.items()}
    r, g, b = col["grow"]
    assert r > b + 100 and r > g + 100, col              # the largest change: full red
    r, g, b = col["shrink"]
    assert b > r + 100, col
    r, g, b = col["same"]
    assert abs(r - b) < 8 and abs(r - g) < 8, col        # no change: grey
    r, g, b = col["fresh"]
    assert r > b + 5, col                                # grew from nothing, a little
    assert sum(col["fresh"]) > sum(col["grow"])          # paler: a smaller change
    page.hover(*center(box(page, "grow (app.py:10)")))
    assert "self share: before 10.0 %, after 45.0 % (+35.0)" in tip_text(page)
    page.hover(*center(box(page, "fresh (app.py:13)")))
    assert "before 0.0 % (not in the baseline), after 5.0 %" in tip_text(page)
    assert page.eval("document.getElementById('legend').hidden") is False
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(os.path.join(ARTIFACTS, "flamegraph-diff.png"))
    no_errors(page)


def _same(a, b):
    def stacks(p):
        return sorted((p._thread_of(r), r.frames, r.count) for r in p.stacks)
    assert stacks(a) == stacks(b)
    assert a.threads == b.threads
    assert (a.mode, a.interval_ms, a.duration_s, a.stats, a.path_roots) == \
        (b.mode, b.interval_ms, b.duration_s, b.stats, b.path_roots)


@pytest.mark.parametrize("which", ["real", "hostile"])
def test_load_gives_back_the_profile(request, which, tmp_path):
    prof = request.getfixturevalue("real") if which == "real" else hostile()
    path = tmp_path / "p.html"
    prof.save(path)
    _same(spprof.Profile.load(path), prof)
    # the embedded document is spprof's own, escaped only where HTML needs it
    text = path.read_text("utf-8")
    m = re.search(r'<script type="application/json" id="spprof-profile">(.*?)</script>',
                  text, re.S)
    assert json.loads(m.group(1)) == json.loads(prof.to_json())
    assert "</" not in m.group(1) and "<!--" not in m.group(1)


def test_large_profile(page, tmp_path):
    t0 = time.monotonic()
    prof = big()
    t1 = time.monotonic()
    path = tmp_path / "big.html"
    prof.save(path)
    t2 = time.monotonic()
    assert len(prof.stacks) >= 50_000
    took = open_page(page, path)
    stats = page.eval("window.spprofFlame")
    print(f"\n50,000 stacks: made in {t1 - t0:.2f} s, saved ({os.path.getsize(path) >> 10} KiB)"
          f" in {t2 - t1:.2f} s; opened in {took:.2f} s (script {stats['startMs']:.0f} ms, "
          f"drawing {stats['renderMs']:.0f} ms, {stats['drawn']} boxes)")
    assert took < 5, took
    assert stats["drawn"] < 100_000
    t3 = time.monotonic()
    page.eval("(s => { s.value = '2'; s.dispatchEvent(new Event('change')); })"
              "(document.getElementById('thread'))")
    print(f"one thread: {time.monotonic() - t3:.2f} s, {page.eval('window.spprofFlame.drawn')}"
          f" boxes")
    no_errors(page)
