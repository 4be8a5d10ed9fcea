/*
 * symbolize.h — from (code address, instruction offset) to (qualified name, file, line).
 *
 * Reads the code object's co_qualname, co_filename, co_firstlineno and co_linetable through
 * a reader, decodes the location table (CPython's Objects/locations.md) and converts every
 * PyUnicode kind to UTF-8 into fixed-size buffers (lone surrogates and U+0000, which
 * UTF-8 or a C string cannot carry, become U+FFFD). Never faults, never allocates: a string
 * longer than its buffer is cut at a character boundary and ends with SPW_TRUNC_MARK.
 */
#ifndef SPW_SYMBOLIZE_H
#define SPW_SYMBOLIZE_H

#include "layout.h"
#include "reader.h"

#define SPW_NAME_MAX 256u /* bytes for the qualified name, including the NUL */
#define SPW_FILE_MAX 512u /* bytes for the file name, including the NUL */
#define SPW_TRUNC_MARK "..." /* ends a name or file cut to fit */

/* Longest string (in code points) the symbolizer will convert; longer ones are cut. */
#define SPW_STRING_MAX_CHARS 4096u
/* Longest line table it will scan, in bytes; beyond it the line is unknown. */
#define SPW_LINETABLE_MAX (1u << 20)

typedef enum spw_sym_err {
    SPW_SYM_OK = 0,
    SPW_SYM_E_ADDR,       /* a pointer failed validation */
    SPW_SYM_E_UNREADABLE, /* the reader could not supply the bytes */
    SPW_SYM_E_STRING,     /* not a well-formed compact str (kind, flags, length) */
    SPW_SYM_E_LINETABLE,  /* malformed or oversized co_linetable */
} spw_sym_err;

const char *spw_sym_strerror(spw_sym_err err);

/* Line is SPW_LINE_NONE when the instruction has no location (code 15) or lies past the
 * table. */
#define SPW_LINE_NONE (-1)

typedef struct spw_symbol {
    char function[SPW_NAME_MAX]; /* co_qualname, UTF-8, NUL-terminated */
    char file[SPW_FILE_MAX];     /* co_filename, UTF-8, NUL-terminated */
    int32_t line;                /* line of the instruction, or SPW_LINE_NONE */
    int32_t first_line;          /* co_firstlineno */
    uint8_t function_truncated, file_truncated;
} spw_symbol;

/* Resolve a code object and instruction offset (code units). Fills *out as far as it could:
 * on error, fields not yet resolved are empty strings / SPW_LINE_NONE. */
spw_sym_err spw_symbolize(const spw_layout *layout, const spw_reader *reader, uint64_t code,
                          uint32_t lasti, spw_symbol *out);

/* Pieces, exposed for tests and fuzzing. */

/* Convert the str object at `addr` to UTF-8 into buf[cap] (cap >= sizeof SPW_TRUNC_MARK + 4;
 * a smaller buffer is refused with SPW_SYM_E_STRING). *truncated is set when the string was
 * cut, to fit buf or at SPW_STRING_MAX_CHARS; either way it then ends with SPW_TRUNC_MARK.
 * Lone surrogates and U+0000 become U+FFFD. On error buf is "" (if cap > 0). */
spw_sym_err spw_read_unicode(const spw_layout *layout, const spw_reader *reader, uint64_t addr,
                             char *buf, size_t cap, uint8_t *truncated);

/* Is the str object at `addr` the ASCII string s[0,len)? 1 or 0 (0 also when it is not a
 * compact str: a str key is always one); -SPW_SYM_E_ADDR or -SPW_SYM_E_UNREADABLE when it
 * cannot be read. Reads its header, and its characters only when the lengths agree. */
int spw_str_is(const spw_layout *layout, const spw_reader *reader, uint64_t addr,
               const char *s, size_t len);

/* Line of code unit `lasti` from a location table already in memory. Returns SPW_SYM_OK and
 * sets *line (possibly SPW_LINE_NONE), or SPW_SYM_E_LINETABLE if the table is malformed
 * before reaching lasti. */
spw_sym_err spw_linetable_line(const uint8_t *table, size_t len, int32_t first_line,
                               uint32_t lasti, int32_t *line);

/* The same decoder, fed a table in pieces (spw_symbolize reads co_linetable in chunks of at
 * most SPW_READ_MAX bytes). Begin, then feed consecutive pieces: each call decodes every
 * complete entry of p[0,len) and sets *used to the bytes it consumed; the caller keeps
 * p[*used,len) (always fewer than SPW_LINETABLE_ENTRY_MAX bytes) in front of the next piece.
 * `final` says the table ends at p + len. Once `done` is set, `line` holds the answer (the
 * final piece always sets it). An entry that can never complete is SPW_SYM_E_LINETABLE. */
#define SPW_LINETABLE_ENTRY_MAX 25u /* longest accepted entry: 1 byte + 4 varints of 6 */

typedef struct spw_linetable_dec {
    int64_t running;  /* line the next entry's delta applies to */
    uint64_t unit;    /* first code unit of the next entry */
    uint32_t lasti;   /* code unit being looked for */
    int32_t line;     /* the answer, once done */
    int done;
} spw_linetable_dec;

void spw_linetable_begin(spw_linetable_dec *d, int32_t first_line, uint32_t lasti);
spw_sym_err spw_linetable_feed(spw_linetable_dec *d, const uint8_t *p, size_t len, int final,
                               size_t *used);

#endif /* SPW_SYMBOLIZE_H */
