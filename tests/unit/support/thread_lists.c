#include "support/thread_lists.h"

spw_thread_info tl_got[TL_CAP];

void tl_tstates(fixture *f, uint32_t n, uint32_t first, uint64_t *ts)
{
    for (uint32_t k = 0; k < n; k++) {
        ts[k] = spw_synth_tstate(&f->s, 0, TL_TID(first + k), TL_NID(first + k));
        assert_int_not_equal(ts[k], 0);
    }
}

void tl_poke(fixture *f, uint64_t addr, uint64_t v)
{
    assert_int_equal(spw_synth_poke(&f->s, addr, v, 8), 0);
}

spw_threads_status tl_iterate(fixture *f, uint64_t runtime, uint32_t max_i, uint32_t max_t,
                              uint32_t *n, spw_threads_iter *it)
{
    f->n_reads = 0;
    if (max_i == SPW_THREADS_MAX_INTERP && max_t == SPW_THREADS_MAX)
        spw_threads_begin(it, &f->s.layout, &f->reader, runtime);
    else
        spw_threads_begin_limits(it, &f->s.layout, &f->reader, runtime, max_i, max_t);
    assert_int_equal(f->n_reads, 0);
    assert_int_equal(spw_threads_status_of(it), SPW_THREADS_MORE);
    assert_int_equal(spw_threads_fail_addr(it), 0);
    uint32_t k = 0;
    spw_thread_info t;
    while (spw_threads_next(it, &t)) {
        assert_true(k < TL_CAP);
        assert_int_equal(spw_threads_status_of(it), SPW_THREADS_MORE);
        tl_got[k++] = t;
    }
    const spw_threads_status st = spw_threads_status_of(it);
    const uint64_t fail = spw_threads_fail_addr(it);
    const uint32_t reads = f->n_reads;
    assert_int_not_equal(st, SPW_THREADS_MORE);
    assert_int_equal(it->n_threads, k);
    assert_true(reads <= SPW_THREADS_READS(it->n_interp, it->n_threads));
    if (st == SPW_THREADS_DONE) assert_int_equal(fail, 0);
    for (int again = 0; again < 3; again++) {
        assert_int_equal(spw_threads_next(it, &t), 0);
        assert_int_equal(spw_threads_status_of(it), st);
        assert_int_equal(spw_threads_fail_addr(it), fail);
        assert_int_equal(f->n_reads, reads);
    }
    *n = k;
    return st;
}

spw_threads_status tl_iterate_all(fixture *f, uint64_t runtime, uint32_t *n,
                                  spw_threads_iter *it)
{
    return tl_iterate(f, runtime, SPW_THREADS_MAX_INTERP, SPW_THREADS_MAX, n, it);
}

void tl_expect(uint32_t at, uint64_t interp, uint64_t ts, uint32_t index)
{
    assert_int_equal(tl_got[at].interp, interp);
    assert_int_equal(tl_got[at].tstate, ts);
    assert_int_equal(tl_got[at].thread_id, TL_TID(index));
    assert_int_equal(tl_got[at].native_thread_id, TL_NID(index));
}

uint32_t tl_brent(uint32_t tail, uint32_t loop)
{
    uint32_t m = tail + 1 > loop ? tail + 1 : loop, p = 1;
    while (p < m) p <<= 1;
    return p - 1 + loop;
}
