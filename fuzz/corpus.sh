#!/usr/bin/env bash
# fuzz/corpus.sh — the file rules of corpus/<target>/ upkeep (fuzz.mk's fuzz-seeds and
# fuzz-merge use them).
#
# A corpus holds two kinds of file. A *named* file (any name that is not 40 hex digits) was
# put there on purpose: a generated seed (gen_seeds.c), a real capture cut down, an input
# that kills a mutant or replays a fixed bug. docs/ and mutants.txt cite them by name, so
# no upkeep renames or drops one, whatever its size. A *hash-named* file is one libFuzzer's
# -merge=1 kept; it names each input by the SHA-1 of its bytes. Each merge replaces them all.
#
#   corpus.sh fold MERGED CORPUS   replace CORPUS's hash-named files by MERGED's files, but
#                                  for those over 64 KiB (real captures: they stay in
#                                  corpus/snapshots/, replayed anyway) and those whose bytes
#                                  a named file holds
#   corpus.sh dedupe CORPUS...     delete the hash-named files whose bytes a named file holds
#                                  (what regenerating a seed a merge had kept leaves behind)
set -eu

is_hash() { [[ $1 =~ ^[0-9a-f]{40}$ ]]; }

dedupe() { # dir
    local f sum
    for f in "$1"/*; do
        [ -f "$f" ] || continue
        is_hash "$(basename "$f")" && continue
        sum=$(sha1sum "$f" | cut -d' ' -f1)
        if [ -f "$1/$sum" ]; then rm -f "$1/$sum"; fi
    done
}

fold() { # merged corpus
    local f
    [ -d "$1" ] || { echo "corpus.sh fold: $1: no such folder" >&2; exit 2; }
    mkdir -p "$2"
    for f in "$2"/*; do
        [ -f "$f" ] && is_hash "$(basename "$f")" && rm -f "$f"
    done
    for f in "$1"/*; do
        [ -f "$f" ] || continue
        [ "$(stat -c %s "$f")" -le 65536 ] || continue
        cp "$f" "$2/$(sha1sum "$f" | cut -d' ' -f1)"
    done
    dedupe "$2"
}

case ${1:-} in
fold)   [ $# -eq 3 ] || { echo "usage: $0 fold MERGED CORPUS" >&2; exit 2; }
        fold "$2" "$3" ;;
dedupe) shift; for d in "$@"; do dedupe "$d"; done ;;
*)      echo "usage: $0 fold MERGED CORPUS | dedupe CORPUS..." >&2; exit 2 ;;
esac
