/*
 * afl_snapshot_mutator.c — AFL++ custom mutator for the walk_snapshot target.
 *
 * libAFLDriver.a has no custom-mutator hook, so a binary built for AFL++ cannot offer
 * LLVMFuzzerCustomMutator. afl-fuzz instead loads a shared library named by
 * AFL_CUSTOM_MUTATOR_LIBRARY and calls its afl_custom_* functions (AFL++ 4.04c,
 * docs/custom_mutators.md). This file is only that adapter: the mutation itself is
 * fz_snapshot_mutate (snapshot_mutator.c), the very function libFuzzer's hook calls.
 *
 * afl-fuzz runs this stage just before havoc; AFL_CUSTOM_MUTATOR_ONLY is not set, so havoc
 * and splicing still run and keep damaging the container byte-wise. The library is built
 * without sanitizers because it runs inside afl-fuzz, which has no ASan runtime; the same
 * mutation code runs under ASan+UBSan in the libFuzzer build of the target.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_mutator.h"

void *afl_custom_init(void *afl, unsigned int seed);
size_t afl_custom_fuzz(void *data, uint8_t *buf, size_t buf_size, uint8_t **out_buf,
                       uint8_t *add_buf, size_t add_buf_size, size_t max_size);
void afl_custom_deinit(void *data);

/* afl-fuzz loads one instance, and the byte-level callback has LLVMFuzzerMutate's
 * signature (no context argument), so the state is file-static. */
static struct {
    uint64_t rng;
    uint8_t *out; /* what we hand back: ours, so a larger result never overruns AFL's buffer */
    size_t cap;
} m;

/* Stand-in for LLVMFuzzerMutate: one to four length-keeping byte edits. Deliberately
 * small — afl-fuzz's own havoc stage does the elaborate byte-level work. */
static size_t afl_bytes(uint8_t *data, size_t size, size_t max_size)
{
    (void)max_size;
    for (uint64_t n = 1 + fz_rnd(&m.rng) % 4; size && n; n--) {
        size_t at = (size_t)(fz_rnd(&m.rng) % size);
        switch (fz_rnd(&m.rng) % 3) {
        case 0: data[at] ^= (uint8_t)(1u << fz_rnd(&m.rng) % 8); break;
        case 1: data[at] = (uint8_t)fz_rnd(&m.rng); break;
        default: data[at] = fz_rnd(&m.rng) & 1 ? 0xff : 0; break;
        }
    }
    return size;
}

void *afl_custom_init(void *afl, unsigned int seed)
{
    (void)afl;
    m.rng = 0x9e3779b97f4a7c15ull ^ seed; /* nonzero for every seed, as xorshift needs */
    return &m;
}

size_t afl_custom_fuzz(void *data, uint8_t *buf, size_t buf_size, uint8_t **out_buf,
                       uint8_t *add_buf, size_t add_buf_size, size_t max_size)
{
    (void)data, (void)add_buf, (void)add_buf_size; /* splicing is left to afl-fuzz */
    if (max_size < buf_size) max_size = buf_size;
    if (m.cap < max_size) {
        uint8_t *p = realloc(m.out, max_size);
        if (!p) { /* no memory: hand the input back unchanged (afl-fuzz wants a length > 0) */
            *out_buf = buf;
            return buf_size;
        }
        m.out = p, m.cap = max_size;
    }
    memcpy(m.out, buf, buf_size);
    size_t n = fz_snapshot_mutate(m.out, buf_size, max_size, (unsigned int)fz_rnd(&m.rng),
                                  afl_bytes);
    *out_buf = m.out;
    return n; /* > 0, as afl-fuzz requires: it never hands over an empty input */
}

void afl_custom_deinit(void *data)
{
    (void)data;
    free(m.out);
    m.out = NULL, m.cap = 0;
}
