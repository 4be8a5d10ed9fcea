/*
 * snapshot_mutator.h — structure-aware mutation of snapshot files, shared by the engines.
 *
 * A snapshot carries a CRC, so byte-level mutation almost never yields a file that
 * decodes. fz_snapshot_mutate decodes the file, mutates what the walker depends on and
 * re-encodes it so the checksum holds (details in snapshot_mutator.c). It is the single
 * implementation behind both engines' hooks for the walk_snapshot target:
 *   libFuzzer  LLVMFuzzerCustomMutator in fuzz_walk_snapshot.c (bytes = LLVMFuzzerMutate)
 *   AFL++      afl_custom_fuzz in afl_snapshot_mutator.c, a shared library afl-fuzz loads
 *              through AFL_CUSTOM_MUTATOR_LIBRARY (bytes = a small byte-level mutator)
 * Named fz_* and listed in fuzz/nocov.txt: it is the fuzzer's tool, not code under test.
 */
#ifndef SPW_FUZZ_SNAPSHOT_MUTATOR_H
#define SPW_FUZZ_SNAPSHOT_MUTATOR_H

#include <stddef.h>
#include <stdint.h>

/* The engine's own byte-level mutator, with LLVMFuzzerMutate's contract: mutate
 * data[size] in place into at most max_size bytes, return the new size. */
typedef size_t (*fz_bytes_mutator)(uint8_t *data, size_t size, size_t max_size);

/* Mutate the snapshot file data[size] in place (buffer capacity max_size); return the new
 * size. The result is a function of the input and `seed` (plus whatever `bytes` draws).
 * A file that does not decode, or 1 call in 8, gets byte-level mutation via `bytes`. */
size_t fz_snapshot_mutate(uint8_t *data, size_t size, size_t max_size, unsigned int seed,
                          fz_bytes_mutator bytes);

/* xorshift64: a small deterministic generator (state must be nonzero). */
static inline uint64_t fz_rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

#endif /* SPW_FUZZ_SNAPSHOT_MUTATOR_H */
