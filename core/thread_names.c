/*
 * thread_names.c — threading._active, read through a reader (thread_names.h).
 */
#include "thread_names.h"

#include "symbolize.h"

spw_obj_err spw_names_open(const spw_layout *L, const spw_reader *rd, uint64_t interp,
                           spw_dict *active)
{
    uint8_t b[8];
    uint64_t modules, threading, md_dict, found;
    spw_dict d;
    spw_obj_err err;
    if (!spw_addr_ok(L->arch, interp, L->interp_size, 8)) return SPW_OBJ_E_ADDR;
    if (spw_read(rd, interp + L->interp_imports_modules, b, 8)) return SPW_OBJ_E_UNREADABLE;
    modules = spw_le64(b);
    if (modules == 0) return SPW_OBJ_ABSENT; /* an interpreter being born or torn down */
    if ((err = spw_dict_open(L, rd, modules, &d)) ||
        (err = spw_dict_find(L, rd, &d, "threading", &threading)))
        return err;
    if (!spw_addr_ok(L->arch, threading, (uint64_t)L->module_md_dict + 8, 8))
        return SPW_OBJ_E_ADDR;
    if (spw_read(rd, threading + L->module_md_dict, b, 8)) return SPW_OBJ_E_UNREADABLE;
    md_dict = spw_le64(b);
    if ((err = spw_dict_open(L, rd, md_dict, &d)) ||
        (err = spw_dict_find(L, rd, &d, "_active", &found)))
        return err;
    return spw_dict_open(L, rd, found, active);
}

spw_obj_err spw_names_entry(const spw_layout *L, const spw_reader *rd, const spw_dict *active,
                            uint32_t i, uint64_t *ident, char *name, size_t cap)
{
    uint64_t key, thread, hash, str;
    uint8_t cut;
    spw_obj_err err;
    if ((err = spw_dict_entry(L, rd, active, i, &key, &thread, &hash)) ||
        (err = spw_read_int(L, rd, key, ident)) ||
        (err = spw_object_attr(L, rd, thread, "_name", &str)))
        return err;
    switch (spw_read_unicode(L, rd, str, name, cap, &cut)) {
    case SPW_SYM_OK: return SPW_OBJ_OK;
    case SPW_SYM_E_ADDR: return SPW_OBJ_E_ADDR;
    case SPW_SYM_E_UNREADABLE: return SPW_OBJ_E_UNREADABLE;
    default: return SPW_OBJ_ABSENT; /* a _name that is not a str */
    }
}
