#!/usr/bin/env python3
"""fuzz/mutants.py — the mutation campaign (`make fuzz-mutants`, docs/fuzzing.md).

Every mutant in fuzz/mutants.txt is a small change to one check in core/. Each is applied
to a scratch copy of the tree and must be *killed* by one of the stages below, cheapest
first, stopping at the first that fails:

  unit     make unit-gcc (the cmocka unit tests)
  corpus   build/bin/spwalk verify of every corpus/snapshots/*/snapshot.spw (replay against
           the expected output stored in it)
  regress  make fuzz-regress (ASan+UBSan replay of the corpora and regressions) of the
           targets that reach the mutated file
  fuzz     libFuzzer (fuzz/run.sh) on each of those targets for --fuzz-seconds, from a
           scratch copy of the committed corpus

A mutant that survives every stage must be listed with `equivalent: <reason>` (no
behaviour can tell it apart); any other survivor fails the campaign. So does a mutant whose
text is not found exactly once (the code changed under it: update the entry), one that does
not compile (an error in the list, not a kill), one listed as equivalent that is killed, and
an unmutated tree that fails a stage (nothing could be learned from the kills).

The scratch tree is synced from this checkout (tracked and untracked, not ignored files)
and kept between runs, so its build directory stays warm. Applying a mutant to a header
keeps the header's old timestamp and touches the sources that include it instead: make then
rebuilds what the mutant can change, not every object of every variant.

Python 3 standard library only.
"""
import argparse
import datetime
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LIST = os.path.join(HERE, "mutants.txt")
JOBS = "-j2"  # the machines are small and shared: never more

# Fuzz targets that reach each core file's code (stage `regress` and `fuzz`). A mutant can
# name its own with `targets:`. Targets missing from the tree are dropped.
TARGETS = {
    "core/spw.h": ["walk", "walk_snapshot", "threads", "symbolize", "names"],
    "core/walk_body.h": ["walk", "walk_snapshot"],
    "core/walk.c": ["walk", "walk_snapshot"],
    "core/layout.c": ["layout", "walk_snapshot"],
    "core/linetable.c": ["symbolize", "walk_snapshot"],
    "core/symbolize.c": ["symbolize", "walk_snapshot"],
    "core/unicode.c": ["symbolize", "walk_snapshot", "names"],
    "core/snapshot.c": ["snapshot_decode", "walk_snapshot"],
    "core/image.c": ["snapshot_decode", "walk_snapshot"],
    "core/threads.c": ["threads"],
    "core/dict.c": ["names"],
    "core/thread_names.c": ["names"],
    "core/elfcore.c": ["core_file"],
}
STAGES = ("unit", "corpus", "regress", "fuzz")


class ListError(Exception):
    pass


def unescape(s):
    """`find:`/`replace:` values: \\n is a newline, \\\\ a backslash, \\s a space (for a
    value that must start or end with one)."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in "n\\s":
            out.append({"n": "\n", "\\": "\\", "s": " "}[s[i + 1]])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_list(path):
    """Entries are blocks of `key: value` lines separated by blank lines; `#` starts a
    comment line. Keys: name, file, find, replace (may be empty), equivalent, open (a
    survivor still under investigation: what is known so far), targets."""
    mutants, cur, seen = [], None, set()
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for no, line in enumerate(lines + [""], 1):
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                for k in ("name", "file", "find", "replace"):
                    if k not in cur:
                        raise ListError(f"{path}:{cur['line']}: entry without `{k}:`")
                if cur["name"] in seen:
                    raise ListError(f"{path}:{cur['line']}: duplicate name {cur['name']}")
                seen.add(cur["name"])
                mutants.append(cur)
                cur = None
            continue
        m = re.match(r"^(name|file|find|replace|equivalent|open|targets):(?: (.*))?$", line)
        if not m:
            raise ListError(f"{path}:{no}: not `key: value`: {line!r}")
        key, val = m.group(1), m.group(2) or ""
        if cur is None:
            cur = {"line": no}
        if key in ("find", "replace"):
            val = unescape(val)
        if key == "targets":
            val = val.split()
        cur[key] = val
    return mutants


def run(cmd, cwd, timeout, log):
    """Run cmd (a shell string) in cwd; returns (rc, seconds); output appended to log. A
    timeout is rc 124, as timeout(1) gives."""
    t0 = time.monotonic()
    with open(log, "a") as lf:
        lf.write(f"\n$ {cmd}\n")
        lf.flush()
        p = subprocess.Popen(cmd, shell=True, cwd=cwd, stdout=lf, stderr=subprocess.STDOUT,
                             start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)  # its own process group: the stage and what it started
            p.wait()
            rc = 124
            lf.write(f"\n[timed out after {timeout} s]\n")
        except BaseException:  # the campaign itself was stopped: so is the stage
            os.killpg(p.pid, 9)
            p.wait()
            raise
    return rc, time.monotonic() - t0


def tail_match(log, pattern):
    """The last line of the log matching pattern (what a stage says failed), or ''."""
    last = ""
    try:
        with open(log, errors="replace") as f:
            for line in f:
                if re.search(pattern, line):
                    last = line.strip()
    except OSError:
        pass
    return last


# --- the scratch tree -------------------------------------------------------------------
def source_files():
    out = subprocess.run(["git", "-C", REPO, "ls-files", "-co", "--exclude-standard", "-z"],
                         check=True, capture_output=True).stdout.decode()
    return sorted(f for f in out.split("\0")
                  if f and not f.startswith("build/") and os.path.isfile(os.path.join(REPO, f)))


def sync_tree(scratch):
    """Make scratch's sources equal this checkout's, rewriting only the files that differ
    (their timestamps are what keeps its build directory valid)."""
    files = source_files()
    wanted = set(files)
    changed = 0
    for rel in files:
        src, dst = os.path.join(REPO, rel), os.path.join(scratch, rel)
        with open(src, "rb") as f:
            data = f.read()
        try:
            with open(dst, "rb") as f:
                same = f.read() == data
        except OSError:
            same = False
        if not same:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(dst, "wb") as f:
                f.write(data)
            shutil.copymode(src, dst)
            changed += 1
    for root, dirs, names in os.walk(scratch):
        rel_root = os.path.relpath(root, scratch)
        if rel_root == "build" or rel_root.startswith("build" + os.sep):
            dirs[:] = []
            continue
        for n in names:
            rel = os.path.normpath(os.path.join(rel_root, n))
            if rel not in wanted:
                os.unlink(os.path.join(root, n))
    return changed


def includers(scratch, header):
    """Every C source in the tree that includes `header` (a basename), directly or through
    other headers."""
    srcs = []
    for d in ("core", "fuzz", "tests/unit", "tests/unit/support", "harness", "bench"):
        p = os.path.join(scratch, d)
        if os.path.isdir(p):
            srcs += [os.path.join(d, n) for n in os.listdir(p) if n.endswith((".c", ".h"))]
    incs = {}
    for s in srcs:
        with open(os.path.join(scratch, s), errors="replace") as f:
            incs[s] = set(re.findall(r'#include "([^"]+)"', f.read()))
    closure, grew = {header}, True
    while grew:
        grew = False
        for s, inc in incs.items():
            b = os.path.basename(s)
            if b not in closure and inc & closure:
                closure.add(b)
                grew = True
    return [s for s, inc in incs.items() if s.endswith(".c") and inc & closure]


def object_digest(scratch):
    """Hash of the gcc build's core objects without their debug sections: a mutant that
    leaves it unchanged compiled to the same code."""
    h = hashlib.sha256()
    objdir = os.path.join(scratch, "build/gcc/core")
    tmp = os.path.join(scratch, "build/mutants-strip.o")
    for n in sorted(os.listdir(objdir)):
        if not n.endswith(".o"):
            continue
        subprocess.run(["objcopy", "--strip-debug", os.path.join(objdir, n), tmp], check=True)
        with open(tmp, "rb") as f:
            h.update(n.encode() + b"\0" + hashlib.sha256(f.read()).digest())
    return h.hexdigest()


class Mutation:
    """A mutant applied to the scratch tree; reverting restores the bytes and marks what
    was rebuilt from the mutant as out of date."""

    def __init__(self, scratch, mutant):
        self.path = os.path.join(scratch, mutant["file"])
        self.rel = mutant["file"]
        self.scratch = scratch
        with open(self.path, encoding="utf-8") as f:
            self.original = f.read()
        n = self.original.count(mutant["find"])
        if n != 1:
            raise ListError(f"{mutant['name']}: `find:` text occurs {n} times in {self.rel} "
                            "(must be exactly once)")
        self.mutated = self.original.replace(mutant["find"], mutant["replace"])
        self.stat = os.stat(self.path)
        self.header = self.rel.endswith(".h")
        self.deps = includers(scratch, os.path.basename(self.rel)) if self.header else []

    def _write(self, text):
        with open(self.path, "w", encoding="utf-8") as f:
            f.write(text)
        now = time.time()
        if self.header:
            # The header keeps its old time; what includes it is touched instead.
            os.utime(self.path, ns=(self.stat.st_atime_ns, self.stat.st_mtime_ns))
            for d in self.deps:
                os.utime(os.path.join(self.scratch, d), (now, now))
        else:
            os.utime(self.path, (now, now))

    def apply(self):
        self._write(self.mutated)

    def revert(self):
        self._write(self.original)


# --- stages -----------------------------------------------------------------------------
def build(scratch, what, log, timeout=1800):
    return run(f"make {JOBS} --no-print-directory {what}", scratch, timeout, log)


def stage_unit(scratch, ctx, log):
    # A mutant that makes a loop endless hangs its test: 300 s is ten times what the suite
    # takes with its rebuild on a loaded 2-core machine, and that hang is a kill.
    rc, _ = run(f"make {JOBS} --no-print-directory unit-gcc", scratch, 300, log)
    if rc == 0:
        return None
    m = re.search(r"FAIL +gcc +(\S+)", tail_match(log, r"FAIL +gcc"))
    return "timeout" if rc == 124 else (m.group(1) if m else f"rc {rc}")


def stage_corpus(scratch, ctx, log):
    snaps = sorted(os.path.join(root, "snapshot.spw")
                   for root, _, names in os.walk(os.path.join(scratch, "corpus/snapshots"))
                   if "snapshot.spw" in names)
    for s in snaps:
        rc, _ = run(f"build/bin/spwalk verify {s}", scratch, 120, log)
        if rc != 0:
            return os.path.basename(os.path.dirname(s)) + (" (timeout)" if rc == 124 else "")
    return None


def stage_regress(scratch, ctx, log):
    t = " ".join(ctx["targets"])
    rc, _ = run(f"make {JOBS} --no-print-directory fuzz-regress FZ_REGRESS_TARGETS='{t}'",
                scratch, 900, log)
    if rc == 0:
        return None
    what = tail_match(log, r"FAIL +fuzz-regress")
    return "timeout" if rc == 124 else (what.split()[-1] if what else f"rc {rc}")


def stage_fuzz(scratch, ctx, log):
    if ctx["seconds"] <= 0:  # --fuzz-seconds 0: the deterministic stages only
        return None
    for t in ctx["targets"]:
        rc, _ = build(scratch, f"build/fuzz/lf/fuzz_{t}", log)
        if rc != 0:
            raise ListError(f"{ctx['name']}: the libFuzzer build of {t} failed (see {log})")
        rc, _ = run(f"fuzz/run.sh lf {t} build/fuzz {ctx['seconds']}", scratch,
                    ctx["seconds"] + 120, log)
        if rc == 1 or rc == 124:
            return t
        if rc != 0:
            raise ListError(f"{ctx['name']}: fuzz/run.sh lf {t} could not run (see {log})")
    return None


STAGE_FN = {"unit": stage_unit, "corpus": stage_corpus, "regress": stage_regress,
            "fuzz": stage_fuzz}


def targets_of(scratch, mutant):
    ts = mutant.get("targets") or TARGETS.get(mutant["file"], [])
    return [t for t in ts if os.path.exists(os.path.join(scratch, f"fuzz/fuzz_{t}.c"))]


def baseline(scratch, logdir, all_targets):
    """Build everything once and check the unmutated tree passes stages 1-3."""
    log = os.path.join(logdir, "baseline.log")
    open(log, "w").close()
    reg = " ".join(f"build/fuzz/replay/fuzz_{t}" for t in all_targets)
    rc, secs = build(scratch, f"build/gcc/libspwcore.a build/bin/spwalk {reg}", log)
    if rc != 0:
        sys.exit(f"mutants: the unmutated tree does not build (see {log})")
    ctx = {"targets": all_targets, "name": "baseline"}
    for st in ("unit", "corpus", "regress"):
        what = STAGE_FN[st](scratch, ctx, log)
        if what:
            sys.exit(f"mutants: the unmutated tree fails stage {st} ({what}; see {log})")
    return object_digest(scratch)


def pick(mutants, only, sample, day):
    if only:
        names = only.split(",")
        unknown = [n for n in names if n not in {m["name"] for m in mutants}]
        if unknown:
            sys.exit(f"mutants: no such mutant: {', '.join(unknown)}")
        return [m for m in mutants if m["name"] in names]
    # The sample leaves out the open survivors: they would only survive again.
    mutants = [m for m in mutants if not (sample and "open" in m)]
    if sample and sample < len(mutants):
        # A rotating window over the list: run k of a day covers entries k*N..k*N+N-1
        # (wrapping), so successive days cover different ones and all of them in turn.
        start = (day * sample) % len(mutants)
        return [mutants[(start + i) % len(mutants)] for i in range(sample)]
    return mutants


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", default=LIST)
    ap.add_argument("--scratch", default=os.environ.get("MUTANT_DIR") or
                    f"/tmp/spprof-mutants-{os.getuid()}")
    ap.add_argument("--only", help="comma-separated mutant names")
    ap.add_argument("--sample", type=int, help="run N mutants, a window that rotates daily")
    ap.add_argument("--day", type=int, help="the rotation's day (default: days since 2000)")
    ap.add_argument("--fuzz-seconds", type=int, default=30,
                    help="libFuzzer time a target in the last stage (0: no fuzz stage)")
    ap.add_argument("--check", action="store_true",
                    help="only check that every entry applies exactly once")
    args = ap.parse_args()

    # A kill of the campaign still reverts the mutant in hand (the finally below); the
    # next run's sync would repair the scratch tree anyway.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        mutants = parse_list(args.list)
    except ListError as e:
        sys.exit(f"mutants: {e}")
    if args.check:
        bad = 0
        for m in mutants:
            with open(os.path.join(REPO, m["file"]), encoding="utf-8") as f:
                n = f.read().count(m["find"])
            if n != 1:
                print(f"  {m['name']}: found {n} times in {m['file']}")
                bad += 1
        print(f"mutants: {len(mutants)} entries, {bad} that do not apply exactly once")
        return 1 if bad else 0
    day = args.day if args.day is not None else (datetime.date.today() -
                                                 datetime.date(2000, 1, 1)).days
    chosen = pick(mutants, args.only, args.sample, day)

    scratch = os.path.abspath(args.scratch)
    os.makedirs(scratch, exist_ok=True)
    logdir = os.path.join(scratch, "build/mutants")
    t_start = time.monotonic()
    changed = sync_tree(scratch)
    os.makedirs(logdir, exist_ok=True)
    all_targets = sorted({t for m in chosen for t in targets_of(scratch, m)})
    print(f"mutants: {len(chosen)} of {len(mutants)} from {os.path.relpath(args.list, REPO)}"
          f"{f' (sample of {args.sample}, day {day})' if args.sample else ''}; scratch tree "
          f"{scratch} ({changed} files synced); fuzz stage {args.fuzz_seconds} s a target")
    t0 = time.monotonic()
    base_digest = baseline(scratch, logdir, all_targets)
    print(f"  baseline: builds and passes unit, corpus, regress ({time.monotonic() - t0:.0f} s)")

    rows, errors = [], []
    print(f"\n  {'mutant':34} {'file':18} {'killed by':34} {'s':>5}")
    for m in chosen:
        t0 = time.monotonic()
        log = os.path.join(logdir, m["name"] + ".log")
        open(log, "w").close()
        ctx = {"targets": targets_of(scratch, m), "name": m["name"],
               "seconds": args.fuzz_seconds}
        verdict, by = None, ""
        try:
            mut = Mutation(scratch, m)
            mut.apply()
            try:
                rc, _ = build(scratch, "build/gcc/libspwcore.a build/bin/spwalk", log)
                if rc != 0:
                    raise ListError(f"{m['name']}: the mutant does not build (see {log})")
                # Same core objects: a .c mutant cannot change behaviour. A header's can
                # still change the tests that inline it, so those run anyway.
                same = object_digest(scratch) == base_digest
                if same and not mut.header:
                    verdict, by = "same-object", "- (compiles to the same object code)"
                else:
                    for st in STAGES:
                        what = STAGE_FN[st](scratch, ctx, log)
                        if what:
                            verdict, by = "killed", f"{st}: {what}"
                            break
                    else:
                        verdict, by = ("same-object", "- (same core objects)") if same \
                            else ("survived", "-")
            finally:
                mut.revert()
        except ListError as e:
            errors.append(str(e))
            verdict, by = "error", "ERROR (see below)"
        secs = time.monotonic() - t0
        eq = m.get("equivalent")
        if verdict in ("survived", "same-object") and m.get("open"):
            verdict, by = "open", f"open: {m['open']}"
        elif verdict in ("survived", "same-object") and eq:
            by = f"equivalent: {eq}" if verdict == "survived" else by + " [equivalent]"
            verdict = "equivalent"
        elif verdict == "killed" and eq:
            errors.append(f"{m['name']}: listed as equivalent but killed by {by}: "
                          "drop the `equivalent:` line")
        rows.append((m, verdict, by, secs))
        print(f"  {m['name']:34} {m['file'][5:]:18} {by[:80]:34} {secs:5.0f}", flush=True)

    total = time.monotonic() - t_start
    counts = {}
    for _, v, by, _ in rows:
        key = by.split(":")[0] if v == "killed" else v
        counts[key] = counts.get(key, 0) + 1
    surv = [m["name"] for m, v, _, _ in rows if v in ("survived", "same-object", "open")]
    print(f"\nmutants: {len(rows)} run in {total:.0f} s: " +
          ", ".join(f"{k} {counts[k]}" for k in
                    ("unit", "corpus", "regress", "fuzz", "equivalent", "open", "survived",
                     "same-object", "error") if k in counts))
    for e in errors:
        print(f"  error: {e}")
    if surv:
        print(f"  SURVIVED (not listed as equivalent): {', '.join(surv)}")
        print(f"  logs: {logdir}/<name>.log")
    return 1 if surv or errors else 0


if __name__ == "__main__":
    sys.exit(main())
