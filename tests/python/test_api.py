"""Profiler context manager, @profile decorator, Profile records and output formats."""
import json
import os

import spprof
from spprof import Frame, Profile, StackRecord
from conftest import spin


def busy_function():
    return spin(0.2)


def test_profiler_context_manager():
    with spprof.Profiler(interval_ms=2) as prof:
        assert spprof.is_active()
        busy_function()
    assert not spprof.is_active()
    p = prof.profile
    assert isinstance(p, Profile) and p.interval_ms == 2
    assert "busy_function" in p.functions(inclusive=True)
    for r in p.stacks:
        assert isinstance(r, StackRecord)
        assert all(isinstance(f, Frame) for f in r.frames)
        assert isinstance(r.count, int) and r.count > 0


def test_profile_decorator_saves(tmp_path):
    out = tmp_path / "decorated.json"

    @spprof.profile(output_path=str(out), interval_ms=1)
    def decorated():
        return busy_function() > 0

    assert decorated() is True
    assert not spprof.is_active()
    doc = json.loads(out.read_text())
    names = {f["name"] for f in doc["shared"]["frames"]}
    assert "test_profile_decorator_saves.<locals>.decorated" in names
    assert decorated.last_profile.total_samples > 0


def test_save_speedscope_and_collapsed(tmp_path):
    spprof.start(interval_ms=1)
    busy_function()
    p = spprof.stop()
    js = tmp_path / "p.json"
    p.save(js)
    doc = json.loads(js.read_text())
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    nframes = len(doc["shared"]["frames"])
    total = 0.0
    for prof in doc["profiles"]:
        assert prof["type"] == "sampled" and prof["unit"] == "milliseconds"
        assert len(prof["samples"]) == len(prof["weights"])
        for s in prof["samples"]:
            assert all(0 <= i < nframes for i in s)
        total += sum(prof["weights"])
    assert abs(total - p.total_samples * p.interval_ms) < 1e-6
    # root first in speedscope: the leaf of the hottest stack is last
    hottest = p.stacks[0]
    first = doc["profiles"][0]
    for c in (".txt", ".collapsed"):
        path = tmp_path / ("p" + c)
        p.save(path)
        lines = path.read_text().splitlines()
        assert lines and sum(int(l.rsplit(" ", 1)[1]) for l in lines) == p.total_samples
        assert any("busy_function" in l for l in lines)
        assert all(l.startswith("thread ") for l in lines)
    assert hottest.count > 0 and first["samples"]
    try:
        p.save(tmp_path / "p.bin")
    except ValueError:
        pass
    else:
        raise AssertionError("unknown extension accepted")


def test_speedscope_file_follows_speedscopes_own_schema(tmp_path):
    """The JSON must satisfy the schema speedscope itself publishes (fetched from its npm
    package by `make pythons`), not just our reading of it."""
    import fastjsonschema

    cache = os.environ.get("SPPROF_CACHE", os.path.expanduser("~/.cache/spprof"))
    path = os.path.join(cache, "speedscope-1.22.2", "file-format-schema.json")
    assert os.path.exists(path), f"{path} is missing: run `make pythons`"
    with open(path, encoding="utf-8") as f:
        validate = fastjsonschema.compile(json.load(f))
    spprof.start(interval_ms=1)
    busy_function()
    p = spprof.stop()
    p.save(tmp_path / "p.json")
    doc = json.loads((tmp_path / "p.json").read_text())
    validate(doc)  # raises JsonSchemaException naming the offending field
    # and the schema does not accept everything: a sample that is not a list of indices fails
    doc["profiles"][0]["samples"][0] = "not a stack"
    try:
        validate(doc)
    except fastjsonschema.JsonSchemaException:
        pass
    else:
        raise AssertionError("schema accepted a malformed sample")
