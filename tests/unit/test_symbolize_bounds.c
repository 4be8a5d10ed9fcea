/*
 * test_symbolize_bounds.c — the symbolizer's and the str reader's bounds at their edges: cases the mutation
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

/* --- str objects ------------------------------------------------------------------- */

/* A reader over the image that records each read and refuses one of more than
 * SPW_READ_MAX bytes (the callers' buffers hold no more) without writing. */
typedef struct rec {
    spw_synth *s;
    unsigned n;
    uint64_t addr[16];
    size_t len[16];
} rec;

static int rec_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    rec *r = ctx;
    if (r->n < 16) {
        r->addr[r->n] = addr;
        r->len[r->n] = len;
    }
    r->n++;
    if (len == 0 || len > SPW_READ_MAX) return -1;
    return spw_synth_read(r->s, addr, dst, len);
}

/* A copy of the ASCII str "abc" at a fresh 8-aligned place `room` bytes long (zeros after
 * the copy); returns its address. */
static uint64_t copy_abc(fixture *f, size_t room)
{
    const spw_layout *L = &f->s.layout;
    const uint64_t str = spw_synth_str(&f->s, "abc");
    assert_int_not_equal(str, 0);
    const uint64_t at = spw_synth_alloc(&f->s, room, 8);
    assert_int_not_equal(at, 0);
    uint8_t *p = spw_synth_ptr(&f->s, at, room);
    assert_non_null(p);
    memset(p, 0, room);
    assert_int_equal(spw_synth_read(&f->s, str, p, L->unicode_ascii_size + 4), 0);
    return at;
}

/* The layout places str's state and length independently: the one header read covers
 * the length field when it lies after the state, and a header longer than one read is
 * refused without any read. */
static void test_str_header_span(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_313T);
    const spw_layout *L = &f->s.layout;
    spw_layout L2 = *L;
    char out[64];
    uint8_t trunc;

    /* length moved behind the header (and the data 8 bytes later) */
    L2.unicode_length = L->unicode_ascii_size;
    L2.unicode_ascii_size = L->unicode_ascii_size + 8;
    L2.unicode_compact_size = L->unicode_compact_size + 8;
    assert_true(L2.unicode_length + 8 > L2.unicode_state + 4);
    const uint64_t str = copy_abc(f, L2.unicode_ascii_size + 8);
    uint8_t *p = spw_synth_ptr(&f->s, str, L2.unicode_ascii_size + 8);
    memmove(p + L2.unicode_ascii_size, p + L->unicode_ascii_size, 4); /* "abc\0" */
    spw_synth_poke(&f->s, str + L2.unicode_length, 3, 8);
    rec r = { .s = &f->s };
    spw_reader reader = { rec_read, &r };
    assert_int_equal(spw_read_unicode(&L2, &reader, str, out, sizeof out, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "abc");
    assert_int_equal(r.addr[0], str);
    assert_int_equal(r.len[0], L2.unicode_length + 8);

    /* the state field at 300: a 304-byte header is no str this reader can judge */
    L2 = *L;
    L2.unicode_state = 300;
    r.n = 0;
    assert_int_equal(spw_read_unicode(&L2, &reader, str, out, sizeof out, &trunc),
                     SPW_SYM_E_STRING);
    assert_int_equal(r.n, 0);
    /* the largest header one read holds: state's 4 bytes end at SPW_READ_MAX */
    L2.unicode_state = SPW_READ_MAX - 4;
    const uint64_t big = copy_abc(f, SPW_READ_MAX);
    assert_int_equal(spw_read_unicode(&L2, &reader, big, out, sizeof out, &trunc),
                     SPW_SYM_E_STRING); /* its state word (zeros) is not a compact str */
    assert_int_equal(r.n, 1);
    assert_int_equal(r.len[0], SPW_READ_MAX);
    fix_free(f);
}

/* An ASCII str holds only bytes up to 0x7f. */
static void test_str_ascii_top(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_313T);
    const spw_layout *L = &f->s.layout;
    char out[64];
    uint8_t trunc;
    const uint64_t str = spw_synth_str(&f->s, "ab\x7f");
    assert_int_not_equal(str, 0);
    assert_int_equal(spw_read_unicode(L, &f->reader, str, out, sizeof out, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "ab\x7f");
    spw_synth_poke(&f->s, str + L->unicode_ascii_size + 2, 0x80, 1);
    assert_int_equal(spw_read_unicode(L, &f->reader, str, out, sizeof out, &trunc),
                     SPW_SYM_E_STRING);
    assert_string_equal(out, "");
    fix_free(f);
}

/* A str whose characters end exactly at the x86-64 user limit is read; one character
 * longer, it is refused as an address before its characters are read. */
static void test_str_data_at_the_user_limit(void **state)
{
    (void)state;
    for (int fits = 0; fits < 2; fits++) {
        fixture *f = fix_top();
        const spw_layout *L = &f->s.layout;
        const uint64_t abc = spw_synth_str(&f->s, "abc");
        assert_int_not_equal(spw_synth_alloc(&f->s, CAP - f->s.used, 1), 0);
        const uint64_t str = TOP - 8 - L->unicode_ascii_size;
        assert_int_equal(str % 8, 0);
        uint8_t *p = spw_synth_ptr(&f->s, str, L->unicode_ascii_size + 8);
        assert_non_null(p);
        memset(p, 'x', L->unicode_ascii_size + 8);
        assert_int_equal(spw_synth_read(&f->s, abc, p, L->unicode_ascii_size), 0);
        spw_synth_poke(&f->s, str + L->unicode_length, fits ? 8 : 9, 8);
        rec r = { .s = &f->s };
        spw_reader reader = { rec_read, &r };
        char out[64];
        uint8_t trunc;
        spw_sym_err err = spw_read_unicode(L, &reader, str, out, sizeof out, &trunc);
        if (fits) {
            assert_int_equal(err, SPW_SYM_OK);
            assert_string_equal(out, "xxxxxxxx");
            assert_int_equal(r.n, 2);
        } else {
            assert_int_equal(err, SPW_SYM_E_ADDR);
            assert_int_equal(r.n, 1); /* the header only */
        }
        fix_free(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linetable_at_the_user_limit),
        cmocka_unit_test(test_bytes_size_field_at_the_user_limit),
        cmocka_unit_test(test_str_header_span),
        cmocka_unit_test(test_str_ascii_top),
        cmocka_unit_test(test_str_data_at_the_user_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
