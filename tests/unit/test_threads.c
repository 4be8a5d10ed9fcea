/*
 * test_threads.c — the thread-list iterator (core/threads.h): the exact sequence over
 * several interpreters on every layout and both architectures, empty lists, unborn
 * threads, invalid and unreadable pointers at every position and every read, lists that
 * share states, and what the iterator copies at begin(). Cycles and limits:
 * test_threads_cycles.c.
 */
#include "support/thread_lists.h"

#include <string.h>

static void test_every_flavor_and_arch(void **state)
{
    (void)state;
    static const spw_arch arches[] = { SPW_ARCH_X86_64, SPW_ARCH_AARCH64 };
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
            fixture *f = fix_new_arch(fix_flavors[i], arches[a]);
            uint64_t ts[3];
            tl_tstates(f, 3, 0, ts);
            uint64_t in = spw_synth_interp(&f->s, ts, 3, 0);
            uint64_t rt = spw_synth_runtime(&f->s, in);
            assert_false(f->s.oom);
            spw_threads_iter it;
            uint32_t n;
            assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_DONE);
            assert_int_equal(n, 3);
            for (uint32_t k = 0; k < 3; k++) tl_expect(k, in, ts[k], k);
            /* The head; threads head and next; three fields per state. */
            assert_int_equal(f->n_reads, 1 + 2 + 3 * 3);
            assert_int_equal(it.n_interp, 1);
            fix_free(f);
        }
}
static void test_several_interpreters_in_list_order(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        fixture *f = fix_new(fix_flavors[i]);
        uint64_t a[2], c[3];
        tl_tstates(f, 3, 2, c);
        tl_tstates(f, 2, 0, a);
        /* Lists in an order that is not address order: c[2] -> c[0] -> c[1]. */
        uint64_t c_order[3] = { c[2], c[0], c[1] };
        uint64_t d = spw_synth_interp(&f->s, NULL, 0, 0);
        uint64_t ic = spw_synth_interp(&f->s, c_order, 3, d);
        uint64_t b = spw_synth_interp(&f->s, NULL, 0, ic);
        uint64_t ia = spw_synth_interp(&f->s, a, 2, b);
        uint64_t rt = spw_synth_runtime(&f->s, ia);
        spw_threads_iter it;
        uint32_t n;
        assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_DONE);
        assert_int_equal(n, 5);
        tl_expect(0, ia, a[0], 0);
        tl_expect(1, ia, a[1], 1);
        tl_expect(2, ic, c[2], 4);
        tl_expect(3, ic, c[0], 2);
        tl_expect(4, ic, c[1], 3);
        assert_int_equal(it.n_interp, 4);
        assert_int_equal(f->n_reads, 1 + 2 * 4 + 3 * 5);
        fix_free(f);
    }
}
static void test_empty_lists(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_313T);
    spw_threads_iter it;
    uint32_t n;
    /* No interpreter at all. */
    uint64_t rt = spw_synth_runtime(&f->s, 0);
    assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_DONE);
    assert_int_equal(n, 0);
    assert_int_equal(it.n_interp, 0);
    assert_int_equal(f->n_reads, 1);
    /* Three interpreters, none with a thread. */
    uint64_t i3 = spw_synth_interp(&f->s, NULL, 0, 0);
    uint64_t i2 = spw_synth_interp(&f->s, NULL, 0, i3);
    tl_poke(f, rt + f->s.layout.runtime_interpreters_head, spw_synth_interp(&f->s, NULL, 0, i2));
    assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_DONE);
    assert_int_equal(n, 0);
    assert_int_equal(it.n_interp, 3);
    assert_int_equal(f->n_reads, 1 + 2 * 3);
    fix_free(f);
}
static void test_unborn_thread_is_returned(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_314T);
    uint64_t ts[3];
    tl_tstates(f, 3, 0, ts);
    tl_poke(f, ts[1] + f->s.layout.tstate_native_thread_id, 0);
    uint64_t in = spw_synth_interp(&f->s, ts, 3, 0);
    spw_threads_iter it;
    uint32_t n;
    assert_int_equal(tl_iterate_all(f, spw_synth_runtime(&f->s, in), &n, &it), SPW_THREADS_DONE);
    assert_int_equal(n, 3);
    assert_int_equal(tl_got[1].tstate, ts[1]);
    assert_int_equal(tl_got[1].thread_id, TL_TID(1));
    assert_int_equal(tl_got[1].native_thread_id, 0);
    tl_expect(2, in, ts[2], 2);
    fix_free(f);
}

/* Every tail and loop up to 24 in a thread list (behind an interpreter with two states,
 * so the counts and the tortoise start afresh per list), and the same lengths without the
 * loop: CYCLE at exactly Brent's step, each state as the list holds it; DONE otherwise. */
static void test_invalid_pointers(void **state)
{
    (void)state;
    const uint64_t top = (uint64_t)1 << 47;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        fixture *f = fix_new(fix_flavors[i]);
        const spw_layout *L = &f->s.layout;
        uint64_t ts[2];
        tl_tstates(f, 2, 0, ts);
        uint64_t i2 = spw_synth_interp(&f->s, NULL, 0, 0);
        uint64_t in = spw_synth_interp(&f->s, ts, 2, i2);
        uint64_t rt = spw_synth_runtime(&f->s, in);
        /* Null page, misaligned, non-canonical, kernel, straddling the user limit. */
        const uint64_t bad[] = { 8, 0xff8, in + 4, ts[0] + 1, top, top + 0x1000,
                                 0xffff800000001000ull, top - 64, UINT64_MAX - 7 };
        spw_threads_iter it;
        uint32_t n;
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            /* The runtime itself. */
            assert_int_equal(tl_iterate_all(f, bad[b], &n, &it), SPW_THREADS_INVALID);
            assert_int_equal(spw_threads_fail_addr(&it), bad[b]);
            assert_int_equal(f->n_reads, 0);
            /* The first interpreter: nothing returned, one read. */
            tl_poke(f, rt + L->runtime_interpreters_head, bad[b]);
            assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_INVALID);
            assert_int_equal(spw_threads_fail_addr(&it), bad[b]);
            assert_int_equal(n, 0);
            assert_int_equal(f->n_reads, 1);
            tl_poke(f, rt + L->runtime_interpreters_head, in);
            /* A later interpreter: the first one's states were returned. */
            tl_poke(f, in + L->interp_next, bad[b]);
            assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_INVALID);
            assert_int_equal(n, 2);
            tl_poke(f, in + L->interp_next, i2);
            /* The first state, then the second. */
            tl_poke(f, in + L->interp_threads_head, bad[b]);
            assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_INVALID);
            assert_int_equal(n, 0);
            tl_poke(f, in + L->interp_threads_head, ts[0]);
            tl_poke(f, ts[0] + L->tstate_next, bad[b]);
            assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_INVALID);
            assert_int_equal(spw_threads_fail_addr(&it), bad[b]);
            assert_int_equal(n, 1);
            tl_expect(0, in, ts[0], 0);
            tl_poke(f, ts[0] + L->tstate_next, ts[1]);
        }
        /* A thread state that just fits below the user limit is valid (and unreadable). */
        tl_poke(f, ts[1] + L->tstate_next, top - L->tstate_size);
        assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_UNREADABLE);
        assert_int_equal(spw_threads_fail_addr(&it),
                         top - L->tstate_size + L->tstate_native_thread_id);
        assert_int_equal(n, 2);
        fix_free(f);
    }
}

/* Above 2^47 is user space on arm64: there the same pointer is readable in principle. */
static void test_arm64_user_space(void **state)
{
    (void)state;
    const uint64_t p = ((uint64_t)1 << 47) + 0x10000;
    fixture *f = fix_new_arch(SPW_FLAVOR_313T, SPW_ARCH_AARCH64);
    uint64_t rt = spw_synth_runtime(&f->s, p);
    spw_threads_iter it;
    uint32_t n;
    assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_UNREADABLE);
    assert_int_equal(spw_threads_fail_addr(&it), p + f->s.layout.interp_threads_head);
    fix_free(f);
    f = fix_new_arch(SPW_FLAVOR_313T, SPW_ARCH_X86_64);
    rt = spw_synth_runtime(&f->s, p);
    assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_INVALID);
    fix_free(f);
}

/* A reader that fails at read number `fail_at` (from 0) and records each read's address. */
typedef struct failing { fixture *f; uint32_t fail_at, n; uint64_t addrs[64]; } failing;
static int failing_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    failing *fr = ctx;
    if (fr->n < 64) fr->addrs[fr->n] = addr;
    if (fr->n++ == fr->fail_at) return -1;
    return spw_synth_read(&fr->f->s, addr, dst, len);
}

static void test_unreadable_at_every_read(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_313T);
    uint64_t a[2], b[1];
    tl_tstates(f, 2, 0, a);
    tl_tstates(f, 1, 2, b);
    uint64_t ib = spw_synth_interp(&f->s, b, 1, 0);
    uint64_t rt = spw_synth_runtime(&f->s, spw_synth_interp(&f->s, a, 2, ib));
    /* A full pass: the reads, and how many had been made when each state came back. */
    failing fr = { f, UINT32_MAX, 0, { 0 } };
    spw_reader rd = { failing_read, &fr };
    spw_threads_iter it;
    spw_thread_info t;
    uint32_t at_return[3], n = 0;
    spw_threads_begin(&it, &f->s.layout, &rd, rt);
    while (spw_threads_next(&it, &t)) at_return[n++] = fr.n;
    assert_int_equal(spw_threads_status_of(&it), SPW_THREADS_DONE);
    assert_int_equal(n, 3);
    const uint32_t total = fr.n;
    assert_int_equal(total, 1 + 2 * 2 + 3 * 3);
    uint64_t addrs[64];
    memcpy(addrs, fr.addrs, sizeof addrs);
    for (uint32_t k = 0; k < total; k++) {
        failing fk = { f, k, 0, { 0 } };
        rd.ctx = &fk;
        spw_threads_begin(&it, &f->s.layout, &rd, rt);
        uint32_t m = 0;
        while (spw_threads_next(&it, &t)) m++;
        assert_int_equal(spw_threads_status_of(&it), SPW_THREADS_UNREADABLE);
        assert_int_equal(spw_threads_fail_addr(&it), addrs[k]);
        assert_int_equal(fk.n, k + 1); /* the failed read was the last */
        uint32_t want = 0;
        while (want < 3 && at_return[want] <= k) want++;
        assert_int_equal(m, want);
    }
    /* And memory that is simply not there. */
    const uint64_t gone = FIX_BASE + ((uint64_t)1 << 32);
    tl_poke(f, a[1] + f->s.layout.tstate_next, gone);
    assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_UNREADABLE);
    assert_int_equal(spw_threads_fail_addr(&it), gone + f->s.layout.tstate_native_thread_id);
    assert_int_equal(n, 2);
    fix_free(f);
}

/* Lists that share states are not cycles: each list starts its own tortoise. */
static void test_shared_states_are_not_cycles(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_314T);
    uint64_t ts[3];
    tl_tstates(f, 3, 0, ts);
    uint64_t i3 = spw_synth_interp(&f->s, &ts[1], 1, 0); /* joins the list below at ts[1] */
    uint64_t i2 = spw_synth_interp(&f->s, NULL, 0, i3);
    tl_poke(f, i2 + f->s.layout.interp_threads_head, ts[0]); /* the same list as i1 */
    uint64_t i1 = spw_synth_interp(&f->s, ts, 3, i2);
    spw_threads_iter it;
    uint32_t n;
    assert_int_equal(tl_iterate_all(f, spw_synth_runtime(&f->s, i1), &n, &it), SPW_THREADS_DONE);
    assert_int_equal(n, 3 + 3 + 2);
    tl_expect(3, i2, ts[0], 0);
    tl_expect(6, i3, ts[1], 1);
    tl_expect(7, i3, ts[2], 2);
    fix_free(f);
}

/* begin() copies the offsets and the reader: the caller's structs may go away. */
static void test_begin_copies_layout_and_reader(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_314);
    uint64_t ts[2];
    tl_tstates(f, 2, 0, ts);
    uint64_t in = spw_synth_interp(&f->s, ts, 2, 0);
    uint64_t rt = spw_synth_runtime(&f->s, in);
    spw_layout L = f->s.layout;
    spw_reader rd = f->reader;
    spw_threads_iter it;
    spw_thread_info t;
    spw_threads_begin(&it, &L, &rd, rt);
    memset(&L, 0xff, sizeof L);
    memset(&rd, 0, sizeof rd);
    assert_int_equal(spw_threads_next(&it, &t), 1);
    assert_int_equal(t.tstate, ts[0]);
    assert_int_equal(spw_threads_next(&it, &t), 1);
    assert_int_equal(t.native_thread_id, TL_NID(1));
    assert_int_equal(spw_threads_next(&it, &t), 0);
    assert_int_equal(spw_threads_status_of(&it), SPW_THREADS_DONE);
    fix_free(f);
}
static void test_names(void **state)
{
    (void)state;
    static const char *const names[] = { "more", "done", "unreadable", "invalid", "cycle",
                                         "limit" };
    for (int i = 0; i < 6; i++)
        assert_string_equal(spw_threads_status_name((spw_threads_status)i), names[i]);
    assert_string_equal(spw_threads_status_name((spw_threads_status)6), "unknown");
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_flavor_and_arch),
        cmocka_unit_test(test_several_interpreters_in_list_order),
        cmocka_unit_test(test_empty_lists),
        cmocka_unit_test(test_unborn_thread_is_returned),
        cmocka_unit_test(test_invalid_pointers),
        cmocka_unit_test(test_arm64_user_space),
        cmocka_unit_test(test_unreadable_at_every_read),
        cmocka_unit_test(test_shared_states_are_not_cycles),
        cmocka_unit_test(test_begin_copies_layout_and_reader),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
