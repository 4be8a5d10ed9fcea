/*
 * dict.h — CPython dicts, ints and instance attributes, read through a reader.
 *
 * What the thread-name reader (thread_names.h) needs to follow sys.modules ->
 * threading -> _active -> Thread._name in another process, a core file or a snapshot.
 * None of it is in _Py_DebugOffsets beyond PyDictObject's ma_keys and ma_values, so the
 * layouts below are CPython's own (Include/internal/pycore_dict.h), the same in 3.13 and
 * 3.14 and with or without the GIL:
 *
 *   PyDictKeysObject   dk_refcnt (8), dk_log2_size (1), dk_log2_index_bytes (1),
 *                      dk_kind (1), [dk_mutex (1)], dk_version (4), dk_usable (8),
 *                      dk_nentries (8), then dk_indices (1 << dk_log2_index_bytes bytes),
 *                      then the entries: (hash, key, value) for DICT_KEYS_GENERAL,
 *                      (key, value) for DICT_KEYS_UNICODE and DICT_KEYS_SPLIT;
 *   PyDictValues       capacity, size, embedded, valid (1 byte each), then values[];
 *                      a split table's value of entry i is values[i].
 *
 * An object of a class with a managed dict (every Python class without __slots__) keeps
 * its attributes in one of two places: a dict whose pointer sits just before the object,
 * or, while no dict was ever asked for, "inline values" right after its tp_basicsize bytes,
 * keyed by its type's ht_cached_keys.
 *
 * Everything read is untrusted, as in the walker: every pointer passes spw_addr_ok()
 * before a read through it, every count is checked against the table it indexes, and the
 * reads are bounded (a scan reads at most SPW_DICT_SCAN_MAX entries). Pure: no allocation,
 * no I/O, no global state.
 */
#ifndef SPW_DICT_H
#define SPW_DICT_H

#include "layout.h"
#include "reader.h"

typedef enum spw_obj_err {
    SPW_OBJ_OK = 0,
    SPW_OBJ_ABSENT,       /* no such key, attribute or entry (not an error of the memory) */
    SPW_OBJ_E_ADDR,       /* a pointer failed validation */
    SPW_OBJ_E_UNREADABLE, /* the reader could not supply the bytes */
    SPW_OBJ_E_CORRUPT,    /* a field no CPython writes (kind, sizes, flags, digits) */
    SPW_OBJ_E_LIMIT,      /* more entries than SPW_DICT_SCAN_MAX to scan */
} spw_obj_err;

/* "ok", "absent", "invalid pointer", "unreadable", "corrupt", "too large". */
const char *spw_obj_strerror(spw_obj_err err);

#define SPW_DICT_LOG2_MAX 26u         /* largest hash table accepted: 2^26 slots */
#define SPW_DICT_SCAN_MAX (1u << 16)  /* entries one lookup by name may read */

enum { SPW_DICT_GENERAL = 0, SPW_DICT_UNICODE = 1, SPW_DICT_SPLIT = 2 };

/* A dict's keys (and, split, its values), as one read of their headers found them. */
typedef struct spw_dict {
    uint64_t entries; /* target address of entry 0 */
    uint64_t values;  /* split: the PyDictValues; 0 otherwise */
    uint32_t n;       /* dk_nentries: entries used, deleted ones included */
    uint8_t kind;     /* SPW_DICT_GENERAL, _UNICODE or _SPLIT */
    uint8_t capacity; /* split: slots in values[] */
} spw_dict;

/* The dict object at `dict`: reads ma_keys and ma_values, then spw_dict_keys(). */
spw_obj_err spw_dict_open(const spw_layout *L, const spw_reader *rd, uint64_t dict,
                          spw_dict *out);
/* A keys object, with `values` (0 for a combined table) holding a split table's values.
 * Checks the kind, that the index bytes match the table size, that dk_nentries fits the
 * table's usable fraction, that a table is split exactly when it has values, and that
 * every entry lies in user space. */
spw_obj_err spw_dict_keys(const spw_layout *L, const spw_reader *rd, uint64_t keys,
                          uint64_t values, spw_dict *out);
/* Entry i (< d->n): its key and value, both nonzero. ABSENT: a deleted entry (a NULL key
 * or value). *hash is the stored hash of a GENERAL entry, 0 for the others. */
spw_obj_err spw_dict_entry(const spw_layout *L, const spw_reader *rd, const spw_dict *d,
                           uint32_t i, uint64_t *key, uint64_t *value, uint64_t *hash);
/* The value of the str key equal to `name` (ASCII, at most 64 bytes), scanning entries in
 * order: ABSENT when no key is. Keys that are not compact str are passed over. */
spw_obj_err spw_dict_find(const spw_layout *L, const spw_reader *rd, const spw_dict *d,
                          const char *name, uint64_t *value);

/* The instance attribute `name` of the object at `obj`, from its managed dict or its inline
 * values: ABSENT when it has none of that name. CORRUPT when its type has no managed dict
 * (then it keeps attributes where this reader does not look). */
spw_obj_err spw_object_attr(const spw_layout *L, const spw_reader *rd, uint64_t obj,
                            const char *name, uint64_t *value);

/* The int object at `addr` as an unsigned 64-bit value. ABSENT: negative, or too large. */
spw_obj_err spw_read_int(const spw_layout *L, const spw_reader *rd, uint64_t addr,
                         uint64_t *out);

#endif /* SPW_DICT_H */
