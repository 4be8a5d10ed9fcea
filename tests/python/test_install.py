"""`pip install` of the repository, as a user does it: a clean copy of the tree (the files
git tracks, and the new ones it does not ignore) into a fresh venv, offline (the build
backend, setuptools, comes from $SPPROF_CACHE/wheels), then the installed commands, entry
points and files are checked. A copy with a C syntax error must fail to install.

The slowest tests of the suite: a full build of the extension and spwalk (15-25 s on two
cores) and a failing one, 30-45 s in all per interpreter (`make python-test` runs this
file with each of python3.13t and python3.13)."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time

import pytest

from conftest import FREE_THREADED, QEMU, QEMU_NO_EXEC, ROOT

pytestmark = pytest.mark.skipif(QEMU, reason=QEMU_NO_EXEC)

CACHE = os.environ.get("SPPROF_CACHE") or os.path.expanduser("~/.cache/spprof")
WHEELS = os.path.join(CACHE, "wheels")
#: The build backend pyproject.toml names, for pip's isolated build environment; pinned, in
#: step with ci/bootstrap.sh. (setuptools >= 70.1 builds wheels itself: no `wheel` needed.)
BUILD_WHEELS = ("setuptools==84.2.1",)


def download_command(specs) -> str:
    return (f"python3 -m pip download --no-deps --only-binary=:all: -d {WHEELS} "
            + " ".join(specs))


def ensure_wheels(*specs: str) -> str:
    """$SPPROF_CACHE/wheels with the wheels of ``specs`` (name==version), downloaded once
    if missing (ci/bootstrap.sh fetches them); skips, or fails under CI, if they cannot be."""
    missing = [s for s in specs if not glob.glob(os.path.join(
        WHEELS, "{}-{}-*.whl".format(re.sub(r"[-_.]+", "_", s.split("==")[0]).lower(),
                                     s.split("==")[1])))]
    if missing:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            "--only-binary=:all:", "-d", WHEELS, *missing],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            msg = (f"the wheels {missing} are not in {WHEELS} and could not be downloaded "
                   f"({r.stderr.strip()[-300:]}); fetch them with: "
                   f"{download_command(missing)}")
            if os.environ.get("CI"):
                pytest.fail(msg + " (CI is set: a missing prerequisite is a failure)")
            pytest.skip(msg)
    return WHEELS


def tree_files():
    """The repository's files as a clone would have them, plus new files not yet added."""
    r = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
                        "--exclude-standard"], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout: {r.stderr.decode(errors='replace')}")
    names = [os.fsdecode(n) for n in r.stdout.split(b"\0") if n]
    return [n for n in names if os.path.isfile(os.path.join(ROOT, n))]  # not deleted ones


def copy_tree(dest, files):
    for name in files:
        os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, name), os.path.join(dest, name))
    return dest


def make_venv(path):
    """A venv that sees this interpreter's site-packages (pip and pytest from there, so no
    ensurepip run) but not the source tree: the env below drops PYTHONPATH."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages",
                    path], check=True, timeout=120)
    return path


def venv_env(venv):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = venv
    return env


def run(venv, args, cwd=None, timeout=120):
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=venv_env(venv))


def pip_install(venv, src):
    wheels = ensure_wheels(*BUILD_WHEELS)
    return run(venv, [os.path.join(venv, "bin", "python"), "-m", "pip", "install",
                      "--no-index", "--find-links", wheels, src], timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv, source copy, package files of the copy): spprof pip-installed from the copy."""
    base = tmp_path_factory.mktemp("install")
    files = tree_files()
    src = copy_tree(str(base / "src"), files)
    venv = make_venv(str(base / "venv"))
    t0 = time.monotonic()
    r = pip_install(venv, src)
    took = time.monotonic() - t0
    assert r.returncode == 0, (r.stdout[-4000:], r.stderr[-4000:])
    print(f"\npip install took {took:.1f} s")
    pkg = [os.path.relpath(n, "python/spprof") for n in files
           if n.startswith("python/spprof/")]
    return venv, src, pkg


def vpython(venv):
    return os.path.join(venv, "bin", "python")


def test_extension_loads_from_the_venv(installed):
    venv, _, _ = installed
    r = run(venv, [vpython(venv), "-c", "import sys, spprof, spprof._native; "
                   "print(spprof.__file__); print(getattr(sys, '_is_gil_enabled', "
                   "lambda: True)())"], cwd=venv)
    assert r.returncode == 0, r.stderr
    where, gil = r.stdout.split()
    assert where.startswith(os.path.join(venv, "lib")), where  # not the source tree
    if FREE_THREADED:
        assert gil == "False", "importing the installed spprof enabled the GIL"


def test_commands(installed):
    venv, _, _ = installed
    for script in ("spprof", "spwalk"):
        assert os.access(os.path.join(venv, "bin", script), os.X_OK), script
    for args in ([os.path.join(venv, "bin", "spprof"), "--help"],
                 [vpython(venv), "-m", "spprof", "--help"]):
        r = run(venv, args, cwd=venv)
        assert r.returncode == 0 and "usage: spprof" in r.stdout, (args, r.stdout, r.stderr)


def test_installed_command_profiles_a_threaded_program(installed, tmp_path):
    """The issue's "done when": the installed `spprof run -o out.html` on a multi-threaded
    program gives a flame graph whose hottest frames are its hot functions, and .pb.gz."""
    venv, _, _ = installed
    (tmp_path / "prog.py").write_text(
        "import threading\n"
        "def hot_worker():\n"
        "    x = 0\n"
        "    for i in range(3_000_000):\n"
        "        x += i\n"
        "ts = [threading.Thread(target=hot_worker) for _ in range(2)]\n"
        "[t.start() for t in ts]\n"
        "[t.join() for t in ts]\n")
    spprof = os.path.join(venv, "bin", "spprof")
    for out in ("out.html", "out.pb.gz", "out.spprof"):
        r = run(venv, [spprof, "run", "-q", "-o", out, "prog.py"], cwd=str(tmp_path))
        assert r.returncode == 0 and (tmp_path / out).stat().st_size > 0, (out, r.stderr)
    assert "hot_worker" in (tmp_path / "out.html").read_text()
    code = ("import spprof; p = spprof.Profile.load('out.spprof'); "
            "print(max(p.functions().items(), key=lambda kv: kv[1])[0])")
    r = run(venv, [vpython(venv), "-c", code], cwd=str(tmp_path))
    assert r.returncode == 0 and "hot_worker" in r.stdout, (r.stdout, r.stderr)


def test_spwalk_runs_the_bundled_binary(installed):
    venv, _, _ = installed
    r = run(venv, [vpython(venv), "-c", "import spprof._spwalk as s; print(s.BINARY)"])
    binary = r.stdout.strip()
    assert binary.startswith(os.path.join(venv, "lib")), (binary, r.stderr)
    assert binary.endswith("/spprof/_bin/spwalk") and os.access(binary, os.X_OK), binary
    spwalk = os.path.join(venv, "bin", "spwalk")
    r = run(venv, [spwalk, "--help"])
    assert r.returncode == 0 and "usage: spwalk" in r.stdout, (r.stdout, r.stderr)
    r = run(venv, [spwalk, "no-such-command"])  # the binary's usage status comes through
    assert r.returncode == 2 and "unknown command" in r.stderr, (r.returncode, r.stderr)


def test_entry_points_and_files(installed):
    venv, _, pkg = installed
    code = """if True:
        import json, os
        from importlib.metadata import distribution
        d = distribution("spprof")
        print(json.dumps({"eps": sorted([e.group, e.name, e.value] for e in d.entry_points),
                          "root": os.path.join(str(d.locate_file("")), "spprof"),
                          "files": sorted(str(f) for f in d.files)}))"""
    r = run(venv, [vpython(venv), "-c", code], cwd=venv)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["eps"] == [["console_scripts", "spprof", "spprof.cli:main"],
                          ["console_scripts", "spwalk", "spprof._spwalk:main"],
                          ["pytest11", "spprof", "spprof.pytest_plugin"]]
    # Every file of the package in the tree is installed (modules, the flame graph's
    # assets), and so are the two that the build makes.
    files = {f[len("spprof/"):] for f in got["files"] if f.startswith("spprof/")}
    assert not set(pkg) - files, sorted(set(pkg) - files)
    assert "_bin/spwalk" in files and any(f.startswith("_native.") for f in files), files
    assert any(f.startswith("writers/flamegraph/") for f in pkg), "no flame graph assets?"


def test_the_plugin_loads_by_its_entry_point(installed, tmp_path):
    venv, _, _ = installed
    (tmp_path / "test_tiny.py").write_text("def test_tiny():\n    sum(range(10**6))\n")
    r = run(venv, [vpython(venv), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "--spprof=out.spprof", "test_tiny.py"], cwd=str(tmp_path))
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "written to out.spprof" in r.stdout and (tmp_path / "out.spprof").is_file()


def test_build_leaves_no_strays(installed):
    _, src, _ = installed
    # setuptools kept to build/setuptools/ (the Makefile's variants live beside it in
    # build/) and put its egg-info there too.
    assert os.listdir(os.path.join(src, "build")) == ["setuptools"]
    strays = glob.glob(os.path.join(src, "*.egg-info")) + glob.glob(
        os.path.join(src, "python", "*.egg-info")) + glob.glob(
        os.path.join(src, "python", "spprof", "_native*.so"))
    assert not strays, strays


def test_sdist_holds_every_source(installed, tmp_path):
    """The sdist has every file the build reads (and no build output), so pip can build
    from it where there is no clone."""
    venv, src, pkg = installed
    r = pip_install(venv, "setuptools")  # into the venv: build_sdist runs there
    assert r.returncode == 0, r.stderr
    r = run(venv, [vpython(venv), "-c", "import sys; from setuptools import build_meta as b; "
                   "print(b.build_sdist(sys.argv[1]))", str(tmp_path)], cwd=src)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    name = r.stdout.split()[-1]
    with tarfile.open(os.path.join(tmp_path, name)) as t:
        top = name[: -len(".tar.gz")] + "/"
        members = {m.name[len(top):] for m in t.getmembers() if m.isfile()}
    need = {"pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "python/ext.mk"}
    for pattern in ("core/*.[ch]", "harness/*.[ch]", "python/src/*.[ch]"):
        need |= {os.path.relpath(p, src) for p in glob.glob(os.path.join(src, pattern))}
    need |= {"python/spprof/" + p for p in pkg}
    assert not need - members, sorted(need - members)
    # (setuptools adds its SOURCES.txt from build/setuptools/spprof.egg-info itself)
    built = [m for m in members if m.endswith((".so", ".o")) or "/_bin/" in m
             or m.startswith("build/") and not m.endswith("egg-info/SOURCES.txt")]
    assert not built, built


def test_a_compile_error_fails_the_install(tmp_path):
    """No pure-Python fallback: a C source that does not compile fails `pip install`."""
    src = copy_tree(str(tmp_path / "src"), tree_files())
    victim = sorted(glob.glob(os.path.join(src, "python", "src", "*.c")))[0]
    with open(victim, "a") as f:
        f.write("\nint spprof_install_test_broken = ;\n")
    venv = make_venv(str(tmp_path / "venv"))
    r = pip_install(venv, src)
    assert r.returncode != 0, r.stdout[-3000:]
    assert os.path.basename(victim) in r.stdout + r.stderr
    r = run(venv, [vpython(venv), "-c", "import spprof"], cwd=str(tmp_path))
    assert r.returncode != 0 and "No module named 'spprof'" in r.stderr, r.stderr
