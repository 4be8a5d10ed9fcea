/*
 * test_symbolize_bounds.c — the symbolizer's bounds at their edges: cases the mutation
 * campaign (docs/fuzzing.md) found no test or fuzzer telling apart from an off-by-one.
 *
 * The image ends at the x86-64 user limit, so a bound one byte too lax makes the
 * symbolizer read past the limit (unreadable) instead of refusing the address.
 */
#include "support/fixture.h"

#include <string.h>

#include "symbolize.h"

#define TOP ((uint64_t)1 << 47)
#define CAP (1u << 20)

/* A 3.13t image whose last byte is the last byte of x86-64 user space. */
static fixture *fix_top(void)
{
    fixture *f = fix_new_cap(SPW_FLAVOR_313T, SPW_ARCH_X86_64, CAP);
    assert_int_equal(spw_synth_init(&f->s, SPW_FLAVOR_313T, SPW_ARCH_X86_64, TOP - CAP,
                                    f->arena, CAP), 0);
    return f;
}

/* co_linetable's bytes data ending exactly at the limit is read; one byte longer, the
 * table is refused as an address before any of it is read. */
static void test_linetable_at_the_user_limit(void **state)
{
    (void)state;
    for (int fits = 0; fits < 2; fits++) {
        fixture *f = fix_top();
        const spw_layout *L = &f->s.layout;
        const uint64_t code = fix_code(f, "fn", 16);
        uint64_t table;
        assert_int_equal(spw_synth_read(&f->s, code + L->co_linetable, &table, 8), 0);
        int64_t size;
        assert_int_equal(spw_synth_read(&f->s, table + L->bytes_ob_size, &size, 8), 0);
        assert_true(size > 0 && size < 64);
        /* the rest of the arena: a copy of the table (header and data) whose data starts
         * 256 bytes below the limit, zeros after the real entries */
        assert_int_not_equal(spw_synth_alloc(&f->s, CAP - f->s.used, 1), 0);
        const uint64_t fake = TOP - 256 - L->bytes_ob_sval;
        assert_int_equal(fake % 8, 0);
        uint8_t *p = spw_synth_ptr(&f->s, fake, L->bytes_ob_sval + 256);
        assert_non_null(p);
        memset(p, 0, L->bytes_ob_sval + 256);
        assert_int_equal(spw_synth_read(&f->s, table, p, L->bytes_ob_sval + (size_t)size), 0);
        spw_synth_poke(&f->s, fake + L->bytes_ob_size, fits ? 256 : 257, 8);
        spw_synth_poke(&f->s, code + L->co_linetable, fake, 8);

        spw_symbol sym;
        if (fits) {
            assert_int_equal(spw_symbolize(L, &f->reader, code, 3, &sym), SPW_SYM_OK);
            assert_int_equal(sym.line, 13); /* fix_code: line firstline + unit */
        } else {
            assert_int_equal(spw_symbolize(L, &f->reader, code, 3, &sym), SPW_SYM_E_ADDR);
            assert_int_equal(sym.line, SPW_LINE_NONE);
            assert_string_equal(sym.function, "fn");
        }
        fix_free(f);
    }
}

/* The layout blob places bytes' ob_size and ob_sval independently (each only inside the
 * bytes group), so the table's check for ob_sval bytes does not cover an ob_size placed
 * after ob_sval: that field is checked on its own. Here it would be the 8 bytes at the
 * limit; 8 bytes lower it is read. */
static void test_bytes_size_field_at_the_user_limit(void **state)
{
    (void)state;
    for (int fits = 0; fits < 2; fits++) {
        fixture *f = fix_top();
        spw_layout L = f->s.layout;
        const uint64_t code = fix_code(f, "fn", 16);
        assert_int_not_equal(spw_synth_alloc(&f->s, CAP - f->s.used, 1), 0);
        L.bytes_ob_sval = 8;
        L.bytes_ob_size = 16;
        assert_true(L.bytes_ob_size + 8 <= L.bytes_size);
        const uint64_t table = TOP - 16 - (fits ? 8 : 0);
        spw_synth_poke(&f->s, table + 16, 0, 8); /* ob_size 0: an empty table */
        spw_synth_poke(&f->s, code + L.co_linetable, table, 8);

        spw_symbol sym;
        assert_int_equal(spw_symbolize(&L, &f->reader, code, 3, &sym),
                         fits ? SPW_SYM_OK : SPW_SYM_E_ADDR);
        assert_int_equal(sym.line, SPW_LINE_NONE); /* empty: no line either way */
        assert_string_equal(sym.function, "fn");
        fix_free(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linetable_at_the_user_limit),
        cmocka_unit_test(test_bytes_size_field_at_the_user_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
