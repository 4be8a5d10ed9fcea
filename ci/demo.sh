#!/usr/bin/env bash
# ci/demo.sh — `make demo`: show spprof's core at work on this machine.
#   1. replay a bundled snapshot of a real free-threaded process, bit for bit;
#   2. dump the stacks of a running multi-threaded 3.13t program;
#   3. profile that program's workers in-process with spprof and print the hottest stacks.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make --no-print-directory -s "$BUILD/bin/spwalk"
SPWALK=$BUILD/bin/spwalk
DEMO_SNAPSHOT=${DEMO_SNAPSHOT:-corpus/snapshots/3.14t-mixed/snapshot.spw}

echo "== 1. Replaying a snapshot captured from a real CPython ($DEMO_SNAPSHOT)"
"$SPWALK" show "$DEMO_SNAPSHOT" | head -n 12
echo
"$SPWALK" replay "$DEMO_SNAPSHOT"
"$SPWALK" verify "$DEMO_SNAPSHOT"

PY=$(ci/which-python.sh | awk '$1 == "3.13t" {print $2}')
echo
echo "== 2. Stacks of a running free-threaded program ($PY docs/examples/busy_threads.py)"
out=$(mktemp)
"$PY" docs/examples/busy_threads.py >"$out" &
child=$!
trap 'kill $child 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.05; done
sleep 0.3   # let the workers get going
"$SPWALK" dump --pid "$child"
kill "$child" 2>/dev/null || true

echo
echo "== 3. Profiling the same workers in-process with spprof (1 ms of CPU per sample)"
make --no-print-directory -s ext PYTHON="$PY"
PYTHONPATH=python "$PY" docs/examples/profile_busy_threads.py 2 "$BUILD/demo-profile.json"
