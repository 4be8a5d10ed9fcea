#!/usr/bin/env bash
# fuzz/selftest.sh FZDIR SECONDS PLANT... — prove the fuzzers can fail (`make fuzz-selftest`).
#
# Each planted bug (core compiled with -DSPW_PLANT_*: no cycle check, no alignment check in
# spw_addr_ok, no code-type check) must be found by libFuzzer on the walk target within
# SECONDS, starting from nothing (an empty corpus: the committed seeds would find some of
# them on the first input, which says nothing about the fuzzer). AFL++ gets the same time
# from a single empty seed; its result is reported, not required (see docs/fuzzing.md).
set -u
fz=$1 seconds=$2
shift 2
rc=0
now() { date +%s.%N; }
for plant in "$@"; do
    work=$fz/selftest/$plant
    rm -rf "$work"
    mkdir -p "$work/lf-corpus" "$work/lf-artifacts" "$work/afl-in"
    t0=$(now)
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1 \
        "$fz/lf-$plant/fuzz_walk" -max_total_time="$seconds" -timeout=10 \
        -artifact_prefix="$work/lf-artifacts/" "$work/lf-corpus" > "$work/lf.log" 2>&1
    t1=$(now)
    found=$(ls "$work"/lf-artifacts/ 2>/dev/null | head -1)
    what=$(grep -m1 -A1 'INVARIANT BROKEN' "$work/lf.log" | tail -1 | sed 's/^==spw-fuzz== //' | cut -c1-90)
    [ -n "$what" ] || what=$(grep -m1 -E 'ERROR: (AddressSanitizer|libFuzzer)|runtime error' "$work/lf.log" | cut -c1-90)
    if [ -n "$found" ]; then
        printf '  pass  selftest %-6s libFuzzer found it in %6.1f s: %s\n' "$plant" "$(echo "$t1 - $t0" | bc)" "$what"
    else
        printf '  FAIL  selftest %-6s libFuzzer did not find it in %s s (log: %s)\n' "$plant" "$seconds" "$work/lf.log"
        rc=1
    fi

    printf '\0' > "$work/afl-in/zero" # AFL++ refuses empty files
    t0=$(now)
    AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 \
    AFL_BENCH_UNTIL_CRASH=1 ASAN_OPTIONS=abort_on_error=1:symbolize=0:detect_leaks=0 \
    UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1 \
        timeout $((seconds + 60)) afl-fuzz -i "$work/afl-in" -o "$work/afl-out" -V "$seconds" \
        -t 10000 -m none -- "$fz/afl-$plant/fuzz_walk" > "$work/afl.log" 2>&1
    t1=$(now)
    if ls "$work"/afl-out/default/crashes/id:* > /dev/null 2>&1; then
        printf '  info  selftest %-6s AFL++ found it in %6.1f s (including start-up)\n' "$plant" "$(echo "$t1 - $t0" | bc)"
    else
        printf '  info  selftest %-6s AFL++ did not find it in %s s\n' "$plant" "$seconds"
    fi
done
exit $rc
