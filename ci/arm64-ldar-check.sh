#!/usr/bin/env bash
# ci/arm64-ldar-check.sh BUILD_DIR: the cross-built extension's frame-pointer loads are ARM64
# acquire loads. BUILD_DIR is build/python/<aarch64 SOABI> (make arm64-ldar-check passes it).
#
# python/src/live_reader.h reads every naturally aligned 8-byte word with
# __atomic_load_n(..., __ATOMIC_ACQUIRE), which must compile to `ldar`: a thread publishing a
# new frame (its stores, then the pointer to it) is then seen initialised by the walker on
# another core, which plain `ldr` does not promise on ARM64's weak memory model (x86-64's TSO
# does). The functions below are where the walker and its helpers load thread states' and
# frames' pointers; each must contain at least MIN `ldar` (one other acquire, not the reader's,
# is inlined into walk_job_run: with the reader's loads relaxed it keeps 1 of its 687,
# rec_walk_run 0 of 41, spp_chase_unchecked 0 of 24). A rewrite of the reader that lost the acquire
# (a plain memcpy or a relaxed load) compiles clean and passes every test under qemu, which
# gives guest loads the x86-64 host's TSO order: this check is what catches it.
set -euo pipefail
dir=${1:?usage: $0 build/python/<aarch64 SOABI>}
OBJDUMP=${OBJDUMP:-aarch64-linux-gnu-objdump}
# object:function MIN -- what it loads
CHECKS=(
  "handler.o:walk_job_run 100 the walk itself: tstate->current_frame, frame->previous, f_executable, instr_ptr"
  "drop_record.o:rec_walk_run 10 the walk again through the recording reader (drop files)"
  "testhooks.o:spp_chase_unchecked 10 the benchmark's unvalidated chase"
  "live_reader.o:spp_live_read_fn 1 the table reader (symbolizer, thread list)"
)
status=0
for c in "${CHECKS[@]}"; do
  read -r spec min what <<<"$c"
  obj=$dir/python/src/${spec%%:*} fn=${spec#*:}
  [ -f "$obj" ] || { echo "arm64-ldar-check: $obj missing (make ext-arm64)" >&2; exit 1; }
  # count in the function's body: ldar (acquire) and plain 64-bit ldr, for the report
  read -r nldar nldr < <("$OBJDUMP" -d --no-show-raw-insn "$obj" | awk -v fn="<$fn>:" '
      /^[0-9a-f]+ <.*>:$/ { inside = ($2 == fn); found = found || inside; next }
      inside && /\tldar\t/ { a++ } inside && /\tldr\tx/ { l++ }
      END { if (!found) { print -1, -1 } else print a + 0, l + 0 }')
  if [ "$nldar" -lt 0 ]; then
    printf '  FAIL  %-34s not found in %s\n' "$spec" "$obj"; status=1
  elif [ "$nldar" -lt "$min" ]; then
    printf '  FAIL  %-34s %4d ldar (at least %d expected), %4d plain 64-bit ldr: %s\n' \
        "$spec" "$nldar" "$min" "$nldr" "$what"; status=1
  else
    printf '  ok    %-34s %4d ldar, %4d plain 64-bit ldr: %s\n' "$spec" "$nldar" "$nldr" "$what"
  fi
done
exit $status
