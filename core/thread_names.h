/*
 * thread_names.h — the `threading` names of a CPython process's threads, read from its
 * memory: sys.modules["threading"]._active, which maps threading.get_ident() (a thread
 * state's thread_id) to the Thread object, and each Thread's `_name`.
 *
 * This is how a thread gets its name from outside on 3.13, which never hands it to the
 * kernel, and its whole name on 3.14, whose kernel name is cut to 15 bytes. It works on
 * any reader (a live process, a core file, a snapshot that recorded these reads) and it
 * is as suspicious as the walker (dict.h): a name that cannot be read is absent, never
 * guessed.
 *
 *     spw_dict active;
 *     if (spw_names_open(&L, &rd, interp, &active) == SPW_OBJ_OK)
 *         for (uint32_t i = 0; i < active.n; i++)
 *             if (spw_names_entry(&L, &rd, &active, i, &ident, name, sizeof name) ==
 *                 SPW_OBJ_OK)
 *                 use(ident, name);
 */
#ifndef SPW_THREAD_NAMES_H
#define SPW_THREAD_NAMES_H

#include "dict.h"

/* threading._active of the interpreter at `interp`: ABSENT when threading was never
 * imported (or has no _active). */
spw_obj_err spw_names_open(const spw_layout *L, const spw_reader *rd, uint64_t interp,
                           spw_dict *active);

/* Entry i of _active: the thread's ident and its name as UTF-8 into name[cap] (cut as the
 * symbolizer cuts, cap >= 8). ABSENT: a deleted entry, or a Thread with no `_name` str. */
spw_obj_err spw_names_entry(const spw_layout *L, const spw_reader *rd, const spw_dict *active,
                            uint32_t i, uint64_t *ident, char *name, size_t cap);

#endif /* SPW_THREAD_NAMES_H */
