/*
 * drops.h — the flight recorder of dropped samples (start(keep_drops=DIR)).
 *
 * When a walk is dropped, the bytes a walk of that thread reads are kept, so that the drop
 * can be written as a snapshot file (docs/snapshot-format.md, "drop files") that `spwalk
 * replay` walks again to the same status and reason on any machine.
 *
 * Recording side (handler.c, signal context or the sampler thread): each slot has one
 * preallocated recorder, mmap'ed when the slot is armed and only when keep_drops is on.
 * The recorder takes (addr, len, bytes) runs: in the signal handler, from a second walk of
 * the interrupted thread (its own frames cannot change under it) over a recording reader,
 * made with the replay's walk parameters, plus the symbolizer's reads of the frames it
 * emitted; on the sampler thread, the read log of the last attempt (its values are the
 * loaded bytes) plus the symbolizer's reads. No allocation, no lock, no I/O: stores into
 * the recorder and atomic counters.
 *
 * Writing side (drop_file.c, the consumer thread): a full recorder becomes a snapshot —
 * runs sorted and merged into regions, a note region at address 0 (never read by a walk)
 * saying what the live walk said — whose expected output is its own replay; then the
 * recorder is handed back.
 */
#ifndef SPP_DROPS_H
#define SPP_DROPS_H

#include "symbolize.h"
#include "walk.h"

#include <stdint.h>
#include <string.h>

#define SPP_DROPS_DEFAULT 16u      /* files per session when max_drops is not given */
#define SPP_DROP_DATA (64u << 10)  /* bytes of runs one recorder holds */

/* One recorder. `state` is the handshake: 0, the slot's sampler (its handler or the
 * sampler thread) may fill it; 1, it is full and the consumer's until it sets 0 again
 * (release/acquire). */
typedef struct spp_droprec {
    uint32_t state;
    uint32_t used;        /* bytes of data[] in runs */
    uint32_t overflow;    /* a run did not fit: the drop is not kept */
    uint32_t n_frames;    /* frames the recorded walk emitted */
    uint32_t live_status, live_reason; /* what the live walk said (spw_status, spw_reason) */
    uint32_t torn;        /* the sampler dropped it as torn */
    uint32_t live_depth;  /* the live walk's depth limit */
    uint64_t tstate, ident;
    int64_t tid;
    spw_frame frames[SPW_WALK_DEPTH_MAX]; /* the recorded walk's output (replay depth) */
    spw_symbol sym;       /* the symbolizer's output, unused but for the reads it makes */
    uint8_t data[SPP_DROP_DATA]; /* runs: u64 addr, u32 len, u32 0, len bytes, padding to 8 */
} spp_droprec;

/* A run into the recorder, or `overflow`. The count is stored with a compiler barrier
 * after it: a fault in the next load jumps out of the walk (guard.c), and the runs
 * recorded before it must be seen by the consumer. */
static inline __attribute__((always_inline)) void spp_drop_put(spp_droprec *d, uint64_t addr,
                                                               const void *src, size_t len)
{
    const uint32_t need = 16u + (((uint32_t)len + 7u) & ~7u);
    if (d->used + need > SPP_DROP_DATA || len > SPP_DROP_DATA) {
        d->overflow = 1;
        return;
    }
    uint8_t *p = d->data + d->used;
    const uint32_t l = (uint32_t)len, z = 0;
    memcpy(p, &addr, 8);
    memcpy(p + 8, &l, 4);
    memcpy(p + 12, &z, 4);
    memcpy(p + 16, src, len);
    if (len & 7u) memset(p + 16 + len, 0, 8u - (len & 7u));
    __atomic_store_n(&d->used, d->used + need, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* Consumer thread: write every full recorder as a file, then hand it back (drop_file.c);
 * the _slot form writes one slot's, before its memory is freed. */
void spp_drops_flush(void);
struct spp_slot;
void spp_drops_flush_slot(struct spp_slot *s);

/* At start(): 0, or -1 with a message, when DIR cannot take files (drop_file.c). */
int spp_drops_check_dir(const char *dir, char *err, size_t errlen);

/* Test: the harness's out-of-memory path inside the extension gives up the work in hand
 * (returns 0) instead of ending the program. */
int spp_drops_oom_check(void);

#endif /* SPP_DROPS_H */
