/*
 * test_bounds.c — the address rule (spw.h) held to its definition at every edge.
 *
 * test_walk.c checks that the split form (spw_span_bound + spw_span_ok) agrees with
 * spw_addr_ok; this file checks both against the rule as design.md states it, computed
 * independently: above the null page, aligned, and [addr, addr + len) wholly below the
 * architecture's user limit. The edges are where an off-by-one lives (the mutation campaign,
 * docs/fuzzing.md, found that a `<=` flipped to `<` on the limit was not caught by the
 * agreement test alone when both forms moved together).
 */
#include "support/fixture.h"

/* The rule, without the tricks: 128-bit end, plain modulo. */
static int reference_ok(spw_arch arch, uint64_t addr, uint64_t len, uint64_t align)
{
    const unsigned __int128 end = (unsigned __int128)addr + len;
    const uint64_t limit = spw_arch_user_limit(arch);
    return limit != 0 && addr >= SPW_ADDR_MIN && addr % align == 0 && end <= limit;
}

static void test_addr_ok_edges(void **state)
{
    (void)state;
    const spw_arch arches[] = { SPW_ARCH_X86_64, SPW_ARCH_AARCH64, SPW_ARCH_UNKNOWN };
    const uint64_t lens[] = { 0, 1, 2, 8, 80, 4096 };
    const uint64_t aligns[] = { 1, 2, 8 };
    const int64_t deltas[] = { -16, -9, -8, -7, -2, -1, 0, 1, 2, 7, 8, 9, 16 };
    unsigned checked = 0;
    for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++) {
        const uint64_t lim = spw_arch_user_limit(arches[i]);
        for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
            const uint64_t len = lens[j];
            /* around the null page, around the last address that fits, around the limit */
            const uint64_t centres[] = { SPW_ADDR_MIN, lim - len, lim, 0 };
            for (size_t c = 0; c < sizeof centres / sizeof centres[0]; c++)
                for (size_t d = 0; d < sizeof deltas / sizeof deltas[0]; d++) {
                    const uint64_t addr = centres[c] + (uint64_t)deltas[d];
                    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++) {
                        const int want = reference_ok(arches[i], addr, len, aligns[a]);
                        if (spw_addr_ok(arches[i], addr, len, aligns[a]) != want) {
                            print_error("addr_ok(arch %d, %#llx, %llu, %llu) != %d\n",
                                        (int)arches[i], (unsigned long long)addr,
                                        (unsigned long long)len,
                                        (unsigned long long)aligns[a], want);
                            fail();
                        }
                        checked++;
                    }
                    if (arches[i] == SPW_ARCH_UNKNOWN) continue;
                    const uint64_t bound = spw_span_bound(arches[i], len);
                    assert_int_equal(spw_span_ok(addr, bound), reference_ok(arches[i], addr, len, 8));
                }
        }
        /* a length of the whole space, or more, never fits */
        assert_false(spw_addr_ok(arches[i], SPW_ADDR_MIN, lim, 1));
        assert_false(spw_addr_ok(arches[i], SPW_ADDR_MIN, lim + 1, 1));
        assert_false(spw_addr_ok(arches[i], SPW_ADDR_MIN, UINT64_MAX, 1));
        if (arches[i] != SPW_ARCH_UNKNOWN) {
            assert_int_equal(spw_span_bound(arches[i], lim), 0);
            assert_int_equal(spw_span_bound(arches[i], lim - SPW_ADDR_MIN + 1), 0);
            /* exactly one aligned address fits a span of limit - SPW_ADDR_MIN bytes */
            assert_int_equal(spw_span_bound(arches[i], lim - SPW_ADDR_MIN), 1);
            assert_true(spw_span_ok(SPW_ADDR_MIN, spw_span_bound(arches[i], lim - SPW_ADDR_MIN)));
        }
    }
    assert_true(checked > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_ok_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
