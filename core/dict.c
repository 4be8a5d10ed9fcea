/*
 * dict.c — dicts, ints and instance attributes through a reader (dict.h).
 */
#include "dict.h"

#include <string.h>

#include "symbolize.h"

#define KEYS_HEADER 32u      /* PyDictKeysObject up to dk_indices */
#define VALUES_HEADER 8u     /* PyDictValues up to values[] (padded to a pointer) */
#define NAME_MAX_BYTES 64u   /* longest name spw_dict_find() compares */
#define TPFLAGS_INLINE_VALUES (1u << 2)
#define TPFLAGS_MANAGED_DICT (1u << 4)
#define TPFLAGS_HEAPTYPE (1u << 9)
#define BASICSIZE_MAX 4096u  /* a managed-dict class's instances: the header, a few slots */
#define LONG_SHIFT 30u       /* PyLong_SHIFT on every 64-bit build */
#define LONG_NON_SIZE_BITS 3u
#define LONG_SIGN_ZERO 1u
#define LONG_SIGN_NEGATIVE 2u

const char *spw_obj_strerror(spw_obj_err err)
{
    switch (err) {
    case SPW_OBJ_OK: return "ok";
    case SPW_OBJ_ABSENT: return "absent";
    case SPW_OBJ_E_ADDR: return "invalid pointer";
    case SPW_OBJ_E_UNREADABLE: return "unreadable";
    case SPW_OBJ_E_CORRUPT: return "corrupt";
    case SPW_OBJ_E_LIMIT: return "too large";
    }
    return "unknown";
}

/* 8 bytes at addr, which must be an 8-aligned user address. */
static spw_obj_err load64(const spw_layout *L, const spw_reader *rd, uint64_t addr,
                          uint64_t *v)
{
    uint8_t b[8];
    if (!spw_addr_ok(L->arch, addr, 8, 8)) return SPW_OBJ_E_ADDR;
    if (spw_read(rd, addr, b, 8)) return SPW_OBJ_E_UNREADABLE;
    *v = spw_le64(b);
    return SPW_OBJ_OK;
}

/* dk_log2_index_bytes for a table of 2^log2_size slots (new_keys_object in dictobject.c:
 * 1-byte indices below 2^8 slots, 2-byte below 2^16, 4-byte below 2^32). */
static unsigned index_bytes_log2(unsigned log2_size)
{
    return log2_size < 8 ? log2_size : log2_size < 16 ? log2_size + 1 : log2_size + 2;
}

spw_obj_err spw_dict_keys(const spw_layout *L, const spw_reader *rd, uint64_t keys,
                          uint64_t values, spw_dict *out)
{
    uint8_t h[KEYS_HEADER];
    if (!spw_addr_ok(L->arch, keys, KEYS_HEADER, 8)) return SPW_OBJ_E_ADDR;
    if (spw_read(rd, keys, h, sizeof h)) return SPW_OBJ_E_UNREADABLE;
    const unsigned log2_size = h[8], log2_index = h[9], kind = h[10];
    const uint64_t nentries = spw_le64(h + 24);
    if (kind > SPW_DICT_SPLIT || log2_size > SPW_DICT_LOG2_MAX ||
        log2_index != index_bytes_log2(log2_size))
        return SPW_OBJ_E_CORRUPT;
    /* USABLE_FRACTION: at most two thirds of the slots hold entries. */
    if (nentries > ((uint64_t)2 << log2_size) / 3) return SPW_OBJ_E_CORRUPT;
    if ((kind == SPW_DICT_SPLIT) != (values != 0)) return SPW_OBJ_E_CORRUPT;

    const uint64_t entry = kind == SPW_DICT_GENERAL ? 24 : 16;
    spw_dict d = { .entries = keys + KEYS_HEADER + ((uint64_t)1 << log2_index),
                   .values = values, .n = (uint32_t)nentries, .kind = (uint8_t)kind };
    if (d.n && !spw_addr_ok(L->arch, d.entries, d.n * entry, 8)) return SPW_OBJ_E_ADDR;
    if (values) {
        uint8_t v[VALUES_HEADER];
        if (!spw_addr_ok(L->arch, values, VALUES_HEADER, 8)) return SPW_OBJ_E_ADDR;
        if (spw_read(rd, values, v, sizeof v)) return SPW_OBJ_E_UNREADABLE;
        d.capacity = v[0];
        if (d.capacity && !spw_addr_ok(L->arch, values + VALUES_HEADER, 8u * d.capacity, 8))
            return SPW_OBJ_E_ADDR;
    }
    *out = d;
    return SPW_OBJ_OK;
}

spw_obj_err spw_dict_open(const spw_layout *L, const spw_reader *rd, uint64_t dict,
                          spw_dict *out)
{
    uint64_t keys, values;
    spw_obj_err err;
    if (!spw_addr_ok(L->arch, dict, L->dict_size, 8)) return SPW_OBJ_E_ADDR;
    if ((err = load64(L, rd, dict + L->ma_keys, &keys)) ||
        (err = load64(L, rd, dict + L->ma_values, &values)))
        return err;
    return spw_dict_keys(L, rd, keys, values, out);
}

spw_obj_err spw_dict_entry(const spw_layout *L, const spw_reader *rd, const spw_dict *d,
                           uint32_t i, uint64_t *key, uint64_t *value, uint64_t *hash)
{
    uint8_t e[24];
    if (i >= d->n) return SPW_OBJ_ABSENT;
    const int general = d->kind == SPW_DICT_GENERAL;
    const uint64_t at = d->entries + (uint64_t)i * (general ? 24 : 16);
    if (spw_read(rd, at, e, general ? 24 : 16)) return SPW_OBJ_E_UNREADABLE;
    *hash = general ? spw_le64(e) : 0;
    *key = spw_le64(e + (general ? 8 : 0));
    *value = spw_le64(e + (general ? 16 : 8));
    if (d->kind == SPW_DICT_SPLIT) {
        if (i >= d->capacity) return SPW_OBJ_E_CORRUPT;
        spw_obj_err err = load64(L, rd, d->values + VALUES_HEADER + 8u * i, value);
        if (err) return err;
    }
    return *key && *value ? SPW_OBJ_OK : SPW_OBJ_ABSENT;
}

spw_obj_err spw_dict_find(const spw_layout *L, const spw_reader *rd, const spw_dict *d,
                          const char *name, uint64_t *value)
{
    const size_t len = strlen(name);
    if (len > NAME_MAX_BYTES) return SPW_OBJ_ABSENT;
    if (d->n > SPW_DICT_SCAN_MAX) return SPW_OBJ_E_LIMIT;
    for (uint32_t i = 0; i < d->n; i++) {
        uint64_t key, hash;
        spw_obj_err err = spw_dict_entry(L, rd, d, i, &key, value, &hash);
        if (err == SPW_OBJ_ABSENT) continue;
        if (err) return err;
        int eq = spw_str_is(L, rd, key, name, len);
        if (eq < 0) return eq == -SPW_SYM_E_UNREADABLE ? SPW_OBJ_E_UNREADABLE : SPW_OBJ_E_ADDR;
        if (eq) return SPW_OBJ_OK;
    }
    return SPW_OBJ_ABSENT;
}

spw_obj_err spw_object_attr(const spw_layout *L, const spw_reader *rd, uint64_t obj,
                            const char *name, uint64_t *value)
{
    uint64_t type, flags, basicsize, dict, keys;
    spw_dict d;
    spw_obj_err err;
    if (obj < L->managed_dict_before ||
        !spw_addr_ok(L->arch, obj - L->managed_dict_before,
                     (uint64_t)L->managed_dict_before + L->object_size, 8))
        return SPW_OBJ_E_ADDR;
    if ((err = load64(L, rd, obj + L->ob_type, &type))) return err;
    if (!spw_addr_ok(L->arch, type, (uint64_t)L->ht_cached_keys + 8, 8)) return SPW_OBJ_E_ADDR;
    if ((err = load64(L, rd, type + L->tp_flags, &flags))) return err;
    if ((flags & (TPFLAGS_HEAPTYPE | TPFLAGS_MANAGED_DICT)) !=
        (TPFLAGS_HEAPTYPE | TPFLAGS_MANAGED_DICT))
        return SPW_OBJ_E_CORRUPT;
    if ((err = load64(L, rd, obj - L->managed_dict_before, &dict))) return err;
    if (dict) {
        if ((err = spw_dict_open(L, rd, dict, &d))) return err;
        return spw_dict_find(L, rd, &d, name, value);
    }
    if (!(flags & TPFLAGS_INLINE_VALUES)) return SPW_OBJ_ABSENT; /* no attribute set yet */
    if ((err = load64(L, rd, type + L->tp_basicsize, &basicsize)) ||
        (err = load64(L, rd, type + L->ht_cached_keys, &keys)))
        return err;
    if (basicsize < L->object_size || basicsize > BASICSIZE_MAX || basicsize % 8)
        return SPW_OBJ_E_CORRUPT;
    uint8_t v[VALUES_HEADER];
    if (!spw_addr_ok(L->arch, obj + basicsize, VALUES_HEADER, 8)) return SPW_OBJ_E_ADDR;
    if (spw_read(rd, obj + basicsize, v, sizeof v)) return SPW_OBJ_E_UNREADABLE;
    /* `valid` is cleared when the values move into a dict, which a NULL dict pointer
     * above says they have not: a reading of two moments. */
    if (!v[3]) return SPW_OBJ_E_CORRUPT;
    if ((err = spw_dict_keys(L, rd, keys, obj + basicsize, &d))) return err;
    return spw_dict_find(L, rd, &d, name, value);
}

spw_obj_err spw_read_int(const spw_layout *L, const spw_reader *rd, uint64_t addr,
                         uint64_t *out)
{
    uint64_t tag;
    uint8_t b[12];
    spw_obj_err err;
    if (!spw_addr_ok(L->arch, addr, L->long_size, 8)) return SPW_OBJ_E_ADDR;
    if ((err = load64(L, rd, addr + L->long_lv_tag, &tag))) return err;
    const uint64_t sign = tag & 3, ndigits = tag >> LONG_NON_SIZE_BITS;
    if (sign == 3 || (sign == LONG_SIGN_ZERO) != (ndigits == 0)) return SPW_OBJ_E_CORRUPT;
    if (sign == LONG_SIGN_NEGATIVE || ndigits > 3) return SPW_OBJ_ABSENT;
    *out = 0;
    if (ndigits == 0) return SPW_OBJ_OK;
    if (!spw_addr_ok(L->arch, addr + L->long_ob_digit, 4 * ndigits, 4)) return SPW_OBJ_E_ADDR;
    if (spw_read(rd, addr + L->long_ob_digit, b, 4 * ndigits)) return SPW_OBJ_E_UNREADABLE;
    for (unsigned k = 0; k < ndigits; k++) {
        const uint64_t digit = spw_le32(b + 4 * k);
        if (digit >> LONG_SHIFT) return SPW_OBJ_E_CORRUPT;
        if (k == 2 && digit >> (64 - 2 * LONG_SHIFT)) return SPW_OBJ_ABSENT;
        *out |= digit << (LONG_SHIFT * k);
    }
    return SPW_OBJ_OK;
}
