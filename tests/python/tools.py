"""The external tools the interop tests run spprof's files through: ``go tool pprof`` and
inferno's ``inferno-flamegraph``. Each is looked up here; a missing one skips its tests with
the command that installs it, or fails them under CI (CI=1), where a skip would hide that
the tests never ran."""
import os
import shutil

import pytest

#: inferno (github.com/jonhoo/inferno), the Rust port of flamegraph.pl, pinned so the SVG
#: the tests parse stays the same. Built by ci/bootstrap.sh with INFERNO_BUILD.
INFERNO_VERSION = "0.12.8"
INFERNO_BUILD = ("cargo install inferno --version {v} --root $SPPROF_CACHE/tools/inferno "
                 "--locked".format(v=INFERNO_VERSION))


def cache_dir() -> str:
    return os.environ.get("SPPROF_CACHE") or os.path.expanduser("~/.cache/spprof")


def missing(what: str, how: str):
    """Skip (under CI: fail) the calling test: ``what`` is not here, ``how`` installs it."""
    msg = f"{what} is missing: {how}"
    if os.environ.get("CI"):
        pytest.fail(msg + " (CI is set: a missing tool is a failure, not a skip)")
    pytest.skip(msg)


def go_binary() -> str:
    """The ``go`` command: from PATH, else Go's default install place."""
    go = shutil.which("go")
    if go is None and os.access("/usr/local/go/bin/go", os.X_OK):
        go = "/usr/local/go/bin/go"
    if go is None:
        missing("go (for `go tool pprof`)",
                "install Go (https://go.dev/dl/) or put its bin/ on PATH")
    return go


def go_env(home: str) -> dict:
    """The environment ``go tool pprof`` runs in: HOME (and the XDG dirs Go reads instead
    when they are set) in ``home``, so nothing lands in the user's home; the Go found here
    and no other (GOTOOLCHAIN=local: no toolchain download) and no module proxy (no
    network). The build cache is spprof's, so that pprof, which Go builds on its first
    ``go tool pprof`` (about 35 s on 2 cores), is built once per machine, not per run."""
    env = dict(os.environ)
    env.update(HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
               XDG_CACHE_HOME=os.path.join(home, ".cache"), GOTOOLCHAIN="local",
               GOPROXY="off", GOFLAGS="", GOPATH=os.path.join(home, "go"),
               GOCACHE=os.path.join(cache_dir(), "tools", "go-build"),
               TZ="UTC")  # pprof prints a profile's time in local time
    return env


def inferno_flamegraph() -> str:
    """The ``inferno-flamegraph`` binary from $SPPROF_CACHE/tools/inferno/bin."""
    path = os.path.join(cache_dir(), "tools", "inferno", "bin", "inferno-flamegraph")
    if not os.access(path, os.X_OK):
        missing(f"inferno-flamegraph ({path})",
                f"run `{INFERNO_BUILD}` (about 70 s on 2 cores; cargo from rustup)")
    return path


def speedscope_schema() -> str:
    """speedscope's own file-format JSON schema, fetched by ci/bootstrap.sh pythons."""
    path = os.path.join(cache_dir(), "speedscope-1.22.2", "file-format-schema.json")
    if not os.path.exists(path):
        missing(f"speedscope's schema ({path})", "run `ci/bootstrap.sh pythons`")
    return path
