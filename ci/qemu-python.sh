#!/usr/bin/env bash
# ci/qemu-python.sh ARGS...: the cross-built aarch64 python3.13t ($SPPROF_CACHE/
# cpython-3.13.5-ft-arm64, ci/bootstrap.sh pythons builds it) under qemu-aarch64.
#
# - QEMU_LD_PREFIX=/: the guest's dynamic loader, libc and the other arm64 libraries all
#   come from Debian's multiarch packages (libc6:arm64, /lib/ld-linux-aarch64.so.1). Not
#   the cross sysroot (/usr/aarch64-linux-gnu, link time only): its loader is another
#   build of glibc than the multiarch libc.so.6 that ld.so.cache points it at, and the
#   pair deadlocks in the first pthread_create (their private _rtld_global differs).
# - QEMU_ARGV0 is this script: the interpreter takes sys.executable from argv[0], so a test
#   that starts `sys.executable` starts this script again, i.e. another aarch64 python under
#   qemu (the host cannot exec an aarch64 binary itself: no binfmt_misc here).
# - SPPROF_QEMU=1 tells the tests they run under user-mode emulation (tests/python/conftest.py
#   skips, with the reason, what qemu-user cannot do).
set -euo pipefail
CACHE=${SPPROF_CACHE:-$HOME/.cache/spprof}
exe=$CACHE/cpython-3.13.5-ft-arm64/bin/python3.13t
[ -x "$exe" ] || { echo "qemu-python: $exe is not built (run: make pythons)" >&2; exit 127; }
self=$(readlink -f "$0")
export QEMU_LD_PREFIX=/ SPPROF_QEMU=1
exec qemu-aarch64 -0 "$self" "$exe" "$@"
