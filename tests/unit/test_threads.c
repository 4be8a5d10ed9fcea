/*
 * test_threads.c — the thread-list iterator (core/threads.h): the exact sequence over
 * several interpreters on every layout and both architectures, empty lists, unborn
 * threads, cycles of every shape in both lists (Brent's exact step, checked against the
 * formula threads.h states), long acyclic lists, invalid and unreadable pointers at every
 * position and every read, the limits, and what the iterator copies at begin().
 */
#include "support/fixture.h"
#include "threads.h"

#include <stdlib.h>
#include <string.h>

#define TID(i) (0x7f0000001000ull + 0x1000ull * (i))
#define NID(i) (1000u + (uint64_t)(i))
#define CAP 16384u

static spw_thread_info got[CAP];

/* n thread states, numbered from `first`: thread_id TID(k), native id NID(k). */
static void make_tstates(fixture *f, uint32_t n, uint32_t first, uint64_t *ts)
{
    for (uint32_t k = 0; k < n; k++) {
        ts[k] = spw_synth_tstate(&f->s, 0, TID(first + k), NID(first + k));
        assert_int_not_equal(ts[k], 0);
    }
}

static void poke(fixture *f, uint64_t addr, uint64_t v)
{
    assert_int_equal(spw_synth_poke(&f->s, addr, v, 8), 0);
}

/* Iterate to the end with the given limits (spw_threads_begin() itself when they are the
 * defaults) into got[], checking what every iteration keeps: begin() reads nothing, the
 * status is MORE while states come, one status at the end, the read bound, and a finished
 * iterator stays finished without reading. */
static spw_threads_status iterate(fixture *f, uint64_t runtime, uint32_t max_i, uint32_t max_t,
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
        assert_true(k < CAP);
        assert_int_equal(spw_threads_status_of(it), SPW_THREADS_MORE);
        got[k++] = t;
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

static spw_threads_status iterate_all(fixture *f, uint64_t runtime, uint32_t *n,
                                      spw_threads_iter *it)
{
    return iterate(f, runtime, SPW_THREADS_MAX_INTERP, SPW_THREADS_MAX, n, it);
}

/* got[at] is thread state number `index` (as make_tstates numbered it) at ts, of interp. */
static void expect(uint32_t at, uint64_t interp, uint64_t ts, uint32_t index)
{
    assert_int_equal(got[at].interp, interp);
    assert_int_equal(got[at].tstate, ts);
    assert_int_equal(got[at].thread_id, TID(index));
    assert_int_equal(got[at].native_thread_id, NID(index));
}

/* Brent's step, as threads.h states it. */
static uint32_t brent(uint32_t tail, uint32_t loop)
{
    uint32_t m = tail + 1 > loop ? tail + 1 : loop, p = 1;
    while (p < m) p <<= 1;
    return p - 1 + loop;
}

static void test_every_flavor_and_arch(void **state)
{
    (void)state;
    static const spw_arch arches[] = { SPW_ARCH_X86_64, SPW_ARCH_AARCH64 };
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
            fixture *f = fix_new_arch(fix_flavors[i], arches[a]);
            uint64_t ts[3];
            make_tstates(f, 3, 0, ts);
            uint64_t in = spw_synth_interp(&f->s, ts, 3, 0);
            uint64_t rt = spw_synth_runtime(&f->s, in);
            assert_false(f->s.oom);
            spw_threads_iter it;
            uint32_t n;
            assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_DONE);
            assert_int_equal(n, 3);
            for (uint32_t k = 0; k < 3; k++) expect(k, in, ts[k], k);
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
        make_tstates(f, 3, 2, c);
        make_tstates(f, 2, 0, a);
        /* Lists in an order that is not address order: c[2] -> c[0] -> c[1]. */
        uint64_t c_order[3] = { c[2], c[0], c[1] };
        uint64_t d = spw_synth_interp(&f->s, NULL, 0, 0);
        uint64_t ic = spw_synth_interp(&f->s, c_order, 3, d);
        uint64_t b = spw_synth_interp(&f->s, NULL, 0, ic);
        uint64_t ia = spw_synth_interp(&f->s, a, 2, b);
        uint64_t rt = spw_synth_runtime(&f->s, ia);
        spw_threads_iter it;
        uint32_t n;
        assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_DONE);
        assert_int_equal(n, 5);
        expect(0, ia, a[0], 0);
        expect(1, ia, a[1], 1);
        expect(2, ic, c[2], 4);
        expect(3, ic, c[0], 2);
        expect(4, ic, c[1], 3);
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
    assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_DONE);
    assert_int_equal(n, 0);
    assert_int_equal(it.n_interp, 0);
    assert_int_equal(f->n_reads, 1);
    /* Three interpreters, none with a thread. */
    uint64_t i3 = spw_synth_interp(&f->s, NULL, 0, 0);
    uint64_t i2 = spw_synth_interp(&f->s, NULL, 0, i3);
    poke(f, rt + f->s.layout.runtime_interpreters_head, spw_synth_interp(&f->s, NULL, 0, i2));
    assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_DONE);
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
    make_tstates(f, 3, 0, ts);
    poke(f, ts[1] + f->s.layout.tstate_native_thread_id, 0);
    uint64_t in = spw_synth_interp(&f->s, ts, 3, 0);
    spw_threads_iter it;
    uint32_t n;
    assert_int_equal(iterate_all(f, spw_synth_runtime(&f->s, in), &n, &it), SPW_THREADS_DONE);
    assert_int_equal(n, 3);
    assert_int_equal(got[1].tstate, ts[1]);
    assert_int_equal(got[1].thread_id, TID(1));
    assert_int_equal(got[1].native_thread_id, 0);
    expect(2, in, ts[2], 2);
    fix_free(f);
}

/* Every tail and loop up to 24 in a thread list (behind an interpreter with two states,
 * so the counts and the tortoise start afresh per list), and the same lengths without the
 * loop: CYCLE at exactly Brent's step, each state as the list holds it; DONE otherwise. */
static void test_thread_cycles_every_shape(void **state)
{
    (void)state;
    enum { N = 48 };
    fixture *f = fix_new(SPW_FLAVOR_313T);
    const spw_layout *L = &f->s.layout;
    uint64_t ts[N], first[2];
    make_tstates(f, N, 0, ts);
    make_tstates(f, 2, 100, first);
    uint64_t looping = spw_synth_interp(&f->s, ts, N, 0);
    uint64_t rt = spw_synth_runtime(&f->s, spw_synth_interp(&f->s, first, 2, looping));
    for (uint32_t tail = 0; tail <= 24; tail++)
        for (uint32_t loop = 1; tail + loop <= N && loop <= 24; loop++) {
            const uint32_t len = tail + loop;
            for (uint32_t k = 0; k + 1 < len; k++) poke(f, ts[k] + L->tstate_next, ts[k + 1]);
            poke(f, ts[len - 1] + L->tstate_next, ts[tail]);
            spw_threads_iter it;
            uint32_t n;
            assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_CYCLE);
            const uint32_t s = brent(tail, loop);
            assert_int_equal(n, 2 + s);
            const uint32_t m = tail + 1 > loop ? tail + 1 : loop;
            assert_true(s <= 2 * m + loop - 2);
            for (uint32_t k = 0; k < s; k++) {
                const uint32_t at = k < len ? k : tail + (k - tail) % loop;
                expect(2 + k, looping, ts[at], at);
            }
            assert_int_equal(spw_threads_fail_addr(&it), ts[tail + (s - tail) % loop]);
            /* The head; the first interpreter's head, states and next; this one's head. */
            assert_int_equal(f->n_reads, 1 + 2 + 1 + 3 * (2 + s));
            /* Cut the loop: the same list ends, and nothing is a cycle. */
            poke(f, ts[len - 1] + L->tstate_next, 0);
            assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_DONE);
            assert_int_equal(n, 2 + len);
        }
    fix_free(f);
}

/* Long ones: a loop after a long tail, a long loop, and a loop at the end of a long list
 * behind which nothing is returned twice before Brent's step. */
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
    make_tstates(f, N, 0, ts);
    uint64_t in = spw_synth_interp(&f->s, ts, N, 0);
    uint64_t rt = spw_synth_runtime(&f->s, in);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const uint32_t tail = cases[c].tail, loop = cases[c].loop, len = tail + loop;
        assert_true(len <= N);
        for (uint32_t k = 0; k + 1 < N; k++) poke(f, ts[k] + L->tstate_next, ts[k + 1]);
        poke(f, ts[len - 1] + L->tstate_next, ts[tail]);
        spw_threads_iter it;
        uint32_t n;
        const uint32_t s = brent(tail, loop);
        assert_true(s <= CAP);
        assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_CYCLE);
        assert_int_equal(n, s);
        for (uint32_t k = 0; k < s; k++) {
            const uint32_t at = k < len ? k : tail + (k - tail) % loop;
            assert_int_equal(got[k].tstate, ts[at]);
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
    make_tstates(f, N, 0, ts);
    for (uint32_t k = 0; k < N; k++) in[k] = spw_synth_interp(&f->s, &ts[k], k % 3 != 1, 0);
    assert_false(f->s.oom);
    uint64_t rt = spw_synth_runtime(&f->s, in[0]);
    static const struct { uint32_t tail, loop; } cases[] = {
        { 0, 1 }, { 0, 2 }, { 1, 1 }, { 2, 1 }, { 3, 5 }, { 0, 17 }, { 20, 3 }, { 7, 40 },
        { 31, 1 }, { 32, 1 }, { 0, 48 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const uint32_t tail = cases[c].tail, loop = cases[c].loop, len = tail + loop;
        for (uint32_t k = 0; k + 1 < len; k++) poke(f, in[k] + L->interp_next, in[k + 1]);
        poke(f, in[len - 1] + L->interp_next, in[tail]);
        spw_threads_iter it;
        uint32_t n;
        assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_CYCLE);
        const uint32_t s = brent(tail, loop);
        assert_int_equal(it.n_interp, s);
        uint32_t want = 0;
        for (uint32_t k = 0; k < s; k++) {
            const uint32_t at = k < len ? k : tail + (k - tail) % loop;
            if (at % 3 != 1) expect(want++, in[at], ts[at], at);
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
    assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_LIMIT);
    assert_int_equal(it.n_interp, SPW_THREADS_MAX_INTERP);
    assert_int_equal(spw_threads_fail_addr(&it), in[N - 1]);
    poke(f, in[N - 2] + L->interp_next, 0);
    assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_DONE);
    assert_int_equal(it.n_interp, SPW_THREADS_MAX_INTERP);
    poke(f, in[127] + L->interp_next, in[0]);
    assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_CYCLE);
    assert_int_equal(it.n_interp, 255);
    poke(f, in[127] + L->interp_next, in[128]);
    poke(f, in[128] + L->interp_next, in[0]);
    assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_LIMIT);
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
    make_tstates(f, 2, 0, a);
    make_tstates(f, 2, 2, b);
    make_tstates(f, 1, 4, c);
    uint64_t ic = spw_synth_interp(&f->s, c, 1, 0);
    uint64_t ib = spw_synth_interp(&f->s, b, 2, ic);
    uint64_t ia = spw_synth_interp(&f->s, a, 2, ib);
    uint64_t rt = spw_synth_runtime(&f->s, ia);
    spw_threads_iter it;
    uint32_t n;
    /* Thread states, over all interpreters: exactly the limit is fine. */
    assert_int_equal(iterate(f, rt, 3, 5, &n, &it), SPW_THREADS_DONE);
    assert_int_equal(n, 5);
    assert_int_equal(iterate(f, rt, 3, 4, &n, &it), SPW_THREADS_LIMIT);
    assert_int_equal(n, 4);
    expect(3, ib, b[1], 3);
    assert_int_equal(spw_threads_fail_addr(&it), c[0]);
    assert_int_equal(f->n_reads, 1 + 2 * 2 + 1 + 3 * 4); /* c's interpreter entered, not c */
    assert_int_equal(iterate(f, rt, 3, 0, &n, &it), SPW_THREADS_LIMIT);
    assert_int_equal(n, 0);
    assert_int_equal(spw_threads_fail_addr(&it), a[0]);
    /* Interpreters. */
    assert_int_equal(iterate(f, rt, 2, 5, &n, &it), SPW_THREADS_LIMIT);
    assert_int_equal(n, 4);
    assert_int_equal(spw_threads_fail_addr(&it), ic);
    assert_int_equal(iterate(f, rt, 0, 5, &n, &it), SPW_THREADS_LIMIT);
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
    poke(f, a[0] + L->tstate_next, a[0]);
    assert_int_equal(iterate(f, rt, 3, 1, &n, &it), SPW_THREADS_CYCLE);
    assert_int_equal(n, 1);
    poke(f, a[0] + L->tstate_next, a[1]);
    poke(f, a[1] + L->tstate_next, a[0]);
    assert_int_equal(iterate(f, rt, 3, 3, &n, &it), SPW_THREADS_CYCLE);
    assert_int_equal(n, 3);
    assert_int_equal(iterate(f, rt, 3, 2, &n, &it), SPW_THREADS_LIMIT);
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
        else if (addr == base + L->tstate_thread_id) val = TID(k);
        else if (addr == base + L->tstate_native_thread_id) val = NID(k);
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
        if (t.tstate != v->t0 + k * v->stride || t.thread_id != TID(k)) fail();
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
    assert_int_equal(n, brent(0, 300000));
    assert_int_equal(last, v.t0 + (n % 300000) * v.stride);
    /* A loop of 600000 needs step 2^20 - 1 + 600000: the limit comes first. */
    v.n = 600000;
    assert_int_equal(vlist_run(&v, &n, &last), SPW_THREADS_LIMIT);
    assert_int_equal(n, SPW_THREADS_MAX);
    /* A short loop after a tail of 500000. */
    v.n = 500003;
    v.loop_to = 500000;
    assert_int_equal(vlist_run(&v, &n, &last), SPW_THREADS_CYCLE);
    assert_int_equal(n, brent(500000, 3));
    fix_free(f);
}

static void test_invalid_pointers(void **state)
{
    (void)state;
    const uint64_t top = (uint64_t)1 << 47;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        fixture *f = fix_new(fix_flavors[i]);
        const spw_layout *L = &f->s.layout;
        uint64_t ts[2];
        make_tstates(f, 2, 0, ts);
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
            assert_int_equal(iterate_all(f, bad[b], &n, &it), SPW_THREADS_INVALID);
            assert_int_equal(spw_threads_fail_addr(&it), bad[b]);
            assert_int_equal(f->n_reads, 0);
            /* The first interpreter: nothing returned, one read. */
            poke(f, rt + L->runtime_interpreters_head, bad[b]);
            assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_INVALID);
            assert_int_equal(spw_threads_fail_addr(&it), bad[b]);
            assert_int_equal(n, 0);
            assert_int_equal(f->n_reads, 1);
            poke(f, rt + L->runtime_interpreters_head, in);
            /* A later interpreter: the first one's states were returned. */
            poke(f, in + L->interp_next, bad[b]);
            assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_INVALID);
            assert_int_equal(n, 2);
            poke(f, in + L->interp_next, i2);
            /* The first state, then the second. */
            poke(f, in + L->interp_threads_head, bad[b]);
            assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_INVALID);
            assert_int_equal(n, 0);
            poke(f, in + L->interp_threads_head, ts[0]);
            poke(f, ts[0] + L->tstate_next, bad[b]);
            assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_INVALID);
            assert_int_equal(spw_threads_fail_addr(&it), bad[b]);
            assert_int_equal(n, 1);
            expect(0, in, ts[0], 0);
            poke(f, ts[0] + L->tstate_next, ts[1]);
        }
        /* A thread state that just fits below the user limit is valid (and unreadable). */
        poke(f, ts[1] + L->tstate_next, top - L->tstate_size);
        assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_UNREADABLE);
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
    assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_UNREADABLE);
    assert_int_equal(spw_threads_fail_addr(&it), p + f->s.layout.interp_threads_head);
    fix_free(f);
    f = fix_new_arch(SPW_FLAVOR_313T, SPW_ARCH_X86_64);
    rt = spw_synth_runtime(&f->s, p);
    assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_INVALID);
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
    make_tstates(f, 2, 0, a);
    make_tstates(f, 1, 2, b);
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
    poke(f, a[1] + f->s.layout.tstate_next, gone);
    assert_int_equal(iterate_all(f, rt, &n, &it), SPW_THREADS_UNREADABLE);
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
    make_tstates(f, 3, 0, ts);
    uint64_t i3 = spw_synth_interp(&f->s, &ts[1], 1, 0); /* joins the list below at ts[1] */
    uint64_t i2 = spw_synth_interp(&f->s, NULL, 0, i3);
    poke(f, i2 + f->s.layout.interp_threads_head, ts[0]); /* the same list as i1 */
    uint64_t i1 = spw_synth_interp(&f->s, ts, 3, i2);
    spw_threads_iter it;
    uint32_t n;
    assert_int_equal(iterate_all(f, spw_synth_runtime(&f->s, i1), &n, &it), SPW_THREADS_DONE);
    assert_int_equal(n, 3 + 3 + 2);
    expect(3, i2, ts[0], 0);
    expect(6, i3, ts[1], 1);
    expect(7, i3, ts[2], 2);
    fix_free(f);
}

/* begin() copies the offsets and the reader: the caller's structs may go away. */
static void test_begin_copies_layout_and_reader(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_314);
    uint64_t ts[2];
    make_tstates(f, 2, 0, ts);
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
    assert_int_equal(t.native_thread_id, NID(1));
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
        cmocka_unit_test(test_thread_cycles_every_shape),
        cmocka_unit_test(test_thread_cycles_long),
        cmocka_unit_test(test_interpreter_cycles),
        cmocka_unit_test(test_interpreter_limit_default),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_default_thread_limit_and_long_lists),
        cmocka_unit_test(test_invalid_pointers),
        cmocka_unit_test(test_arm64_user_space),
        cmocka_unit_test(test_unreadable_at_every_read),
        cmocka_unit_test(test_shared_states_are_not_cycles),
        cmocka_unit_test(test_begin_copies_layout_and_reader),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
