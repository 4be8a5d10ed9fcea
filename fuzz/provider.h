/*
 * provider.h — split a fuzz input into typed fields (a small C FuzzedDataProvider).
 *
 * Structure-aware targets read their decisions one field at a time from the front of the
 * input. When the input runs out every field reads as zero, so a short input still
 * describes a complete, deterministic case ("all defaults"), and a mutation that changes
 * one byte changes one decision instead of shifting every later field.
 *
 * Header-only and allocation-free, so it adds nothing to what a target has to link.
 */
#ifndef SPW_FUZZ_PROVIDER_H
#define SPW_FUZZ_PROVIDER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct fz_provider {
    const uint8_t *p;
    size_t left;
} fz_provider;

static inline void fz_init(fz_provider *fp, const uint8_t *data, size_t size)
{
    fp->p = data;
    fp->left = data ? size : 0;
}

static inline size_t fz_remaining(const fz_provider *fp) { return fp->left; }

/* Little-endian unsigned of `width` bytes (1..8); missing bytes read as zero. */
static inline uint64_t fz_uint(fz_provider *fp, unsigned width)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++) {
        if (fp->left == 0) break;
        v |= (uint64_t)*fp->p << (8 * i);
        fp->p++;
        fp->left--;
    }
    return v;
}

static inline uint8_t fz_u8(fz_provider *fp) { return (uint8_t)fz_uint(fp, 1); }
static inline uint16_t fz_u16(fz_provider *fp) { return (uint16_t)fz_uint(fp, 2); }
static inline uint32_t fz_u32(fz_provider *fp) { return (uint32_t)fz_uint(fp, 4); }
static inline uint64_t fz_u64(fz_provider *fp) { return fz_uint(fp, 8); }
static inline int fz_bool(fz_provider *fp) { return fz_u8(fp) & 1; }

/* A value in [lo, hi] (inclusive), consuming as few bytes as the range needs. Modulo bias
 * does not matter for fuzzing; determinism and locality do. */
static inline uint64_t fz_range(fz_provider *fp, uint64_t lo, uint64_t hi)
{
    if (hi <= lo) return lo;
    uint64_t span = hi - lo;
    unsigned width = 1;
    while (width < 8 && (span >> (8 * width)) != 0) width++;
    uint64_t v = fz_uint(fp, width);
    return span == UINT64_MAX ? v : lo + v % (span + 1);
}

/* Pick one of n choices (n >= 1). */
static inline unsigned fz_pick(fz_provider *fp, unsigned n)
{
    return (unsigned)fz_range(fp, 0, n ? n - 1 : 0);
}

/* Up to `max` bytes: a length field sized for `max`, then that many bytes (fewer if the
 * input ends). Returns a pointer into the input (valid while the input is) and sets *len. */
static inline const uint8_t *fz_bytes(fz_provider *fp, size_t max, size_t *len)
{
    size_t want = (size_t)fz_range(fp, 0, max);
    if (want > fp->left) want = fp->left;
    const uint8_t *at = fp->p;
    if (want) { /* no arithmetic on a NULL pointer, even +0 (UBSan's pointer-overflow) */
        fp->p += want;
        fp->left -= want;
    }
    *len = want;
    return at;
}

/* Everything that is left. */
static inline const uint8_t *fz_rest(fz_provider *fp, size_t *len)
{
    const uint8_t *at = fp->p;
    *len = fp->left;
    if (fp->left) fp->p += fp->left;
    fp->left = 0;
    return at;
}

#endif /* SPW_FUZZ_PROVIDER_H */
