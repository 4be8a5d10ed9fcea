/*
 * test_walk.c — the walker: every status and drop reason, each validation rule on its
 * own, cycles, the depth limit, incomplete frames, tagged executables, thread-local
 * bytecode, and determinism. Most tests run over all four interpreter layouts.
 */
#include "support/fixture.h"
#include "chase.h"

#include <stdio.h>
#include <stdlib.h>

#include <string.h>

#define MAXF 512

/* Build a chain of n frames, frame 0 innermost; code i runs at lasti = i. Returns the
 * tstate; frames[] receives the frame addresses. */
static uint64_t chain(fixture *f, uint32_t n, uint64_t *frames, uint64_t *codes)
{
    uint64_t prev = 0;
    for (uint32_t k = n; k-- > 0;) {
        char name[32];
        snprintf(name, sizeof name, "fn%u", k);
        codes[k] = fix_code(f, name, 64);
        frames[k] = spw_synth_frame(&f->s, codes[k], k % 64, 0, prev, 0);
        assert_int_not_equal(frames[k], 0);
        prev = frames[k];
    }
    return spw_synth_tstate(&f->s, n ? frames[0] : 0, 1, 2);
}

static void test_ok_every_flavor(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        fixture *f = fix_new(fix_flavors[i]);
        uint64_t fr[10], co[10];
        uint64_t ts = chain(f, 10, fr, co);
        spw_frame out[MAXF];
        spw_walk_result r;
        assert_int_equal(fix_walk(f, ts, out, MAXF, &r), SPW_WALK_OK);
        assert_int_equal(r.n_frames, 10);
        assert_int_equal(r.n_visited, 10);
        for (uint32_t k = 0; k < 10; k++) {
            assert_int_equal(out[k].code, co[k]);
            assert_int_equal(out[k].lasti, k);
        }
        fix_free(f);
    }
}

static void test_empty_stack_is_ok(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_313T);
    uint64_t ts = spw_synth_tstate(&f->s, 0, 1, 2);
    spw_frame out[4];
    spw_walk_result r;
    assert_int_equal(fix_walk(f, ts, out, 4, &r), SPW_WALK_OK);
    assert_int_equal(r.n_frames, 0);
    assert_int_equal(f->n_reads, 1);
    fix_free(f);
}

static void test_depth_limit_truncates(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        fixture *f = fix_new(fix_flavors[i]);
        uint64_t fr[20], co[20];
        uint64_t ts = chain(f, 20, fr, co);
        spw_frame out[MAXF];
        spw_walk_result r;
        assert_int_equal(fix_walk(f, ts, out, 5, &r), SPW_WALK_TRUNCATED);
        assert_int_equal(r.n_frames, 5);
        assert_int_equal(r.n_visited, 20); /* the rest of the chain is still checked */
        for (uint32_t k = 0; k < 5; k++) assert_int_equal(out[k].code, co[k]);
        /* Exactly at the limit: nothing was cut. */
        assert_int_equal(fix_walk(f, ts, out, 20, &r), SPW_WALK_OK);
        assert_int_equal(fix_walk(f, ts, out, 0, &r), SPW_WALK_TRUNCATED);
        assert_int_equal(r.n_frames, 0);
        fix_free(f);
    }
}

static void test_budget_truncates_long_acyclic_chain(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_313);
    uint64_t code = fix_code(f, "deep", 8);
    uint64_t prev = 0, first = 0;
    /* One frame longer than the budget; the outermost ones are shared code. */
    for (uint32_t k = 0; k < SPW_WALK_BUDGET + 1; k++) {
        prev = spw_synth_frame(&f->s, code, 1, 0, prev, 0);
        assert_int_not_equal(prev, 0);
        if (k == 0) first = prev;
    }
    (void)first;
    uint64_t ts = spw_synth_tstate(&f->s, prev, 1, 2);
    spw_frame out[8];
    spw_walk_result r;
    assert_int_equal(fix_walk(f, ts, out, 8, &r), SPW_WALK_TRUNCATED);
    assert_int_equal(r.n_visited, SPW_WALK_BUDGET);
    assert_int_equal(r.n_frames, 8);
    fix_free(f);
}

/* A chain of exactly SPW_WALK_BUDGET frames ends within the budget: not truncated. Its
 * frames are interpreter shims (owner 3), skipped, so the depth limit does not truncate it
 * either; one frame more is truncated at the budget. */
static void test_budget_holds_a_chain_of_its_length(void **state)
{
    (void)state;
    for (uint32_t extra = 0; extra < 2; extra++) {
        fixture *f = fix_new(SPW_FLAVOR_313);
        uint64_t code = fix_code(f, "shim", 8);
        uint64_t prev = 0;
        for (uint32_t k = 0; k < SPW_WALK_BUDGET + extra; k++) {
            prev = spw_synth_frame(&f->s, code, 1, 3, prev, 0);
            assert_int_not_equal(prev, 0);
        }
        uint64_t ts = spw_synth_tstate(&f->s, prev, 1, 2);
        spw_frame out[8];
        spw_walk_result r;
        assert_int_equal(fix_walk(f, ts, out, 8, &r), extra ? SPW_WALK_TRUNCATED : SPW_WALK_OK);
        assert_int_equal(r.n_visited, SPW_WALK_BUDGET);
        assert_int_equal(r.n_frames, 0);
        fix_free(f);
    }
}

/* A chain of `tail` frames leading into a loop of `loop` frames, its addresses rising along
 * the chain (every step goes up: the careful loop searches its window at each) or falling
 * (only the step that closes the loop goes up: the fast loop takes the rest, and its
 * tortoise check must catch a loop longer than the window). */
static void check_cycle(spw_flavor flavor, uint32_t tail, uint32_t loop, uint32_t max,
                        int falling)
{
    fixture *f = fix_new(flavor);
    uint64_t code = fix_code(f, "loop", 8);
    uint32_t n = tail + loop;
    uint64_t *fr = calloc(n, sizeof *fr);
    assert_non_null(fr);
    for (uint32_t k = 0; k < n; k++)
        fr[falling ? n - 1 - k : k] = spw_synth_frame(&f->s, code, 0, 0, 0, 0);
    for (uint32_t k = 0; k + 1 < n; k++)
        spw_synth_poke(&f->s, fr[k] + f->s.layout.frame_previous, fr[k + 1], 8);
    spw_synth_poke(&f->s, fr[n - 1] + f->s.layout.frame_previous, fr[tail], 8);
    uint64_t ts = spw_synth_tstate(&f->s, fr[0], 1, 2);
    spw_frame out[MAXF];
    spw_walk_result r;
    assert_int_equal(fix_walk(f, ts, out, max, &r), SPW_WALK_DROPPED);
    assert_int_equal(r.reason, SPW_REASON_CYCLE);
    /* Caught within Brent's bound: at most tail + loop + 2 * max(tail + 1, loop) steps. */
    uint32_t m = tail + 1 > loop ? tail + 1 : loop;
    assert_true(r.n_visited <= tail + loop + 2 * m);
    free(fr);
    fix_free(f);
}

static void test_cycles(void **state)
{
    (void)state;
    static const uint32_t lengths[] = { 1, 2, 8, 9, 10, 33, 81, 100, 300, 5000 };
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++)
        for (size_t j = 0; j < sizeof lengths / sizeof lengths[0]; j++)
            for (int falling = 0; falling < 2; falling++) {
                check_cycle(fix_flavors[i], 0, lengths[j], MAXF, falling);
                check_cycle(fix_flavors[i], 3, lengths[j], MAXF, falling);
                check_cycle(fix_flavors[i], 1000, lengths[j], 4, falling); /* past the limit */
            }
}

static void test_short_cycle_caught_by_its_second_turn(void **state)
{
    (void)state;
    /* The 8-frame window catches a loop of up to 8 frames early, whatever the tail before it
     * and whichever way the addresses run. Rising, every step searches the window: the walk
     * stops at the first repeat, after tail + loop frames. Falling, as in CPython's data
     * stack, only the step that closes the loop goes up and the fast loop, which does not
     * write the window, may have taken the frame that repeats first; the careful loop takes
     * every frame after the rise, so a frame repeats inside the window by the end of the
     * second turn: after at most tail + 2 * loop frames. */
    for (int falling = 0; falling < 2; falling++)
        for (uint32_t tail = 0; tail <= 25; tail++)
            for (uint32_t loop = 1; loop <= 8; loop++) {
                /* tails up to 25: the frame that repeats first then sits in every slot of
                 * the window, at steps where Brent's tortoise is not on it (23: slot 7) */
                fixture *f = fix_new(SPW_FLAVOR_314T);
                uint64_t code = fix_code(f, "w", 4);
                const uint32_t n = tail + loop;
                uint64_t fr[33];
                for (uint32_t k = 0; k < n; k++) {
                    uint64_t frame = spw_synth_frame(&f->s, code, 0, 0, 0, 0);
                    fr[falling ? n - 1 - k : k] = frame; /* frames are allocated rising */
                }
                for (uint32_t k = 0; k < n; k++)
                    spw_synth_poke(&f->s, fr[k] + f->s.layout.frame_previous,
                                   fr[k + 1 < n ? k + 1 : tail], 8);
                uint64_t ts = spw_synth_tstate(&f->s, fr[0], 1, 2);
                spw_frame out[32];
                spw_walk_result r;
                assert_int_equal(fix_walk(f, ts, out, 32, &r), SPW_WALK_DROPPED);
                assert_int_equal(r.reason, SPW_REASON_CYCLE);
                if (!falling) {
                    assert_int_equal(r.n_visited, n);
                } else {
                    assert_in_range(r.n_visited, n, n + loop);
                }
                fix_free(f);
            }
}

/* The careful loop and the fast one must give the same answers, wherever the walk passes
 * from one to the other: at every power-of-two step, at each rise in address and the 8
 * steps after it, at the depth limit, with frames to skip inside a fast run. Against the
 * stack as built, for every address order, length and limit around those edges, and with
 * follow bounds around them (the tail: the frames after the first one left out). */
static void test_hand_overs_change_nothing(void **state)
{
    (void)state;
    static const uint32_t lengths[] = { 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40,
                                        63, 64, 65, 127, 128, 129, 255, 256, 257 };
    static const uint32_t chunks[] = { 1, 2, 3, 7, 8, 9, 16, 50 };
    enum { N = 257 };
    fixture *f = fix_new(SPW_FLAVOR_313T);
    uint64_t codes[3] = { fix_code(f, "a", 300), fix_code(f, "b", 300), fix_code(f, "c", 300) };
    uint64_t *fr = calloc(N, sizeof *fr);
    spw_frame *want = calloc(N, sizeof *want), *out = calloc(N + 1, sizeof *out);
    assert_true(fr && want && out);
    size_t mark = f->s.used; /* each stack is built afresh from here */
    for (int order = SPW_SYNTH_RISING; order <= SPW_SYNTH_CHUNKED; order++)
        for (size_t ci = 0; ci < (order == SPW_SYNTH_CHUNKED ? sizeof chunks / sizeof chunks[0] : 1); ci++)
            for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++)
                for (int skips = 0; skips < 2; skips++) {
                    const uint32_t n = lengths[li];
                    f->s.used = mark;
                    uint32_t n_want = 0;
                    for (uint32_t a = 0; a < n; a++) {
                        const uint32_t i = spw_synth_chain_position((spw_synth_order)order,
                                                                    chunks[ci], n, a);
                        /* One code object for runs of 1-3 frames; with skips, a NULL
                         * executable every 5th frame and a C-stack frame every 7th. */
                        const uint64_t code = skips && i % 5 == 4 ? 0 : codes[(i / (1 + i % 3)) % 3];
                        const uint8_t owner = skips && i % 7 == 6 ? 3 : 0;
                        fr[i] = spw_synth_frame(&f->s, code, i % 300, owner, 0, 0);
                        assert_int_not_equal(fr[i], 0);
                    }
                    for (uint32_t i = 0; i < n; i++) {
                        if (i + 1 < n)
                            spw_synth_poke(&f->s, fr[i] + f->s.layout.frame_previous, fr[i + 1], 8);
                        const int skipped = skips && (i % 5 == 4 || i % 7 == 6);
                        if (!skipped) {
                            want[n_want].code = codes[(i / (1 + i % 3)) % 3];
                            want[n_want++].lasti = i % 300;
                        }
                    }
                    const uint64_t ts = spw_synth_tstate(&f->s, fr[0], 1, 2);
                    const uint32_t limits[] = { 0, 1, n_want ? n_want - 1 : 0, n_want, n_want + 1,
                                                n_want / 2, 3, 64 };
                    for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++) {
                        const uint32_t max = limits[k];
                        /* With a follow bound (walk.h) too: once the first Python frame is
                         * left out, at position p, the tail takes the rest, up to
                         * B = max(F, 3p) frames, F = max_follow clamped to [max, budget]. */
                        uint32_t p = 0;
                        for (uint32_t seen = 0; p < n; p++) {
                            const int skipped = skips && (p % 5 == 4 || p % 7 == 6);
                            if (!skipped && seen++ == max) break;
                        }
                        const uint32_t follows[] = { 0, 1, max, max + 1, 2 * max + 1, 3 * max,
                                                     n / 2, n, SPW_WALK_BUDGET };
                        for (size_t m = 0; m < sizeof follows / sizeof follows[0]; m++) {
                            const uint32_t follow = follows[m];
                            spw_walk_result r;
                            fix_walk_follow(f, ts, out, max, follow, &r);
                            const uint32_t n_out = n_want < max ? n_want : max;
                            uint32_t visited = n;
                            if (follow != 0 && n_want > max) {
                                const uint32_t F = follow < max ? max : follow;
                                const uint32_t B = 3 * p > F ? 3 * p : F;
                                visited = B < n ? B : n;
                            }
                            assert_int_equal(r.status, n_want > max ? SPW_WALK_TRUNCATED : SPW_WALK_OK);
                            assert_int_equal(r.n_visited, visited);
                            assert_int_equal(r.n_frames, n_out);
                            for (uint32_t j = 0; j < n_out; j++) {
                                assert_int_equal(out[j].code, want[j].code);
                                assert_int_equal(out[j].lasti, want[j].lasti);
                            }
                        }
                    }
                }
    free(fr);
    free(want);
    free(out);
    fix_free(f);
}

/* spw_span_ok() with spw_span_bound() is spw_addr_ok(.., 8) split in two: same answers at
 * every edge and on a sweep of mixed values. */
static void test_span_check_matches_addr_ok(void **state)
{
    (void)state;
    static const spw_arch arches[] = { SPW_ARCH_X86_64, SPW_ARCH_AARCH64, SPW_ARCH_UNKNOWN };
    for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++) {
        uint64_t lim = spw_arch_user_limit(arches[i]);
        const uint64_t lens[] = { 0, 1, 8, 72, 4096, lim - SPW_ADDR_MIN, lim - SPW_ADDR_MIN + 1,
                                  lim, lim + 1, ~0ull };
        for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
            uint64_t len = lens[j], bound = spw_span_bound(arches[i], len);
            const uint64_t edges[] = { 0, 1, 7, 8, SPW_ADDR_MIN - 8, SPW_ADDR_MIN - 1,
                                       SPW_ADDR_MIN, SPW_ADDR_MIN + 1, SPW_ADDR_MIN + 4,
                                       SPW_ADDR_MIN + 8, lim - len - 8, lim - len - 1,
                                       lim - len, lim - len + 1, lim - len + 8, lim - 8, lim,
                                       lim + 8, 1ull << 61, 1ull << 63, ~0ull - 7, ~0ull };
            for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++)
                assert_int_equal(spw_span_ok(edges[e], bound),
                                 spw_addr_ok(arches[i], edges[e], len, 8));
            uint64_t x = 0x9e3779b97f4a7c15ull ^ len;
            for (int n = 0; n < 20000; n++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                uint64_t addr = x >> (x & 31); /* every magnitude, both alignments */
                assert_int_equal(spw_span_ok(addr, bound), spw_addr_ok(arches[i], addr, len, 8));
            }
        }
    }
}

/* The shapes compiled into walk_body.h are exactly those of the real blobs, each is found by
 * spw_walk_shape_flavor(), and a change to any one field makes a shape unknown (so a patch
 * release that moved a field is walked with run-time offsets, never with stale constants). */
static void test_known_shapes_are_the_builds(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        const spw_flavor f = fix_flavors[i];
        fixture *fx = fix_new(f);
        const spw_walk_shape S = spw_walk_shape_of(&fx->s.layout), K = spw_walk_shape_known(f);
#define SAME(field) assert_int_equal(K.field, S.field);
        SPW_WALK_SHAPE_FIELDS(SAME)
#undef SAME
        assert_int_equal(spw_walk_shape_flavor(&S), f);
#define CHANGED(field)                                                                         \
    {                                                                                          \
        spw_walk_shape T = S;                                                                  \
        T.field += 1;                                                                          \
        assert_int_equal(spw_walk_shape_flavor(&T), SPW_FLAVOR_COUNT_);                        \
    }
        SPW_WALK_SHAPE_FIELDS(CHANGED)
#undef CHANGED
        fix_free(fx);
    }
}

/* The benchmarks' yardstick emits exactly what the walker does on a well-formed stack. */
static void test_unchecked_chase_matches_walker(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        fixture *f = fix_new(fix_flavors[i]);
        uint64_t fr[40], co[40];
        uint64_t ts = chain(f, 40, fr, co);
        /* and a C-stack shim frame in the middle, which both must skip */
        uint64_t shim = spw_synth_frame(&f->s, f->s.none, 0, f->s.layout.owner_incomplete,
                                        fr[21], 0);
        spw_synth_poke(&f->s, fr[20] + f->s.layout.frame_previous, shim, 8);
        spw_frame out[MAXF], chased[MAXF];
        spw_walk_result r;
        assert_int_equal(fix_walk(f, ts, out, MAXF, &r), SPW_WALK_OK);
        assert_int_equal(r.n_frames, 40);
        const spw_walk_shape sh = spw_walk_shape_of(&f->s.layout);
        /* on the build's compiled-in shape, and on the run-time one */
        const spw_flavor known[2] = { spw_walk_shape_flavor(&sh), SPW_FLAVOR_COUNT_ };
        for (int j = 0; j < 2; j++) {
            memset(chased, 0, sizeof chased);
            assert_int_equal(spw_chase_known(known[j], &f->s.layout, spw_synth_read, &f->s, ts,
                                             chased, MAXF),
                             40);
            for (uint32_t k = 0; k < 40; k++) {
                assert_int_equal(chased[k].code, out[k].code);
                assert_int_equal(chased[k].lasti, out[k].lasti);
            }
        }
        assert_int_equal(spw_chase_unchecked(&sh, spw_synth_read, &f->s, ts, chased, 7), 7);
        /* a read the reader cannot serve ends the chase */
        spw_synth_poke(&f->s, fr[30] + f->s.layout.frame_previous, FIX_BASE + FIX_ARENA + 4096, 8);
        assert_int_equal(spw_chase_unchecked(&sh, spw_synth_read, &f->s, ts, chased, MAXF), 31);
        fix_free(f);
    }
}

/* Point the innermost frame's `previous` at `bad` and expect a drop with `why`. */
static void check_bad_previous(spw_flavor flavor, spw_arch arch, uint64_t bad, spw_reason why)
{
    fixture *f = fix_new_arch(flavor, arch);
    uint64_t fr[3], co[3];
    uint64_t ts = chain(f, 3, fr, co);
    spw_synth_poke(&f->s, fr[1] + f->s.layout.frame_previous, bad, 8);
    spw_frame out[8];
    spw_walk_result r;
    assert_int_equal(fix_walk(f, ts, out, 8, &r), SPW_WALK_DROPPED);
    assert_int_equal(r.reason, why);
    /* A pointer that fails validation is never followed; one that passes is counted even
     * when the read through it then fails. */
    assert_int_equal(r.n_visited, why == SPW_REASON_UNREADABLE ? 3 : 2);
    fix_free(f);
}

static void test_frame_pointer_validation(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        spw_flavor fl = fix_flavors[i];
        check_bad_previous(fl, SPW_ARCH_X86_64, 0x10, SPW_REASON_INVALID_FRAME); /* null page */
        check_bad_previous(fl, SPW_ARCH_X86_64, 0xff8, SPW_REASON_INVALID_FRAME);
        check_bad_previous(fl, SPW_ARCH_X86_64, FIX_BASE + 4, SPW_REASON_INVALID_FRAME); /* misaligned */
        check_bad_previous(fl, SPW_ARCH_X86_64, FIX_BASE + 1, SPW_REASON_INVALID_FRAME);
        check_bad_previous(fl, SPW_ARCH_X86_64, 1ull << 47, SPW_REASON_INVALID_FRAME); /* non-canonical */
        check_bad_previous(fl, SPW_ARCH_X86_64, 0xffff800000001000ull, SPW_REASON_INVALID_FRAME); /* kernel */
        check_bad_previous(fl, SPW_ARCH_X86_64, (1ull << 47) - 8, SPW_REASON_INVALID_FRAME); /* frame would cross the limit */
        /* ARM64 has a 48-bit user space: the same address is valid there, merely unreadable. */
        check_bad_previous(fl, SPW_ARCH_AARCH64, 1ull << 47, SPW_REASON_UNREADABLE);
        check_bad_previous(fl, SPW_ARCH_AARCH64, 1ull << 48, SPW_REASON_INVALID_FRAME);
        /* Dangling: valid-looking but outside anything the reader can supply. */
        check_bad_previous(fl, SPW_ARCH_X86_64, 0x10000, SPW_REASON_UNREADABLE);
    }
}

static void test_bad_tstate(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_313T);
    spw_frame out[4];
    spw_walk_result r;
    assert_int_equal(fix_walk(f, 0, out, 4, &r), SPW_WALK_DROPPED);
    assert_int_equal(r.reason, SPW_REASON_INVALID_FRAME);
    assert_int_equal(f->n_reads, 0);
    assert_int_equal(fix_walk(f, FIX_BASE + 3, out, 4, &r), SPW_WALK_DROPPED);
    assert_int_equal(r.reason, SPW_REASON_INVALID_FRAME);
    assert_int_equal(fix_walk(f, 0x20000, out, 4, &r), SPW_WALK_DROPPED);
    assert_int_equal(r.reason, SPW_REASON_UNREADABLE);
    fix_free(f);
}

/* Replace the executable of the innermost frame with a raw value. */
static void check_executable(spw_flavor flavor, uint64_t exec_bits, spw_status st, spw_reason why,
                             uint32_t n_frames)
{
    fixture *f = fix_new(flavor);
    uint64_t fr[3], co[3];
    uint64_t ts = chain(f, 3, fr, co);
    spw_synth_poke(&f->s, fr[0] + f->s.layout.frame_executable, exec_bits, 8);
    spw_frame out[8];
    spw_walk_result r;
    assert_int_equal(fix_walk(f, ts, out, 8, &r), st);
    assert_int_equal(r.reason, why);
    assert_int_equal(r.n_frames, n_frames);
    fix_free(f);
}

static void test_executable_checks(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        spw_flavor fl = fix_flavors[i];
        fixture *f = fix_new(fl);
        uint64_t none = f->s.none, type = f->s.other_type;
        fix_free(f);
        /* Same arena layout in every fixture of a flavour, so these addresses carry over. */
        check_executable(fl, none, SPW_WALK_DROPPED, SPW_REASON_INVALID_CODE, 0);
        check_executable(fl, type, SPW_WALK_DROPPED, SPW_REASON_INVALID_CODE, 0);
        check_executable(fl, FIX_BASE + 8 * 1024 * 1024 - 64, SPW_WALK_DROPPED,
                         SPW_REASON_UNREADABLE, 0);
        check_executable(fl, 0x18, SPW_WALK_DROPPED, SPW_REASON_INVALID_CODE, 0);
        check_executable(fl, 1ull << 50, SPW_WALK_DROPPED, SPW_REASON_INVALID_CODE, 0);
        /* NULL executable: a frame being set up or torn down, skipped. */
        check_executable(fl, 0, SPW_WALK_OK, SPW_REASON_NONE, 2);
    }
    /* 3.13 stores a plain pointer: a low bit set makes it misaligned. */
    fixture *f = fix_new(SPW_FLAVOR_313T);
    uint64_t fr[2], co[2];
    chain(f, 2, fr, co);
    fix_free(f);
    check_executable(SPW_FLAVOR_313T, co[0] | 1, SPW_WALK_DROPPED, SPW_REASON_INVALID_CODE, 0);
}

static void test_tagged_executable_3_14(void **state)
{
    (void)state;
    static const spw_flavor fl[] = { SPW_FLAVOR_314, SPW_FLAVOR_314T };
    for (int i = 0; i < 2; i++) {
        for (uint64_t tag = 0; tag < 4; tag++) {
            fixture *f = fix_new(fl[i]);
            uint64_t fr[2], co[2];
            uint64_t ts = chain(f, 2, fr, co);
            spw_synth_poke(&f->s, fr[0] + f->s.layout.frame_executable, co[0] | tag, 8);
            spw_frame out[4];
            spw_walk_result r;
            assert_int_equal(fix_walk(f, ts, out, 4, &r), SPW_WALK_OK);
            assert_int_equal(out[0].code, co[0]); /* tags cleared */
            fix_free(f);
        }
        /* Bit 2 is not a tag: the pointer is misaligned. */
        fixture *f = fix_new(fl[i]);
        uint64_t fr[2], co[2];
        uint64_t ts = chain(f, 2, fr, co);
        spw_synth_poke(&f->s, fr[0] + f->s.layout.frame_executable, co[0] | 4, 8);
        spw_frame out[4];
        spw_walk_result r;
        assert_int_equal(fix_walk(f, ts, out, 4, &r), SPW_WALK_DROPPED);
        assert_int_equal(r.reason, SPW_REASON_INVALID_CODE);
        fix_free(f);
    }
}

static void test_code_size_checks(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        static const uint64_t sizes[] = { 0, SPW_CODE_UNITS_MAX + 1, ~0ull };
        for (int j = 0; j < 3; j++) {
            fixture *f = fix_new(fix_flavors[i]);
            uint64_t fr[2], co[2];
            uint64_t ts = chain(f, 2, fr, co);
            spw_synth_poke(&f->s, co[0] + f->s.layout.ob_size, sizes[j], 8);
            spw_frame out[4];
            spw_walk_result r;
            assert_int_equal(fix_walk(f, ts, out, 4, &r), SPW_WALK_DROPPED);
            assert_int_equal(r.reason, SPW_REASON_INVALID_CODE);
            fix_free(f);
        }
    }
}

static void test_instr_ptr_checks(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        fixture *f = fix_new(fix_flavors[i]);
        uint64_t code = fix_code(f, "f", 16);
        uint64_t base = spw_synth_bytecode(&f->s, code, 0);
        uint64_t fr = spw_synth_frame(&f->s, code, 0, 0, 0, 0);
        uint64_t ts = spw_synth_tstate(&f->s, fr, 1, 2);
        uint64_t ip = fr + f->s.layout.frame_instr_ptr;
        spw_frame out[4];
        spw_walk_result r;
        struct { uint64_t instr; spw_status st; uint32_t lasti; } cases[] = {
            { base, SPW_WALK_OK, 0 },
            { base + 30, SPW_WALK_OK, 15 },          /* last code unit */
            { base + 32, SPW_WALK_DROPPED, 0 },      /* one past the end */
            { base - 2, SPW_WALK_DROPPED, 0 },       /* before the start */
            { base + 3, SPW_WALK_DROPPED, 0 },       /* not on a code unit */
            { 0, SPW_WALK_DROPPED, 0 },
            { ~0ull, SPW_WALK_DROPPED, 0 },
        };
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            spw_synth_poke(&f->s, ip, cases[k].instr, 8);
            assert_int_equal(fix_walk(f, ts, out, 4, &r), cases[k].st);
            if (cases[k].st == SPW_WALK_OK) {
                assert_int_equal(out[0].lasti, cases[k].lasti);
            } else {
                assert_int_equal(r.reason, SPW_REASON_INVALID_FRAME);
                assert_int_equal(r.n_frames, 0);
            }
        }
        fix_free(f);
    }
}

static void test_incomplete_frames_skipped(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        fixture *f = fix_new(fix_flavors[i]);
        uint8_t owner_max = f->s.layout.owner_max;
        uint64_t a = fix_code(f, "a", 4), b = fix_code(f, "b", 4);
        /* a <- C-stack shim <- b <- shim (outermost), plus owners 1 and 2 (generator and
         * frame object), which are real Python frames. */
        uint64_t f4 = spw_synth_frame(&f->s, f->s.none, 0, 3, 0, 0);
        uint64_t f3 = spw_synth_frame(&f->s, b, 1, 2, f4, 0);
        uint64_t f2 = spw_synth_frame(&f->s, b, 2, 1, f3, 0);
        uint64_t f1 = spw_synth_frame(&f->s, 0, 0, owner_max, f2, 0);
        uint64_t f0 = spw_synth_frame(&f->s, a, 3, 0, f1, 0);
        uint64_t ts = spw_synth_tstate(&f->s, f0, 1, 2);
        spw_frame out[8];
        spw_walk_result r;
        assert_int_equal(fix_walk(f, ts, out, 8, &r), SPW_WALK_OK);
        assert_int_equal(r.n_visited, 5);
        assert_int_equal(r.n_frames, 3);
        assert_int_equal(out[0].code, a);
        assert_int_equal(out[1].code, b);
        assert_int_equal(out[1].lasti, 2);
        assert_int_equal(out[2].lasti, 1);
        /* An owner beyond the last known value is corruption. */
        spw_synth_poke(&f->s, f1 + f->s.layout.frame_owner, owner_max + 1u, 1);
        assert_int_equal(fix_walk(f, ts, out, 8, &r), SPW_WALK_DROPPED);
        assert_int_equal(r.reason, SPW_REASON_INVALID_FRAME);
        spw_synth_poke(&f->s, f1 + f->s.layout.frame_owner, 0xff, 1);
        assert_int_equal(fix_walk(f, ts, out, 8, &r), SPW_WALK_DROPPED);
        fix_free(f);
    }
}

static void test_owner_values_per_version(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_313);
    assert_int_equal(f->s.layout.owner_max, 3);
    fix_free(f);
    f = fix_new(SPW_FLAVOR_314T);
    assert_int_equal(f->s.layout.owner_max, 4);
    fix_free(f);
}

static void test_thread_local_bytecode(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_314T);
    uint64_t code = fix_code(f, "tl", 32);
    assert_int_not_equal(spw_synth_tlbc(&f->s, code, 4), 0);
    uint64_t f2 = spw_synth_frame(&f->s, code, 7, 0, 0, 3);
    uint64_t f1 = spw_synth_frame(&f->s, code, 9, 0, f2, 0);
    uint64_t f0 = spw_synth_frame(&f->s, code, 31, 0, f1, 1);
    uint64_t ts = spw_synth_tstate(&f->s, f0, 1, 2);
    assert_int_not_equal(spw_synth_bytecode(&f->s, code, 1), spw_synth_bytecode(&f->s, code, 0));
    spw_frame out[8];
    spw_walk_result r;
    assert_int_equal(fix_walk(f, ts, out, 8, &r), SPW_WALK_OK);
    assert_int_equal(r.n_frames, 3);
    assert_int_equal(out[0].lasti, 31);
    assert_int_equal(out[1].lasti, 9);
    assert_int_equal(out[2].lasti, 7);

    /* instr_ptr in copy 1 while tlbc_index says 2: outside the copy it claims. */
    uint64_t idx = f0 + f->s.layout.frame_tlbc_index;
    spw_synth_poke(&f->s, idx, 2, 4);
    assert_int_equal(fix_walk(f, ts, out, 8, &r), SPW_WALK_DROPPED);
    assert_int_equal(r.reason, SPW_REASON_INVALID_FRAME);
    /* Index past the array, and negative. */
    spw_synth_poke(&f->s, idx, 4, 4);
    assert_int_equal(fix_walk(f, ts, out, 8, &r), SPW_WALK_DROPPED);
    assert_int_equal(r.reason, SPW_REASON_INVALID_FRAME);
    spw_synth_poke(&f->s, idx, 0xffffffffu, 4);
    assert_int_equal(fix_walk(f, ts, out, 8, &r), SPW_WALK_DROPPED);
    assert_int_equal(r.reason, SPW_REASON_INVALID_FRAME);
    /* A broken co_tlbc pointer. */
    spw_synth_poke(&f->s, idx, 1, 4);
    spw_synth_poke(&f->s, code + f->s.layout.co_tlbc, 0x10, 8);
    assert_int_equal(fix_walk(f, ts, out, 8, &r), SPW_WALK_DROPPED);
    assert_int_equal(r.reason, SPW_REASON_INVALID_CODE);
    fix_free(f);
}

/* A thread that runs its own copy of the bytecode (3.14t worker threads: tlbc_index > 0)
 * looks the copy up once per run of frames on one code object, not once per frame: the
 * memo keeps the copy last found. Changing copy or code object looks it up again. */
static void test_thread_local_copy_looked_up_once_per_run(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_314T);
    uint64_t a = fix_code(f, "a", 32), b = fix_code(f, "b", 32);
    assert_int_not_equal(spw_synth_tlbc(&f->s, a, 3), 0);
    assert_int_not_equal(spw_synth_tlbc(&f->s, b, 3), 0);
    /* Innermost first: a/1 x5, a/2, a/2, b/1, a/1. Frames are built outermost first, so
     * addresses fall along the chain as in CPython's data stack. */
    static const struct { int code_b; uint32_t copy; } fr[] = {
        { 0, 1 }, { 0, 1 }, { 0, 1 }, { 0, 1 }, { 0, 1 }, { 0, 2 }, { 0, 2 }, { 1, 1 }, { 0, 1 },
    };
    enum { N = sizeof fr / sizeof fr[0] };
    uint64_t prev = 0;
    for (int i = N; i-- > 0;)
        prev = spw_synth_frame(&f->s, fr[i].code_b ? b : a, (uint32_t)i, 0, prev, fr[i].copy);
    uint64_t ts = spw_synth_tstate(&f->s, prev, 1, 2);
    spw_frame out[N];
    spw_walk_result r;
    assert_int_equal(fix_walk(f, ts, out, N, &r), SPW_WALK_OK);
    assert_int_equal(r.n_frames, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(out[i].code, fr[i].code_b ? b : a);
        assert_int_equal(out[i].lasti, i);
    }
    /* Reads: the tstate; 5 per frame (previous, executable, owner, instr_ptr, tlbc_index);
     * ob_type and ob_size per run of one code object (a, b, a: 3 runs); and the copy (co_tlbc,
     * the array's size, its entry: 3 reads) per run of one code object on one copy (a/1,
     * a/2, b/1, a/1: 4 runs). */
    assert_int_equal(f->n_reads, 1 + 5 * N + 2 * 3 + 3 * 4);
    fix_free(f);
}

static void test_no_tlbc_without_free_threading(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_314);
    assert_int_equal(f->s.layout.has_tlbc, 0);
    uint64_t code = fix_code(f, "x", 4);
    assert_int_equal(spw_synth_tlbc(&f->s, code, 2), 0);
    fix_free(f);
    f = fix_new(SPW_FLAVOR_313T);
    assert_int_equal(f->s.layout.has_tlbc, 0);
    fix_free(f);
}


static void test_unreadable_at_every_read(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_314T);
    uint64_t code = fix_code(f, "tl", 8);
    spw_synth_tlbc(&f->s, code, 2);
    uint64_t f1 = spw_synth_frame(&f->s, code, 1, 0, 0, 1);
    uint64_t f0 = spw_synth_frame(&f->s, code, 2, 0, f1, 0);
    uint64_t ts = spw_synth_tstate(&f->s, f0, 1, 2);
    spw_frame out[4];
    spw_walk_result r;
    assert_int_equal(fix_walk(f, ts, out, 4, &r), SPW_WALK_OK);
    uint32_t total = f->n_reads;
    /* tstate; per frame previous, executable, owner, instr_ptr, tlbc_index; ob_type and
     * ob_size once, for the code object both frames run; and for the frame on copy 1:
     * co_tlbc, the array size and its entry. */
    assert_int_equal(total, 1 + 5 + 5 + 2 + 3);
    for (uint32_t k = 0; k < total; k++) {
        fix_failing fr = { &f->s, k, 0 };
        spw_reader rd = { fix_failing_read, &fr };
        spw_walk_args a = { &f->s.layout, f->s.code_type, ts, out, 4, 0 };
        assert_int_equal(spw_walk(&a, &rd, &r), SPW_WALK_DROPPED);
        assert_int_equal(r.reason, SPW_REASON_UNREADABLE);
        assert_int_equal(fr.n_reads, k + 1); /* the failed read was the last */
    }
    fix_free(f);
}

static void test_walk_is_pure(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        fixture *f = fix_new(fix_flavors[i]);
        uint64_t fr[40], co[40];
        uint64_t ts = chain(f, 40, fr, co);
        spw_frame a[MAXF], b[MAXF];
        memset(a, 0xa5, sizeof a);
        memset(b, 0x5a, sizeof b);
        spw_walk_result ra, rb;
        fix_walk(f, ts, a, 30, &ra);
        fix_walk(f, ts, b, 30, &rb);
        assert_memory_equal(&ra, &rb, sizeof ra);
        for (uint32_t k = 0; k < ra.n_frames; k++) {
            assert_int_equal(a[k].code, b[k].code);
            assert_int_equal(a[k].lasti, b[k].lasti);
        }
        fix_free(f);
    }
}

static void test_names(void **state)
{
    (void)state;
    static const char *const status[] = { "ok", "truncated", "dropped" };
    static const char *const reason[] = { "", "cycle", "invalid_frame", "invalid_code",
                                          "unreadable" };
    for (int i = 0; i < 3; i++) assert_string_equal(spw_status_name((spw_status)i), status[i]);
    for (int i = 0; i < SPW_REASON_COUNT_; i++)
        assert_string_equal(spw_reason_name((spw_reason)i), reason[i]);
    assert_string_equal(spw_status_name((spw_status)3), "unknown");
    assert_string_equal(spw_reason_name(SPW_REASON_COUNT_), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_every_flavor),
        cmocka_unit_test(test_empty_stack_is_ok),
        cmocka_unit_test(test_depth_limit_truncates),
        cmocka_unit_test(test_budget_truncates_long_acyclic_chain),
        cmocka_unit_test(test_budget_holds_a_chain_of_its_length),
        cmocka_unit_test(test_cycles),
        cmocka_unit_test(test_short_cycle_caught_by_its_second_turn),
        cmocka_unit_test(test_hand_overs_change_nothing),
        cmocka_unit_test(test_span_check_matches_addr_ok),
        cmocka_unit_test(test_known_shapes_are_the_builds),
        cmocka_unit_test(test_unchecked_chase_matches_walker),
        cmocka_unit_test(test_frame_pointer_validation),
        cmocka_unit_test(test_bad_tstate),
        cmocka_unit_test(test_executable_checks),
        cmocka_unit_test(test_tagged_executable_3_14),
        cmocka_unit_test(test_code_size_checks),
        cmocka_unit_test(test_instr_ptr_checks),
        cmocka_unit_test(test_incomplete_frames_skipped),
        cmocka_unit_test(test_owner_values_per_version),
        cmocka_unit_test(test_thread_local_bytecode),
        cmocka_unit_test(test_thread_local_copy_looked_up_once_per_run),
        cmocka_unit_test(test_no_tlbc_without_free_threading),
        cmocka_unit_test(test_unreadable_at_every_read),
        cmocka_unit_test(test_walk_is_pure),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
