/*
 * names.h — threads' `threading` names by ident, for dump and record (names.c).
 */
#ifndef SW_NAMES_H
#define SW_NAMES_H

#include "spwalk.h"

#define SW_NAMES_MAX (1u << 16) /* entries of _active read in one pass */

typedef struct sw_name {
    uint64_t ident;
    char name[SPW_NAME_MAX];
} sw_name;

typedef struct sw_names {
    sw_name *entries;
    uint32_t n, cap;
    uint64_t interp; /* whose _active the table holds... */
    int filled;      /* ... once filled (it may be empty) */
} sw_names;

/* Refill t from threading._active of the interpreter at `interp` (empty when it cannot be
 * read: a name is known or absent, never guessed). */
void sw_names_fill(sw_names *t, const spw_layout *L, const spw_reader *rd, uint64_t interp);
/* The interpreter of the thread state at `tstate`: 0, or -1 when it cannot be read. */
int sw_names_interp(const spw_layout *L, const spw_reader *rd, uint64_t tstate,
                    uint64_t *interp);
/* The name of the thread whose threading.get_ident() is `ident`, or NULL. */
const char *sw_names_get(const sw_names *t, uint64_t ident);
void sw_names_free(sw_names *t);

#endif /* SW_NAMES_H */
