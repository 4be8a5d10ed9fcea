/*
 * test_symbolize.c — strings, code objects and line numbers through the reader.
 *
 * Memory is built with the synthetic image builder (synth.h) from each flavour's real
 * _Py_DebugOffsets, on both architectures, and read back through a reader that checks the
 * symbolizer's side of the contract: no read longer than SPW_READ_MAX, none at an address
 * that fails spw_addr_ok.
 */
#include <stdlib.h>
#include <string.h>

#include "support/fixture.h"
#include "symbolize.h"

/* --- a reader that checks the contract ------------------------------------------------- */

typedef struct checked {
    fixture *f;
    spw_reader reader; /* reads through check_read */
    unsigned reads;
    uint64_t bytes;
} checked;

static int check_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    checked *c = ctx;
    if (len == 0 || len > SPW_READ_MAX) fail_msg("read of %zu bytes", len);
    if (!spw_addr_ok(c->f->s.layout.arch, addr, len, 1))
        fail_msg("read at unvalidated address 0x%llx", (unsigned long long)addr);
    c->reads++;
    c->bytes += len;
    return spw_synth_read(&c->f->s, addr, dst, len);
}

static checked *setup(spw_flavor flavor, spw_arch arch)
{
    checked *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->f = fix_new_arch(flavor, arch);
    c->reader.read = check_read;
    c->reader.ctx = c;
    return c;
}

static void teardown(checked *c)
{
    fix_free(c->f);
    free(c);
}

/* Run body(c) for every flavour on both architectures. */
static void each_image(void (*body)(checked *c))
{
    static const spw_arch arches[] = { SPW_ARCH_X86_64, SPW_ARCH_AARCH64 };
    for (size_t a = 0; a < 2; a++)
        for (size_t i = 0; i < SPW_FLAVOR_COUNT_; i++) {
            checked *c = setup(fix_flavors[i], arches[a]);
            body(c);
            teardown(c);
        }
}

#define L(c) (&(c)->f->s.layout)
#define S(c) (&(c)->f->s)

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const char *str)
{
    const uint8_t *p = (const uint8_t *)str;
    while (*p) {
        uint32_t cp;
        size_t n;
        if (p[0] < 0x80) { p++; continue; }
        if ((p[0] & 0xe0) == 0xc0) { n = 2; cp = p[0] & 0x1f; }
        else if ((p[0] & 0xf0) == 0xe0) { n = 3; cp = p[0] & 0x0f; }
        else if ((p[0] & 0xf8) == 0xf0) { n = 4; cp = p[0] & 0x07; }
        else return 0;
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;
        if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return 0;
        p += n;
    }
    return 1;
}

/* Read the str at addr into a buffer of cap bytes with guard bytes behind it; checks the
 * guard and the always-true parts of the contract, returns the error. */
static spw_sym_err read_str(checked *c, uint64_t addr, char *out, size_t cap, uint8_t *trunc)
{
    char buf[8192 + 64];
    assert_true(cap + 64 <= sizeof buf);
    memset(buf, 0x5a, sizeof buf);
    *trunc = 0xee;
    spw_sym_err err = spw_read_unicode(L(c), &c->reader, addr, buf, cap, trunc);
    for (size_t i = cap; i < cap + 64; i++)
        if (buf[i] != 0x5a) fail_msg("wrote past cap %zu at %zu", cap, i);
    assert_true(*trunc == 0 || *trunc == 1);
    if (err == SPW_SYM_OK) {
        assert_true(strlen(buf) < cap);
        assert_true(utf8_valid(buf));
    } else {
        if (cap > 0) assert_int_equal(buf[0], '\0');
        assert_int_equal(*trunc, 0);
    }
    memcpy(out, buf, cap);
    return err;
}

static uint32_t state_of(checked *c, uint64_t str)
{
    const uint8_t *p = spw_synth_ptr(S(c), str + L(c)->unicode_state, 4);
    assert_non_null(p);
    return spw_le32(p);
}

static unsigned kind_of(checked *c, uint64_t str)
{
    return (state_of(c, str) >> L(c)->state_kind_shift) & 7;
}

/* --- strings ------------------------------------------------------------------------- */

static void body_kinds(checked *c)
{
    static const struct {
        const char *utf8;
        unsigned kind;
        int ascii;
    } cases[] = {
        { "main", 1, 1 },
        { "", 1, 1 },
        { "Outer.<locals>.inner", 1, 1 },
        { "caf\xc3\xa9", 1, 0 },                             /* café: Latin-1 */
        { "\xc3\xbf\xc2\xa0x", 1, 0 },                       /* ÿ, NBSP */
        { "\xe9\x96\xa2\xe6\x95\xb0", 2, 0 },                 /* 関数 */
        { "na\xc3\xafve_\xe2\x82\xac", 2, 0 },                /* naïve_€ */
        { "\xf0\x9d\x94\xa3\xf0\x9d\x94\xb2\xf0\x9d\x94\xab\xf0\x9d\x94\xa0", 4, 0 }, /* 𝔣𝔲𝔫𝔠 */
        { "go\xf0\x9f\x99\x82!", 4, 0 },                      /* go🙂! */
        { "\xf4\x8f\xbf\xbf", 4, 0 },                         /* U+10FFFF */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t str = spw_synth_str(S(c), cases[i].utf8);
        assert_int_not_equal(str, 0);
        /* The builder must have produced the kind this case is about. */
        assert_int_equal(kind_of(c, str), cases[i].kind);
        assert_int_equal((state_of(c, str) >> L(c)->state_ascii_bit) & 1, cases[i].ascii);
        char out[SPW_NAME_MAX];
        uint8_t trunc;
        assert_int_equal(read_str(c, str, out, sizeof out, &trunc), SPW_SYM_OK);
        assert_string_equal(out, cases[i].utf8);
        assert_int_equal(trunc, 0);
    }
}
static void test_kinds(void **state) { (void)state; each_image(body_kinds); }

/* Strings in a kind wider than they need (CPython does not make them, the format allows
 * them) and every Latin-1 code point. */
static void body_explicit_kinds(checked *c)
{
    char out[SPW_NAME_MAX], want[SPW_NAME_MAX];
    uint8_t trunc;
    uint32_t cps[256];
    for (uint32_t i = 0; i < 127; i++) cps[i] = i + 1; /* no NUL: it would end the C string */
    uint64_t ascii = spw_synth_str_kind(S(c), cps, 127, 1, 1);
    assert_int_equal(read_str(c, ascii, out, sizeof out, &trunc), SPW_SYM_OK);
    for (uint32_t i = 0; i < 127; i++) want[i] = (char)(i + 1);
    want[127] = '\0';
    assert_string_equal(out, want);

    for (uint32_t i = 0; i < 96; i++) cps[i] = 0xa0 + i; /* U+00A0..U+00FF */
    uint64_t latin = spw_synth_str_kind(S(c), cps, 96, 1, 0);
    assert_int_equal(read_str(c, latin, out, sizeof out, &trunc), SPW_SYM_OK);
    assert_int_equal(strlen(out), 192);
    for (uint32_t i = 0; i < 96; i++) {
        assert_int_equal((uint8_t)out[2 * i], 0xc0 | (0xa0 + i) >> 6);
        assert_int_equal((uint8_t)out[2 * i + 1], 0x80 | ((0xa0 + i) & 0x3f));
    }

    const uint32_t ab[] = { 'a', 0xe9, 'b' };
    uint64_t w2 = spw_synth_str_kind(S(c), ab, 3, 2, 0);
    uint64_t w4 = spw_synth_str_kind(S(c), ab, 3, 4, 0);
    assert_int_equal(read_str(c, w2, out, sizeof out, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "a\xc3\xa9" "b");
    assert_int_equal(read_str(c, w4, out, sizeof out, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "a\xc3\xa9" "b");

    /* The boundaries of each UTF-8 length. */
    const uint32_t edges[] = { 0x7f, 0x80, 0x7ff, 0x800, 0xffff, 0x10000, 0x10ffff };
    uint64_t e = spw_synth_str_kind(S(c), edges, 7, 4, 0);
    assert_int_equal(read_str(c, e, out, sizeof out, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80"
                             "\xf4\x8f\xbf\xbf");
}
static void test_explicit_kinds(void **state) { (void)state; each_image(body_explicit_kinds); }

/* Lone surrogates (and surrogate pairs, which in a str are two lone surrogates) and U+0000
 * become U+FFFD. */
static void body_surrogates(checked *c)
{
    char out[SPW_NAME_MAX];
    uint8_t trunc;
    const uint32_t s2[] = { 'a', 0xd800, 'b', 0xdfff };
    uint64_t a = spw_synth_str_kind(S(c), s2, 4, 2, 0);
    assert_int_equal(read_str(c, a, out, sizeof out, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "a\xef\xbf\xbd" "b\xef\xbf\xbd");

    const uint32_t pair[] = { 0xd83d, 0xde42 };
    uint64_t b = spw_synth_str_kind(S(c), pair, 2, 2, 0);
    assert_int_equal(read_str(c, b, out, sizeof out, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd");

    const uint32_t s4[] = { 0x1f642, 0xdc00 };
    uint64_t d = spw_synth_str_kind(S(c), s4, 2, 4, 0);
    assert_int_equal(read_str(c, d, out, sizeof out, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "\xf0\x9f\x99\x82\xef\xbf\xbd");
    /* 0xd7ff and 0xe000 are ordinary characters. */
    const uint32_t near[] = { 0xd7ff, 0xe000 };
    uint64_t n = spw_synth_str_kind(S(c), near, 2, 2, 0);
    assert_int_equal(read_str(c, n, out, sizeof out, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "\xed\x9f\xbf\xee\x80\x80");
    /* U+0000 in any kind (co_qualname can hold one) must not end the name early. */
    const uint32_t nul[] = { 'b', 0, 'a' };
    for (unsigned kind = 1; kind <= 4; kind *= 2) {
        uint64_t z = spw_synth_str_kind(S(c), nul, 3, kind, kind == 1);
        assert_int_equal(read_str(c, z, out, sizeof out, &trunc), SPW_SYM_OK);
        assert_string_equal(out, "b\xef\xbf\xbd" "a");
    }
}
static void test_surrogates(void **state) { (void)state; each_image(body_surrogates); }

static void body_bad_code_points(checked *c)
{
    char out[SPW_NAME_MAX];
    uint8_t trunc;
    const uint32_t big[] = { 'x', 0x110000 };
    uint64_t a = spw_synth_str_kind(S(c), big, 2, 4, 0);
    assert_int_equal(read_str(c, a, out, sizeof out, &trunc), SPW_SYM_E_STRING);
    const uint32_t huge[] = { 0xffffffffu };
    uint64_t b = spw_synth_str_kind(S(c), huge, 1, 4, 0);
    assert_int_equal(read_str(c, b, out, sizeof out, &trunc), SPW_SYM_E_STRING);
    /* The ascii bit promises 7-bit data. */
    const uint32_t hi[] = { 'o', 'k', 0xe9 };
    uint64_t d = spw_synth_str_kind(S(c), hi, 3, 1, 1);
    assert_int_equal(read_str(c, d, out, sizeof out, &trunc), SPW_SYM_E_STRING);
}
static void test_bad_code_points(void **state) { (void)state; each_image(body_bad_code_points); }

/* Flags and kinds in the state word, and the length. */
static void body_bad_headers(checked *c)
{
    const spw_layout *lay = L(c);
    char out[SPW_NAME_MAX];
    uint8_t trunc;
    uint64_t ok = spw_synth_str(S(c), "fine");
    uint32_t st = state_of(c, ok), kmask = 7u << lay->state_kind_shift;
    uint64_t state_at = ok + lay->unicode_state;

    assert_int_equal(read_str(c, ok, out, sizeof out, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "fine");

    /* Not compact: the data would live elsewhere. */
    assert_int_equal(spw_synth_poke(S(c), state_at, st & ~(1u << lay->state_compact_bit), 4), 0);
    assert_int_equal(read_str(c, ok, out, sizeof out, &trunc), SPW_SYM_E_STRING);
    /* Kinds other than 1, 2, 4 (0 was PyUnicode_WCHAR_KIND once). */
    const unsigned bad_kinds[] = { 0, 3, 5, 6, 7 };
    for (size_t i = 0; i < 5; i++) {
        uint32_t v = (st & ~kmask) | bad_kinds[i] << lay->state_kind_shift;
        assert_int_equal(spw_synth_poke(S(c), state_at, v, 4), 0);
        assert_int_equal(read_str(c, ok, out, sizeof out, &trunc), SPW_SYM_E_STRING);
    }
    /* ascii bit with kind 2. */
    uint32_t v = (st & ~kmask) | 2u << lay->state_kind_shift;
    assert_int_equal(spw_synth_poke(S(c), state_at, v, 4), 0);
    assert_int_equal(read_str(c, ok, out, sizeof out, &trunc), SPW_SYM_E_STRING);
    /* Bits outside kind/compact/ascii (interned, statically_allocated) do not matter. */
    v = st | ~(kmask | 1u << lay->state_compact_bit | 1u << lay->state_ascii_bit);
    assert_int_equal(spw_synth_poke(S(c), state_at, v, 4), 0);
    assert_int_equal(read_str(c, ok, out, sizeof out, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "fine");
    assert_int_equal(spw_synth_poke(S(c), state_at, st, 4), 0);

    /* Negative lengths. */
    const uint64_t neg[] = { UINT64_MAX, (uint64_t)1 << 63 };
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(spw_synth_poke(S(c), ok + lay->unicode_length, neg[i], 8), 0);
        assert_int_equal(read_str(c, ok, out, sizeof out, &trunc), SPW_SYM_E_STRING);
    }
    assert_int_equal(spw_synth_poke(S(c), ok + lay->unicode_length, 4, 8), 0);

    /* A length running past the end of readable memory: the last object in the arena. */
    uint64_t last = spw_synth_str(S(c), "tail");
    assert_int_equal(spw_synth_poke(S(c), last + lay->unicode_length, 100, 8), 0);
    assert_int_equal(read_str(c, last, out, sizeof out, &trunc), SPW_SYM_E_UNREADABLE);
    /* A length so large the data range leaves the address space is still only read as far
     * as SPW_STRING_MAX_CHARS: here that is unreadable, not a fault. */
    assert_int_equal(spw_synth_poke(S(c), last + lay->unicode_length, (uint64_t)1 << 62, 8), 0);
    assert_int_equal(read_str(c, last, out, sizeof out, &trunc), SPW_SYM_E_UNREADABLE);
}
static void test_bad_headers(void **state) { (void)state; each_image(body_bad_headers); }

static void body_bad_pointers(checked *c)
{
    char out[SPW_NAME_MAX];
    uint8_t trunc;
    uint64_t ok = spw_synth_str(S(c), "fine");
    uint64_t limit = spw_arch_user_limit(L(c)->arch);
    const uint64_t invalid[] = {
        0, 8, SPW_ADDR_MIN - 8,      /* null page */
        ok + 1, ok + 4,              /* misaligned */
        limit, limit - 8,            /* at / straddling the user limit */
        UINT64_MAX - 7,              /* wraps */
        (uint64_t)1 << 48,           /* above 48 bits on either architecture */
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        unsigned before = c->reads;
        assert_int_equal(read_str(c, invalid[i], out, sizeof out, &trunc), SPW_SYM_E_ADDR);
        assert_int_equal(c->reads, before); /* refused without a read */
    }
    /* Plausible addresses the reader cannot supply. */
    const uint64_t gone[] = { SPW_ADDR_MIN, FIX_BASE - 4096, FIX_BASE + FIX_ARENA, limit - 4096 };
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        assert_int_equal(read_str(c, gone[i], out, sizeof out, &trunc), SPW_SYM_E_UNREADABLE);
    /* 2^47 is a user address on aarch64 only. */
    assert_int_equal(read_str(c, (uint64_t)1 << 47, out, sizeof out, &trunc),
                     L(c)->arch == SPW_ARCH_AARCH64 ? SPW_SYM_E_UNREADABLE : SPW_SYM_E_ADDR);
}
static void test_bad_pointers(void **state) { (void)state; each_image(body_bad_pointers); }

/* Buffers below the documented minimum are refused, and never written past. */
static void body_small_cap(checked *c)
{
    char out[16];
    uint8_t trunc;
    uint64_t ok = spw_synth_str(S(c), "x");
    for (size_t cap = 0; cap < sizeof SPW_TRUNC_MARK + 4; cap++)
        assert_int_equal(read_str(c, ok, out, cap, &trunc), SPW_SYM_E_STRING);
    assert_int_equal(read_str(c, ok, out, sizeof SPW_TRUNC_MARK + 4, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "x");
}
static void test_small_cap(void **state) { (void)state; each_image(body_small_cap); }

/* Cutting: for every buffer size, the result is the longest whole-character prefix that
 * leaves room for "...", ends with "...", is valid UTF-8 and fits. */
static void body_truncation(checked *c)
{
    /* a 関 🙂 é, repeated: 1-, 3-, 4- and 2-byte characters. */
    static const char unit[] = "a\xe9\x96\xa2\xf0\x9f\x99\x82\xc3\xa9";
    static const size_t unit_chars[] = { 1, 3, 4, 2 };
    char full[4 * sizeof unit];
    size_t bounds[64], nb = 0, pos = 0;
    full[0] = '\0';
    bounds[nb++] = 0;
    for (int r = 0; r < 4; r++) {
        strcat(full, unit);
        for (size_t k = 0; k < 4; k++) bounds[nb++] = (pos += unit_chars[k]);
    }
    size_t len = strlen(full);
    assert_int_equal(len, pos);
    uint64_t str = spw_synth_str(S(c), full);
    assert_int_equal(kind_of(c, str), 4);

    for (size_t cap = sizeof SPW_TRUNC_MARK + 4; cap <= len + 2; cap++) {
        char out[128];
        uint8_t trunc;
        assert_int_equal(read_str(c, str, out, cap, &trunc), SPW_SYM_OK);
        if (len + 1 <= cap) {
            assert_int_equal(trunc, 0);
            assert_string_equal(out, full);
            continue;
        }
        assert_int_equal(trunc, 1);
        size_t n = strlen(out);
        assert_true(n >= 3 && n <= cap - 1);
        assert_memory_equal(out + n - 3, "...", 3);
        /* The longest character boundary b with b + 3 <= cap - 1. */
        size_t want = 0;
        for (size_t i = 0; i < nb; i++)
            if (bounds[i] + 3 <= cap - 1) want = bounds[i];
        assert_int_equal(n - 3, want);
        assert_memory_equal(out, full, want);
    }
}
static void test_truncation(void **state) { (void)state; each_image(body_truncation); }

/* Exactly full is not truncated; one byte more is. */
static void body_truncation_edges(checked *c)
{
    char out[64];
    uint8_t trunc;
    uint64_t s7 = spw_synth_str(S(c), "abcdefg"), s8 = spw_synth_str(S(c), "abcdefgh");
    assert_int_equal(read_str(c, s7, out, 8, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "abcdefg");
    assert_int_equal(trunc, 0);
    assert_int_equal(read_str(c, s8, out, 8, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "abcd...");
    assert_int_equal(trunc, 1);
    /* 関数関数 (12 bytes) in 10: 関数 + "..." is exactly 9. */
    uint64_t k = spw_synth_str(S(c), "\xe9\x96\xa2\xe6\x95\xb0\xe9\x96\xa2\xe6\x95\xb0");
    assert_int_equal(read_str(c, k, out, 10, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "\xe9\x96\xa2\xe6\x95\xb0...");
    assert_int_equal(read_str(c, k, out, 9, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "\xe9\x96\xa2...");
    /* A single 4-byte character in the minimum buffer of 8 fits; two do not. */
    uint64_t e1 = spw_synth_str(S(c), "\xf0\x9f\x99\x82");
    uint64_t e2 = spw_synth_str(S(c), "\xf0\x9f\x99\x82\xf0\x9f\x99\x82");
    assert_int_equal(read_str(c, e1, out, 8, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "\xf0\x9f\x99\x82");
    assert_int_equal(trunc, 0);
    assert_int_equal(read_str(c, e2, out, 8, &trunc), SPW_SYM_OK);
    assert_string_equal(out, "\xf0\x9f\x99\x82...");
    assert_int_equal(trunc, 1);
}
static void test_truncation_edges(void **state) { (void)state; each_image(body_truncation_edges); }

/* Strings beyond SPW_STRING_MAX_CHARS are cut there even when the buffer is big enough, and
 * conversion stops reading once the output is full. */
static void body_long_strings(checked *c)
{
    enum { MAXC = SPW_STRING_MAX_CHARS };
    uint32_t *cps = malloc((MAXC + 10) * sizeof *cps);
    char *out = malloc(8192);
    uint8_t trunc;
    assert_non_null(cps);
    assert_non_null(out);
    for (size_t i = 0; i < MAXC + 10; i++) cps[i] = 'a' + i % 26;

    for (unsigned kind = 1; kind <= 4; kind *= 2) {
        uint64_t exact = spw_synth_str_kind(S(c), cps, MAXC, kind, kind == 1);
        uint64_t over = spw_synth_str_kind(S(c), cps, MAXC + 1, kind, kind == 1);
        assert_int_not_equal(over, 0);

        unsigned before = c->reads;
        assert_int_equal(read_str(c, exact, out, 8192, &trunc), SPW_SYM_OK);
        assert_int_equal(trunc, 0);
        assert_int_equal(strlen(out), MAXC);
        for (size_t i = 0; i < MAXC; i++) assert_int_equal(out[i], 'a' + i % 26);
        /* The header, then the data in reads of at most SPW_READ_MAX bytes. */
        assert_int_equal(c->reads - before, 1 + (MAXC * kind + SPW_READ_MAX - 1) / SPW_READ_MAX);

        /* One character over the limit, in a buffer that could hold them all. */
        assert_int_equal(read_str(c, over, out, 8192, &trunc), SPW_SYM_OK);
        assert_int_equal(trunc, 1);
        assert_int_equal(strlen(out), MAXC + 3);
        assert_memory_equal(out + MAXC, "...", 4);
        /* Exactly enough room for MAXC characters and the mark. */
        assert_int_equal(read_str(c, over, out, MAXC + 4, &trunc), SPW_SYM_OK);
        assert_int_equal(strlen(out), MAXC + 3);
        assert_int_equal(out[MAXC - 1], 'a' + (MAXC - 1) % 26);

        /* A small buffer: header plus one chunk, however long the string. */
        before = c->reads;
        assert_int_equal(read_str(c, over, out, 16, &trunc), SPW_SYM_OK);
        assert_string_equal(out, "abcdefghijkl...");
        assert_int_equal(c->reads - before, 2);
    }
    free(out);
    free(cps);
}
static void test_long_strings(void **state) { (void)state; each_image(body_long_strings); }

/* --- spw_symbolize -------------------------------------------------------------------- */

/* co_linetable of `def g(xs)` from python3.13t (see test_linetable.c): lines per unit. */
static const uint8_t g_table[] = {
    0x80, 0x00, 0xd8, 0x08, 0x09, 0x80, 0x41, 0xdb, 0x0d, 0x0f, 0x88, 0x01,
    0xdf, 0x0b, 0x0c, 0x88, 0x31, 0xd8, 0x0c, 0x0d, 0x89, 0x46, 0x8a, 0x41,
    0xf1, 0x05, 0x00, 0x0e, 0x10, 0xf0, 0x06, 0x00, 0x0c, 0x0d, 0x80, 0x48,
};
static const int32_t g_lines[] = { 2, 3, 3, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5,
                                   5, 5, 5, 6, 6, 6, 6, 6, 6, 4, 4, 7, 7 };

static uint64_t make_code(checked *c, const char *qual, const char *file, int32_t first,
                          const uint8_t *table, size_t table_len, uint32_t units)
{
    spw_synth_code_spec spec = { .qualname = qual, .filename = file, .firstlineno = first,
                                 .linetable = table, .linetable_len = table_len,
                                 .n_units = units };
    uint64_t code = spw_synth_code(S(c), &spec);
    assert_int_not_equal(code, 0);
    return code;
}

static void expect_symbol(const spw_symbol *sym, const char *fn, const char *file, int32_t line,
                          int32_t first)
{
    assert_string_equal(sym->function, fn);
    assert_string_equal(sym->file, file);
    assert_int_equal(sym->line, line);
    assert_int_equal(sym->first_line, first);
}

static void body_symbolize_lines(checked *c)
{
    spw_symbol sym;
    uint64_t g = make_code(c, "g", "/srv/app/\xe9\x96\xa2.py", 2, g_table, sizeof g_table, 27);
    for (uint32_t u = 0; u < 27; u++) {
        assert_int_equal(spw_symbolize(L(c), &c->reader, g, u, &sym), SPW_SYM_OK);
        expect_symbol(&sym, "g", "/srv/app/\xe9\x96\xa2.py", g_lines[u], 2);
        assert_int_equal(sym.function_truncated, 0);
        assert_int_equal(sym.file_truncated, 0);
    }
    assert_int_equal(spw_symbolize(L(c), &c->reader, g, 27, &sym), SPW_SYM_OK);
    expect_symbol(&sym, "g", "/srv/app/\xe9\x96\xa2.py", SPW_LINE_NONE, 2);
    assert_int_equal(spw_symbolize(L(c), &c->reader, g, UINT32_MAX, &sym), SPW_SYM_OK);
    assert_int_equal(sym.line, SPW_LINE_NONE);

    /* The builder's default table: one no-column entry per unit, line firstlineno + unit. */
    uint64_t d = make_code(c, "Cls.m\xc3\xa9thode", "caf\xc3\xa9.py", 100, NULL, 0, 40);
    for (uint32_t u = 0; u < 40; u++) {
        assert_int_equal(spw_symbolize(L(c), &c->reader, d, u, &sym), SPW_SYM_OK);
        expect_symbol(&sym, "Cls.m\xc3\xa9thode", "caf\xc3\xa9.py", 100 + (int32_t)u, 100);
    }

    /* Emoji and astral names, and an empty table. */
    uint64_t e = make_code(c, "\xf0\x9d\x94\xa3\xf0\x9d\x94\xb2\xf0\x9d\x94\xab\xf0\x9d\x94\xa0",
                           "<string>", 1, g_table, 0, 4);
    assert_int_equal(spw_symbolize(L(c), &c->reader, e, 0, &sym), SPW_SYM_OK);
    expect_symbol(&sym, "\xf0\x9d\x94\xa3\xf0\x9d\x94\xb2\xf0\x9d\x94\xab\xf0\x9d\x94\xa0",
                  "<string>", SPW_LINE_NONE, 1);
}
static void test_symbolize_lines(void **state) { (void)state; each_image(body_symbolize_lines); }

/* A table much longer than one read, with entries of every form and multi-byte varints
 * falling across read boundaries: spw_symbolize must agree with the whole-table decoder
 * at every unit. */
static void body_symbolize_long_table(checked *c)
{
    enum { CAP = 24000 };
    uint8_t *t = malloc(CAP);
    size_t n = 0;
    uint32_t units = 0, seed = 12345;
    assert_non_null(t);
    while (n + SPW_LINETABLE_ENTRY_MAX < CAP) {
        seed = seed * 1103515245u + 12345u;
        uint32_t r = seed >> 8, len = (r & 7) + 1, form = (r >> 3) % 5;
        units += len;
        switch (form) {
        case 0: t[n++] = (uint8_t)(0x80 | ((r >> 6) % 10) << 3 | (len - 1)); t[n++] = 0x12; break;
        case 1: t[n++] = (uint8_t)(0x80 | (10 + (r >> 6) % 3) << 3 | (len - 1));
                t[n++] = 1; t[n++] = 2; break;
        case 2: t[n++] = (uint8_t)(0xe8 | (len - 1)); t[n++] = (r >> 9) & 1 ? 0x03 : 0x06; break;
        case 3: /* long form with a 3-group column varint */
            t[n++] = (uint8_t)(0xf0 | (len - 1));
            t[n++] = (r >> 9) & 1 ? 0x45 : 0x48; t[n++] = 0x00; /* svarint -2 / +4 */
            t[n++] = 0x01;
            t[n++] = 0x7f; t[n++] = 0x7f; t[n++] = 0x01;
            t[n++] = 0x02;
            break;
        default: t[n++] = (uint8_t)(0xf8 | (len - 1)); break;
        }
    }
    assert_true(n > 20 * SPW_READ_MAX);
    uint64_t code = make_code(c, "long", "long.py", 5000, t, n, units);
    for (uint32_t u = 0; u < units + 3; u += (u < 200 ? 1 : 37)) {
        int32_t want;
        spw_symbol sym;
        assert_int_equal(spw_linetable_line(t, n, 5000, u, &want), SPW_SYM_OK);
        assert_int_equal(spw_symbolize(L(c), &c->reader, code, u, &sym), SPW_SYM_OK);
        if (sym.line != want) fail_msg("unit %u: %d, want %d", (unsigned)u, sym.line, want);
    }
    /* Check a few by hand, not only against the decoder: past the end is unknown. */
    spw_symbol sym;
    assert_int_equal(spw_symbolize(L(c), &c->reader, code, units, &sym), SPW_SYM_OK);
    assert_int_equal(sym.line, SPW_LINE_NONE);
    free(t);
}
static void test_symbolize_long_table(void **state)
{
    (void)state;
    each_image(body_symbolize_long_table);
}

/* Tables longer than SPW_LINETABLE_MAX: lines inside the first SPW_LINETABLE_MAX bytes are
 * found, lines beyond are unknown and reported as an oversized table. */
static void body_symbolize_oversized(checked *c)
{
    const size_t n = SPW_LINETABLE_MAX + 64;
    uint8_t *t = malloc(n);
    assert_non_null(t);
    for (size_t i = 0; i < n; i += 2) { t[i] = 0xe8; t[i + 1] = 0x02; } /* +1 per unit */
    uint64_t code = make_code(c, "big", "big.py", 0, t, n, 1);
    spw_symbol sym;
    assert_int_equal(spw_symbolize(L(c), &c->reader, code, 10, &sym), SPW_SYM_OK);
    assert_int_equal(sym.line, 11);
    uint32_t last = SPW_LINETABLE_MAX / 2 - 1; /* the last entry inside the cap */
    assert_int_equal(spw_symbolize(L(c), &c->reader, code, last, &sym), SPW_SYM_OK);
    assert_int_equal(sym.line, (int32_t)last + 1);
    assert_int_equal(spw_symbolize(L(c), &c->reader, code, last + 1, &sym), SPW_SYM_E_LINETABLE);
    assert_int_equal(sym.line, SPW_LINE_NONE);
    expect_symbol(&sym, "big", "big.py", SPW_LINE_NONE, 0);

    /* The same behind a one-byte entry (no location, one unit): the cap now cuts an entry
     * in two, and the instruction in it is as unknown as one wholly beyond the cap. */
    t[0] = 0xf8;
    for (size_t i = 1; i + 1 < n; i += 2) { t[i] = 0xe8; t[i + 1] = 0x02; }
    code = make_code(c, "cut", "cut.py", 0, t, n, 1);
    assert_int_equal(spw_symbolize(L(c), &c->reader, code, 0, &sym), SPW_SYM_OK);
    assert_int_equal(sym.line, SPW_LINE_NONE);
    assert_int_equal(spw_symbolize(L(c), &c->reader, code, 10, &sym), SPW_SYM_OK);
    assert_int_equal(sym.line, 10);
    last = (SPW_LINETABLE_MAX - 1) / 2; /* its entry ends one byte before the cap */
    assert_int_equal(spw_symbolize(L(c), &c->reader, code, last, &sym), SPW_SYM_OK);
    assert_int_equal(sym.line, (int32_t)last);
    assert_int_equal(spw_symbolize(L(c), &c->reader, code, last + 1, &sym), SPW_SYM_E_LINETABLE);
    expect_symbol(&sym, "cut", "cut.py", SPW_LINE_NONE, 0);
    free(t);
}
static void test_symbolize_oversized(void **state)
{
    (void)state;
    each_image(body_symbolize_oversized);
}

static uint64_t code_field(checked *c, uint64_t code, uint32_t off)
{
    const uint8_t *p = spw_synth_ptr(S(c), code + off, 8);
    assert_non_null(p);
    return spw_le64(p);
}

/* Broken pieces: each error is reported, the other pieces are still resolved, and fields
 * that could not be resolved are empty / SPW_LINE_NONE. */
static void body_symbolize_errors(checked *c)
{
    const spw_layout *lay = L(c);
    spw_symbol sym;

    /* The code pointer itself. */
    const uint64_t bad_code[] = { 0, 0x10, FIX_BASE + 4, spw_arch_user_limit(lay->arch) - 8 };
    for (size_t i = 0; i < 4; i++) {
        memset(&sym, 0x5a, sizeof sym);
        assert_int_equal(spw_symbolize(lay, &c->reader, bad_code[i], 0, &sym), SPW_SYM_E_ADDR);
        expect_symbol(&sym, "", "", SPW_LINE_NONE, SPW_LINE_NONE);
        assert_int_equal(sym.function_truncated, 0);
        assert_int_equal(sym.file_truncated, 0);
    }
    memset(&sym, 0x5a, sizeof sym);
    assert_int_equal(spw_symbolize(lay, &c->reader, FIX_BASE - 4096, 0, &sym),
                     SPW_SYM_E_UNREADABLE);
    expect_symbol(&sym, "", "", SPW_LINE_NONE, SPW_LINE_NONE);

    /* co_qualname NULL: function unknown, the rest resolved. */
    uint64_t a = make_code(c, "a", "a.py", 7, g_table, sizeof g_table, 27);
    assert_int_equal(spw_synth_poke(S(c), a + lay->co_qualname, 0, 8), 0);
    assert_int_equal(spw_symbolize(lay, &c->reader, a, 3, &sym), SPW_SYM_E_ADDR);
    expect_symbol(&sym, "", "a.py", 9, 7);

    /* co_filename pointing at unmapped memory. */
    uint64_t b = make_code(c, "b", "b.py", 2, g_table, sizeof g_table, 27);
    assert_int_equal(spw_synth_poke(S(c), b + lay->co_filename, FIX_BASE - 4096, 8), 0);
    assert_int_equal(spw_symbolize(lay, &c->reader, b, 23, &sym), SPW_SYM_E_UNREADABLE);
    expect_symbol(&sym, "b", "", 4, 2);

    /* co_qualname is not a compact str. */
    uint64_t d = make_code(c, "d", "d.py", 2, g_table, sizeof g_table, 27);
    uint64_t q = code_field(c, d, lay->co_qualname);
    assert_int_equal(spw_synth_poke(S(c), q + lay->unicode_state, 0, 4), 0);
    assert_int_equal(spw_symbolize(lay, &c->reader, d, 0, &sym), SPW_SYM_E_STRING);
    expect_symbol(&sym, "", "d.py", 2, 2);

    /* co_linetable misaligned. */
    uint64_t e = make_code(c, "e", "e.py", 2, g_table, sizeof g_table, 27);
    uint64_t et = code_field(c, e, lay->co_linetable);
    assert_int_equal(spw_synth_poke(S(c), e + lay->co_linetable, et + 2, 8), 0);
    assert_int_equal(spw_symbolize(lay, &c->reader, e, 0, &sym), SPW_SYM_E_ADDR);
    expect_symbol(&sym, "e", "e.py", SPW_LINE_NONE, 2);

    /* Negative bytes size. */
    uint64_t h = make_code(c, "h", "h.py", 2, g_table, sizeof g_table, 27);
    uint64_t ht = code_field(c, h, lay->co_linetable);
    assert_int_equal(spw_synth_poke(S(c), ht + lay->bytes_ob_size, (uint64_t)-5, 8), 0);
    assert_int_equal(spw_symbolize(lay, &c->reader, h, 0, &sym), SPW_SYM_E_LINETABLE);
    expect_symbol(&sym, "h", "h.py", SPW_LINE_NONE, 2);

    /* Malformed table: an entry start without bit 7 before the instruction. */
    const uint8_t broken[] = { 0x80, 0x00, 0x08, 0x00 };
    uint64_t k = make_code(c, "k", "k.py", 2, broken, sizeof broken, 4);
    assert_int_equal(spw_symbolize(lay, &c->reader, k, 0, &sym), SPW_SYM_OK);
    assert_int_equal(sym.line, 2);
    assert_int_equal(spw_symbolize(lay, &c->reader, k, 1, &sym), SPW_SYM_E_LINETABLE);
    expect_symbol(&sym, "k", "k.py", SPW_LINE_NONE, 2);

    /* Table data running past readable memory: 1000 real bytes, a size of 100000, and the
     * bytes object last in the arena. The first reads succeed, the fourth fails. */
    uint8_t plus[1000];
    for (size_t i = 0; i < sizeof plus; i += 2) { plus[i] = 0xe8; plus[i + 1] = 0x02; }
    uint64_t m = make_code(c, "m", "m.py", 0, NULL, 0, 500);
    uint64_t mt = spw_synth_bytes(S(c), plus, sizeof plus);
    assert_int_equal(spw_synth_poke(S(c), m + lay->co_linetable, mt, 8), 0);
    assert_int_equal(spw_synth_poke(S(c), mt + lay->bytes_ob_size, 100000, 8), 0);
    assert_int_equal(spw_synth_ptr(S(c), mt + lay->bytes_ob_sval + 1001, 1), NULL);
    assert_int_equal(spw_symbolize(lay, &c->reader, m, 3, &sym), SPW_SYM_OK);
    assert_int_equal(sym.line, 4);
    assert_int_equal(spw_symbolize(lay, &c->reader, m, 383, &sym), SPW_SYM_OK);
    assert_int_equal(sym.line, 384);
    assert_int_equal(spw_symbolize(lay, &c->reader, m, 384, &sym), SPW_SYM_E_UNREADABLE);
    expect_symbol(&sym, "m", "m.py", SPW_LINE_NONE, 0);

    /* Several failures: the first one (in field order) is returned. */
    uint64_t p = make_code(c, "p", "p.py", 2, broken, sizeof broken, 4);
    assert_int_equal(spw_synth_poke(S(c), p + lay->co_qualname, 0x10, 8), 0);
    assert_int_equal(spw_synth_poke(S(c), p + lay->co_filename, FIX_BASE - 4096, 8), 0);
    assert_int_equal(spw_symbolize(lay, &c->reader, p, 3, &sym), SPW_SYM_E_ADDR);
    expect_symbol(&sym, "", "", SPW_LINE_NONE, 2);
}
static void test_symbolize_errors(void **state) { (void)state; each_image(body_symbolize_errors); }

/* Names longer than spw_symbol's buffers are cut and flagged. */
static void body_symbolize_truncated(checked *c)
{
    char qual[SPW_NAME_MAX * 3 + 1], file[SPW_FILE_MAX + 1];
    size_t i;
    for (i = 0; i + 3 <= sizeof qual - 1; i += 3) memcpy(qual + i, "\xe9\x96\xa2", 3);
    qual[i] = '\0';
    memset(file, 'f', SPW_FILE_MAX);
    file[SPW_FILE_MAX] = '\0';
    uint64_t code = make_code(c, qual, file, 1, NULL, 0, 2);
    spw_symbol sym;
    assert_int_equal(spw_symbolize(L(c), &c->reader, code, 1, &sym), SPW_SYM_OK);
    assert_int_equal(sym.function_truncated, 1);
    assert_int_equal(sym.file_truncated, 1);
    assert_int_equal(sym.line, 2);
    /* 255 bytes before the NUL: 84 whole 3-byte characters (252) and the mark. */
    assert_int_equal(strlen(sym.function), 84 * 3 + 3);
    assert_true(utf8_valid(sym.function));
    assert_memory_equal(sym.function, qual, 84 * 3);
    assert_string_equal(sym.function + 84 * 3, "...");
    assert_int_equal(strlen(sym.file), SPW_FILE_MAX - 1);
    assert_string_equal(sym.file + SPW_FILE_MAX - 4, "...");
}
static void test_symbolize_truncated(void **state)
{
    (void)state;
    each_image(body_symbolize_truncated);
}

static void test_strerror(void **state)
{
    (void)state;
    const spw_sym_err all[] = { SPW_SYM_OK, SPW_SYM_E_ADDR, SPW_SYM_E_UNREADABLE,
                                SPW_SYM_E_STRING, SPW_SYM_E_LINETABLE };
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(spw_sym_strerror(all[i]), spw_sym_strerror(all[j]));
    assert_string_equal(spw_sym_strerror(SPW_SYM_E_STRING), "malformed string object");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_explicit_kinds),
        cmocka_unit_test(test_surrogates),
        cmocka_unit_test(test_bad_code_points),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_bad_pointers),
        cmocka_unit_test(test_small_cap),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_truncation_edges),
        cmocka_unit_test(test_long_strings),
        cmocka_unit_test(test_symbolize_lines),
        cmocka_unit_test(test_symbolize_long_table),
        cmocka_unit_test(test_symbolize_oversized),
        cmocka_unit_test(test_symbolize_errors),
        cmocka_unit_test(test_symbolize_truncated),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
