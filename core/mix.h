/*
 * mix.h — a 64-bit finalizer (MurmurHash3's fmix64 constants), shared by the consumer's hash
 * tables and the handler's code identities. Pure arithmetic: safe in signal context.
 */
#ifndef SPP_MIX_H
#define SPP_MIX_H

#include <stdint.h>

static inline uint64_t spp_mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

#endif /* SPP_MIX_H */
