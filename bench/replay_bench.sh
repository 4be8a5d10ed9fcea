#!/usr/bin/env bash
# bench/replay_bench.sh [PYTHON] — build (through the Makefile) and run bench/replay_bench.c.
#
# Replays the largest free-threaded corpus snapshot, then starts PYTHON (default: the
# first interpreter of `make which-python`, else python3.13t from the bootstrap cache)
# with 10 threads parked 20 frames deep and measures captures of it. Prints figures only.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=$BUILD/bench
mkdir -p "$OUT"

make -s --no-print-directory "$BUILD/gcc/bench/replay_bench" >/dev/null
SNAP=${SNAP:-corpus/snapshots/3.13t-deep/snapshot.spw}
PY=${1:-}
if [ -z "$PY" ]; then
  PY=$(make -s --no-print-directory which-python 2>/dev/null | awk 'NR==1 {print $2}') || true
  [ -n "$PY" ] || PY=${SPPROF_CACHE:-$HOME/.cache/spprof}/cpython-3.13.5-ft/bin/python3.13t
fi

"$PY" -c '
import threading, sys
def level(n):
    if n: return level(n - 1)
    threading.Event().wait()
for _ in range(10):
    threading.Thread(target=level, args=(20,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
' > "$OUT/target.out" &
TARGET=$!
trap 'kill $TARGET 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q ready "$OUT/target.out" 2>/dev/null && break; sleep 0.05; done
echo "machine: $(nproc) CPUs, $(uname -m), $("$PY" -c 'import sys; print(sys.version.split()[0], "free-threaded" if not sys._is_gil_enabled() else "")' 2>/dev/null)"
"$BUILD/gcc/bench/replay_bench" "$SNAP" --pid "$TARGET"
