/*
 * test_linetable.c — the location-table decoder against tables CPython 3.13.5t wrote.
 *
 * The fixtures below are co_linetable bytes copied from a free-threaded CPython 3.13.5
 * (python3.13t) together with the line of every code unit as code.co_lines() reports it
 * (None -> N). The Python source that produced each one is quoted above it; the function
 * starts on line 2 of its snippet. Every fixture is checked whole and streamed through the
 * incremental decoder in pieces of every size, with pieces ending at every byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "symbolize.h"

#define N SPW_LINE_NONE

typedef struct fixture {
    const char *name;
    const uint8_t *table;
    size_t len;
    int32_t first_line;
    const int32_t *lines; /* line of each code unit */
    size_t units;
} fixture;

/*
 * def f(a, b):
 *     x = a + b
 *     y = x * 2
 *     return y
 * Short forms (codes 0, 1) and one-line forms (code 11).
 */
static const uint8_t simple_table[] = {
    0x80, 0x00, 0xd8, 0x08, 0x09, 0x89, 0x05, 0x80, 0x41, 0xd8, 0x08, 0x09,
    0x88, 0x41, 0x89, 0x05, 0x80, 0x41, 0xd8, 0x0b, 0x0c, 0x80, 0x48,
};
static const int32_t simple_lines[] = { 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 5, 5 };

/*
 * def g(xs):
 *     t = 0
 *     for x in xs:
 *         if x:
 *             t += x
 *     return t
 * The jump back to the `for` line is a long form (code 14) with line delta -2.
 */
static const uint8_t loop_table[] = {
    0x80, 0x00, 0xd8, 0x08, 0x09, 0x80, 0x41, 0xdb, 0x0d, 0x0f, 0x88, 0x01,
    0xdf, 0x0b, 0x0c, 0x88, 0x31, 0xd8, 0x0c, 0x0d, 0x89, 0x46, 0x8a, 0x41,
    0xf1, 0x05, 0x00, 0x0e, 0x10, 0xf0, 0x06, 0x00, 0x0c, 0x0d, 0x80, 0x48,
};
static const int32_t loop_lines[] = { 2, 3, 3, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5,
                                      5, 5, 5, 6, 6, 6, 6, 6, 6, 4, 4, 7, 7 };

/*
 * The same function g compiled under `python3.13t -X no_debug_ranges`: every entry is a
 * no-column entry (code 13), including a delta of -2 (svarint 0x05).
 */
static const uint8_t nocol_table[] = {
    0xe8, 0x00, 0xe8, 0x02, 0xe8, 0x00, 0xeb, 0x02, 0xe8, 0x00, 0xef, 0x02, 0xe8,
    0x00, 0xe8, 0x02, 0xe9, 0x00, 0xea, 0x00, 0xe9, 0x05, 0xe8, 0x06, 0xe8, 0x00,
};

/*
 * def h(a):
 *     r = (a +
 *          a[0]
 *          + 1)
 *     q = a    <140 spaces>    + 1
 *     return r, q
 * Multi-line expressions (long forms with negative line deltas), one-line form code 12,
 * and columns past 127, which take two-byte varints (0x5c 0x02 = 156).
 */
static const uint8_t long_table[] = {
    0x80, 0x00, 0xd8, 0x09, 0x0a, 0xd8, 0x09, 0x0a, 0x88, 0x31, 0x89, 0x14, 0xf1, 0x03,
    0x01, 0x0a, 0x0e, 0xe0, 0x0b, 0x0c, 0xf1, 0x05, 0x02, 0x0a, 0x0d, 0x80, 0x41, 0xf0,
    0x06, 0x00, 0x09, 0x0a, 0xf0, 0x00, 0x00, 0x5c, 0x02, 0x5d, 0x02, 0xf1, 0x00, 0x00,
    0x09, 0x5d, 0x02, 0x80, 0x41, 0xd8, 0x0b, 0x0c, 0x88, 0x34, 0x80, 0x4b,
};
static const int32_t long_lines[] = { 2, 3, 4, 4, 4, 4, 3, 3, 5, 3,
                                      3, 3, 6, 6, 6, 6, 6, 7, 7, 7 };

/*
 * def k(m):
 *     try:
 *         return m()
 *     except ValueError as e:
 *         return e
 *     finally:
 *         m = None
 * Exception-handling code without a location (code 15: 0xf8, 0xfb, 0xfa) between located
 * entries; a no-location entry leaves the running line alone.
 */
static const uint8_t noloc_table[] = {
    0x80, 0x00, 0xf0, 0x02, 0x05, 0x05, 0x11, 0xd9, 0x0f, 0x10, 0x8b, 0x73, 0xf0, 0x08,
    0x00, 0x0d, 0x11, 0x89, 0x01, 0xf8, 0xf4, 0x07, 0x00, 0x0c, 0x16, 0xf3, 0x00, 0x01,
    0x05, 0x11, 0xd8, 0x0f, 0x10, 0x8c, 0x08, 0xe0, 0x0c, 0x10, 0x89, 0x01, 0xfb, 0xf0,
    0x07, 0x01, 0x05, 0x11, 0xfb, 0xf0, 0x06, 0x00, 0x0d, 0x11, 0x89, 0x01, 0xfa,
};
static const int32_t noloc_lines[] = { 2, 3, 4, 4, 4, 4, 4, 4, 8, 8, 8, N, 5, 5, 5,
                                       5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 8, 8, 8,
                                       N, N, N, N, 5, N, N, N, N, 8, 8, 8, N, N, N };

#define FIX(nm, tab, lines)                                                                   \
    { nm, tab, sizeof tab, 2, lines, sizeof lines / sizeof lines[0] }

static const fixture fixtures[] = {
    FIX("simple", simple_table, simple_lines),  FIX("loop", loop_table, loop_lines),
    FIX("nocol", nocol_table, loop_lines),      FIX("long", long_table, long_lines),
    FIX("noloc", noloc_table, noloc_lines),
};

/* The line of lasti with the table streamed in pieces of `piece` bytes through a window,
 * the way spw_symbolize feeds it. Also checks the leftover bound the header promises. */
static spw_sym_err streamed(const uint8_t *table, size_t len, int32_t first, uint32_t lasti,
                            size_t piece, int32_t *line)
{
    uint8_t win[SPW_LINETABLE_ENTRY_MAX + 64];
    spw_linetable_dec d;
    size_t have = 0, pos = 0;

    assert_true(piece >= 1 && piece <= 64);
    spw_linetable_begin(&d, first, lasti);
    for (;;) {
        size_t n = len - pos < piece ? len - pos : piece, used;
        for (size_t i = 0; i < n; i++) win[have + i] = table[pos + i];
        have += n;
        pos += n;
        spw_sym_err err = spw_linetable_feed(&d, win, have, pos == len, &used);
        if (err != SPW_SYM_OK) return err;
        if (d.done) break;
        assert_true(pos < len); /* the final piece always finishes */
        assert_true(used <= have);
        assert_true(have - used < SPW_LINETABLE_ENTRY_MAX);
        for (size_t i = used; i < have; i++) win[i - used] = win[i];
        have -= used;
    }
    *line = d.line;
    return SPW_SYM_OK;
}

static void test_fixtures_every_unit(void **state)
{
    (void)state;
    for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
        const fixture *fx = &fixtures[f];
        for (uint32_t u = 0; u < fx->units; u++) {
            int32_t line = 12345;
            assert_int_equal(spw_linetable_line(fx->table, fx->len, fx->first_line, u, &line),
                             SPW_SYM_OK);
            if (line != fx->lines[u])
                fail_msg("%s: unit %u: line %d, CPython says %d", fx->name, (unsigned)u,
                         (int)line, (int)fx->lines[u]);
        }
    }
}

static void test_fixtures_past_end(void **state)
{
    (void)state;
    for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
        const fixture *fx = &fixtures[f];
        const uint32_t past[] = { (uint32_t)fx->units, (uint32_t)fx->units + 1, 1000000,
                                  UINT32_MAX };
        for (size_t i = 0; i < sizeof past / sizeof past[0]; i++) {
            int32_t line = 12345;
            assert_int_equal(spw_linetable_line(fx->table, fx->len, 2, past[i], &line),
                             SPW_SYM_OK);
            assert_int_equal(line, SPW_LINE_NONE);
        }
    }
}

static void test_fixtures_streamed(void **state)
{
    (void)state;
    for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
        const fixture *fx = &fixtures[f];
        for (size_t piece = 1; piece <= 64; piece++) {
            for (uint32_t u = 0; u <= fx->units; u++) {
                int32_t line = 12345;
                int32_t want = u < fx->units ? fx->lines[u] : SPW_LINE_NONE;
                assert_int_equal(streamed(fx->table, fx->len, fx->first_line, u, piece, &line),
                                 SPW_SYM_OK);
                if (line != want)
                    fail_msg("%s: piece %zu unit %u: line %d, want %d", fx->name, piece,
                             (unsigned)u, (int)line, (int)want);
            }
        }
    }
}

/* The first entry's delta applies to co_firstlineno, whatever it is. */
static void test_first_line_is_base(void **state)
{
    (void)state;
    int32_t line;
    assert_int_equal(spw_linetable_line(simple_table, sizeof simple_table, 1000, 0, &line),
                     SPW_SYM_OK);
    assert_int_equal(line, 1000);
    assert_int_equal(spw_linetable_line(simple_table, sizeof simple_table, 1000, 11, &line),
                     SPW_SYM_OK);
    assert_int_equal(line, 1003);
    /* A first entry with a delta: no-column +5 from line 40. */
    const uint8_t t[] = { 0xe8, 0x0a };
    assert_int_equal(spw_linetable_line(t, sizeof t, 40, 0, &line), SPW_SYM_OK);
    assert_int_equal(line, 45);
}

static void test_empty_table(void **state)
{
    (void)state;
    int32_t line = 7;
    const uint8_t t[1] = { 0 };
    assert_int_equal(spw_linetable_line(t, 0, 10, 0, &line), SPW_SYM_OK);
    assert_int_equal(line, SPW_LINE_NONE);
}

/* Bits 0-2 are the length minus one: 0x87 covers 8 units, 0x80 one. */
static void test_entry_lengths(void **state)
{
    (void)state;
    const uint8_t t[] = { 0x87, 0x00, 0xd0, 0x00, 0x00 /* code 10, 1 unit */, 0xeb, 0x04 };
    int32_t line;
    for (uint32_t u = 0; u < 8; u++) {
        assert_int_equal(spw_linetable_line(t, sizeof t, 3, u, &line), SPW_SYM_OK);
        assert_int_equal(line, 3);
    }
    assert_int_equal(spw_linetable_line(t, sizeof t, 3, 8, &line), SPW_SYM_OK);
    assert_int_equal(line, 3);
    for (uint32_t u = 9; u < 13; u++) {
        assert_int_equal(spw_linetable_line(t, sizeof t, 3, u, &line), SPW_SYM_OK);
        assert_int_equal(line, 5);
    }
    assert_int_equal(spw_linetable_line(t, sizeof t, 3, 13, &line), SPW_SYM_OK);
    assert_int_equal(line, SPW_LINE_NONE);
}

/* One-line forms 10, 11, 12 add 0, 1, 2. */
static void test_one_line_deltas(void **state)
{
    (void)state;
    const uint8_t t[] = { 0xd0, 1, 2, 0xd8, 1, 2, 0xe0, 1, 2, 0xd0, 1, 2 };
    const int32_t want[] = { 7, 8, 10, 10 };
    for (uint32_t u = 0; u < 4; u++) {
        int32_t line;
        assert_int_equal(spw_linetable_line(t, sizeof t, 7, u, &line), SPW_SYM_OK);
        assert_int_equal(line, want[u]);
    }
}

/* A no-location entry is N and does not move the running line; the next delta applies to
 * the line before it. */
static void test_no_location_keeps_line(void **state)
{
    (void)state;
    /* +2 (no column), no location x2 units, short form, -1 (no column), no location. */
    const uint8_t t[] = { 0xe8, 0x04, 0xf9, 0x80, 0x00, 0xe8, 0x03, 0xf9 };
    const int32_t want[] = { 12, N, N, 12, 11, N, N };
    for (uint32_t u = 0; u < 7; u++) {
        int32_t line;
        assert_int_equal(spw_linetable_line(t, sizeof t, 10, u, &line), SPW_SYM_OK);
        assert_int_equal(line, want[u]);
    }
}

static void test_negative_deltas(void **state)
{
    (void)state;
    int32_t line;
    /* long form -3 then no-column -10 from line 20 */
    const uint8_t t[] = { 0xf0, 0x07, 0x00, 0x01, 0x02, 0xe8, 0x15 };
    assert_int_equal(spw_linetable_line(t, sizeof t, 20, 0, &line), SPW_SYM_OK);
    assert_int_equal(line, 17);
    assert_int_equal(spw_linetable_line(t, sizeof t, 20, 1, &line), SPW_SYM_OK);
    assert_int_equal(line, 7);
}

/* The largest 32-bit varint is accepted; svarint 2^32-1 is -(2^31-1). */
static void test_varint_limits(void **state)
{
    (void)state;
    int32_t line = 0;
    const uint8_t max[] = { 0xe8, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x03 };
    assert_int_equal(spw_linetable_line(max, sizeof max, 0, 0, &line), SPW_SYM_OK);
    assert_int_equal(line, -INT32_MAX);
    /* 2^32 - 2 is +(2^31 - 1) */
    const uint8_t big[] = { 0xe8, 0x7e, 0x7f, 0x7f, 0x7f, 0x7f, 0x03 };
    assert_int_equal(spw_linetable_line(big, sizeof big, 0, 0, &line), SPW_SYM_OK);
    assert_int_equal(line, INT32_MAX);
    /* Redundant zero groups are still a valid encoding of a small value. */
    const uint8_t pad[] = { 0xe8, 0x44, 0x40, 0x00 };
    assert_int_equal(spw_linetable_line(pad, sizeof pad, 1, 0, &line), SPW_SYM_OK);
    assert_int_equal(line, 3);
}

typedef struct bad_case {
    const char *why;
    uint8_t bytes[16];
    size_t len;
    int32_t first;
    uint32_t lasti;
} bad_case;

static const bad_case bad_cases[] = {
    { "entry start without bit 7", { 0x00 }, 1, 1, 0 },
    { "continuation byte where an entry must start", { 0x80, 0x00, 0x41, 0x80, 0x00 }, 5, 1, 1 },
    { "short form cut", { 0x80 }, 1, 1, 0 },
    { "one-line form cut", { 0xd8, 0x01 }, 2, 1, 0 },
    { "no-column varint missing", { 0xe8 }, 1, 1, 0 },
    { "varint continues past the end", { 0xe8, 0x42 }, 2, 1, 0 },
    { "varint cut by the next entry", { 0xe8, 0x42, 0x80, 0x00 }, 4, 1, 0 },
    { "long form missing end column", { 0xf0, 0x02, 0x00, 0x01 }, 4, 1, 0 },
    { "long form column varint cut", { 0xf0, 0x02, 0x00, 0x41, 0x80, 0x00 }, 6, 1, 0 },
    { "varint of 7 groups", { 0xe8, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x00 }, 8, 1, 0 },
    { "varint of 2^32", { 0xe8, 0x40, 0x40, 0x40, 0x40, 0x40, 0x04 }, 7, 1, 0 },
    { "end-line varint above 32 bits", { 0xf0, 0x00, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x3f, 0, 0 },
      10, 1, 0 },
    { "line above INT32_MAX", { 0xd8, 0x00, 0x00 }, 3, INT32_MAX, 0 },
    { "line below INT32_MIN", { 0xe8, 0x03 }, 2, INT32_MIN, 0 },
    { "line overflow builds up", { 0xe8, 0x7e, 0x7f, 0x7f, 0x7f, 0x7f, 0x03, 0xe8, 0x02 }, 9, 0, 1 },
};

static void test_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        int32_t line = 12345;
        spw_sym_err err = spw_linetable_line(c->bytes, c->len, c->first, c->lasti, &line);
        if (err != SPW_SYM_E_LINETABLE)
            fail_msg("%s: got %s", c->why, spw_sym_strerror(err));
        assert_int_equal(line, SPW_LINE_NONE);
        for (size_t piece = 1; piece <= 8; piece++) {
            err = streamed(c->bytes, c->len, c->first, c->lasti, piece, &line);
            if (err != SPW_SYM_E_LINETABLE)
                fail_msg("%s (pieces of %zu): got %s", c->why, piece, spw_sym_strerror(err));
        }
    }
}

/* The decoder stops at the covering entry: garbage after it is never looked at, garbage
 * before it always is. */
static void test_malformed_only_matters_before_lasti(void **state)
{
    (void)state;
    const uint8_t t[] = { 0x81, 0x00, 0xd8, 0x00, 0x00, 0x00, 0x00 };
    int32_t line;
    assert_int_equal(spw_linetable_line(t, sizeof t, 9, 1, &line), SPW_SYM_OK);
    assert_int_equal(line, 9);
    assert_int_equal(spw_linetable_line(t, sizeof t, 9, 2, &line), SPW_SYM_OK);
    assert_int_equal(line, 10);
    assert_int_equal(spw_linetable_line(t, sizeof t, 9, 3, &line), SPW_SYM_E_LINETABLE);
    assert_int_equal(line, SPW_LINE_NONE);
}

/* Every prefix of a real table that cuts an entry is truncated; every prefix that ends on an
 * entry boundary is fine. Each prefix is copied to the very end of a stack array, so under
 * ASan a read at or past len hits the redzone. */
static void test_every_prefix(void **state)
{
    (void)state;
    for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
        const fixture *fx = &fixtures[f];
        size_t boundaries = 0;
        for (size_t len = 0; len < fx->len; len++) {
            uint8_t copy[64];
            assert_true(len <= sizeof copy);
            uint8_t *p = copy + sizeof copy - len;
            for (size_t i = 0; i < len; i++) p[i] = fx->table[i];
            int boundary = fx->table[len] & 0x80; /* the next byte starts an entry */
            int32_t line;
            spw_sym_err err = spw_linetable_line(p, len, fx->first_line, UINT32_MAX, &line);
            assert_int_equal(err, boundary ? SPW_SYM_OK : SPW_SYM_E_LINETABLE);
            boundaries += boundary != 0;
        }
        assert_true(boundaries >= 5);
    }
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(spw_sym_strerror(SPW_SYM_OK), "ok");
    assert_string_equal(spw_sym_strerror(SPW_SYM_E_LINETABLE), "malformed line table");
    assert_string_equal(spw_sym_strerror((spw_sym_err)99), "unknown symbolizer error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_every_unit),
        cmocka_unit_test(test_fixtures_past_end),
        cmocka_unit_test(test_fixtures_streamed),
        cmocka_unit_test(test_first_line_is_base),
        cmocka_unit_test(test_empty_table),
        cmocka_unit_test(test_entry_lengths),
        cmocka_unit_test(test_one_line_deltas),
        cmocka_unit_test(test_no_location_keeps_line),
        cmocka_unit_test(test_negative_deltas),
        cmocka_unit_test(test_varint_limits),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_malformed_only_matters_before_lasti),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
