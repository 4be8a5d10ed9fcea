/*
 * fuzz_symbolize.c — strings of every kind, line tables and instruction offsets.
 *
 * The input builds, with spw_synth, a code object whose qualname and filename are compact
 * strs of an explicit kind (1, 2 or 4 bytes per character, ASCII flag or not) holding code
 * points from the input — including lone surrogates and values above U+10FFFF poked in
 * after construction, and lengths that are lies — and whose co_linetable is raw input
 * bytes; then symbolizes it at an arbitrary instruction offset. The same table also goes
 * straight into spw_linetable_line, and through the streaming decoder in random pieces.
 *
 * Invariants:
 *   S1 outputs are NUL-terminated inside their buffers and valid UTF-8; a truncated output
 *      ends with SPW_TRUNC_MARK; errors are documented ones; reads are validated and
 *      bounded (checked reader);
 *   S2 differential, strings: when the str is well-formed, the output is exactly the
 *      UTF-8 of its code points (lone surrogates as U+FFFD), or, when it does not fit, a
 *      prefix of that cut at a character boundary followed by SPW_TRUNC_MARK;
 *   S3 differential, line table: spw_symbolize (which streams the table through a small
 *      window), spw_linetable_line (one buffer) and the streaming decoder fed in random
 *      pieces agree on the line, or all call the table malformed.
 */
#include <string.h>

#include "checked_reader.h"
#include "oracle.h"
#include "provider.h"
#include "symbolize.h"
#include "synth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARENA_CAP (1u << 20)
#define MAX_CHARS 700u /* past SPW_FILE_MAX bytes even in ASCII: truncation is reachable */

static uint8_t arena[ARENA_CAP] __attribute__((aligned(64)));

typedef struct fz_str {
    uint64_t addr;
    uint32_t cps[MAX_CHARS];
    size_t n;
    int well_formed; /* no value a str cannot hold, and the header tells the truth */
} fz_str;

static fz_str qual, file;

/* A str from the input: kind, ascii flag, code points, then optional damage. */
static void make_str(spw_synth *s, fz_provider *fp, fz_str *st)
{
    unsigned kind = (unsigned[]){ 1, 2, 4 }[fz_pick(fp, 3)];
    int ascii = kind == 1 && fz_bool(fp);
    st->n = (size_t)fz_range(fp, 0, MAX_CHARS);
    uint32_t cap = ascii ? 0x7f : kind == 1 ? 0xff : kind == 2 ? 0xffff : 0x10ffff;
    for (size_t i = 0; i < st->n; i++) {
        uint32_t cp = (uint32_t)fz_uint(fp, kind == 4 ? 3 : kind);
        st->cps[i] = cp > cap ? cp % (cap + 1) : cp;
    }
    st->addr = spw_synth_str_kind(s, st->cps, st->n, kind, ascii);
    st->well_formed = st->addr != 0;
    if (!st->addr) return;
    const spw_layout *L = &s->layout;
    uint64_t dat = st->addr + (ascii ? L->unicode_ascii_size : L->unicode_compact_size);
    switch (fz_pick(fp, 8)) {
    case 0: /* a code point the kind can hold but a str must not: > U+10FFFF, or non-ASCII
             * in an ASCII str */
        if (st->n) {
            size_t i = (size_t)fz_range(fp, 0, st->n - 1);
            uint64_t v = kind == 4 ? 0x110000u + fz_u16(fp) : 0x80 + fz_range(fp, 0, 0x7f);
            if (kind == 4 || ascii) {
                spw_synth_poke(s, dat + i * kind, v, kind);
                st->well_formed = 0;
            }
        }
        break;
    case 1: /* a lone surrogate (legal in a str; becomes U+FFFD) */
        if (st->n && kind >= 2) {
            size_t i = (size_t)fz_range(fp, 0, st->n - 1);
            st->cps[i] = 0xd800 + (uint32_t)fz_range(fp, 0, 0x7ff);
            spw_synth_poke(s, dat + i * kind, st->cps[i], kind);
        }
        break;
    case 2: /* a length that lies: longer than the data (runs into the next object or off
             * the arena), huge, or negative */
        spw_synth_poke(s, st->addr + L->unicode_length,
                       fz_bool(fp) ? st->n + fz_range(fp, 1, 5000) : fz_u64(fp), 8);
        st->well_formed = 0;
        break;
    case 3: /* a damaged state word: kind, compact and ascii bits */
        spw_synth_poke(s, st->addr + L->unicode_state, fz_u32(fp), 4);
        st->well_formed = 0;
        break;
    default:
        break;
    }
}

/* The UTF-8 a well-formed str must convert to. Written independently of unicode.c. */
FZ_ORACLE static size_t oracle_encode(const fz_str *st, uint8_t *out, size_t cap, size_t *bounds,
                                      size_t *n_bounds)
{
    size_t len = 0;
    *n_bounds = 0;
    for (size_t i = 0; i < st->n; i++) {
        uint32_t c = st->cps[i];
        uint8_t e[4];
        size_t k;
        if ((c >= 0xd800 && c <= 0xdfff) || c == 0) c = 0xfffd; /* as core/unicode.c */
        if (c < 0x80) { e[0] = (uint8_t)c; k = 1; }
        else if (c < 0x800) { e[0] = (uint8_t)(0xc0 | c >> 6); e[1] = (uint8_t)(0x80 | (c & 0x3f)); k = 2; }
        else if (c < 0x10000) {
            e[0] = (uint8_t)(0xe0 | c >> 12); e[1] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
            e[2] = (uint8_t)(0x80 | (c & 0x3f)); k = 3;
        } else {
            e[0] = (uint8_t)(0xf0 | c >> 18); e[1] = (uint8_t)(0x80 | (c >> 12 & 0x3f));
            e[2] = (uint8_t)(0x80 | (c >> 6 & 0x3f)); e[3] = (uint8_t)(0x80 | (c & 0x3f)); k = 4;
        }
        if (len + k > cap) break;
        memcpy(out + len, e, k);
        len += k;
        bounds[(*n_bounds)++] = len;
    }
    return len;
}

static uint8_t want[4 * MAX_CHARS + 8];
static size_t bounds[MAX_CHARS];

FZ_ORACLE static void oracle_string(const fz_str *st, const char *got, size_t cap, int truncated,
                                    spw_sym_err err, const char *what)
{
    oracle_utf8(got, cap, what);
    size_t glen = strlen(got), mark = sizeof SPW_TRUNC_MARK - 1;
    /* A damaged str (kind or length lying) has no conversion to compare with: only the
     * checks above apply. */
    if (!st->well_formed) return;
    if (truncated)
        FZ_CHECK(glen >= mark && memcmp(got + glen - mark, SPW_TRUNC_MARK, mark) == 0,
                 "%s: truncated but \"%s\" (%zu bytes of %zu) does not end with the mark", what,
                 got, glen, cap);
    FZ_CHECK(err == SPW_SYM_OK, "%s: a well-formed str gave %s", what, spw_sym_strerror(err));
    size_t nb, wlen = oracle_encode(st, want, sizeof want, bounds, &nb);
    if (!truncated) {
        FZ_CHECK(glen == wlen && memcmp(got, want, wlen) == 0,
                 "%s: \"%s\" is not the %zu-byte conversion", what, got, wlen);
        return;
    }
    /* Cut: only when the whole conversion did not fit, at a character boundary. */
    FZ_CHECK(wlen + 1 > cap || st->n > SPW_STRING_MAX_CHARS,
             "%s: cut although %zu bytes fit in %zu", what, wlen, cap);
    size_t keep = glen - mark;
    int boundary = keep == 0;
    for (size_t i = 0; i < nb && !boundary; i++) boundary = bounds[i] == keep;
    FZ_CHECK(boundary && keep <= wlen && memcmp(got, want, keep) == 0,
             "%s: the cut output is not a prefix of the conversion", what);
}

/* Feed the table to the streaming decoder in pieces whose sizes come from the input. */
FZ_ORACLE static spw_sym_err oracle_stream(const uint8_t *t, size_t len, int32_t first,
                                           uint32_t lasti, fz_provider *fp, int32_t *line)
{
    uint8_t win[SPW_LINETABLE_ENTRY_MAX + 64];
    spw_linetable_dec d;
    size_t have = 0, pos = 0;
    spw_linetable_begin(&d, first, lasti);
    for (;;) {
        size_t n = (size_t)fz_range(fp, 1, 64);
        if (n > len - pos) n = len - pos;
        memcpy(win + have, t + pos, n);
        have += n;
        pos += n;
        size_t used = 0;
        spw_sym_err e = spw_linetable_feed(&d, win, have, pos == len, &used);
        if (e) return e;
        FZ_CHECK(used <= have, "feed consumed %zu of %zu bytes", used, have);
        if (d.done) {
            *line = d.line;
            return SPW_SYM_OK;
        }
        FZ_CHECK(pos < len, "final piece fed but the decoder is not done");
        FZ_CHECK(have - used < SPW_LINETABLE_ENTRY_MAX, "feed left %zu bytes", have - used);
        memmove(win, win + used, have - used);
        have -= used;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static spw_synth s;
    fz_provider fp;
    fz_init(&fp, data, size);
    spw_flavor flavor = (spw_flavor)fz_pick(&fp, SPW_FLAVOR_COUNT_);
    spw_arch arch = fz_bool(&fp) ? SPW_ARCH_AARCH64 : SPW_ARCH_X86_64;
    if (spw_synth_init(&s, flavor, arch, 0x7f5600000000ull, arena, ARENA_CAP) != 0) return 0;
    const spw_layout *L = &s.layout;

    int32_t first = (int32_t)fz_u32(&fp);
    uint32_t lasti = fz_bool(&fp) ? (uint32_t)fz_u8(&fp) : fz_u32(&fp);
    make_str(&s, &fp, &qual);
    make_str(&s, &fp, &file);
    size_t tlen;
    const uint8_t *table = fz_bytes(&fp, 2048, &tlen);
    uint64_t lt = spw_synth_bytes(&s, table, tlen);
    spw_synth_code_spec spec = { .qualname = "q", .filename = "f", .firstlineno = first,
                                 .linetable = table, .linetable_len = tlen, .n_units = 8 };
    uint64_t code = spw_synth_code(&s, &spec);
    if (!code || !lt || !qual.addr || !file.addr) return 0;
    spw_synth_poke(&s, code + L->co_qualname, qual.addr, 8);
    spw_synth_poke(&s, code + L->co_filename, file.addr, 8);
    spw_synth_poke(&s, code + L->co_linetable, lt, 8);

    spw_reader inner = { spw_synth_read, &s };
    fz_checked ck;
    /* Bound: each string at most SPW_STRING_MAX_CHARS * 4 / SPW_READ_MAX + 1 reads, the
     * table at most SPW_LINETABLE_MAX / SPW_READ_MAX + 1, plus the fields. */
    fz_checked_init(&ck, &inner, arch, 1, 2 * 65 + SPW_LINETABLE_MAX / SPW_READ_MAX + 16,
                    "symbolize");
    spw_reader rd = fz_checked_reader(&ck);
    spw_symbol sym;
    spw_sym_err err = spw_symbolize(L, &rd, code, lasti, &sym);
    FZ_CHECK(err <= SPW_SYM_E_LINETABLE, "symbolizer returned %d", (int)err);
    /* S1, S2: spw_symbolize reports only the first error; compare strings when it is OK. */
    oracle_string(&qual, sym.function, sizeof sym.function, sym.function_truncated,
                  err == SPW_SYM_OK || !qual.well_formed ? err : SPW_SYM_OK, "function");
    oracle_string(&file, sym.file, sizeof sym.file, sym.file_truncated,
                  err == SPW_SYM_OK || !file.well_formed ? err : SPW_SYM_OK, "file");
    FZ_CHECK(sym.first_line == first, "first line %d, not %d", sym.first_line, first);

    /* A narrow buffer: truncation at every size. */
    char small[40];
    uint8_t trunc;
    size_t cap = (size_t)fz_range(&fp, sizeof SPW_TRUNC_MARK + 4, sizeof small);
    fz_checked_reset(&ck, 2 * 65, "read_unicode");
    spw_sym_err e2 = spw_read_unicode(L, &rd, qual.addr, small, cap, &trunc);
    if (e2 == SPW_SYM_OK) oracle_string(&qual, small, cap, trunc, e2, "narrow function");
    else FZ_CHECK(!qual.well_formed, "a well-formed str refused: %s", spw_sym_strerror(e2));

    /* S3 */
    int32_t l1 = 0, l2 = 0;
    spw_sym_err t1 = spw_linetable_line(table, tlen, first, lasti, &l1);
    spw_sym_err t2 = oracle_stream(table, tlen, first, lasti, &fp, &l2);
    FZ_CHECK(t1 == t2 && (t1 != SPW_SYM_OK || l1 == l2),
             "one-shot decoder: %s line %d; streamed: %s line %d", spw_sym_strerror(t1), l1,
             spw_sym_strerror(t2), l2);
    if (qual.well_formed && file.well_formed) {
        FZ_CHECK((err == SPW_SYM_OK) == (t1 == SPW_SYM_OK),
                 "symbolize says %s, the table decoder %s", spw_sym_strerror(err),
                 spw_sym_strerror(t1));
        if (err == SPW_SYM_OK)
            FZ_CHECK(sym.line == l1, "symbolize: line %d, table decoder: line %d", sym.line, l1);
    }
    return 0;
}
