#!/usr/bin/env bash
# ci/check.sh — every test suite, one line per stage; full logs in build/logs/check-*.log.
# Called by `make check` after ci/bootstrap.sh has set the machine up. Runs every stage
# even when one fails, then reports the failures and exits 1.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LOGS=$BUILD/logs
mkdir -p "$LOGS"
MAKE=(make --no-print-directory -j"$(nproc)")
failed=()

stage() { # stage NAME COMMAND...
  local name=$1; shift
  local log=$LOGS/check-$name.log start=$SECONDS
  printf '[check] %-16s ' "$name"
  if "$@" >"$log" 2>&1; then
    printf 'ok    %4ds\n' $((SECONDS - start))
  else
    printf 'FAIL  %4ds  (log: %s)\n' $((SECONDS - start)) "$log"
    tail -n 30 "$log" | sed 's/^/    | /'
    failed+=("$name")
  fi
}

PY313T=$(ci/which-python.sh 2>/dev/null | awk '$1 == "3.13t" {print $2}')

stage build          "${MAKE[@]}" all
for v in gcc clang asan arm64; do
  stage "unit-$v"    "${MAKE[@]}" "unit-$v"
done
# Documentation examples must compile warning-free and run.
example() {
  local out=$BUILD/examples; mkdir -p "$out"
  for src in docs/examples/*.c; do
    cc -std=c11 -Wall -Wextra -Werror -Icore "$src" "$BUILD/gcc/libspwcore.a" -o "$out/$(basename "$src" .c)" \
      && "$out/$(basename "$src" .c)" || return 1
  done
}
stage examples       example
stage bench-build    "${MAKE[@]}" $(for b in bench/*.c; do echo "$BUILD/gcc/bench/$(basename "$b" .c)"; done)
if [ -d tests/harness ]; then
  stage spwalk-asan  "${MAKE[@]}" "$BUILD/asan/bin/spwalk"
  stage harness      "$PY313T" -m pytest -q -p no:cacheprovider -m "not arm64" tests/harness
  # ARM64: the aarch64 spwalk replays the whole corpus under qemu-aarch64, byte for byte as on
  # x86-64, and the aarch64 python3.13t under qemu is read from outside (test_oracle.py).
  stage corpus-arm64 "$PY313T" -m pytest -q -p no:cacheprovider -m arm64 tests/harness
fi
# Every mutant of the campaign still applies to the code it mutates (one edit of a check
# must bring its entries along; the campaign itself runs after make check, a sample a day).
[ -f fuzz/mutants.txt ] && stage mutants-list  python3 fuzz/mutants.py --check
[ -f fuzz/fuzz.mk ] && stage fuzz-regress "${MAKE[@]}" fuzz-regress
[ -f fuzz/fuzz.mk ] && stage fuzz-regress-arm64 "${MAKE[@]}" fuzz-regress-arm64
# The extension's tests, once per interpreter `make which-python` lists.
if [ -f python/ext.mk ]; then
  while read -r tag exe; do
    stage "ext-clang-$tag" make --no-print-directory ext-clang PYTHON="$exe"
    stage "python-$tag" make --no-print-directory python-test PYTHON="$exe"
  done < <(ci/which-python.sh)
  # ARM64, live: the extension cross-built for the aarch64 python3.13t, its walker's pointer
  # loads checked to be `ldar`, and the suite run under qemu-aarch64 (what qemu-user cannot
  # do is skipped with its reason: docs/live-shim.md, "ARM64 under qemu-aarch64").
  stage arm64-ldar    make --no-print-directory arm64-ldar-check
  stage python-3.13t-arm64 make --no-print-directory python-test-arm64
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "[check] FAILED: ${failed[*]}"
  exit 1
fi
echo "[check] all stages passed"
