/*
 * test_walk_cycle_steps.c — the exact step at which the walker reports a cycle, where the
 * hand-overs between its careful loop and its fast loop (walk_body.h) decide it.
 *
 * test_walk.c holds every cycle to Brent's bound; these hold two hand-overs to the step
 * worked out from the rules by hand: a search of the window that must last 8 steps after a
 * rise, not 7, and a fast run that must compare its first frame with Brent's tortoise when
 * the two are the same frame. The mutation campaign found both off by one step with no
 * other test telling (docs/fuzzing.md: rise-plus7, fast-search-gt, fast-tortoise-ge).
 */
#include "support/fixture.h"

#include <stdlib.h>

/* Link frames[0] -> frames[1] -> ... -> frames[n - 1] -> frames[back]. */
static uint64_t link_loop(fixture *f, const uint64_t *frames, uint32_t n, uint32_t back)
{
    for (uint32_t k = 0; k < n; k++)
        spw_synth_poke(&f->s, frames[k] + f->s.layout.frame_previous,
                       frames[k + 1 < n ? k + 1 : back], 8);
    return spw_synth_tstate(&f->s, frames[0], 1, 2);
}

static uint32_t cycle_step(fixture *f, uint64_t ts)
{
    spw_frame out[64];
    spw_walk_result r;
    assert_int_equal(fix_walk(f, ts, out, 64, &r), SPW_WALK_DROPPED);
    assert_int_equal(r.reason, SPW_REASON_CYCLE);
    return r.n_visited;
}

/* T frames with no code object (skipped, so the memo stays empty and the careful loop
 * takes them), then a loop of L <= 8 frames c0 .. c(L-1) whose one rise is c0 -> c1: c0
 * lowest, c1 highest, falling from there back to c0. c0 is the first Python frame, so the
 * careful loop takes it and the rise after it, and then searches its window for the next 8
 * steps, T + 1 .. T + 8, which include c0's repeat at step T + L: reported there, for every
 * L up to the window's 8. A search one step shorter misses L = 8 (unless Brent's tortoise
 * sits on c0). */
static void test_window_search_lasts_8_steps_after_a_rise(void **state)
{
    (void)state;
    for (uint32_t tail = 0; tail <= 20; tail++)
        for (uint32_t loop = 1; loop <= 8; loop++) {
            fixture *f = fix_new(SPW_FLAVOR_313T);
            const uint64_t code = fix_code(f, "loop", 8);
            uint64_t fr[28];
            fr[tail] = spw_synth_frame(&f->s, code, 0, 0, 0, 0); /* c0: allocated first */
            for (uint32_t k = loop; k-- > 1;)                      /* c(L-1) .. c1, rising */
                fr[tail + k] = spw_synth_frame(&f->s, code, 0, 0, 0, 0);
            for (uint32_t k = tail; k-- > 0;) /* the tail above them, falling into c0 */
                fr[k] = spw_synth_frame(&f->s, 0, 0, 0, 0, 0);
            const uint64_t ts = link_loop(f, fr, tail + loop, tail);
            assert_int_equal(cycle_step(f, ts), tail + loop);
            fix_free(f);
        }
}

/* Seven Python frames t0 > .. > t6, then a loop of L (9 .. 16) frames falling from c0 to
 * c(L-1), closed by the rise c(L-1) -> c0: CPython's data stack in a loop. The fast loop
 * takes steps 1 .. L + 6; Brent's tortoise jumps onto c0 at step 7 and onto c8 at step 15.
 * The rise back to c0 hands the next 8 steps, c0 .. c7 (none of them in the window, which
 * holds only t0), to the careful loop; the fast loop then takes over at c8, the tortoise:
 * its first frame must be compared, and the cycle is reported at step L + 15, c8's second
 * visit. A run that skipped that compare would go round once more, to c0 in the window. */
static void test_fast_run_compares_its_first_frame_with_the_tortoise(void **state)
{
    (void)state;
    for (uint32_t loop = 9; loop <= 16; loop++) {
        fixture *f = fix_new(SPW_FLAVOR_313T);
        const uint64_t code = fix_code(f, "loop", 8);
        uint64_t fr[7 + 16];
        for (uint32_t k = 7 + loop; k-- > 0;) /* allocated rising: fr[0] highest */
            fr[k] = spw_synth_frame(&f->s, code, 0, 0, 0, 0);
        const uint64_t ts = link_loop(f, fr, 7 + loop, 7);
        assert_int_equal(cycle_step(f, ts), loop + 15);
        fix_free(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_search_lasts_8_steps_after_a_rise),
        cmocka_unit_test(test_fast_run_compares_its_first_frame_with_the_tortoise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
