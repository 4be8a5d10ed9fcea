#!/usr/bin/env bash
# ci/bootstrap.sh — one-time set-up for a fresh Debian machine, idempotent.
#
#   ci/bootstrap.sh packages   install the Debian packages the build and tests need
#   ci/bootstrap.sh pythons    build CPython 3.13.5 (free-threaded and default) into
#                              $SPPROF_CACHE unless already there, with the test packages,
#                              cross-build the free-threaded one for aarch64 (run under
#                              qemu-aarch64), and fetch speedscope's file-format schema
#
# Each stage prints one line; long output goes to $SPPROF_CACHE/logs/.
set -euo pipefail

CACHE=${SPPROF_CACHE:-$HOME/.cache/spprof}
LOGS=$CACHE/logs
mkdir -p "$LOGS"

say() { printf '[bootstrap] %s\n' "$*"; }
fail() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }

# Debian packages: compilers and sanitizer/fuzzer runtimes, AFL++, cmocka, the ARM64 cross
# toolchain with qemu, CPython's build dependencies, and Chromium (the flame graph tests
# open spprof's HTML in it, headless).
PACKAGES=(
  make gcc clang-14 libclang-rt-14-dev llvm-14 afl++ libcmocka-dev pkg-config
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
  xz-utils libssl-dev zlib1g-dev libffi-dev libbz2-dev libreadline-dev libsqlite3-dev
  liblzma-dev libncurses-dev uuid-dev libgdbm-dev
  chromium
  gdb
)
# arm64 multiarch libraries: cmocka for the ARM64 unit tests; libffi and zlib for the
# cross-built aarch64 python3.13t (ctypes and zlib are what the Python tests need of it).
PACKAGES_ARM64=(libc6:arm64 libcmocka-dev:arm64 libffi-dev:arm64 zlib1g-dev:arm64)

packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  # The ARM64 unit tests link cmocka built for arm64, the aarch64 python links libffi and
  # zlib: that needs Debian's multiarch.
  for p in "${PACKAGES_ARM64[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then say "packages: all present"; return; fi
  say "packages: installing ${missing[*]} (log: $LOGS/apt.log)"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  dpkg --print-foreign-architectures | grep -qx arm64 || $sudo dpkg --add-architecture arm64
  { $sudo apt-get update && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"; } \
      >"$LOGS/apt.log" 2>&1 || fail "apt-get failed; see $LOGS/apt.log"
}

PYVER=3.13.5

# Fetch python3.13's source from Debian trixie through a private sources list, leaving
# the machine's own apt configuration alone.
python_source() {
  local tarball=$CACHE/src/python3.13_${PYVER}.orig.tar.xz
  [ -f "$tarball" ] && { echo "$tarball"; return; }
  mkdir -p "$CACHE/apt/lists/partial" "$CACHE/src"
  local mirror
  mirror=$(grep -m1 -ohP '^URIs: \K\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(grep -m1 -ohP '^deb \K\S+' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || fail "cannot find this machine's Debian mirror"
  echo "deb-src $mirror trixie main" >"$CACHE/apt/sources.list"
  local A=(-o "Dir::Etc::SourceList=$CACHE/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
           -o "Dir::State::Lists=$CACHE/apt/lists" -o "Dir::Cache=$CACHE/apt/cache")
  { apt-get "${A[@]}" update && (cd "$CACHE/src" && apt-get "${A[@]}" source --download-only python3.13); } \
      >"$LOGS/python-source.log" 2>&1 || fail "could not download python3.13 source; see $LOGS/python-source.log"
  [ -f "$tarball" ] || fail "python3.13 source arrived without $tarball"
  echo "$tarball"
}

# build_python TAG CONFIGURE-FLAGS...: build into $CACHE/cpython-$PYVER-TAG, unless its
# interpreter already runs.
build_python() {
  local tag=$1; shift
  local prefix=$CACHE/cpython-$PYVER-$tag exe
  case $tag in ft) exe=$prefix/bin/python3.13t ;; *) exe=$prefix/bin/python3.13 ;; esac
  if [ -x "$exe" ] && "$exe" -c 'import pip' 2>/dev/null; then say "python $tag: cached at $exe"; return; fi
  local tarball; tarball=$(python_source)
  local work=$CACHE/build/$tag
  rm -rf "$work" "$prefix"; mkdir -p "$work"
  say "python $tag: building $PYVER (about 3 min; log: $LOGS/python-$tag.log)"
  ( cd "$work" && tar xf "$tarball" && cd "Python-$PYVER" \
    && ./configure --prefix="$prefix" --with-ensurepip=install "$@" \
    && make -j"$(nproc)" && make install ) >"$LOGS/python-$tag.log" 2>&1 \
    || fail "python $tag build failed; see $LOGS/python-$tag.log"
  rm -rf "$work"
  "$exe" -c 'import sys; print(sys.version)' >/dev/null || fail "python $tag does not run"
  say "python $tag: ready at $exe"
}

# The aarch64 free-threaded interpreter, cross-built from the same source tarball with the
# x86-64 python3.13t as its build python, against Debian's arm64 multiarch libffi and zlib
# (the other optional modules -- ssl, sqlite3, bz2, lzma, readline, curses, dbm, uuid, tk --
# are left out: nothing the tests need). Static libpython (the default), so the binary only
# needs the arm64 libc, libffi and zlib that qemu finds through QEMU_LD_PREFIX or, for the
# multiarch ones, at their own paths. ci/qemu-python.sh runs it.
ARM64_PREFIX=$CACHE/cpython-$PYVER-ft-arm64
ARM64_EXE=$ARM64_PREFIX/bin/python3.13t
build_python_arm64() {
  local build_py=$CACHE/cpython-$PYVER-ft/bin/python3.13t
  if [ -x "$ARM64_EXE" ] && ci_qemu_python -c 'import ctypes, zlib, sys; assert not sys._is_gil_enabled()' 2>/dev/null; then
    say "python ft-arm64: cached at $ARM64_EXE"; return
  fi
  [ -x "$build_py" ] || fail "python ft-arm64 needs the x86-64 $build_py first"
  local tarball; tarball=$(python_source)
  local work=$CACHE/build/ft-arm64 start=$SECONDS
  rm -rf "$work" "$ARM64_PREFIX"; mkdir -p "$work/include"
  # Only the headers of those two the cross compiler cannot find in its sysroot: not all of
  # /usr/include (x86-64 -dev headers would make configure think ssl, bz2... are there).
  ln -s /usr/include/zlib.h /usr/include/zconf.h /usr/include/aarch64-linux-gnu/ffi.h \
        /usr/include/aarch64-linux-gnu/ffitarget.h "$work/include/"
  say "python ft-arm64: cross-building $PYVER for aarch64 (about 4 min; log: $LOGS/python-ft-arm64.log)"
  ( cd "$work" && tar xf "$tarball" && cd "Python-$PYVER" \
    && PKG_CONFIG_LIBDIR=$work/no-pkgconfig ./configure --prefix="$ARM64_PREFIX" \
         --host=aarch64-linux-gnu --build=x86_64-linux-gnu --disable-gil \
         --with-build-python="$build_py" --with-ensurepip=no \
         ac_cv_file__dev_ptmx=yes ac_cv_file__dev_ptc=no ac_cv_buggy_getaddrinfo=no \
         LIBFFI_CFLAGS="-I$work/include" LIBFFI_LIBS=-lffi ZLIB_CFLAGS="-I$work/include" ZLIB_LIBS=-lz \
    && make -j"$(nproc)" && make install ) >"$LOGS/python-ft-arm64.log" 2>&1 \
    || fail "python ft-arm64 build failed; see $LOGS/python-ft-arm64.log"
  rm -rf "$work"
  ci_qemu_python -c 'import ctypes, zlib, sys; assert not sys._is_gil_enabled()' \
      >>"$LOGS/python-ft-arm64.log" 2>&1 || fail "python ft-arm64 does not run under qemu; see $LOGS/python-ft-arm64.log"
  say "python ft-arm64: ready at $ARM64_EXE ($((SECONDS - start)) s)"
}
ci_qemu_python() { "$(dirname "$0")/qemu-python.sh" "$@"; }

# The test packages are pure Python: the x86-64 pip installs them into the aarch64 prefix's
# site-packages (pip itself under qemu would take minutes).
python_packages_arm64() {
  ci_qemu_python -c 'import pytest, fastjsonschema' 2>/dev/null && return
  local site; site=$(ci_qemu_python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
    || fail "python ft-arm64 does not run under qemu"
  say "python ft-arm64: installing ${PIP_PACKAGES[*]} with the x86-64 pip (log: $LOGS/pip-ft-arm64.log)"
  "$CACHE/cpython-$PYVER-ft/bin/python3.13t" -m pip install --disable-pip-version-check -q \
      --target "$site" "${PIP_PACKAGES[@]}" >"$LOGS/pip-ft-arm64.log" 2>&1 \
    || fail "pip install failed for ft-arm64; see $LOGS/pip-ft-arm64.log"
}

# Test-time Python packages, into each built interpreter (pinned for repeatable runs).
PIP_PACKAGES=(pytest==8.3.5 fastjsonschema==2.21.1)
python_packages() {
  local exe=$1 tag=$2
  "$exe" -c 'import pytest, fastjsonschema' 2>/dev/null && return
  say "python $tag: installing ${PIP_PACKAGES[*]} (log: $LOGS/pip-$tag.log)"
  "$exe" -m pip install --disable-pip-version-check -q "${PIP_PACKAGES[@]}" >"$LOGS/pip-$tag.log" 2>&1 \
    || fail "pip install failed for $tag; see $LOGS/pip-$tag.log"
}

# speedscope's own JSON schema for its file format, from its npm package: the tests check
# the profiles spprof writes against what the viewer people open them with publishes.
SPEEDSCOPE_VERSION=1.22.2
speedscope_schema() {
  local dir=$CACHE/speedscope-$SPEEDSCOPE_VERSION
  [ -f "$dir/file-format-schema.json" ] && return
  command -v npm >/dev/null || fail "npm is needed to fetch speedscope's file-format schema"
  say "speedscope $SPEEDSCOPE_VERSION: fetching its file-format schema (log: $LOGS/speedscope.log)"
  local tmp; tmp=$(mktemp -d)
  { (cd "$tmp" && npm pack --silent "speedscope@$SPEEDSCOPE_VERSION") \
    && tar -xzf "$tmp/speedscope-$SPEEDSCOPE_VERSION.tgz" -C "$tmp" package/dist/release/file-format-schema.json \
    && mkdir -p "$dir" && mv "$tmp/package/dist/release/file-format-schema.json" "$dir/"; } \
    >"$LOGS/speedscope.log" 2>&1 || { rm -rf "$tmp"; fail "could not fetch speedscope; see $LOGS/speedscope.log"; }
  rm -rf "$tmp"
}

# inferno (the Rust flamegraph.pl): tests/python/test_interop.py renders spprof's collapsed
# stacks with it. Pinned: the tests parse its SVG. Keep in step with tests/python/tools.py.
INFERNO_VERSION=0.12.8
inferno() {
  local bin=$CACHE/tools/inferno/bin/inferno-flamegraph
  if [ -x "$bin" ]; then say "inferno: cached at $bin"; return; fi
  local cargo; cargo=$(command -v cargo || echo "$HOME/.cargo/bin/cargo")
  [ -x "$cargo" ] || fail "cargo (rustup) is needed to build inferno"
  say "inferno $INFERNO_VERSION: building (about 70 s; log: $LOGS/inferno.log)"
  "$cargo" install inferno --version "$INFERNO_VERSION" --root "$CACHE/tools/inferno" --locked \
      >"$LOGS/inferno.log" 2>&1 || fail "inferno build failed; see $LOGS/inferno.log"
}

# go tool pprof: tests/python/test_pprof.py reads spprof's .pb.gz files with it. Go builds
# pprof on first use (about 35 s): build it now, into the cache the tests use.
pprof_tool() {
  local go; go=$(command -v go || echo /usr/local/go/bin/go)
  if [ ! -x "$go" ]; then  # Debian's Go has `go tool pprof` too
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends golang-go \
        >"$LOGS/apt-go.log" 2>&1 || fail "could not install golang-go; see $LOGS/apt-go.log"
    go=$(command -v go) || fail "golang-go installed no go command"
  fi
  local home; home=$(mktemp -d)
  HOME=$home XDG_CONFIG_HOME=$home/.config XDG_CACHE_HOME=$home/.cache GOPATH=$home/go \
    GOTOOLCHAIN=local GOPROXY=off GOFLAGS= GOCACHE=$CACHE/tools/go-build \
    "$go" tool pprof -h >"$LOGS/pprof.log" 2>&1 || { rm -rf "$home"; fail "go tool pprof failed; see $LOGS/pprof.log"; }
  rm -rf "$home"
  say "go tool pprof: ready ($("$go" version | cut -d' ' -f3))"
}

# Wheels the tests install offline: setuptools for pip's isolated build of spprof
# (tests/python/test_install.py), pytest-run-parallel (tests/python/test_pytest_plugin.py,
# imported from its wheel). Pinned as the tests pin them.
WHEELS=(setuptools==84.2.1 pytest-run-parallel==0.10.0)
wheels() {
  local dir=$CACHE/wheels
  [ -f "$dir/setuptools-84.2.1-py3-none-any.whl" ] && [ -f "$dir/pytest_run_parallel-0.10.0-py3-none-any.whl" ] && return
  say "wheels: downloading ${WHEELS[*]} into $dir (log: $LOGS/wheels.log)"
  "$CACHE/cpython-$PYVER-ft/bin/python3.13t" -m pip download --disable-pip-version-check -q \
      --no-deps --only-binary=:all: -d "$dir" "${WHEELS[@]}" >"$LOGS/wheels.log" 2>&1 \
    || fail "could not download wheels; see $LOGS/wheels.log"
}

pythons() {
  build_python ft --disable-gil
  build_python gil
  python_packages "$CACHE/cpython-$PYVER-ft/bin/python3.13t" ft
  python_packages "$CACHE/cpython-$PYVER-gil/bin/python3.13" gil
  build_python_arm64
  python_packages_arm64
  speedscope_schema
  inferno
  pprof_tool
  wheels
}

case ${1:-all} in
  packages) packages ;;
  pythons) pythons ;;
  all) packages; pythons ;;
  *) fail "usage: $0 [packages|pythons|all]" ;;
esac
