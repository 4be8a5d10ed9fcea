/*
 * test_threads_cycles.c — the thread-list iterator's cycles and limits: every tail and loop
 * up to 24 in a thread list and long ones, interpreter lists that loop, each reported at
 * exactly the step core/threads.h states (Brent); the limits, lowered and default, and
 * which of a cycle and a limit wins; lists of 2^20 through a reader that makes them up.
 */
#include "support/thread_lists.h"

#include <stdlib.h>

static void test_thread_cycles_every_shape(void **state)
{
    (void)state;
    enum { N = 48 };
    fixture *f = fix_new(SPW_FLAVOR_313T);
    const spw_layout *L = &f->s.layout;
    uint64_t ts[N], first[2];
    tl_tstates(f, N, 0, ts);
    tl_tstates(f, 2, 100, first);
    uint64_t looping = spw_synth_interp(&f->s, ts, N, 0);
    uint64_t rt = spw_synth_runtime(&f->s, spw_synth_interp(&f->s, first, 2, looping));
    for (uint32_t tail = 0; tail <= 24; tail++)
        for (uint32_t loop = 1; tail + loop <= N && loop <= 24; loop++) {
            const uint32_t len = tail + loop;
            for (uint32_t k = 0; k + 1 < len; k++) tl_poke(f, ts[k] + L->tstate_next, ts[k + 1]);
            tl_poke(f, ts[len - 1] + L->tstate_next, ts[tail]);
            spw_threads_iter it;
            uint32_t n;
            assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_CYCLE);
            const uint32_t s = tl_brent(tail, loop);
            assert_int_equal(n, 2 + s);
            const uint32_t m = tail + 1 > loop ? tail + 1 : loop;
            assert_true(s <= 2 * m + loop - 2);
            for (uint32_t k = 0; k < s; k++) {
                const uint32_t at = k < len ? k : tail + (k - tail) % loop;
                tl_expect(2 + k, looping, ts[at], at);
            }
            assert_int_equal(spw_threads_fail_addr(&it), ts[tail + (s - tail) % loop]);
            /* The head; the first interpreter's head, states and next; this one's head. */
            assert_int_equal(f->n_reads, 1 + 2 + 1 + 3 * (2 + s));
            /* Cut the loop: the same list ends, and nothing is a cycle. */
            tl_poke(f, ts[len - 1] + L->tstate_next, 0);
            assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_DONE);
            assert_int_equal(n, 2 + len);
        }
    fix_free(f);
}

/* Long ones: short loops after long tails, long loops, tails and loops either side of a
 * power of two; every state returned is the one the list holds at that step. */
static void test_thread_cycles_long(void **state)
{
    (void)state;
    static const struct { uint32_t tail, loop; } cases[] = {
        { 5000, 1 }, { 5000, 2 }, { 4095, 3 }, { 4096, 3 }, { 0, 4096 }, { 0, 4097 },
        { 1, 6000 }, { 3000, 3000 }, { 6143, 1 },
    };
    fixture *f = fix_new_cap(SPW_FLAVOR_313, SPW_ARCH_X86_64, 4u << 20);
    const spw_layout *L = &f->s.layout;
    enum { N = 6144 };
    uint64_t *ts = calloc(N, sizeof *ts);
    assert_non_null(ts);
    tl_tstates(f, N, 0, ts);
    uint64_t in = spw_synth_interp(&f->s, ts, N, 0);
    uint64_t rt = spw_synth_runtime(&f->s, in);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const uint32_t tail = cases[c].tail, loop = cases[c].loop, len = tail + loop;
        assert_true(len <= N);
        for (uint32_t k = 0; k + 1 < N; k++) tl_poke(f, ts[k] + L->tstate_next, ts[k + 1]);
        tl_poke(f, ts[len - 1] + L->tstate_next, ts[tail]);
        spw_threads_iter it;
        uint32_t n;
        const uint32_t s = tl_brent(tail, loop);
        assert_true(s <= TL_CAP);
        assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_CYCLE);
        assert_int_equal(n, s);
        for (uint32_t k = 0; k < s; k++) {
            const uint32_t at = k < len ? k : tail + (k - tail) % loop;
            assert_int_equal(tl_got[k].tstate, ts[at]);
        }
    }
    free(ts);
    fix_free(f);
}

/* Interpreter lists that loop, some interpreters with a thread and some without: CYCLE at
 * Brent's step over the interpreters entered; the threads of each entered one returned. */
static void test_interpreter_cycles(void **state)
{
    (void)state;
    enum { N = 48 };
    fixture *f = fix_new_cap(SPW_FLAVOR_313, SPW_ARCH_X86_64, 12u << 20);
    const spw_layout *L = &f->s.layout;
    uint64_t in[N], ts[N];
    tl_tstates(f, N, 0, ts);
    for (uint32_t k = 0; k < N; k++) in[k] = spw_synth_interp(&f->s, &ts[k], k % 3 != 1, 0);
    assert_false(f->s.oom);
    uint64_t rt = spw_synth_runtime(&f->s, in[0]);
    static const struct { uint32_t tail, loop; } cases[] = {
        { 0, 1 }, { 0, 2 }, { 1, 1 }, { 2, 1 }, { 3, 5 }, { 0, 17 }, { 20, 3 }, { 7, 40 },
        { 31, 1 }, { 32, 1 }, { 0, 48 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const uint32_t tail = cases[c].tail, loop = cases[c].loop, len = tail + loop;
        for (uint32_t k = 0; k + 1 < len; k++) tl_poke(f, in[k] + L->interp_next, in[k + 1]);
        tl_poke(f, in[len - 1] + L->interp_next, in[tail]);
        spw_threads_iter it;
        uint32_t n;
        assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_CYCLE);
        const uint32_t s = tl_brent(tail, loop);
        assert_int_equal(it.n_interp, s);
        uint32_t want = 0;
        for (uint32_t k = 0; k < s; k++) {
            const uint32_t at = k < len ? k : tail + (k - tail) % loop;
            if (at % 3 != 1) tl_expect(want++, in[at], ts[at], at);
        }
        assert_int_equal(n, want);
        assert_int_equal(spw_threads_fail_addr(&it), in[tail + (s - tail) % loop]);
    }
    fix_free(f);
}

/* 257 interpreters: the default limit; 256 are all seen; a loop of 128 is still caught
 * (Brent's step 255), one of 129 is not before the limit (step 384 > 256). */
static void test_interpreter_limit_default(void **state)
{
    (void)state;
    enum { N = SPW_THREADS_MAX_INTERP + 1 };
    fixture *f = fix_new_cap(SPW_FLAVOR_313, SPW_ARCH_X86_64, (size_t)N * 196608u + (1u << 20));
    const spw_layout *L = &f->s.layout;
    uint64_t *in = calloc(N, sizeof *in);
    assert_non_null(in);
    for (uint32_t k = N; k-- > 0;)
        in[k] = spw_synth_interp(&f->s, NULL, 0, k + 1 < N ? in[k + 1] : 0);
    assert_false(f->s.oom);
    uint64_t rt = spw_synth_runtime(&f->s, in[0]);
    spw_threads_iter it;
    uint32_t n;
    assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_LIMIT);
    assert_int_equal(it.n_interp, SPW_THREADS_MAX_INTERP);
    assert_int_equal(spw_threads_fail_addr(&it), in[N - 1]);
    tl_poke(f, in[N - 2] + L->interp_next, 0);
    assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_DONE);
    assert_int_equal(it.n_interp, SPW_THREADS_MAX_INTERP);
    tl_poke(f, in[127] + L->interp_next, in[0]);
    assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_CYCLE);
    assert_int_equal(it.n_interp, 255);
    tl_poke(f, in[127] + L->interp_next, in[128]);
    tl_poke(f, in[128] + L->interp_next, in[0]);
    assert_int_equal(tl_iterate_all(f, rt, &n, &it), SPW_THREADS_LIMIT);
    assert_int_equal(it.n_interp, SPW_THREADS_MAX_INTERP);
    free(in);
    fix_free(f);
}
static void test_limits(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_314);
    const spw_layout *L = &f->s.layout;
    uint64_t a[2], b[2], c[1];
    tl_tstates(f, 2, 0, a);
    tl_tstates(f, 2, 2, b);
    tl_tstates(f, 1, 4, c);
    uint64_t ic = spw_synth_interp(&f->s, c, 1, 0);
    uint64_t ib = spw_synth_interp(&f->s, b, 2, ic);
    uint64_t ia = spw_synth_interp(&f->s, a, 2, ib);
    uint64_t rt = spw_synth_runtime(&f->s, ia);
    spw_threads_iter it;
    uint32_t n;
    /* Thread states, over all interpreters: exactly the limit is fine. */
    assert_int_equal(tl_iterate(f, rt, 3, 5, &n, &it), SPW_THREADS_DONE);
    assert_int_equal(n, 5);
    assert_int_equal(tl_iterate(f, rt, 3, 4, &n, &it), SPW_THREADS_LIMIT);
    assert_int_equal(n, 4);
    tl_expect(3, ib, b[1], 3);
    assert_int_equal(spw_threads_fail_addr(&it), c[0]);
    assert_int_equal(f->n_reads, 1 + 2 * 2 + 1 + 3 * 4); /* c's interpreter entered, not c */
    assert_int_equal(tl_iterate(f, rt, 3, 0, &n, &it), SPW_THREADS_LIMIT);
    assert_int_equal(n, 0);
    assert_int_equal(spw_threads_fail_addr(&it), a[0]);
    /* Interpreters. */
    assert_int_equal(tl_iterate(f, rt, 2, 5, &n, &it), SPW_THREADS_LIMIT);
    assert_int_equal(n, 4);
    assert_int_equal(spw_threads_fail_addr(&it), ic);
    assert_int_equal(tl_iterate(f, rt, 0, 5, &n, &it), SPW_THREADS_LIMIT);
    assert_int_equal(n, 0);
    assert_int_equal(spw_threads_fail_addr(&it), ia);
    /* Above the defaults: clamped to them. */
    spw_threads_begin_limits(&it, L, &f->reader, rt, 100000, UINT32_MAX);
    assert_int_equal(it.max_interp, SPW_THREADS_MAX_INTERP);
    assert_int_equal(it.max_threads, SPW_THREADS_MAX);
    spw_threads_begin(&it, L, &f->reader, rt);
    assert_int_equal(it.max_interp, SPW_THREADS_MAX_INTERP);
    assert_int_equal(it.max_threads, SPW_THREADS_MAX);
    /* The cycle is judged before the limit: a self-loop under a limit of 1 is a cycle; a
     * loop of two (Brent's step 3) is a cycle under 3, over the limit under 2. */
    tl_poke(f, a[0] + L->tstate_next, a[0]);
    assert_int_equal(tl_iterate(f, rt, 3, 1, &n, &it), SPW_THREADS_CYCLE);
    assert_int_equal(n, 1);
    tl_poke(f, a[0] + L->tstate_next, a[1]);
    tl_poke(f, a[1] + L->tstate_next, a[0]);
    assert_int_equal(tl_iterate(f, rt, 3, 3, &n, &it), SPW_THREADS_CYCLE);
    assert_int_equal(n, 3);
    assert_int_equal(tl_iterate(f, rt, 3, 2, &n, &it), SPW_THREADS_LIMIT);
    assert_int_equal(n, 2);
    fix_free(f);
}

/* A reader that makes up one interpreter with a list of `n` thread states, spaced `stride`
 * apart from t0, whose last one points back at number `loop_to` (or ends the list when
 * loop_to >= n): lists far longer than any arena, read without memory. */
typedef struct vlist {
    const spw_layout *L;
    uint64_t runtime, interp, t0, stride, n, loop_to, reads;
} vlist;

static int vlist_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    vlist *v = ctx;
    const spw_layout *L = v->L;
    uint64_t val;
    v->reads++;
    if (len != 8) return -1;
    if (addr == v->runtime + L->runtime_interpreters_head) val = v->interp;
    else if (addr == v->interp + L->interp_threads_head) val = v->t0;
    else if (addr == v->interp + L->interp_next) val = 0;
    else if (addr >= v->t0 && (addr - v->t0) / v->stride < v->n) {
        const uint64_t k = (addr - v->t0) / v->stride, base = v->t0 + k * v->stride;
        if (addr == base + L->tstate_next)
            val = k + 1 < v->n        ? base + v->stride
                  : v->loop_to < v->n ? v->t0 + v->loop_to * v->stride
                                      : 0;
        else if (addr == base + L->tstate_thread_id) val = TL_TID(k);
        else if (addr == base + L->tstate_native_thread_id) val = TL_NID(k);
        else return -1;
    } else return -1;
    spw_put64(dst, val);
    return 0;
}

static spw_threads_status vlist_run(vlist *v, uint64_t *n, uint64_t *last)
{
    spw_reader rd = { vlist_read, v };
    spw_threads_iter it;
    spw_thread_info t;
    v->reads = 0;
    spw_threads_begin(&it, v->L, &rd, v->runtime);
    *n = 0;
    while (spw_threads_next(&it, &t)) {
        const uint64_t k = *n < v->n ? *n : v->loop_to + (*n - v->loop_to) % (v->n - v->loop_to);
        if (t.tstate != v->t0 + k * v->stride || t.thread_id != TL_TID(k)) fail();
        ++*n;
    }
    assert_int_equal(it.n_threads, *n);
    /* The head, the threads head, three per state, and the interpreter's next if done. */
    const spw_threads_status st = spw_threads_status_of(&it);
    assert_int_equal(v->reads, 2 + 3 * *n + (st == SPW_THREADS_DONE));
    *last = spw_threads_fail_addr(&it);
    return st;
}

static void test_default_thread_limit_and_long_lists(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_314T);
    vlist v = { .L = &f->s.layout, .runtime = 0x10000000, .interp = 0x20000000,
                .t0 = 0x100000000ull, .stride = 1024, .n = SPW_THREADS_MAX,
                .loop_to = UINT64_MAX };
    uint64_t n, last;
    /* Exactly the limit, acyclic: every state, never taken for a cycle. */
    assert_int_equal(vlist_run(&v, &n, &last), SPW_THREADS_DONE);
    assert_int_equal(n, SPW_THREADS_MAX);
    /* One more: the limit, at the state over it. */
    v.n = SPW_THREADS_MAX + 1;
    assert_int_equal(vlist_run(&v, &n, &last), SPW_THREADS_LIMIT);
    assert_int_equal(n, SPW_THREADS_MAX);
    assert_int_equal(last, v.t0 + SPW_THREADS_MAX * v.stride);
    /* A loop of 300000 (Brent's step 2^19 - 1 + 300000) is caught before the limit. */
    v.n = 300000;
    v.loop_to = 0;
    assert_int_equal(vlist_run(&v, &n, &last), SPW_THREADS_CYCLE);
    assert_int_equal(n, tl_brent(0, 300000));
    assert_int_equal(last, v.t0 + (n % 300000) * v.stride);
    /* A loop of 600000 needs step 2^20 - 1 + 600000: the limit comes first. */
    v.n = 600000;
    assert_int_equal(vlist_run(&v, &n, &last), SPW_THREADS_LIMIT);
    assert_int_equal(n, SPW_THREADS_MAX);
    /* A short loop after a tail of 500000. */
    v.n = 500003;
    v.loop_to = 500000;
    assert_int_equal(vlist_run(&v, &n, &last), SPW_THREADS_CYCLE);
    assert_int_equal(n, tl_brent(500000, 3));
    fix_free(f);
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thread_cycles_every_shape),
        cmocka_unit_test(test_thread_cycles_long),
        cmocka_unit_test(test_interpreter_cycles),
        cmocka_unit_test(test_interpreter_limit_default),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_default_thread_limit_and_long_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
