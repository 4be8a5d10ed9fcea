/*
 * ring.h — a thread's sample ring and the record format.
 *
 * One ring per sampled thread, single producer (the thread's own SIGPROF handler, `head`)
 * and single consumer (the consumer thread, `tail`): release/acquire on the two indices, no
 * lock. Cells are 16 bytes. A record is one header cell
 *     a = weight (32 bits) | n_frames << 32 (16 bits) | flags << 48,   b = timestamp (ns)
 * followed by n_frames frame cells, innermost first,
 *     a = code object address,   b = lasti (32 bits) | identity << 32
 * where the identity is a hash of what names the code object (its name, file, line table
 * and first line), taken in the handler while the sampled thread certainly holds the code
 * object alive: the consumer never names a frame after another object that reused the
 * address by the time it drains (consumer.c).
 */
#ifndef SPP_RING_H
#define SPP_RING_H

#include <stdint.h>

typedef struct spp_cell {
    uint64_t a, b;
} spp_cell;

#define SPP_REC_TRUNCATED 1u
#define SPP_REC_UNSAMPLED 2u /* no frames: CPU time no sample was taken in (<unsampled>) */
#define SPP_REC_REPEAT 4u    /* no frames: the slot's previous stack again (sampler thread) */
#define SPP_REC_IDLE 8u      /* wall mode: the thread did not run since the last tick */
#define SPP_REC_WEIGHT_MAX 0xffffffffu

typedef struct spp_ring {
    spp_cell *cells;
    uint32_t mask;  /* cells - 1 (a power of two) */
    uint64_t head;  /* producer */
    uint64_t tail;  /* consumer */
    uint64_t high;  /* consumer: the most cells found in use at a drain */
} spp_ring;

static inline uint64_t spp_ring_free(const spp_ring *r)
{
    return (uint64_t)r->mask + 1u - (r->head - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE));
}

static inline spp_cell *spp_ring_at(const spp_ring *r, uint64_t i) { return &r->cells[i & r->mask]; }

/* Producer: publish `n` cells written at head..head+n-1. */
static inline void spp_ring_publish(spp_ring *r, uint64_t n)
{
    __atomic_store_n(&r->head, r->head + n, __ATOMIC_RELEASE);
}

static inline uint64_t spp_rec_header(uint64_t weight, uint32_t n, uint32_t flags)
{
    return (weight & SPP_REC_WEIGHT_MAX) | (uint64_t)n << 32 | (uint64_t)flags << 48;
}
static inline uint64_t spp_rec_weight(uint64_t a) { return a & SPP_REC_WEIGHT_MAX; }
static inline uint32_t spp_rec_frames(uint64_t a) { return (uint32_t)(a >> 32) & 0xffffu; }
static inline uint32_t spp_rec_flags(uint64_t a) { return (uint32_t)(a >> 48); }

#endif /* SPP_RING_H */
