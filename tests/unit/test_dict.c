/*
 * test_dict.c — the dict, int and attribute reader (core/dict.h): every kind of table and
 * both places an instance keeps its attributes, on every layout and both architectures;
 * then every check, one corruption at a time, and every read made to fail.
 */
#include "support/fixture.h"

#include <string.h>

#include "symbolize.h"

static const spw_arch arches[] = { SPW_ARCH_X86_64, SPW_ARCH_AARCH64 };

static uint64_t keys_of(fixture *f, uint64_t dict)
{
    return fix_peek64(f, dict + f->s.layout.ma_keys);
}

static void test_ints(void **state)
{
    (void)state;
    static const uint64_t values[] = { 0, 1, 7, (1u << 30) - 1, 1u << 30, 140234567891234ull,
                                       (1ull << 60) - 1, 1ull << 60, UINT64_MAX };
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
            fixture *f = fix_new_arch(fix_flavors[i], arches[a]);
            for (size_t k = 0; k < sizeof values / sizeof values[0]; k++) {
                uint64_t got = 12345, obj = spw_synth_int(&f->s, values[k]);
                assert_int_equal(spw_read_int(&f->s.layout, &f->reader, obj, &got), SPW_OBJ_OK);
                assert_true(got == values[k]);
            }
            fix_free(f);
        }
}

static void test_int_checks(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_313T);
    const spw_layout *L = &f->s.layout;
    uint64_t got, obj = spw_synth_int(&f->s, 5);
    const uint64_t tag = obj + L->long_lv_tag, digit = obj + L->long_ob_digit;
    /* Negative (sign 2): not an ident. */
    fix_poke(f, tag, (1u << 3) | 2, 8);
    assert_int_equal(spw_read_int(L, &f->reader, obj, &got), SPW_OBJ_ABSENT);
    /* Sign 3 is no sign; zero with digits, digits without zero. */
    fix_poke(f, tag, (1u << 3) | 3, 8);
    assert_int_equal(spw_read_int(L, &f->reader, obj, &got), SPW_OBJ_E_CORRUPT);
    fix_poke(f, tag, (1u << 3) | 1, 8);
    assert_int_equal(spw_read_int(L, &f->reader, obj, &got), SPW_OBJ_E_CORRUPT);
    fix_poke(f, tag, 0, 8);
    assert_int_equal(spw_read_int(L, &f->reader, obj, &got), SPW_OBJ_E_CORRUPT);
    /* A digit with bits above the 30. */
    fix_poke(f, tag, 1u << 3, 8);
    fix_poke(f, digit, 1u << 30, 4);
    assert_int_equal(spw_read_int(L, &f->reader, obj, &got), SPW_OBJ_E_CORRUPT);
    /* Four digits, or a third above 64 bits: too large. */
    uint64_t big = spw_synth_int(&f->s, UINT64_MAX);
    fix_poke(f, big + L->long_ob_digit + 8, 1u << 4, 4);
    assert_int_equal(spw_read_int(L, &f->reader, big, &got), SPW_OBJ_ABSENT);
    fix_poke(f, big + L->long_ob_digit + 8, (1u << 4) - 1, 4);
    assert_int_equal(spw_read_int(L, &f->reader, big, &got), SPW_OBJ_OK);
    assert_true(got == UINT64_MAX);
    fix_poke(f, big + L->long_lv_tag, 4u << 3, 8);
    assert_int_equal(spw_read_int(L, &f->reader, big, &got), SPW_OBJ_ABSENT);
    /* Bad pointers: null page, misaligned, kernel. */
    assert_int_equal(spw_read_int(L, &f->reader, 0x100, &got), SPW_OBJ_E_ADDR);
    assert_int_equal(spw_read_int(L, &f->reader, obj + 4, &got), SPW_OBJ_E_ADDR);
    assert_int_equal(spw_read_int(L, &f->reader, 0xffff800000000000ull, &got), SPW_OBJ_E_ADDR);
    fix_free(f);
}

/* Three str keys -> three values, in a table of `kind`; the keys and values returned. */
static uint64_t three(fixture *f, unsigned kind, uint64_t *k, uint64_t *v)
{
    k[0] = spw_synth_str(&f->s, "alpha");
    k[1] = spw_synth_str(&f->s, "beta");
    k[2] = spw_synth_str(&f->s, "gamma");
    for (int i = 0; i < 3; i++) v[i] = spw_synth_int(&f->s, 100u + (unsigned)i);
    uint64_t d = spw_synth_dict(&f->s, kind, k, v, 3);
    assert_false(f->s.oom);
    return d;
}

static void test_every_kind_flavor_and_arch(void **state)
{
    (void)state;
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < SPW_FLAVOR_COUNT_; i++)
            for (unsigned kind = 0; kind <= SPW_DICT_SPLIT; kind++) {
                fixture *f = fix_new_arch(fix_flavors[i], arches[a]);
                const spw_layout *L = &f->s.layout;
                uint64_t k[3], v[3], key, value, hash;
                uint64_t d = three(f, kind, k, v);
                spw_dict dict;
                f->n_reads = 0;
                assert_int_equal(spw_dict_open(L, &f->reader, d, &dict), SPW_OBJ_OK);
                /* ma_keys, ma_values, the keys header, and a split table's values header. */
                assert_int_equal(f->n_reads, kind == SPW_DICT_SPLIT ? 4 : 3);
                assert_int_equal(dict.n, 3);
                assert_int_equal(dict.kind, kind);
                assert_int_equal(dict.capacity, kind == SPW_DICT_SPLIT ? 3 : 0);
                for (uint32_t e = 0; e < 3; e++) {
                    assert_int_equal(spw_dict_entry(L, &f->reader, &dict, e, &key, &value, &hash),
                                     SPW_OBJ_OK);
                    assert_true(key == k[e] && value == v[e]);
                    assert_true((hash != 0) == (kind == SPW_DICT_GENERAL));
                }
                assert_int_equal(spw_dict_entry(L, &f->reader, &dict, 3, &key, &value, &hash),
                                 SPW_OBJ_ABSENT);
                assert_int_equal(spw_dict_find(L, &f->reader, &dict, "gamma", &value),
                                 SPW_OBJ_OK);
                assert_true(value == v[2]);
                assert_int_equal(spw_dict_find(L, &f->reader, &dict, "gamm", &value),
                                 SPW_OBJ_ABSENT);
                assert_int_equal(spw_dict_find(L, &f->reader, &dict, "delta", &value),
                                 SPW_OBJ_ABSENT);
                fix_free(f);
            }
}

static void test_table_sizes(void **state)
{
    (void)state;
    /* 1-, 2- and 4-byte indices, each side of the widths' bounds: 5 entries in 8 slots, 6
     * in 16, 100 in 2^8, 200 in 2^9, 40000 in 2^16, 44000 in 2^17. */
    static const uint32_t sizes[] = { 0, 5, 6, 100, 200, 40000, 44000 };
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        fixture *f = fix_new_cap(SPW_FLAVOR_314T, SPW_ARCH_X86_64, 16u << 20);
        const spw_layout *L = &f->s.layout;
        const uint32_t n = sizes[z];
        uint64_t *k = test_malloc(sizeof *k * (n + 1));
        for (uint32_t i = 0; i < n; i++) k[i] = spw_synth_int(&f->s, i);
        uint64_t d = spw_synth_dict(&f->s, SPW_DICT_GENERAL, k, k, n);
        assert_false(f->s.oom);
        spw_dict dict;
        uint64_t key, value, hash;
        assert_int_equal(spw_dict_open(L, &f->reader, d, &dict), SPW_OBJ_OK);
        assert_int_equal(dict.n, n);
        if (n) {
            assert_int_equal(spw_dict_entry(L, &f->reader, &dict, n - 1, &key, &value, &hash),
                             SPW_OBJ_OK);
            assert_true(key == k[n - 1]);
        }
        test_free(k);
        fix_free(f);
    }
}

static void test_deleted_and_foreign_entries(void **state)
{
    (void)state;
    for (unsigned kind = 0; kind <= SPW_DICT_SPLIT; kind++) {
        fixture *f = fix_new(SPW_FLAVOR_313);
        const spw_layout *L = &f->s.layout;
        uint64_t k[3], v[3], key, value, hash;
        uint64_t d = three(f, kind, k, v);
        spw_dict dict;
        assert_int_equal(spw_dict_open(L, &f->reader, d, &dict), SPW_OBJ_OK);
        /* Entry 0 deleted (NULL key; a split table: NULL value), entry 1's key not a str. */
        const uint64_t esz = kind == SPW_DICT_GENERAL ? 24 : 16, koff = esz == 24 ? 8 : 0;
        if (kind == SPW_DICT_SPLIT)
            fix_poke(f, dict.values + 8, 0, 8);
        else
            fix_poke(f, dict.entries + koff, 0, 8);
        fix_poke(f, dict.entries + esz + koff, spw_synth_object(&f->s, f->s.other_type, 128), 8);
        assert_int_equal(spw_dict_entry(L, &f->reader, &dict, 0, &key, &value, &hash),
                         SPW_OBJ_ABSENT);
        assert_int_equal(spw_dict_find(L, &f->reader, &dict, "alpha", &value), SPW_OBJ_ABSENT);
        assert_int_equal(spw_dict_find(L, &f->reader, &dict, "beta", &value), SPW_OBJ_ABSENT);
        assert_int_equal(spw_dict_find(L, &f->reader, &dict, "gamma", &value), SPW_OBJ_OK);
        assert_true(value == v[2]);
        /* A key that is no pointer at all. */
        fix_poke(f, dict.entries + esz + koff, 0x10, 8);
        assert_int_equal(spw_dict_find(L, &f->reader, &dict, "gamma", &value), SPW_OBJ_E_ADDR);
        fix_free(f);
    }
}

static void test_find_limits(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_313T);
    const spw_layout *L = &f->s.layout;
    uint64_t k[3], v[3], value;
    spw_dict dict;
    assert_int_equal(spw_dict_open(L, &f->reader, three(f, SPW_DICT_UNICODE, k, v), &dict),
                     SPW_OBJ_OK);
    char name[80];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    f->n_reads = 0;
    assert_int_equal(spw_dict_find(L, &f->reader, &dict, name, &value), SPW_OBJ_ABSENT);
    assert_int_equal(f->n_reads, 0);
    /* More entries than one lookup may scan: refused before any read. */
    spw_dict big = dict;
    big.n = SPW_DICT_SCAN_MAX + 1;
    assert_int_equal(spw_dict_find(L, &f->reader, &big, "alpha", &value), SPW_OBJ_E_LIMIT);
    assert_int_equal(f->n_reads, 0);
    big.n = SPW_DICT_SCAN_MAX;
    assert_int_equal(spw_dict_find(L, &f->reader, &big, "alpha", &value), SPW_OBJ_OK);
    fix_free(f);
}

/* Each corruption of a keys object's header, on a fresh three-entry table of `kind`. */
static spw_obj_err keys_with(unsigned kind, unsigned at, uint64_t v, unsigned w)
{
    fixture *f = fix_new(SPW_FLAVOR_314T);
    uint64_t k[3], vals[3];
    uint64_t d = three(f, kind, k, vals), keys = keys_of(f, d);
    fix_poke(f, keys + at, v, w);
    spw_dict dict;
    spw_obj_err err = spw_dict_open(&f->s.layout, &f->reader, d, &dict);
    fix_free(f);
    return err;
}

static void test_keys_checks(void **state)
{
    (void)state;
    for (unsigned kind = 0; kind <= SPW_DICT_SPLIT; kind++) {
        assert_int_equal(keys_with(kind, 10, 3, 1), SPW_OBJ_E_CORRUPT);        /* kind */
        assert_int_equal(keys_with(kind, 10, kind ^ 2, 1), SPW_OBJ_E_CORRUPT); /* split? */
        assert_int_equal(keys_with(kind, 9, 4, 1), SPW_OBJ_E_CORRUPT);   /* index bytes */
        assert_int_equal(keys_with(kind, 9, 2, 1), SPW_OBJ_E_CORRUPT);
        assert_int_equal(keys_with(kind, 8, 4, 1), SPW_OBJ_E_CORRUPT);   /* size vs index */
        /* 27 slots' log2 with its index bytes: beyond SPW_DICT_LOG2_MAX; 26 is not. */
        assert_int_equal(keys_with(kind, 8, 27 | (29u << 8), 2), SPW_OBJ_E_CORRUPT);
        assert_int_equal(keys_with(kind, 8, 26 | (28u << 8), 2), SPW_OBJ_OK);
        /* 8 slots hold at most 5 entries. */
        assert_int_equal(keys_with(kind, 24, 5, 8), SPW_OBJ_OK);
        assert_int_equal(keys_with(kind, 24, 6, 8), SPW_OBJ_E_CORRUPT);
        /* 2^26 slots' entries from a keys object near the end of user space. */
        assert_int_equal(keys_with(kind, 24, UINT64_MAX, 8), SPW_OBJ_E_CORRUPT);
    }
}

static void test_keys_addresses(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_313T);
    const spw_layout *L = &f->s.layout;
    uint64_t k[3], v[3];
    uint64_t d = three(f, SPW_DICT_SPLIT, k, v), keys = keys_of(f, d);
    const uint64_t values = fix_peek64(f, d + L->ma_values);
    spw_dict dict;
    assert_int_equal(spw_dict_keys(L, &f->reader, 0, 0, &dict), SPW_OBJ_E_ADDR);
    assert_int_equal(spw_dict_keys(L, &f->reader, keys + 4, values, &dict), SPW_OBJ_E_ADDR);
    assert_int_equal(spw_dict_keys(L, &f->reader, keys, values + 4, &dict), SPW_OBJ_E_ADDR);
    assert_int_equal(spw_dict_keys(L, &f->reader, keys, 0x7ffffffff000ull, &dict),
                     SPW_OBJ_E_UNREADABLE);
    assert_int_equal(spw_dict_keys(L, &f->reader, 0x7ffffffff000ull, 0, &dict),
                     SPW_OBJ_E_UNREADABLE);
    /* A values header that claims more room than was allocated is still in user space. */
    fix_poke(f, values, 255, 1);
    assert_int_equal(spw_dict_keys(L, &f->reader, keys, values, &dict), SPW_OBJ_OK);
    assert_int_equal(dict.capacity, 255);
    /* Split entry i beyond the values' capacity is corrupt. */
    uint64_t key, value, hash;
    fix_poke(f, values, 2, 1);
    assert_int_equal(spw_dict_keys(L, &f->reader, keys, values, &dict), SPW_OBJ_OK);
    assert_int_equal(spw_dict_entry(L, &f->reader, &dict, 1, &key, &value, &hash), SPW_OBJ_OK);
    assert_int_equal(spw_dict_entry(L, &f->reader, &dict, 2, &key, &value, &hash),
                     SPW_OBJ_E_CORRUPT);
    /* The dict object itself. */
    assert_int_equal(spw_dict_open(L, &f->reader, d + 1, &dict), SPW_OBJ_E_ADDR);
    assert_int_equal(spw_dict_open(L, &f->reader, 0xffff800000001000ull, &dict),
                     SPW_OBJ_E_ADDR);
    fix_poke(f, d + L->ma_keys, 0x20, 8);
    assert_int_equal(spw_dict_open(L, &f->reader, d, &dict), SPW_OBJ_E_ADDR);
    fix_free(f);
}

static void test_entries_at_the_end_of_user_space(void **state)
{
    (void)state;
    /* A sound keys header 64 KiB below the x86-64 user limit, of a table whose index runs
     * past the limit: refused as a bad address before any entry is read. Its neighbour of
     * 8 slots, entries wholly below the limit, is accepted. */
    static uint8_t arena[1u << 16] __attribute__((aligned(64)));
    const uint64_t base = ((uint64_t)1 << 47) - sizeof arena;
    spw_synth s;
    assert_int_equal(spw_synth_init(&s, SPW_FLAVOR_313T, SPW_ARCH_X86_64, base, arena,
                                    sizeof arena), 0);
    uint64_t small = spw_synth_keys(&s, SPW_DICT_GENERAL, NULL, NULL, 0);
    uint64_t big = spw_synth_alloc(&s, 32, 8);
    assert_false(s.oom);
    spw_synth_poke(&s, big + 8, 20, 1);      /* 2^20 slots */
    spw_synth_poke(&s, big + 9, 22, 1);      /* 4-byte indices: 4 MiB of them */
    spw_synth_poke(&s, big + 24, 1, 8);      /* one entry */
    spw_reader rd = { spw_synth_read, &s };
    spw_dict d;
    assert_int_equal(spw_dict_keys(&s.layout, &rd, small, 0, &d), SPW_OBJ_OK);
    assert_int_equal(spw_dict_keys(&s.layout, &rd, big, 0, &d), SPW_OBJ_E_ADDR);
    spw_synth_poke(&s, big + 24, 0, 8);      /* no entry: nothing to read past the limit */
    assert_int_equal(spw_dict_keys(&s.layout, &rd, big, 0, &d), SPW_OBJ_OK);
    /* A split table's values header in the last 8 bytes below the limit: no room for a
     * single value, so a capacity of one is a bad address and none is not. */
    uint64_t split = spw_synth_keys(&s, SPW_DICT_SPLIT, NULL, NULL, 0);
    spw_synth_alloc(&s, sizeof arena - ((s.used + 7) & ~(size_t)7) - 8, 8);
    const uint64_t values = spw_synth_alloc(&s, 8, 8);
    assert_false(s.oom);
    assert_true(values == ((uint64_t)1 << 47) - 8);
    spw_synth_poke(&s, values, 1, 1);
    assert_int_equal(spw_dict_keys(&s.layout, &rd, split, values, &d), SPW_OBJ_E_ADDR);
    spw_synth_poke(&s, values, 0, 1);
    assert_int_equal(spw_dict_keys(&s.layout, &rd, split, values, &d), SPW_OBJ_OK);
    /* The header itself across the limit. */
    assert_int_equal(spw_dict_keys(&s.layout, &rd, ((uint64_t)1 << 47) - 24, 0, &d),
                     SPW_OBJ_E_ADDR);
}

static void test_str_data_past_the_end_of_user_space(void **state)
{
    (void)state;
    /* An ASCII str header that ends exactly at the user limit, of 5 characters that would
     * lie beyond it: compared with a name, a bad address, not a failed read. */
    static uint8_t arena[1u << 12] __attribute__((aligned(64)));
    const uint64_t limit = (uint64_t)1 << 47;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        spw_synth s;
        assert_int_equal(spw_synth_init(&s, fix_flavors[i], SPW_ARCH_X86_64,
                                        limit - sizeof arena, arena, sizeof arena), 0);
        const spw_layout *L = &s.layout;
        const uint64_t whole = spw_synth_str(&s, "alpha");
        spw_synth_alloc(&s, sizeof arena - ((s.used + 7) & ~(size_t)7) - L->unicode_ascii_size,
                        8);
        const uint64_t str = spw_synth_alloc(&s, L->unicode_ascii_size, 8);
        assert_false(s.oom);
        assert_true(str + L->unicode_ascii_size == limit);
        const uint8_t *src = spw_synth_ptr(&s, whole, L->unicode_ascii_size);
        memcpy(spw_synth_ptr(&s, str, L->unicode_ascii_size), src, L->unicode_ascii_size);
        spw_reader rd = { spw_synth_read, &s };
        assert_int_equal(spw_str_is(L, &rd, whole, "alpha", 5), 1);
        assert_int_equal(spw_str_is(L, &rd, whole, "alpho", 5), 0);
        assert_int_equal(spw_str_is(L, &rd, str, "alpha", 5), -(int)SPW_SYM_E_ADDR);
        /* The header across the limit. */
        assert_int_equal(spw_str_is(L, &rd, str + 8, "alpha", 5), -(int)SPW_SYM_E_ADDR);
    }
}

/* ---- attributes ---------------------------------------------------------------------- */

static void test_attributes_inline_and_in_dict(void **state)
{
    (void)state;
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < SPW_FLAVOR_COUNT_; i++)
            for (int in_dict = 0; in_dict < 2; in_dict++) {
                fixture *f = fix_new_arch(fix_flavors[i], arches[a]);
                const spw_layout *L = &f->s.layout;
                const char *names[] = { "_target", "_name", "_daemonic" };
                const uint64_t v[] = { spw_synth_int(&f->s, 1), spw_synth_str(&f->s, "w"),
                                       spw_synth_int(&f->s, 3) };
                uint64_t obj = spw_synth_instance(&f->s, names, v, 3, in_dict), got;
                assert_false(f->s.oom);
                for (int n = 0; n < 3; n++) {
                    assert_int_equal(spw_object_attr(L, &f->reader, obj, names[n], &got),
                                     SPW_OBJ_OK);
                    assert_true(got == v[n]);
                }
                assert_int_equal(spw_object_attr(L, &f->reader, obj, "_ident", &got),
                                 SPW_OBJ_ABSENT);
                fix_free(f);
            }
}

static void test_attribute_checks(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        fixture *f = fix_new(fix_flavors[i]);
        const spw_layout *L = &f->s.layout;
        const char *names[] = { "_name" };
        const uint64_t v[] = { spw_synth_str(&f->s, "worker") };
        uint64_t obj = spw_synth_instance(&f->s, names, v, 1, 0), got;
        const uint64_t type = fix_peek64(f, obj + L->ob_type);
        const uint64_t flags = fix_peek64(f, type + L->tp_flags);
        const uint64_t vals = obj + L->object_size;
        assert_int_equal(spw_object_attr(L, &f->reader, obj, "_name", &got), SPW_OBJ_OK);
        /* Bad objects: null page, below the dict pointer's room, misaligned. */
        assert_int_equal(spw_object_attr(L, &f->reader, 0, "_name", &got), SPW_OBJ_E_ADDR);
        assert_int_equal(spw_object_attr(L, &f->reader, L->managed_dict_before - 8, "_name",
                                         &got), SPW_OBJ_E_ADDR);
        assert_int_equal(spw_object_attr(L, &f->reader, obj + 2, "_name", &got),
                         SPW_OBJ_E_ADDR);
        /* A type that is no pointer. */
        fix_poke(f, obj + L->ob_type, 0x18, 8);
        assert_int_equal(spw_object_attr(L, &f->reader, obj, "_name", &got), SPW_OBJ_E_ADDR);
        fix_poke(f, obj + L->ob_type, type, 8);
        /* A static type, or one without a managed dict: its attributes are elsewhere. */
        fix_poke(f, type + L->tp_flags, flags & ~(1ull << 9), 8);
        assert_int_equal(spw_object_attr(L, &f->reader, obj, "_name", &got), SPW_OBJ_E_CORRUPT);
        fix_poke(f, type + L->tp_flags, flags & ~(1ull << 4), 8);
        assert_int_equal(spw_object_attr(L, &f->reader, obj, "_name", &got), SPW_OBJ_E_CORRUPT);
        /* No inline values and no dict: no attribute was ever set. */
        fix_poke(f, type + L->tp_flags, flags & ~(1ull << 2), 8);
        assert_int_equal(spw_object_attr(L, &f->reader, obj, "_name", &got), SPW_OBJ_ABSENT);
        fix_poke(f, type + L->tp_flags, flags, 8);
        /* tp_basicsize: smaller than an object, too large, not a multiple of 8. */
        static const uint64_t sizes[] = { 8, 4104, 0 };
        for (int z = 0; z < 3; z++) {
            fix_poke(f, type + L->tp_basicsize, sizes[z] ? sizes[z] : L->object_size + 4, 8);
            assert_int_equal(spw_object_attr(L, &f->reader, obj, "_name", &got),
                             SPW_OBJ_E_CORRUPT);
        }
        fix_poke(f, type + L->tp_basicsize, L->object_size, 8);
        /* Inline values no longer valid with no dict yet: a torn read. */
        fix_poke(f, vals + 3, 0, 1);
        assert_int_equal(spw_object_attr(L, &f->reader, obj, "_name", &got), SPW_OBJ_E_CORRUPT);
        fix_poke(f, vals + 3, 1, 1);
        /* The cached keys not split: inline values need split keys. */
        const uint64_t cached = fix_peek64(f, type + L->ht_cached_keys);
        fix_poke(f, cached + 10, SPW_DICT_UNICODE, 1);
        assert_int_equal(spw_object_attr(L, &f->reader, obj, "_name", &got), SPW_OBJ_E_CORRUPT);
        fix_poke(f, cached + 10, SPW_DICT_SPLIT, 1);
        /* A dict pointer that is no pointer. */
        fix_poke(f, obj - L->managed_dict_before, 0x1001, 8);
        assert_int_equal(spw_object_attr(L, &f->reader, obj, "_name", &got), SPW_OBJ_E_ADDR);
        fix_poke(f, obj - L->managed_dict_before, 0, 8);
        assert_int_equal(spw_object_attr(L, &f->reader, obj, "_name", &got), SPW_OBJ_OK);
        assert_true(got == v[0]);
        fix_free(f);
    }
}

/* Every read of an attribute lookup failing in turn: an error each time, never OK. */
static void test_unreadable_at_every_read(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++)
        for (int in_dict = 0; in_dict < 2; in_dict++) {
            fixture *f = fix_new(fix_flavors[i]);
            const spw_layout *L = &f->s.layout;
            const char *names[] = { "a", "_name" };
            const uint64_t v[] = { spw_synth_int(&f->s, 1), spw_synth_str(&f->s, "w") };
            uint64_t obj = spw_synth_instance(&f->s, names, v, 2, in_dict), got;
            f->n_reads = 0;
            assert_int_equal(spw_object_attr(L, &f->reader, obj, "_name", &got), SPW_OBJ_OK);
            const uint32_t reads = f->n_reads;
            assert_true(reads >= 6);
            for (uint32_t b = 0; b < reads; b++) {
                fix_failing fail = { &f->s, b, 0 };
                spw_reader rd = { fix_failing_read, &fail };
                assert_int_equal(spw_object_attr(L, &rd, obj, "_name", &got),
                                 SPW_OBJ_E_UNREADABLE);
                assert_int_equal(fail.n_reads, b + 1);
            }
            fix_free(f);
        }
}

static void test_strerror(void **state)
{
    (void)state;
    static const char *const names[] = { "ok", "absent", "invalid pointer", "unreadable",
                                         "corrupt", "too large" };
    for (int i = 0; i < 6; i++)
        assert_string_equal(spw_obj_strerror((spw_obj_err)i), names[i]);
    assert_string_equal(spw_obj_strerror((spw_obj_err)6), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ints),
        cmocka_unit_test(test_int_checks),
        cmocka_unit_test(test_every_kind_flavor_and_arch),
        cmocka_unit_test(test_table_sizes),
        cmocka_unit_test(test_deleted_and_foreign_entries),
        cmocka_unit_test(test_find_limits),
        cmocka_unit_test(test_keys_checks),
        cmocka_unit_test(test_keys_addresses),
        cmocka_unit_test(test_entries_at_the_end_of_user_space),
        cmocka_unit_test(test_str_data_past_the_end_of_user_space),
        cmocka_unit_test(test_attributes_inline_and_in_dict),
        cmocka_unit_test(test_attribute_checks),
        cmocka_unit_test(test_unreadable_at_every_read),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
