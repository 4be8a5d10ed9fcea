/*
 * test_walk_follow.c — deep stacks and spw_walk_args.max_follow (walk.h): the bound on the
 * frames followed once the output is full, its clamps and its 3 * p floor, what the tail
 * (the frames after the first one left out) checks and reads, cycles against the bound at
 * exactly the step Brent's check gives, and no loop ever emitted as a stack.
 */
#include "support/fixture.h"
#include "walk_body.h"

#include <stdlib.h>
#include <string.h>

/* A chain of n frames, position 0 innermost, allocated in `order` (spw_synth_chain_position:
 * falling is CPython's data stack). Every frame runs `code` at lasti = position (code has at
 * least n units), owner 0, or 3 (a C-stack shim, skipped) where position % skip_every != 0
 * (skip_every 0 or 1: none skipped). The last frame's previous is fr[loop_to], or NULL when
 * loop_to < 0. Returns the tstate; fr[] gets the frames by position. */
static uint64_t build(fixture *f, uint64_t code, uint32_t n, spw_synth_order order,
                      int64_t loop_to, uint32_t skip_every, uint64_t *fr)
{
    for (uint32_t a = 0; a < n; a++) {
        const uint32_t i = spw_synth_chain_position(order, 9, n, a);
        const uint8_t owner = skip_every > 1 && i % skip_every != 0 ? 3 : 0;
        fr[i] = spw_synth_frame(&f->s, code, i, owner, 0, 0);
        assert_int_not_equal(fr[i], 0);
    }
    for (uint32_t i = 0; i + 1 < n; i++)
        spw_synth_poke(&f->s, fr[i] + f->s.layout.frame_previous, fr[i + 1], 8);
    spw_synth_poke(&f->s, fr[n - 1] + f->s.layout.frame_previous,
                   loop_to < 0 ? 0 : fr[loop_to], 8);
    return spw_synth_tstate(&f->s, fr[0], 1, 2);
}

/* B of walk.h: the most frames a walk with depth limit `max` and `max_follow` follows, once
 * p frames were followed before the first one left out. */
static uint32_t bound(uint32_t max, uint32_t follow, uint32_t p)
{
    if (follow == 0) return SPW_WALK_BUDGET;
    const uint32_t depth = max < SPW_WALK_DEPTH_MAX ? max : SPW_WALK_DEPTH_MAX;
    uint32_t F = follow < depth ? depth : follow;
    if (F > SPW_WALK_BUDGET) F = SPW_WALK_BUDGET;
    const uint32_t b = 3 * p > F ? 3 * p : F;
    return b < SPW_WALK_BUDGET ? b : SPW_WALK_BUDGET;
}

/* The step at which Brent's check meets a tail of T frames and a loop of L again (n_visited
 * when the walk drops): 2^j - 1 + L, 2^j the first power of two >= max(T + 1, L). */
static uint32_t brent(uint32_t T, uint32_t L)
{
    uint32_t p2 = 1;
    while (p2 < T + 1 || p2 < L) p2 *= 2;
    return p2 - 1 + L;
}

static uint32_t fields(const fixture *f) { return 4 + f->s.layout.has_tlbc; }

/* The case: 20,000 frames, a depth limit of 256 and max_follow 1024 (what the live
 * handler passes: 4 x its limit). 256 frames, `truncated`, 1024 frames followed, and the
 * 767 after the first one left out each cost one read (their `previous`). max_follow 0 is
 * the walk as it was: every frame to the budget, every field read. */
static void test_deep_stack_costs_the_follow_bound(void **state)
{
    (void)state;
    enum { N = 20000 };
    uint64_t *fr = calloc(N, sizeof *fr);
    spw_frame *out = calloc(256, sizeof *out);
    assert_true(fr && out);
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++)
        for (int order = SPW_SYNTH_RISING; order <= SPW_SYNTH_CHUNKED; order++) {
            fixture *f = fix_new(fix_flavors[i]);
            const uint64_t code = fix_code(f, "deep", N);
            const uint64_t ts = build(f, code, N, (spw_synth_order)order, -1, 0, fr);
            spw_walk_result r;
            assert_int_equal(fix_walk_follow(f, ts, out, 256, 1024, &r), SPW_WALK_TRUNCATED);
            assert_int_equal(r.n_frames, 256);
            assert_int_equal(r.n_visited, 1024); /* 16384 before max_follow */
            for (uint32_t k = 0; k < 256; k++) {
                assert_int_equal(out[k].code, code);
                assert_int_equal(out[k].lasti, k);
            }
            /* tstate; every field of the 256 emitted frames and of the first left out; the
             * code object once (one for all); then `previous` alone. */
            assert_int_equal(f->n_reads, 1 + 257 * fields(f) + 2 + (1024 - 257));
            assert_int_equal(fix_walk_follow(f, ts, out, 256, 0, &r), SPW_WALK_TRUNCATED);
            assert_int_equal(r.n_frames, 256);
            assert_int_equal(r.n_visited, SPW_WALK_BUDGET);
            assert_int_equal(f->n_reads, 1 + SPW_WALK_BUDGET * fields(f) + 2);
            fix_free(f);
        }
    free(fr);
    free(out);
}

/* F is max_follow clamped to [depth limit, budget], and the walk follows max(F, 3p) frames,
 * p = 256 here: anything up to 768 is 768. 0 and the budget follow the same frames; 0 reads
 * every field of each, any other value only `previous` after the first frame left out. */
static void test_follow_bound_clamps(void **state)
{
    (void)state;
    enum { N = 20000 };
    uint64_t *fr = calloc(N, sizeof *fr);
    spw_frame *out = calloc(SPW_WALK_DEPTH_MAX, sizeof *out);
    assert_true(fr && out);
    fixture *f = fix_new(SPW_FLAVOR_313T);
    const uint64_t code = fix_code(f, "deep", N);
    const uint64_t ts = build(f, code, N, SPW_SYNTH_FALLING, -1, 0, fr);
    static const struct { uint32_t max, follow, visited; } cases[] = {
        { 256, 1, 768 },     { 256, 255, 768 },   { 256, 256, 768 },   { 256, 700, 768 },
        { 256, 768, 768 },   { 256, 769, 769 },   { 256, 1024, 1024 }, { 256, 5000, 5000 },
        { 256, SPW_WALK_BUDGET - 1, SPW_WALK_BUDGET - 1 },
        { 256, SPW_WALK_BUDGET, SPW_WALK_BUDGET }, { 256, SPW_WALK_BUDGET + 1, SPW_WALK_BUDGET },
        { 256, UINT32_MAX, SPW_WALK_BUDGET },      { 256, 0, SPW_WALK_BUDGET },
        /* the depth limit is clamped first (4096), then p = 4096 gives 3p = 12288 */
        { 5000, 1, 12288 }, { SPW_WALK_DEPTH_MAX, 12289, 12289 }, { 6000, 0, SPW_WALK_BUDGET },
        /* no room at all: the first frame is left out at p = 0, F = max_follow */
        { 0, 1, 1 }, { 0, 5, 5 }, { 1, 1, 3 }, { 2, 1, 6 }, { 10, 1, 30 }, { 10, 31, 31 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        spw_walk_result r;
        assert_int_equal(fix_walk_follow(f, ts, out, cases[c].max, cases[c].follow, &r),
                         SPW_WALK_TRUNCATED);
        const uint32_t depth = cases[c].max < SPW_WALK_DEPTH_MAX ? cases[c].max : SPW_WALK_DEPTH_MAX;
        assert_int_equal(r.n_frames, depth);
        assert_int_equal(r.n_visited, cases[c].visited);
        assert_int_equal(r.n_visited, bound(cases[c].max, cases[c].follow, depth));
    }
    /* The budget and 0: the same walk but for what it reads past the first frame left out. */
    spw_walk_result r0, rb;
    spw_frame *again = calloc(256, sizeof *again);
    assert_non_null(again);
    fix_walk_follow(f, ts, out, 256, 0, &r0);
    const uint32_t reads0 = f->n_reads;
    fix_walk_follow(f, ts, again, 256, SPW_WALK_BUDGET, &rb);
    assert_memory_equal(&r0, &rb, sizeof r0);
    assert_memory_equal(out, again, 256 * sizeof *out);
    assert_int_equal(reads0, 1 + SPW_WALK_BUDGET * 4 + 2);
    assert_int_equal(f->n_reads, 1 + 257 * 4 + 2 + (SPW_WALK_BUDGET - 257));
    /* A chain that ends inside the bound is followed to its end. */
    spw_synth_poke(&f->s, fr[899] + f->s.layout.frame_previous, 0, 8);
    assert_int_equal(fix_walk_follow(f, ts, out, 256, 1024, &r0), SPW_WALK_TRUNCATED);
    assert_int_equal(r0.n_visited, 900);
    /* ... and one that ends at the bound's last frame is not cut by it. */
    spw_synth_poke(&f->s, fr[899] + f->s.layout.frame_previous, fr[900], 8);
    spw_synth_poke(&f->s, fr[1023] + f->s.layout.frame_previous, 0, 8);
    assert_int_equal(fix_walk_follow(f, ts, out, 256, 1024, &r0), SPW_WALK_TRUNCATED);
    assert_int_equal(r0.n_visited, 1024);
    /* A stack that fits is `ok` whatever the bound: nothing is left out, no tail. */
    assert_int_equal(fix_walk_follow(f, ts, out, 2000, 1, &r0), SPW_WALK_OK);
    assert_int_equal(r0.n_frames, 1024);
    assert_int_equal(fix_walk_follow(f, ts, out, 1024, 1, &r0), SPW_WALK_OK);
    assert_int_equal(r0.n_frames, 1024);
    assert_int_equal(r0.n_visited, 1024);
    free(again);
    fix_free(f);
    free(fr);
    free(out);
}

/* Walk a tail of T frames into a loop of L (rising addresses: every step rises, so the
 * careful loop takes every frame before the first left out and its 8-frame window catches
 * only L <= 8), with depth limit `max`, and check the outcome walk.h states exactly: Brent
 * meets the loop at step brent(T, L); the walk reports `cycle` there if that step is within
 * the bound, else `truncated` after B frames with the first `max` frames, all distinct. */
static void check_loop_against_bound(fixture *f, uint64_t code, uint64_t *fr, uint32_t T,
                                     uint32_t L, uint32_t max, uint32_t follow)
{
    const size_t mark = f->s.used;
    const uint64_t ts = build(f, code, T + L, SPW_SYNTH_RISING, T, 0, fr);
    spw_frame out[SPW_WALK_DEPTH_MAX];
    spw_walk_result r;
    const uint32_t B = bound(max, follow, max); /* every frame is a Python frame: p = max */
    const uint32_t d = brent(T, L);
    fix_walk_follow(f, ts, out, max, follow, &r);
    if (T + L <= B / 3) assert_true(d <= B - 1); /* walk.h's promise, from the formula */
    if (d <= B - 1) {
        assert_int_equal(r.status, SPW_WALK_DROPPED);
        assert_int_equal(r.reason, SPW_REASON_CYCLE);
        assert_int_equal(r.n_visited, d);
    } else {
        assert_int_equal(r.status, SPW_WALK_TRUNCATED);
        assert_int_equal(r.n_visited, B);
        assert_int_equal(r.n_frames, max);
        /* No frame emitted twice: the frames are the loop's first `max`, in order. */
        assert_true(max <= T + L);
        for (uint32_t k = 0; k < max; k++) assert_int_equal(out[k].lasti, k);
    }
    f->s.used = mark;
}

static void test_cycles_against_the_bound(void **state)
{
    (void)state;
    enum { N = 2100 };
    uint64_t *fr = calloc(N, sizeof *fr);
    assert_non_null(fr);
    fixture *f = fix_new(SPW_FLAVOR_314T);
    const uint64_t code = fix_code(f, "loop", N);
    /* Just under and over F / 3, where Brent is tightest (L - 1 a power of two, no tail):
     * F = 769, p = 100 < F / 3. L = 256 <= F / 3: caught at 511. L = 257, just over F / 3:
     * caught at 768, the last frame followed. L = 258: it would be at 769, past the bound:
     * `truncated` after 769 frames, the loop's first 100 emitted. */
    check_loop_against_bound(f, code, fr, 0, 256, 100, 769);
    check_loop_against_bound(f, code, fr, 0, 257, 100, 769);
    check_loop_against_bound(f, code, fr, 0, 258, 100, 769);
    /* The live handler's 256 / 1024: up to 512 frames of loop are caught, 513 are not. */
    check_loop_against_bound(f, code, fr, 0, 341, 256, 1024);
    check_loop_against_bound(f, code, fr, 0, 512, 256, 1024);
    check_loop_against_bound(f, code, fr, 0, 513, 256, 1024);
    check_loop_against_bound(f, code, fr, 511, 1, 256, 1024); /* 2^9 > 511: caught at 512 */
    check_loop_against_bound(f, code, fr, 512, 1, 256, 1024); /* 2^10 > 512: not by 1023 */
    static const uint32_t tails[] = { 0, 1, 2, 7, 99, 100, 101, 200, 255, 256, 257, 340, 700 };
    static const uint32_t loops[] = { 9, 10, 33, 64, 65, 85, 86, 100, 128, 129, 200, 255, 256,
                                      257, 300, 341, 342, 500, 1000 };
    static const uint32_t follows[] = { 1, 300, 769, 1024, 2000 };
    static const uint32_t maxes[] = { 1, 100, 256 };
    for (size_t a = 0; a < sizeof tails / sizeof tails[0]; a++)
        for (size_t b = 0; b < sizeof loops / sizeof loops[0]; b++)
            for (size_t c = 0; c < sizeof follows / sizeof follows[0]; c++)
                for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++)
                    check_loop_against_bound(f, code, fr, tails[a], loops[b], maxes[m],
                                             follows[c]);
    fix_free(f);
    free(fr);
}

/* Past the first frame left out the 8-frame window is not used (walk.h): a short loop
 * there is caught by Brent's check alone, so later, or, past the bound, not at all (then
 * `truncated`, with the frames before the loop). With max_follow 0 the window catches it
 * at its first repeat, as it always did. Frames below rising, so that the window is exact. */
static void test_short_loop_in_the_tail(void **state)
{
    (void)state;
    enum { N = 1100 };
    uint64_t *fr = calloc(N, sizeof *fr);
    assert_non_null(fr);
    fixture *f = fix_new(SPW_FLAVOR_313);
    const uint64_t code = fix_code(f, "tail", N);
    static const struct { uint32_t T, L, follow; spw_status st; uint32_t visited; } cases[] = {
        { 340, 1, 1024, SPW_WALK_DROPPED, 512 },   /* Brent: 2^9 - 1 + 1 */
        { 340, 1, 0, SPW_WALK_DROPPED, 341 },      /* the window, at the first repeat */
        { 1000, 2, 1024, SPW_WALK_TRUNCATED, 1024 }, /* Brent would need step 1025 */
        { 1000, 2, 0, SPW_WALK_DROPPED, 1002 },
        { 1000, 8, 1024, SPW_WALK_TRUNCATED, 1024 },
        { 1000, 8, 1031, SPW_WALK_TRUNCATED, 1031 }, /* 2^10 - 1 + 8: one too far */
        { 1000, 8, 1032, SPW_WALK_DROPPED, 1031 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const size_t mark = f->s.used;
        const uint64_t ts = build(f, code, cases[c].T + cases[c].L, SPW_SYNTH_RISING,
                                  cases[c].T, 0, fr);
        spw_frame out[256];
        spw_walk_result r;
        assert_int_equal(fix_walk_follow(f, ts, out, 256, cases[c].follow, &r), cases[c].st);
        assert_int_equal(r.n_visited, cases[c].visited);
        assert_int_equal(r.n_frames, 256);
        if (cases[c].st == SPW_WALK_DROPPED) assert_int_equal(r.reason, SPW_REASON_CYCLE);
        for (uint32_t k = 0; k < 256; k++) assert_int_equal(out[k].lasti, k);
        f->s.used = mark;
    }
    fix_free(f);
    free(fr);
}

/* Why the bound is max(F, 3p) and not F: a stack of mostly skipped frames fills its output
 * late. A loop of 600 frames, one in 4 a Python frame, with 256 / 1024: the 257th Python
 * frame is at step 1024 (p), so the walk may follow 3072; Brent meets the loop at step 1623.
 * Stopped at 1024 it would have emitted 256 frames of which 106 repeat the loop: a cycle
 * emitted as a stack. The same stack without the loop is followed to 3072. */
static void test_skipped_frames_cannot_emit_a_loop(void **state)
{
    (void)state;
    enum { N = 4000 };
    uint64_t *fr = calloc(N, sizeof *fr);
    assert_non_null(fr);
    for (int order = SPW_SYNTH_RISING; order <= SPW_SYNTH_CHUNKED; order++) {
        fixture *f = fix_new(SPW_FLAVOR_313T);
        const uint64_t code = fix_code(f, "skip", N);
        spw_frame out[256];
        spw_walk_result r;
        uint64_t ts = build(f, code, 600, (spw_synth_order)order, 0, 4, fr);
        assert_int_equal(fix_walk_follow(f, ts, out, 256, 1024, &r), SPW_WALK_DROPPED);
        assert_int_equal(r.reason, SPW_REASON_CYCLE);
        assert_true(r.n_visited <= brent(0, 600));
        if (order == SPW_SYNTH_RISING) assert_int_equal(r.n_visited, brent(0, 600));
        ts = build(f, code, N, (spw_synth_order)order, -1, 4, fr);
        assert_int_equal(fix_walk_follow(f, ts, out, 256, 1024, &r), SPW_WALK_TRUNCATED);
        assert_int_equal(r.n_frames, 256);
        assert_int_equal(r.n_visited, 3072);
        for (uint32_t k = 0; k < 256; k++) assert_int_equal(out[k].lasti, 4 * k);
        fix_free(f);
    }
    free(fr);
}

/* Every loop of at most B / 3 frames is a cycle in every address order (falling and
 * chunked: the fast loop and the tail's falling runs, which skip the tortoise when it lies
 * above them), and a longer one is a cycle or `truncated` after exactly B frames. */
static void test_cycles_every_order(void **state)
{
    (void)state;
    enum { N = 1400 };
    uint64_t *fr = calloc(N, sizeof *fr);
    assert_non_null(fr);
    fixture *f = fix_new(SPW_FLAVOR_314);
    const uint64_t code = fix_code(f, "o", N);
    static const uint32_t tails[] = { 0, 1, 5, 64, 100, 101, 300, 1000 };
    static const uint32_t loops[] = { 1, 2, 8, 9, 31, 100, 200, 340, 341, 342, 400 };
    for (int order = SPW_SYNTH_RISING; order <= SPW_SYNTH_CHUNKED; order++)
        for (size_t a = 0; a < sizeof tails / sizeof tails[0]; a++)
            for (size_t b = 0; b < sizeof loops / sizeof loops[0]; b++) {
                const uint32_t T = tails[a], L = loops[b];
                const size_t mark = f->s.used;
                const uint64_t ts = build(f, code, T + L, (spw_synth_order)order, T, 0, fr);
                spw_frame out[100];
                spw_walk_result r;
                const uint32_t B = bound(100, 1024, 100);
                fix_walk_follow(f, ts, out, 100, 1024, &r);
                if (T + L <= B / 3) {
                    assert_int_equal(r.status, SPW_WALK_DROPPED);
                    assert_int_equal(r.reason, SPW_REASON_CYCLE);
                } else if (r.status != SPW_WALK_DROPPED) {
                    assert_int_equal(r.status, SPW_WALK_TRUNCATED);
                    assert_int_equal(r.n_visited, B);
                } else {
                    assert_int_equal(r.reason, SPW_REASON_CYCLE);
                }
                assert_true(r.n_visited <= brent(T, L)); /* never later than Brent */
                if (r.status != SPW_WALK_DROPPED)
                    for (uint32_t k = 0; k < r.n_frames; k++) assert_int_equal(out[k].lasti, k);
                f->s.used = mark;
            }
    fix_free(f);
    free(fr);
}

/* What the tail checks: links only. 20 frames, depth limit 4, max_follow 8: the first
 * frame left out is frame 4 (p = 4), so B = 12. From frame 5 on, a bogus owner or a
 * garbage executable is not judged (with max_follow 0 the owner is: `invalid_frame`); a bad
 * `previous` is `invalid_frame`, an unreadable one `unreadable`, at the same step either
 * way; anything past frame 11 is never reached. Before and at frame 4 every rule holds. */
static void test_tail_checks_links_only(void **state)
{
    (void)state;
    enum { N = 20 };
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        fixture *f = fix_new(fix_flavors[i]);
        const spw_layout *L = &f->s.layout;
        const uint64_t code = fix_code(f, "t", N);
        uint64_t fr[N];
        const uint64_t ts = build(f, code, N, SPW_SYNTH_FALLING, -1, 0, fr);
        const struct {
            uint32_t at, field, width;
            uint64_t value;
            spw_status st8, st0;         /* with max_follow 8, and 0 */
            spw_reason why8, why0;
            uint32_t visited8, visited0;
        } cases[] = {
            { 6, L->frame_owner, 1, 0xff, SPW_WALK_TRUNCATED, SPW_WALK_DROPPED, SPW_REASON_NONE,
              SPW_REASON_INVALID_FRAME, 12, 7 },
            { 11, L->frame_owner, 1, L->owner_max + 1u, SPW_WALK_TRUNCATED, SPW_WALK_DROPPED,
              SPW_REASON_NONE, SPW_REASON_INVALID_FRAME, 12, 12 },
            { 6, L->frame_executable, 8, 0x18, SPW_WALK_TRUNCATED, SPW_WALK_TRUNCATED,
              SPW_REASON_NONE, SPW_REASON_NONE, 12, N },
            { 6, L->frame_instr_ptr, 8, 3, SPW_WALK_TRUNCATED, SPW_WALK_TRUNCATED,
              SPW_REASON_NONE, SPW_REASON_NONE, 12, N },
            { 6, L->frame_previous, 8, 0x10, SPW_WALK_DROPPED, SPW_WALK_DROPPED,
              SPW_REASON_INVALID_FRAME, SPW_REASON_INVALID_FRAME, 7, 7 },
            { 6, L->frame_previous, 8, fr[6] + 4, SPW_WALK_DROPPED, SPW_WALK_DROPPED,
              SPW_REASON_INVALID_FRAME, SPW_REASON_INVALID_FRAME, 7, 7 },
            { 6, L->frame_previous, 8, 0x10000, SPW_WALK_DROPPED, SPW_WALK_DROPPED,
              SPW_REASON_UNREADABLE, SPW_REASON_UNREADABLE, 8, 8 },
            /* a self-loop: Brent's step 8 in the tail, the window's 7 without one */
            { 6, L->frame_previous, 8, fr[6], SPW_WALK_DROPPED, SPW_WALK_DROPPED,
              SPW_REASON_CYCLE, SPW_REASON_CYCLE, 8, 7 },
            { 11, L->frame_previous, 8, 0x10, SPW_WALK_TRUNCATED, SPW_WALK_DROPPED,
              SPW_REASON_NONE, SPW_REASON_INVALID_FRAME, 12, 12 },
            { 12, L->frame_previous, 8, 0x10, SPW_WALK_TRUNCATED, SPW_WALK_DROPPED,
              SPW_REASON_NONE, SPW_REASON_INVALID_FRAME, 12, 13 },
            /* frame 4, the first left out, and frame 2, emitted: every rule */
            { 4, L->frame_owner, 1, 0xff, SPW_WALK_DROPPED, SPW_WALK_DROPPED,
              SPW_REASON_INVALID_FRAME, SPW_REASON_INVALID_FRAME, 5, 5 },
            { 2, L->frame_instr_ptr, 8, 3, SPW_WALK_DROPPED, SPW_WALK_DROPPED,
              SPW_REASON_INVALID_FRAME, SPW_REASON_INVALID_FRAME, 3, 3 },
            { 2, L->frame_executable, 8, 0x18, SPW_WALK_DROPPED, SPW_WALK_DROPPED,
              SPW_REASON_INVALID_CODE, SPW_REASON_INVALID_CODE, 3, 3 },
        };
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            const uint64_t at = fr[cases[c].at] + cases[c].field;
            const uint8_t *p = spw_synth_ptr(&f->s, at, cases[c].width);
            assert_non_null(p);
            const uint64_t was = cases[c].width == 8 ? spw_le64(p) : p[0];
            spw_synth_poke(&f->s, at, cases[c].value, cases[c].width);
            spw_frame out[4];
            spw_walk_result r;
            assert_int_equal(fix_walk_follow(f, ts, out, 4, 8, &r), cases[c].st8);
            assert_int_equal(r.reason, cases[c].why8);
            assert_int_equal(r.n_visited, cases[c].visited8);
            if (cases[c].st8 != SPW_WALK_DROPPED) assert_int_equal(r.n_frames, 4);
            assert_int_equal(fix_walk_follow(f, ts, out, 4, 0, &r), cases[c].st0);
            assert_int_equal(r.reason, cases[c].why0);
            assert_int_equal(r.n_visited, cases[c].visited0);
            spw_synth_poke(&f->s, at, was, cases[c].width);
        }
        fix_free(f);
    }
}


static void test_unreadable_at_every_read_of_a_tail(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++)
        for (int order = SPW_SYNTH_RISING; order <= SPW_SYNTH_FALLING; order++) {
            fixture *f = fix_new(fix_flavors[i]);
            const uint64_t code = fix_code(f, "u", 16);
            uint64_t fr[16];
            const uint64_t ts = build(f, code, 16, (spw_synth_order)order, -1, 0, fr);
            spw_frame out[2];
            spw_walk_result r;
            /* depth 2, max_follow 2: p = 2, B = 6 */
            assert_int_equal(fix_walk_follow(f, ts, out, 2, 2, &r), SPW_WALK_TRUNCATED);
            assert_int_equal(r.n_visited, 6);
            const uint32_t total = f->n_reads;
            assert_int_equal(total, 1 + 3 * fields(f) + 2 + 3);
            for (uint32_t k = 0; k < total; k++) {
                fix_failing fl = { &f->s, k, 0 };
                spw_reader rd = { fix_failing_read, &fl };
                spw_walk_args a = { .layout = &f->s.layout, .code_type = f->s.code_type,
                                    .tstate = ts, .frames = out, .max_frames = 2,
                                    .max_follow = 2 };
                assert_int_equal(spw_walk(&a, &rd, &r), SPW_WALK_DROPPED);
                assert_int_equal(r.reason, SPW_REASON_UNREADABLE);
                assert_int_equal(fl.n_reads, k + 1);
                fl = (fix_failing){ &f->s, k, 0 };
                assert_int_equal(spw_walk_shape_instance(&a, &rd, &r), SPW_WALK_DROPPED);
                assert_int_equal(fl.n_reads, k + 1);
            }
            fix_free(f);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_stack_costs_the_follow_bound),
        cmocka_unit_test(test_follow_bound_clamps),
        cmocka_unit_test(test_cycles_against_the_bound),
        cmocka_unit_test(test_short_loop_in_the_tail),
        cmocka_unit_test(test_skipped_frames_cannot_emit_a_loop),
        cmocka_unit_test(test_cycles_every_order),
        cmocka_unit_test(test_tail_checks_links_only),
        cmocka_unit_test(test_unreadable_at_every_read_of_a_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
