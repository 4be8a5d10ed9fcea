/*
 * linetable.c — line numbers from CPython's location table (Objects/locations.md).
 *
 * co_linetable is a sequence of entries. Each starts with a byte whose bit 7 is set; bits 3-6
 * hold a code and bits 0-2 the number of code units covered, minus one. The code says what
 * follows:
 *
 *   0-9   short form      1 byte of columns                      line unchanged
 *   10-12 one-line form   2 bytes of columns                     line += code - 10
 *   13    no column       svarint line delta                     line += delta
 *   14    long form       svarint line delta, 3 varints          line += delta
 *   15    no location     nothing                                line unchanged, not shown
 *
 * varints are little-endian groups of 6 bits with 0x40 meaning "more follows"; an svarint
 * keeps its sign in bit 0. The running line starts at co_firstlineno. Only the start line
 * matters to a profiler, so column data is skipped, but every varint is still parsed: its
 * length is what finds the next entry.
 *
 * The decoder works one entry at a time over whatever bytes it is given, so the symbolizer
 * can stream a long table through a small stack window. It never reads outside p[0,len),
 * and it keeps the running line in 64 bits and rejects anything outside int32, so a hostile
 * table cannot make it overflow.
 */
#include "symbolize.h"

typedef enum lt_res {
    LT_OK = 0,
    LT_SHORT, /* ran off the bytes given: more may follow, or the table is truncated */
    LT_BAD,   /* cannot be a table CPython wrote */
} lt_res;

/* An unsigned varint. CPython writes at most 32 bits (6 groups); a sixth group that still
 * says "more" or a value above 32 bits is corrupt. A byte with bit 7 set is the start of the
 * next entry, so meeting one here means the varint was cut short. */
static lt_res lt_varint(const uint8_t *p, size_t len, size_t *pos, uint32_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 6) {
        if (*pos >= len) return LT_SHORT;
        uint8_t b = p[(*pos)++];
        if (b & 0x80) return LT_BAD;
        v |= (uint64_t)(b & 0x3f) << shift;
        if (!(b & 0x40)) break;
        if (shift == 30) return LT_BAD;
    }
    if (v > UINT32_MAX) return LT_BAD;
    *out = (uint32_t)v;
    return LT_OK;
}

/* A signed varint, as a line delta: sign in bit 0, magnitude above it. */
static lt_res lt_svarint(const uint8_t *p, size_t len, size_t *pos, int64_t *out)
{
    uint32_t u;
    lt_res r = lt_varint(p, len, pos, &u);
    if (r == LT_OK) *out = (u & 1) ? -(int64_t)(u >> 1) : (int64_t)(u >> 1);
    return r;
}

/* Skip n fixed bytes of column data. Their values do not matter to us. */
static lt_res lt_skip(size_t len, size_t *pos, size_t n)
{
    if (len - *pos < n) return LT_SHORT;
    *pos += n;
    return LT_OK;
}

/* Decode the entry at p[*pos]: its line delta, whether it has a location, and how many code
 * units it covers. *pos moves past it only on LT_OK. */
static lt_res lt_entry(const uint8_t *p, size_t len, size_t *pos, int64_t *delta, int *located,
                       uint32_t *units)
{
    size_t at = *pos;
    uint8_t head = p[at++];
    unsigned code = (head >> 3) & 15;
    lt_res r = LT_OK;
    uint32_t ignored;

    if (!(head & 0x80)) return LT_BAD; /* not an entry start: we lost sync */
    *units = (uint32_t)(head & 7) + 1;
    *delta = 0;
    *located = 1;
    if (code <= 9) {
        r = lt_skip(len, &at, 1);
    } else if (code <= 12) {
        *delta = (int64_t)code - 10;
        r = lt_skip(len, &at, 2);
    } else if (code == 13) {
        r = lt_svarint(p, len, &at, delta);
    } else if (code == 14) {
        r = lt_svarint(p, len, &at, delta);
        for (int i = 0; i < 3 && r == LT_OK; i++) r = lt_varint(p, len, &at, &ignored);
    } else {
        *located = 0;
    }
    if (r == LT_OK) *pos = at;
    return r;
}

void spw_linetable_begin(spw_linetable_dec *d, int32_t first_line, uint32_t lasti)
{
    d->running = first_line;
    d->unit = 0;
    d->lasti = lasti;
    d->line = SPW_LINE_NONE;
    d->done = 0;
}

spw_sym_err spw_linetable_feed(spw_linetable_dec *d, const uint8_t *p, size_t len, int final,
                               size_t *used)
{
    size_t pos = 0;

    *used = 0;
    if (d->done) return SPW_SYM_OK;
    while (pos < len) {
        int64_t delta;
        int located;
        uint32_t units;
        lt_res r = lt_entry(p, len, &pos, &delta, &located, &units);

        if (r == LT_BAD) return SPW_SYM_E_LINETABLE;
        if (r == LT_SHORT) {
            /* An entry split across pieces waits for the next one; at the end of the table
             * it is a truncated table. */
            if (final) return SPW_SYM_E_LINETABLE;
            return SPW_SYM_OK;
        }
        /* |delta| < 2^31 and running stays within int32, so this cannot overflow. */
        d->running += delta;
        if (d->running < INT32_MIN || d->running > INT32_MAX) return SPW_SYM_E_LINETABLE;
        *used = pos;
        /* Invariant: lasti >= unit, since every earlier entry ended at or before lasti. */
        if ((uint64_t)d->lasti - d->unit < units) {
            d->line = located ? (int32_t)d->running : SPW_LINE_NONE;
            d->done = 1;
            return SPW_SYM_OK;
        }
        d->unit += units;
    }
    if (final) {
        d->line = SPW_LINE_NONE; /* lasti lies past the last entry */
        d->done = 1;
    }
    return SPW_SYM_OK;
}

spw_sym_err spw_linetable_line(const uint8_t *table, size_t len, int32_t first_line,
                               uint32_t lasti, int32_t *line)
{
    spw_linetable_dec d;
    size_t used;
    spw_sym_err err;

    spw_linetable_begin(&d, first_line, lasti);
    err = spw_linetable_feed(&d, table, len, 1, &used);
    *line = err == SPW_SYM_OK ? d.line : SPW_LINE_NONE;
    return err;
}
