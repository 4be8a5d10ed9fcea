"""fuzz/corpus.sh, the file rules of `make fuzz-seeds` and `make fuzz-merge`: named corpus
files (cited by docs/ and mutants.txt, some over 64 KiB) survive every merge under their
names, hash-named files are replaced, and no input is kept twice."""
import hashlib
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "fuzz" / "corpus.sh"


def sha1(data):
    return hashlib.sha1(data).hexdigest()


def put(d, name, data):
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def corpus_sh(*args):
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=60)


def listing(d):
    return {p.name: p.read_bytes() for p in d.iterdir()}


def test_fold_keeps_named_files_and_replaces_hash_named_ones(tmp_path):
    corpus, merged = tmp_path / "corpus", tmp_path / "merged"
    big = b"R" * 70000                      # a real capture cut down, over 64 KiB
    put(corpus, "real-gcore-3.13-x86_64", big)
    put(corpus, "short-header-23", b"short")
    put(corpus, sha1(b"old"), b"old")       # an earlier merge's: not in this one
    put(merged, sha1(b"new"), b"new")
    put(merged, sha1(b"short"), b"short")   # a named file's bytes, kept by the merge
    put(merged, "a-name-libfuzzer-never-gives", b"renamed")
    put(merged, sha1(b"B" * 70000), b"B" * 70000)  # too large to commit
    r = corpus_sh("fold", merged, corpus)
    assert r.returncode == 0, r.stderr
    assert listing(corpus) == {
        "real-gcore-3.13-x86_64": big,
        "short-header-23": b"short",
        sha1(b"new"): b"new",
        sha1(b"renamed"): b"renamed",
    }


def test_dedupe_drops_hash_twins_of_named_seeds_only(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    put(a, "real-3.13t-x86_64", b"blob")
    put(a, sha1(b"blob"), b"blob")          # the same seed, kept by a merge before
    put(a, sha1(b"other"), b"other")
    put(b, "synth-3.14t", b"snap")
    put(b, sha1(b"snap"), b"snap")
    r = corpus_sh("dedupe", a, b)
    assert r.returncode == 0, r.stderr
    assert listing(a) == {"real-3.13t-x86_64": b"blob", sha1(b"other"): b"other"}
    assert listing(b) == {"synth-3.14t": b"snap"}


def test_bad_use_is_an_error(tmp_path):
    r = corpus_sh("fold", tmp_path / "missing", tmp_path / "corpus")
    assert r.returncode == 2 and "no such folder" in r.stderr
    r = corpus_sh("merge")
    assert r.returncode == 2 and "usage" in r.stderr
