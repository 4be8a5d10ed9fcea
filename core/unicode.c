/*
 * unicode.c — a compact CPython str, read through a reader and converted to UTF-8.
 *
 * A compact str is one allocation: the PyASCIIObject header (with the 32-bit `state` word
 * and the length in code points), for non-ASCII strings the rest of PyCompactUnicodeObject,
 * then the characters, 1, 2 or 4 bytes each (the "kind"). The layout gives every offset and
 * the position of the kind, compact and ascii bits inside `state`, which differ between
 * builds. Strings that are not compact keep their data elsewhere and never name code
 * objects or files, so they are refused rather than chased.
 *
 * The characters are pulled through one stack buffer of SPW_READ_MAX bytes and encoded
 * straight into the caller's buffer; conversion stops at the first character that does not
 * fit, so a long string costs no more reads than the output can use.
 */
#include <string.h>

#include "symbolize.h"

/* Put code point cp (at most 0x10FFFF, not a surrogate) into out as UTF-8; returns its
 * length. */
static size_t utf8_put(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xc0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* End buf[0,len) with SPW_TRUNC_MARK inside buf[cap]. buf holds whole UTF-8 characters, so
 * stepping back over continuation bytes always lands on a character boundary. */
static void cut(char *buf, size_t len, size_t cap)
{
    const size_t mark = sizeof SPW_TRUNC_MARK - 1;

    while (len > 0 && len + mark > cap - 1) {
        do len--;
        while (len > 0 && ((uint8_t)buf[len] & 0xc0) == 0x80);
    }
    memcpy(buf + len, SPW_TRUNC_MARK, mark + 1);
}

/* A compact str's header, judged on one read of both its fields: its length in code
 * points, its kind (1, 2 or 4 bytes a character), whether it is ASCII, and where its
 * characters start. */
typedef struct str_head {
    uint64_t length, data;
    uint32_t kind;
    int ascii;
} str_head;

static spw_sym_err read_head(const spw_layout *layout, const spw_reader *reader, uint64_t addr,
                             str_head *h)
{
    uint8_t b[SPW_READ_MAX];
    uint32_t span = layout->unicode_state + 4;
    if (layout->unicode_length + 8 > span) span = layout->unicode_length + 8;
    if (span > SPW_READ_MAX) return SPW_SYM_E_STRING;
    if (!spw_addr_ok(layout->arch, addr, span, 8)) return SPW_SYM_E_ADDR;
    if (spw_read(reader, addr, b, span)) return SPW_SYM_E_UNREADABLE;
    const uint32_t state = spw_le32(b + layout->unicode_state);
    const int64_t length = (int64_t)spw_le64(b + layout->unicode_length);
    h->kind = (state >> layout->state_kind_shift) & 7;
    h->ascii = (state >> layout->state_ascii_bit) & 1;
    if (!((state >> layout->state_compact_bit) & 1)) return SPW_SYM_E_STRING;
    if (h->kind != 1 && h->kind != 2 && h->kind != 4) return SPW_SYM_E_STRING;
    if (h->ascii && h->kind != 1) return SPW_SYM_E_STRING;
    if (length < 0) return SPW_SYM_E_STRING;
    h->length = (uint64_t)length;
    h->data = addr + (h->ascii ? layout->unicode_ascii_size : layout->unicode_compact_size);
    return SPW_SYM_OK;
}

int spw_str_is(const spw_layout *layout, const spw_reader *reader, uint64_t addr,
               const char *s, size_t len)
{
    uint8_t chunk[SPW_READ_MAX];
    str_head h;
    const spw_sym_err err = read_head(layout, reader, addr, &h);
    if (err == SPW_SYM_E_STRING) return 0;
    if (err) return -(int)err;
    /* CPython keeps every all-ASCII str in the ASCII form. */
    if (!h.ascii || h.length != len) return 0;
    if (len > SPW_READ_MAX) return 0;
    if (!spw_addr_ok(layout->arch, h.data, len, 1)) return -(int)SPW_SYM_E_ADDR;
    if (len && spw_read(reader, h.data, chunk, len)) return -(int)SPW_SYM_E_UNREADABLE;
    return memcmp(chunk, s, len) == 0;
}

spw_sym_err spw_read_unicode(const spw_layout *layout, const spw_reader *reader, uint64_t addr,
                             char *buf, size_t cap, uint8_t *truncated)
{
    uint8_t chunk[SPW_READ_MAX];
    const spw_arch arch = layout->arch;
    uint64_t n, data, done;
    size_t out = 0;
    int ascii, clipped;
    uint32_t kind;
    str_head h;
    spw_sym_err err;

    *truncated = 0;
    if (cap > 0) buf[0] = '\0';
    if (cap < sizeof SPW_TRUNC_MARK + 4) return SPW_SYM_E_STRING;
    if ((err = read_head(layout, reader, addr, &h))) return err;
    kind = h.kind;
    ascii = h.ascii;
    data = h.data;
    const uint64_t length = h.length;

    clipped = length > SPW_STRING_MAX_CHARS;
    n = clipped ? SPW_STRING_MAX_CHARS : length;
    if (!spw_addr_ok(arch, data, n * kind, 1)) return SPW_SYM_E_ADDR;

    /* SPW_READ_MAX is a multiple of 4, so a chunk never splits a character. */
    for (done = 0; done < n;) {
        uint64_t want = (n - done) * kind;
        size_t bytes = want < SPW_READ_MAX ? (size_t)want : SPW_READ_MAX;

        if (spw_read(reader, data + done * kind, chunk, bytes)) {
            buf[0] = '\0';
            return SPW_SYM_E_UNREADABLE;
        }
        for (size_t i = 0; i < bytes; i += kind, done++) {
            uint32_t cp = kind == 1 ? chunk[i] : kind == 2 ? spw_le16(chunk + i)
                                                           : spw_le32(chunk + i);
            uint8_t enc[4];
            size_t k;

            if (cp > 0x10ffff || (ascii && cp > 0x7f)) {
                buf[0] = '\0';
                return SPW_SYM_E_STRING;
            }
            /* A str may hold lone surrogates, which UTF-8 cannot, and U+0000, which would
             * end our NUL-terminated result early: both become U+FFFD. */
            if ((cp >= 0xd800 && cp <= 0xdfff) || cp == 0) cp = 0xfffd;
            k = utf8_put(cp, enc);
            if (k > cap - 1 - out) {
                cut(buf, out, cap);
                *truncated = 1;
                return SPW_SYM_OK;
            }
            memcpy(buf + out, enc, k);
            out += k;
        }
    }
    if (clipped) {
        cut(buf, out, cap);
        *truncated = 1;
        return SPW_SYM_OK;
    }
    buf[out] = '\0';
    return SPW_SYM_OK;
}
