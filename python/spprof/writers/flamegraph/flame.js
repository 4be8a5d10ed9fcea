"use strict";
// spprof's flame graph (docs/flamegraph.md): merges the samples of the selected thread into
// a tree, draws the part of it that is wide enough as absolutely placed boxes, roots at
// the top, and draws again on zoom, search, thread choice and resize. Every label goes
// into the page as text (textContent), never as markup.
(() => {
const T0 = performance.now();
const D = JSON.parse(document.getElementById("spprof-flame").textContent);
const ROW = 18;       // px per stack level (flame.css: #graph div height)
const MIN_W = 0.1;    // px: a narrower box is not drawn, nor its callees (narrower still)
const TEXT_W = 20;    // px: a narrower box gets no label
const DIFF = D.base !== null;
const byId = (id) => document.getElementById(id);
const graph = byId("graph"), tip = byId("tip"), search = byId("search"),
  pick = byId("thread"), resetB = byId("reset"), matchedEl = byId("matched");

let thread = -1;      // the selected thread (an index into D.threads), -1 for all
let tree = null;      // the merged tree of the selected samples
let base = null;      // the same of the baseline's samples (DIFF)
let nodes = [];       // tree's nodes, each after its parent
let zoom = null;      // the zoomed node, null for none
let hit = null;       // with a search: Uint8Array over D.labels, 1 where the label matches
let lower = null;     // D.labels in lower case, made on the first search
let maxDelta = 0;     // DIFF: the largest change of a self share: full colour
let tipNode = null;    // the node the tooltip shows
const colors = [];    // per label

const fmt = (n) => n.toLocaleString("en-US");
const share = (n, of) => (of > 0 ? n / of : 0);
const pct = (x) => (100 * x).toFixed(1) + " %";
function dur(samples, ival) {
  const ms = samples * ival;
  return ms >= 1000 ? (ms / 1000).toFixed(2) + " s" : +ms.toPrecision(3) + " ms";
}

// ---- the tree ---------------------------------------------------------------------
// A node: k its key (a label index, -1 - thread for a thread's root with per_thread, null
// for the root of all), t its total and s its self samples, p its parent, d its depth,
// kids its callees (sorted largest first once built), b (DIFF) the baseline's node at the
// same label path. Most nodes have a few callees, found fastest by a scan; a node with
// many gets a Map too (m). (A Map per node is 3-4 times slower for 500,000 nodes.)
const SCAN = 16;

function newNode(k, p) {
  return {k, t: 0, s: 0, p, d: p ? p.d + 1 : 0, kids: null, m: null, b: null, x: 0,
          delta: 0};
}

function find(p, k) {
  if (p.m !== null) return p.m.get(k);
  const kids = p.kids;
  if (kids !== null) for (let j = 0; j < kids.length; j++) if (kids[j].k === k) return kids[j];
  return undefined;
}

function child(p, k, list) {
  let c = find(p, k);
  if (c === undefined) {
    c = newNode(k, p);
    list.push(c);
    if (p.kids === null) p.kids = [];
    p.kids.push(c);
    if (p.m !== null) p.m.set(k, c);
    else if (p.kids.length === SCAN) p.m = new Map(p.kids.map((q) => [q.k, q]));
  }
  return c;
}

// The merged tree of the selected thread's samples; list gets its nodes, parents first.
function build(samples, list) {
  const root = newNode(null, null);
  list.push(root);
  for (const smp of samples) {
    if (thread >= 0 && smp[0] !== thread) continue;
    const n = smp[1];
    let cur = root;
    cur.t += n;
    if (D.per_thread) {
      cur = child(cur, -1 - smp[0], list);
      cur.t += n;
    }
    for (let i = 2; i < smp.length; i++) {
      cur = child(cur, smp[i], list);
      cur.t += n;
    }
    cur.s += n;
  }
  return root;
}

function select(t) {
  thread = t;
  nodes = [];
  tree = build(D.samples, nodes);
  // left-heavy: largest first; equal ones by key, so that a page always looks the same
  for (const n of nodes) {
    if (n.kids && n.kids.length > 1) n.kids.sort((x, y) => y.t - x.t || x.k - y.k);
  }
  if (DIFF) {
    base = build(D.base.samples, []);
    maxDelta = 0;
    for (const n of nodes) {   // parents first, so a parent's match is known
      n.b = n.p === null ? base : (n.p.b && find(n.p.b, n.k)) || null;
      n.delta = share(n.s, tree.t) - share(n.b ? n.b.s : 0, base.t);
      maxDelta = Math.max(maxDelta, Math.abs(n.delta));
    }
  }
  zoom = null;
  legend();
}

// ---- what a node shows --------------------------------------------------------------
function threadName() {
  return thread < 0 ? "all threads" : D.threads[thread];
}

function label(n) {
  if (n.k === null) return threadName() + ": " + fmt(n.t) + " samples, " + dur(n.t, D.interval_ms);
  return n.k < 0 ? D.threads[-1 - n.k] : D.labels[n.k];
}

function color(n) {
  const frame = n.k !== null && n.k >= 0;
  if (hit && frame && hit[n.k]) return "rgb(230,60,230)";
  if (DIFF) {
    // red grew, blue shrank; saturation in proportion to the change, grey for none
    const r = maxDelta > 0 ? Math.abs(n.delta) / maxDelta : 0;
    return "hsl(" + (n.delta >= 0 ? 0 : 220) + "," + Math.round(90 * r) + "%," +
      Math.round(90 - 28 * r) + "%)";
  }
  if (!frame) return "rgb(200,200,215)";
  let c = colors[n.k];
  if (c === undefined) {
    if (!D.files[n.k]) {
      c = "rgb(190,190,190)";        // a pseudo-frame: <truncated>, <freed code>, ...
    } else {
      // warm colours, the same for every line of a function (FNV-1a of its name)
      const s = D.labels[n.k], end = s.lastIndexOf(" (");
      let h = 2166136261;
      for (let i = 0; i < (end < 0 ? s.length : end); i++) {
        h = Math.imul(h ^ s.charCodeAt(i), 16777619);
      }
      h >>>= 0;
      c = "hsl(" + (h % 50) + "," + (60 + (h >>> 8) % 30) + "%," + (58 + (h >>> 16) % 14) + "%)";
    }
    colors[n.k] = c;
  }
  return c;
}

// The samples whose stack holds a matching frame, each counted once: the totals of the
// matching nodes that have no matching caller.
function matchedShare() {
  let m = 0;
  const st = [tree];
  while (st.length) {
    const n = st.pop();
    if (n.k !== null && n.k >= 0 && hit[n.k]) m += n.t;
    else if (n.kids) for (const c of n.kids) st.push(c);
  }
  return share(m, tree.t);
}

function setSearch(q) {
  q = q.toLowerCase();
  hit = null;
  if (!q) return;
  if (!lower) lower = D.labels.map((s) => s.toLowerCase());
  hit = new Uint8Array(lower.length);
  for (let i = 0; i < lower.length; i++) if (lower[i].includes(q)) hit[i] = 1;
}

// ---- drawing ------------------------------------------------------------------------
function render() {
  const t0 = performance.now();
  const W = graph.clientWidth;
  const z = zoom || tree;
  const frag = document.createDocumentFragment();
  let count = 0, depth = 0;
  const box = (n, x, w, cls) => {
    const e = document.createElement("div");
    e.className = cls + (w >= 3 ? " e" : "") + (w < TEXT_W ? " n" : "");
    e.style.cssText = "left:" + x + "px;width:" + w + "px;top:" + n.d * ROW +
      "px;background:" + color(n);
    if (w >= TEXT_W) e.textContent = label(n);
    e.n = n;
    frag.appendChild(e);
    count++;
    if (n.d > depth) depth = n.d;
  };
  for (let a = z.p; a; a = a.p) box(a, 0, W, "a");   // the callers of the zoomed frame
  const scale = z.t > 0 ? W / z.t : 0;
  z.x = 0;
  const st = [z];
  while (st.length) {
    const n = st.pop();
    box(n, n.x, n === z ? W : n.t * scale, "");
    if (!n.kids) continue;
    let x = n.x;
    for (const c of n.kids) {
      const w = c.t * scale;
      if (w < MIN_W) break;            // sorted largest first: the rest are narrower
      c.x = x;
      x += w;
      st.push(c);
    }
  }
  graph.textContent = "";
  graph.style.height = (depth + 1) * ROW + "px";
  graph.appendChild(frag);
  resetB.disabled = zoom === null;
  matchedEl.textContent = hit ? "Matched: " + pct(matchedShare()) : "";
  if (tipNode) hideTip();
  // for tests and the curious: what the last drawing cost
  window.spprofFlame = {drawn: count, renderMs: performance.now() - t0,
                        startMs: window.spprofFlame ? window.spprofFlame.startMs : null};
}

function inside(n, z) {
  for (let a = n; a; a = a.p) if (a === z) return true;
  return false;
}

function showTip(n, cx, cy) {
  if (n !== tipNode) {
    tipNode = n;
    const lines = [[label(n), "l"]];
    if (n.k !== null && n.k >= 0 && D.files[n.k]) lines.push([D.files[n.k]]);
    const inZoom = zoom !== null && inside(n, zoom);
    const of = (v) => pct(share(v, tree.t)) + " of all" +
      (inZoom ? ", " + pct(share(v, zoom.t)) + " of the zoomed frame" : "");
    lines.push(["total: " + fmt(n.t) + " samples, " + dur(n.t, D.interval_ms) + ", " + of(n.t)]);
    lines.push(["self: " + fmt(n.s) + " samples, " + dur(n.s, D.interval_ms) + ", " + of(n.s)]);
    if (DIFF) {
      const b = n.b;
      if (b) {
        lines.push(["self share: before " + pct(share(b.s, base.t)) + ", after " +
          pct(share(n.s, tree.t)) + " (" + (n.delta >= 0 ? "+" : "") +
          (100 * n.delta).toFixed(1) + ")"]);
        lines.push(["total share: before " + pct(share(b.t, base.t)) + ", after " +
          pct(share(n.t, tree.t))]);
      } else {
        lines.push(["self share: before 0.0 % (not in the baseline), after " +
          pct(share(n.s, tree.t))]);
      }
    }
    tip.textContent = "";
    for (const [text, cls] of lines) {
      const d = document.createElement("div");
      d.textContent = text;
      if (cls) d.className = cls;
      tip.appendChild(d);
    }
    tip.hidden = false;
  }
  const r = tip.getBoundingClientRect();
  let x = cx + 14, y = cy + 14;
  if (x + r.width > innerWidth) x = Math.max(0, cx - 14 - r.width);
  if (y + r.height > innerHeight) y = Math.max(0, cy - 14 - r.height);
  tip.style.left = x + "px";
  tip.style.top = y + "px";
}

function hideTip() {
  tipNode = null;
  tip.hidden = true;
}

// ---- the header ---------------------------------------------------------------------
function header() {
  const total = D.samples.reduce((a, s) => a + s[1], 0);
  const what = D.mode === "wall" ? "wall-clock" : "CPU";
  let t = "spprof " + (DIFF ? "differential " : "") + what + " flame graph: " + fmt(total) +
    " samples at " + D.interval_ms + " ms, " + dur(total, D.interval_ms) + " of " + what +
    " time";
  if (DIFF) {
    const bt = D.base.samples.reduce((a, s) => a + s[1], 0);
    t += " (before: " + fmt(bt) + " samples at " + D.base.interval_ms + " ms, " +
      dur(bt, D.base.interval_ms) + ")";
  }
  if (!D.lineno) t += ", lines merged";
  byId("title").textContent = t;
  document.title = t;
  const per = new Array(D.nthreads).fill(0);
  for (const s of D.samples) per[s[0]] += s[1];
  const opt = (v, text) => {
    const o = document.createElement("option");
    o.value = v;
    o.textContent = text;
    pick.appendChild(o);
  };
  opt(-1, "all threads (" + fmt(total) + " samples)");
  for (let i = 0; i < D.nthreads; i++) opt(i, D.threads[i] + " (" + fmt(per[i]) + " samples)");
}

function legend() {
  if (!DIFF) return;
  const el = byId("legend");
  const sw = (c) => {
    const s = document.createElement("span");
    s.className = "swatch";
    s.style.background = c;
    return s;
  };
  el.textContent = "";
  el.append("Colour: the change of a frame's self share (its self samples / all samples) " +
    "from before to after: ", sw("hsl(0,90%,62%)"), " grew, ", sw("hsl(220,90%,62%)"),
    " shrank, ", sw("hsl(0,0%,90%)"), " unchanged; full colour is a change of " +
    (100 * maxDelta).toFixed(1) + " points, the largest. Frames are matched by their " +
    "path from the root; a frame only in the baseline is not drawn.");
  el.hidden = false;
}

// ---- events -------------------------------------------------------------------------
graph.addEventListener("click", (e) => {
  const n = e.target.n;
  if (!n) return;
  zoom = n === tree ? null : n;
  render();
});
graph.addEventListener("mousemove", (e) => {
  const n = e.target.n;
  if (n) showTip(n, e.clientX, e.clientY);
  else hideTip();
});
graph.addEventListener("mouseleave", hideTip);
resetB.addEventListener("click", () => {
  zoom = null;
  render();
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && zoom) {
    zoom = null;
    render();
  }
});
search.addEventListener("input", () => {
  setSearch(search.value);
  render();
});
pick.addEventListener("change", () => {
  select(+pick.value);
  render();
});
let raf = 0;
addEventListener("resize", () => {
  if (!raf) raf = requestAnimationFrame(() => {
    raf = 0;
    render();
  });
});

header();
select(-1);
render();
window.spprofFlame.startMs = performance.now() - T0;
})();
