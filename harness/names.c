/*
 * names.c — the `threading` names of a process's threads, by ident (core/thread_names.h),
 * for dump and record.
 *
 * One pass over threading._active of one interpreter fills a table; a render makes one
 * pass per interpreter it meets, a recording one per tick that saw a thread it has no
 * name for. A thread that is not in _active (a thread that never ran threading's
 * bootstrap, one still starting, or a process that never imported threading) has no name
 * here, and its caller keeps whatever it had.
 */
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "thread_names.h"

void sw_names_free(sw_names *t)
{
    free(t->entries);
    *t = (sw_names){ 0 };
}

void sw_names_fill(sw_names *t, const spw_layout *L, const spw_reader *rd, uint64_t interp)
{
    spw_dict active;
    t->n = 0;
    t->interp = interp;
    t->filled = 1;
    if (spw_names_open(L, rd, interp, &active) != SPW_OBJ_OK) return;
    const uint32_t n = active.n < SW_NAMES_MAX ? active.n : SW_NAMES_MAX;
    if (n > t->cap) {
        t->entries = sw_xrealloc(t->entries, n * sizeof *t->entries);
        t->cap = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        sw_name *e = &t->entries[t->n];
        if (spw_names_entry(L, rd, &active, i, &e->ident, e->name, sizeof e->name) ==
            SPW_OBJ_OK)
            t->n++;
    }
}

int sw_names_interp(const spw_layout *L, const spw_reader *rd, uint64_t tstate,
                    uint64_t *interp)
{
    uint8_t b[8];
    if (!spw_addr_ok(L->arch, tstate, L->tstate_size, 8) ||
        spw_read(rd, tstate + L->tstate_interp, b, 8))
        return -1;
    *interp = spw_le64(b);
    return 0;
}

const char *sw_names_get(const sw_names *t, uint64_t ident)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (t->entries[i].ident == ident) return t->entries[i].name;
    return NULL;
}
