/*
 * synth_objects.c — the objects the thread-name reader follows (dict.h, thread_names.h),
 * built as CPython lays them out (see synth.h): ints, dicts and their keys, heap types
 * whose instances keep a managed dict or inline values, modules, and a whole
 * sys.modules -> threading -> _active -> Thread._name graph.
 */
#include "synth.h"

#include <string.h>

/* CPython's layouts, stated here again rather than taken from dict.c: the builder is the
 * tests' independent account of them, so a slip in the reader's (an index width, a flag)
 * fails a test instead of being built into both sides. */
#define KEYS_HEADER 32u   /* PyDictKeysObject up to dk_indices */
#define VALUES_HEADER 8u  /* PyDictValues up to values[] */
#define TPFLAGS_INLINE_VALUES (1u << 2)
#define TPFLAGS_MANAGED_DICT (1u << 4)
#define TPFLAGS_HEAPTYPE (1u << 9)
#define PREHEADER 32u     /* room before an instance for its managed dict pointer */

uint64_t spw_synth_int(spw_synth *s, uint64_t v)
{
    const spw_layout *L = &s->layout;
    unsigned n = 0;
    for (uint64_t r = v; r; r >>= 30) n++;
    uint64_t obj = spw_synth_object(s, s->other_type, L->long_ob_digit + 4u * (n ? n : 1));
    /* lv_tag: the digit count above three bits of sign (1: zero, 0: positive). */
    spw_synth_poke(s, obj + L->long_lv_tag, ((uint64_t)n << 3) | (n ? 0 : 1), 8);
    for (unsigned k = 0; k < n; k++)
        spw_synth_poke(s, obj + L->long_ob_digit + 4 * k, (v >> (30 * k)) & 0x3fffffff, 4);
    return obj;
}

/* log2 of the smallest table (at least 8 slots) whose usable two thirds hold n entries. */
static unsigned table_log2(uint32_t n)
{
    unsigned log2 = 3;
    while (((uint64_t)2 << log2) / 3 < n) log2++;
    return log2;
}

uint64_t spw_synth_keys(spw_synth *s, unsigned kind, const uint64_t *keys,
                        const uint64_t *values, uint32_t n)
{
    const unsigned log2 = table_log2(n);
    const unsigned log2_index = log2 < 8 ? log2 : log2 < 16 ? log2 + 1 : log2 + 2;
    const uint64_t index_bytes = (uint64_t)1 << log2_index;
    const uint64_t entry = kind == SPW_DICT_GENERAL ? 24 : 16;
    const uint64_t usable = ((uint64_t)2 << log2) / 3;
    uint64_t k = spw_synth_alloc(s, KEYS_HEADER + index_bytes + usable * entry, 8);
    uint8_t *idx = spw_synth_ptr(s, k + KEYS_HEADER, index_bytes);
    if (!idx) return 0;
    /* The index: DKIX_EMPTY (-1) everywhere but the first n slots. The reader scans the
     * entries in order and never hashes, so where an entry's index sits does not matter. */
    memset(idx, 0xff, index_bytes);
    spw_synth_poke(s, k, 1, 8); /* dk_refcnt */
    spw_synth_poke(s, k + 8, log2, 1);
    spw_synth_poke(s, k + 9, log2_index, 1);
    spw_synth_poke(s, k + 10, kind, 1);
    spw_synth_poke(s, k + 16, usable - n, 8); /* dk_usable */
    spw_synth_poke(s, k + 24, n, 8);          /* dk_nentries */
    const uint64_t e0 = k + KEYS_HEADER + index_bytes;
    for (uint32_t i = 0; i < n; i++) {
        const uint64_t e = e0 + i * entry;
        const unsigned w = 1u << (log2_index - log2); /* index bytes a slot */
        spw_synth_poke(s, k + KEYS_HEADER + (uint64_t)i * w, i, w);
        if (kind == SPW_DICT_GENERAL) {
            spw_synth_poke(s, e, keys[i] * 0x9e3779b97f4a7c15ull | 1, 8); /* some hash */
            spw_synth_poke(s, e + 8, keys[i], 8);
            spw_synth_poke(s, e + 16, values ? values[i] : 0, 8);
        } else {
            spw_synth_poke(s, e, keys[i], 8);
            /* A split table's values live in its PyDictValues, not in its entries. */
            if (kind == SPW_DICT_UNICODE) spw_synth_poke(s, e + 8, values ? values[i] : 0, 8);
        }
    }
    return k;
}

uint64_t spw_synth_values(spw_synth *s, uint64_t at, const uint64_t *values, uint32_t n)
{
    uint64_t v = at ? at : spw_synth_alloc(s, VALUES_HEADER + 8u * n, 8);
    spw_synth_poke(s, v, n, 1);       /* capacity */
    spw_synth_poke(s, v + 1, n, 1);   /* size */
    spw_synth_poke(s, v + 2, !!at, 1); /* embedded: inline in its object */
    spw_synth_poke(s, v + 3, 1, 1);   /* valid */
    for (uint32_t i = 0; i < n; i++) spw_synth_poke(s, v + VALUES_HEADER + 8u * i, values[i], 8);
    return v;
}

uint64_t spw_synth_dict(spw_synth *s, unsigned kind, const uint64_t *keys,
                        const uint64_t *values, uint32_t n)
{
    const spw_layout *L = &s->layout;
    uint64_t d = spw_synth_object(s, s->other_type, L->dict_size);
    uint64_t k = spw_synth_keys(s, kind, keys, values, n);
    spw_synth_poke(s, d + L->ma_keys, k, 8);
    if (kind == SPW_DICT_SPLIT) spw_synth_poke(s, d + L->ma_values,
                                               spw_synth_values(s, 0, values, n), 8);
    return d;
}

/* Str objects for names[0..n). */
static void strs(spw_synth *s, const char *const *names, uint32_t n, uint64_t *out)
{
    for (uint32_t i = 0; i < n; i++) out[i] = spw_synth_str(s, names[i]);
}

uint64_t spw_synth_str_dict(spw_synth *s, const char *const *names, const uint64_t *values,
                            uint32_t n)
{
    uint64_t keys[SPW_SYNTH_ATTRS_MAX];
    if (n > SPW_SYNTH_ATTRS_MAX) {
        s->oom = 1;
        return 0;
    }
    strs(s, names, n, keys);
    return spw_synth_dict(s, SPW_DICT_UNICODE, keys, values, n);
}

uint64_t spw_synth_instance(spw_synth *s, const char *const *names, const uint64_t *values,
                            uint32_t n, int in_dict)
{
    const spw_layout *L = &s->layout;
    uint64_t keys[SPW_SYNTH_ATTRS_MAX];
    if (n > SPW_SYNTH_ATTRS_MAX) {
        s->oom = 1;
        return 0;
    }
    strs(s, names, n, keys);
    /* Its class: a heap type with a managed dict, whose instances start with inline values
     * keyed by the class's shared split keys. */
    uint64_t type = spw_synth_object(s, s->other_type, L->ht_cached_keys + 8u);
    spw_synth_poke(s, type + L->tp_flags,
                   TPFLAGS_HEAPTYPE | TPFLAGS_MANAGED_DICT | TPFLAGS_INLINE_VALUES, 8);
    spw_synth_poke(s, type + L->tp_basicsize, L->object_size, 8);
    uint64_t cached = spw_synth_keys(s, SPW_DICT_SPLIT, keys, NULL, n);
    spw_synth_poke(s, type + L->ht_cached_keys, cached, 8);

    uint64_t block = spw_synth_alloc(s, PREHEADER + L->object_size + VALUES_HEADER + 8u * n, 16);
    if (!block) return 0;
    const uint64_t obj = block + PREHEADER;
    spw_synth_poke(s, obj + L->ob_type, type, 8);
    if (in_dict) {
        spw_synth_poke(s, obj - L->managed_dict_before,
                       spw_synth_dict(s, SPW_DICT_UNICODE, keys, values, n), 8);
        /* The inline values, once moved into the dict, are no longer valid. */
        spw_synth_poke(s, obj + L->object_size + 3, 0, 1);
    } else {
        spw_synth_values(s, obj + L->object_size, values, n);
    }
    return obj;
}

uint64_t spw_synth_module(spw_synth *s, uint64_t md_dict)
{
    const spw_layout *L = &s->layout;
    uint64_t m = spw_synth_object(s, s->other_type, L->module_md_dict + 8u * 4);
    spw_synth_poke(s, m + L->module_md_dict, md_dict, 8);
    return m;
}

uint64_t spw_synth_threading(spw_synth *s, uint64_t interp, const uint64_t *idents,
                             const char *const *names, uint32_t n)
{
    uint64_t ints[SPW_SYNTH_THREADS_MAX], threads[SPW_SYNTH_THREADS_MAX];
    if (n > SPW_SYNTH_THREADS_MAX) {
        s->oom = 1;
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        /* Thread objects as threading makes them: _name among other attributes, kept
         * inline or (every third, as after a vars() or a __dict__ access) in a dict. */
        const char *attrs[] = { "_target", "_name", "_ident" };
        uint64_t vals[] = { s->none, spw_synth_str(s, names[i] ? names[i] : ""),
                            spw_synth_int(s, idents[i]) };
        const char *no_name[] = { "_target", "_ident" };
        const uint64_t no_name_vals[] = { vals[0], vals[2] };
        threads[i] = names[i] ? spw_synth_instance(s, attrs, vals, 3, i % 3 == 2)
                              : spw_synth_instance(s, no_name, no_name_vals, 2, i % 3 == 2);
        ints[i] = spw_synth_int(s, idents[i]);
    }
    uint64_t active = spw_synth_dict(s, SPW_DICT_GENERAL, ints, threads, n);
    const char *mod_names[] = { "__name__", "_active", "_limbo" };
    const uint64_t mod_vals[] = { spw_synth_str(s, "threading"), active,
                                  spw_synth_dict(s, SPW_DICT_GENERAL, NULL, NULL, 0) };
    uint64_t threading = spw_synth_module(s, spw_synth_str_dict(s, mod_names, mod_vals, 3));
    const char *sys_names[] = { "sys", "builtins", "threading" };
    const uint64_t sys_vals[] = { spw_synth_module(s, 0), spw_synth_module(s, 0), threading };
    spw_synth_poke(s, interp + s->layout.interp_imports_modules,
                   spw_synth_str_dict(s, sys_names, sys_vals, 3), 8);
    return active;
}
