#!/usr/bin/env bash
# Print the interpreters the tests use, one per line: "<tag> <absolute path>".
# 3.13t and 3.13 come from ci/bootstrap.sh's cache; 3.14t only when $SPPROF_PY314T names one.
set -euo pipefail
CACHE=${SPPROF_CACHE:-$HOME/.cache/spprof}
status=0
for entry in "3.13t cpython-3.13.5-ft/bin/python3.13t" "3.13 cpython-3.13.5-gil/bin/python3.13"; do
  tag=${entry%% *}; exe=$CACHE/${entry#* }
  if [ -x "$exe" ]; then echo "$tag $exe"; else echo "which-python: $tag not built yet (run: make pythons)" >&2; status=1; fi
done
if [ -n "${SPPROF_PY314T:-}" ]; then
  if [ -x "$SPPROF_PY314T" ]; then echo "3.14t $(readlink -f "$SPPROF_PY314T")"
  else echo "which-python: SPPROF_PY314T=$SPPROF_PY314T is not an executable" >&2; status=1; fi
fi
exit $status
