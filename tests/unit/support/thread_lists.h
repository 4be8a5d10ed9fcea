/*
 * thread_lists.h — shared set-up for the thread-list iterator's tests (test_threads*.c):
 * numbered thread states, an iteration that checks what every iteration keeps, and
 * Brent's step as core/threads.h states it.
 */
#ifndef SPW_TEST_THREAD_LISTS_H
#define SPW_TEST_THREAD_LISTS_H

#include "support/fixture.h"
#include "threads.h"

/* Thread state number i's thread_id and native_thread_id. */
#define TL_TID(i) (0x7f0000001000ull + 0x1000ull * (i))
#define TL_NID(i) (1000u + (uint64_t)(i))
/* The states one tl_iterate() collects at most, into tl_got[]. */
#define TL_CAP 16384u
extern spw_thread_info tl_got[TL_CAP];

/* n thread states numbered from `first` (TL_TID, TL_NID), in ts[]. */
void tl_tstates(fixture *f, uint32_t n, uint32_t first, uint64_t *ts);
/* An 8-byte store that must land in the image. */
void tl_poke(fixture *f, uint64_t addr, uint64_t v);

/* Iterate to the end with the given limits (spw_threads_begin() itself when they are the
 * defaults) into tl_got[], *n states, checking what every iteration keeps: begin() reads
 * nothing, the status is MORE while states come, one status at the end, the read bound,
 * and a finished iterator stays finished without reading. */
spw_threads_status tl_iterate(fixture *f, uint64_t runtime, uint32_t max_i, uint32_t max_t,
                              uint32_t *n, spw_threads_iter *it);
/* ... with the default limits. */
spw_threads_status tl_iterate_all(fixture *f, uint64_t runtime, uint32_t *n,
                                  spw_threads_iter *it);

/* tl_got[at] is thread state number `index` at ts, of interp. */
void tl_expect(uint32_t at, uint64_t interp, uint64_t ts, uint32_t index);

/* Brent's step for a tail of T and a loop of L: 2^j - 1 + L, 2^j >= max(T + 1, L). */
uint32_t tl_brent(uint32_t tail, uint32_t loop);

#endif
