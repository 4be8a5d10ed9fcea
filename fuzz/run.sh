#!/usr/bin/env bash
# fuzz/run.sh ENGINE TARGET FZDIR SECONDS [MUTATOR] — one fuzzing run, one summary line.
#
# ENGINE is lf (libFuzzer) or afl (AFL++). MUTATOR (afl only) is an AFL++ custom mutator
# library, passed as AFL_CUSTOM_MUTATOR_LIBRARY (fuzz.mk gives walk_snapshot's). The run
# starts from a scratch copy of corpus/TARGET/ (the committed seeds are never written to),
# uses fuzz/TARGET.dict, and leaves its log and working files in FZDIR/work/ENGINE/TARGET/.
# Anything it finds (crash, hang, leak, broken invariant) is copied to
# FZDIR/findings/TARGET/ with the exact command that reproduces it. Exit status: 0 clean,
# 1 findings, 2 the run itself failed.
set -u
engine=$1 target=$2 fz=$3 seconds=$4 mutator=${5:-}

bin=$fz/$engine/fuzz_$target
replay=$fz/replay/fuzz_$target
work=$fz/work/$engine/$target
findings=$fz/findings/$target
seeds=corpus/$target
dict=fuzz/$target.dict
log=$work/log

rm -rf "$work"
mkdir -p "$work/corpus" "$findings"
if [ -d "$seeds" ] && [ -n "$(ls -A "$seeds" 2>/dev/null)" ]; then cp "$seeds"/* "$work/corpus/"; fi
# The snapshot targets also start from every real capture (corpus/snapshots/, owned by the
# harness; not duplicated into corpus/<target>/).
case $target in
walk_snapshot|snapshot_decode)
    for f in corpus/snapshots/*/*.spw; do
        [ -f "$f" ] && cp "$f" "$work/corpus/real-$(basename "$(dirname "$f")").spw"
    done ;;
esac
# Every engine needs at least one input to start from; an empty one is a valid recipe.
[ -n "$(ls -A "$work/corpus")" ] || printf '\0' > "$work/corpus/zero" # AFL++ refuses empty files
dictarg=()

report() { # engine target execs rate coverage findings
    printf '  %-6s %-16s %10s execs %8s/s  %-28s findings: %s\n' "$@"
}

# Copy one finding and print how to reproduce it.
keep() { # file [kind]
    local dst="$findings/$engine-${2:+$2-}$(basename "$1" | tr -c 'A-Za-z0-9._-' '_')"
    cp "$1" "$dst"
    echo "    finding: $dst"
    echo "      reproduce: $replay $dst"
    echo "      (or with the fuzzing binary: $bin $dst)"
}

case $engine in
lf)
    [ -f "$dict" ] && dictarg=(-dict="$dict")
    mkdir -p "$work/artifacts"
    # -timeout: a single input that takes 10 s is a hang (the walker promises bounded work);
    # -rss_limit_mb / -malloc_limit_mb: leaks and blow-ups are findings too.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" "${dictarg[@]}" "$work/corpus" > "$log" 2>&1
    status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\).*/cov \1 ft \2/p')
    n=0
    for f in "$work"/artifacts/*; do [ -e "$f" ] || continue; n=$((n + 1)); done
    report lf "$target" "${execs:-?}" "${rate:-?}" "${cov:-cov ?}" "$n"
    if [ $n -gt 0 ] || { [ $status -ne 0 ] && [ -z "$execs" ]; }; then
        for f in "$work"/artifacts/*; do [ -e "$f" ] && keep "$f"; done
        grep -m3 -E 'ERROR|INVARIANT|==spw-fuzz==|runtime error' "$log" | sed 's/^/    /'
        echo "    log: $log"
        [ $n -gt 0 ] && exit 1
        exit 2
    fi
    ;;
afl)
    [ -f "$dict" ] && dictarg=(-x "$dict")
    # A custom mutator adds a stage before havoc; havoc and splicing still run
    # (AFL_CUSTOM_MUTATOR_ONLY stays unset). Refuse a missing library rather than silently
    # fuzzing without it, and let no inherited setting reach the other targets.
    unset AFL_CUSTOM_MUTATOR_LIBRARY AFL_CUSTOM_MUTATOR_ONLY
    if [ -n "$mutator" ]; then
        [ -f "$mutator" ] || { echo "run.sh: no mutator library $mutator" >&2; exit 2; }
        export AFL_CUSTOM_MUTATOR_LIBRARY=$mutator
    fi
    # Unattended: no UI, do not insist on CPU governor or core_pattern settings we may not
    # change on a shared machine. ASan needs its own options under AFL: abort on error so
    # the fork server sees a crash, no symbolization (slow), no leak checking (persistent
    # mode reuses the process, so a leak is only visible to libFuzzer).
    AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
    AFL_NO_AFFINITY=1 AFL_SKIP_CRASHES=0 \
    ASAN_OPTIONS=abort_on_error=1:symbolize=0:detect_leaks=0 \
    UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1 \
        timeout $((seconds + 120)) afl-fuzz -i "$work/corpus" -o "$work/out" -V "$seconds" \
        -t 10000 -m none "${dictarg[@]}" -- "$bin" > "$log" 2>&1
    status=$?
    stats=$work/out/default/fuzzer_stats
    if [ ! -f "$stats" ]; then
        report afl "$target" "?" "?" "(did not start)" "?"
        tail -20 "$log" | sed 's/^/    /'
        exit 2
    fi
    get() { sed -n "s/^$1 *: *//p" "$stats"; }
    crashes=$(get saved_crashes); hangs=$(get saved_hangs)
    [ -n "$crashes" ] || crashes=$(get unique_crashes)
    [ -n "$hangs" ] || hangs=$(get unique_hangs)
    report afl${mutator:+/cm} "$target" "$(get execs_done)" "$(get execs_per_sec)" \
        "bitmap $(get bitmap_cvg) edges $(get edges_found)" "$((crashes + hangs))"
    if [ $((crashes + hangs)) -gt 0 ]; then
        for f in "$work"/out/default/crashes/id:*; do [ -e "$f" ] && keep "$f" crash; done
        for f in "$work"/out/default/hangs/id:*; do [ -e "$f" ] && keep "$f" hang; done
        exit 1
    fi
    [ $status -eq 0 ] || { echo "    afl-fuzz exited with $status; log: $log"; exit 2; }
    ;;
*)
    echo "run.sh: unknown engine $engine" >&2
    exit 2
    ;;
esac
exit 0
