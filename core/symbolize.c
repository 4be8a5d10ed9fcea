/*
 * symbolize.c — (code object, instruction offset) -> (qualified name, file, line).
 *
 * Everything comes through the reader: the four code-object fields, the two str objects
 * (unicode.c) and the line table, which is streamed through a small window because a
 * table can be far longer than one read (linetable.c decodes it piece by piece).
 *
 * The pieces are independent, so a failure in one does not stop the others: a frame whose
 * file name was freed still gets its function and line. The first error is returned.
 */
#include "symbolize.h"

const char *spw_sym_strerror(spw_sym_err err)
{
    switch (err) {
    case SPW_SYM_OK: return "ok";
    case SPW_SYM_E_ADDR: return "invalid address";
    case SPW_SYM_E_UNREADABLE: return "unreadable memory";
    case SPW_SYM_E_STRING: return "malformed string object";
    case SPW_SYM_E_LINETABLE: return "malformed line table";
    }
    return "unknown symbolizer error";
}

/* Read `len` (at most 8) bytes of field `off` of the object at `obj` (already validated). */
static spw_sym_err read_field(const spw_layout *layout, const spw_reader *reader, uint64_t obj,
                              uint32_t off, uint8_t *dst, size_t len)
{
    if (!spw_addr_ok(layout->arch, obj + off, len, 1)) return SPW_SYM_E_ADDR;
    return spw_read(reader, obj + off, dst, len) ? SPW_SYM_E_UNREADABLE : SPW_SYM_OK;
}

/* Read the pointer field `off` of the code object at `code`. */
static spw_sym_err read_ptr(const spw_layout *layout, const spw_reader *reader, uint64_t code,
                            uint32_t off, uint64_t *out)
{
    uint8_t b[8];
    spw_sym_err err = read_field(layout, reader, code, off, b, sizeof b);

    *out = err == SPW_SYM_OK ? spw_le64(b) : 0;
    return err;
}

/* The line of code unit `lasti` from the bytes object at `table`. The table goes through
 * win[] one read at a time; an entry split between two reads stays at the front of win[]
 * for the next round, and is always shorter than SPW_LINETABLE_ENTRY_MAX. */
static spw_sym_err table_line(const spw_layout *layout, const spw_reader *reader,
                              uint64_t table, int32_t first_line, uint32_t lasti, int32_t *line)
{
    uint8_t win[SPW_LINETABLE_ENTRY_MAX + SPW_READ_MAX];
    uint8_t b[8];
    spw_linetable_dec dec;
    spw_sym_err err;
    int64_t size;
    uint64_t data, total, pos = 0;
    size_t have = 0;

    *line = SPW_LINE_NONE;
    if (!spw_addr_ok(layout->arch, table, layout->bytes_ob_sval, 8)) return SPW_SYM_E_ADDR;
    err = read_field(layout, reader, table, layout->bytes_ob_size, b, 8);
    if (err) return err;
    size = (int64_t)spw_le64(b);
    if (size < 0) return SPW_SYM_E_LINETABLE;
    /* Beyond SPW_LINETABLE_MAX we stop; an instruction there has no known line. */
    total = (uint64_t)size < SPW_LINETABLE_MAX ? (uint64_t)size : SPW_LINETABLE_MAX;
    data = table + layout->bytes_ob_sval;
    if (!spw_addr_ok(layout->arch, data, total, 1)) return SPW_SYM_E_ADDR;

    spw_linetable_begin(&dec, first_line, lasti);
    for (;;) {
        size_t n = total - pos < SPW_READ_MAX ? (size_t)(total - pos) : SPW_READ_MAX;
        size_t used;
        int final;

        if (n > 0 && spw_read(reader, data + pos, win + have, n)) return SPW_SYM_E_UNREADABLE;
        have += n;
        pos += n;
        final = pos == total && total == (uint64_t)size;
        err = spw_linetable_feed(&dec, win, have, final, &used);
        if (err) return err;
        if (dec.done) break;
        if (pos == total) return SPW_SYM_E_LINETABLE; /* oversized: gave up at the cap */
        /* Keep the unfinished entry: feed rejects any entry longer than
         * SPW_LINETABLE_ENTRY_MAX, the check only guards win[]. A forward copy is safe even
         * if the ranges overlapped. */
        if (have - used >= SPW_LINETABLE_ENTRY_MAX) return SPW_SYM_E_LINETABLE;
        for (size_t i = used; i < have; i++) win[i - used] = win[i];
        have -= used;
    }
    *line = dec.line;
    return SPW_SYM_OK;
}

spw_sym_err spw_symbolize(const spw_layout *layout, const spw_reader *reader, uint64_t code,
                          uint32_t lasti, spw_symbol *out)
{
    spw_sym_err err, first = SPW_SYM_OK;
    uint64_t qualname, filename, table;
    uint8_t b[4];

    out->function[0] = '\0';
    out->file[0] = '\0';
    out->line = SPW_LINE_NONE;
    out->first_line = SPW_LINE_NONE;
    out->function_truncated = 0;
    out->file_truncated = 0;

    if (!spw_addr_ok(layout->arch, code, layout->code_size, 8)) return SPW_SYM_E_ADDR;

    err = read_ptr(layout, reader, code, layout->co_qualname, &qualname);
    if (!err)
        err = spw_read_unicode(layout, reader, qualname, out->function, sizeof out->function,
                               &out->function_truncated);
    if (err && !first) first = err;

    err = read_ptr(layout, reader, code, layout->co_filename, &filename);
    if (!err)
        err = spw_read_unicode(layout, reader, filename, out->file, sizeof out->file,
                               &out->file_truncated);
    if (err && !first) first = err;

    /* The line needs both co_firstlineno and the table. */
    err = read_field(layout, reader, code, layout->co_firstlineno, b, 4);
    if (!err) {
        out->first_line = (int32_t)spw_le32(b);
        err = read_ptr(layout, reader, code, layout->co_linetable, &table);
    }
    if (!err) err = table_line(layout, reader, table, out->first_line, lasti, &out->line);
    if (err && !first) first = err;
    return first;
}
