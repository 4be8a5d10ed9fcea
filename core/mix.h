/*
 * mix.h — a 64-bit finalizer (MurmurHash3's fmix64 constants) for hash tables: the live
 * consumer's and the handler's code identities (python/src), spwalk record's tables and page
 * cache (harness). Pure arithmetic: safe in signal context.
 */
#ifndef SPW_MIX_H
#define SPW_MIX_H

#include <stdint.h>

static inline uint64_t spw_mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

#endif /* SPW_MIX_H */
