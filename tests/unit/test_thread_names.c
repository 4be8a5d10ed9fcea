/*
 * test_thread_names.c — threading._active read from memory (core/thread_names.h): the
 * names of every kind of thread on every layout and both architectures, an interpreter
 * without threading, every link of sys.modules -> threading -> _active -> Thread._name
 * broken in turn, and every read made to fail.
 */
#include "support/fixture.h"

#include <string.h>

#include "symbolize.h"
#include "thread_names.h"

static const spw_arch arches[] = { SPW_ARCH_X86_64, SPW_ARCH_AARCH64 };

/* 200 characters: longer than any buffer below but SPW_NAME_MAX's. */
#define LONG_NAME                                                                            \
    "a-thread-name-of-forty-four-characters-long-"                                           \
    "a-thread-name-of-forty-four-characters-long-"                                           \
    "a-thread-name-of-forty-four-characters-long-"                                           \
    "a-thread-name-of-forty-four-characters-long-"                                           \
    "twenty-four-characters!!"

static const char *const names[] = { "MainThread", "Müller Λ 😀 worker", LONG_NAME, NULL,
                                     "" };
static const uint64_t idents[] = { 0x7f12a4c5e740ull, 0x7f12a0bff6c0ull, 1, 0x7f129bfff6c0ull,
                                   0 };
#define N 5u

/* An interpreter with threading._active holding the N threads above. */
static uint64_t interp_with_threads(fixture *f)
{
    uint64_t interp = spw_synth_interp(&f->s, NULL, 0, 0);
    assert_int_not_equal(spw_synth_threading(&f->s, interp, idents, names, N), 0);
    assert_false(f->s.oom);
    return interp;
}

/* The value of `key` in the str-keyed dict at `dict`. */
static uint64_t lookup(fixture *f, uint64_t dict, const char *key)
{
    spw_dict d;
    uint64_t v;
    assert_int_equal(spw_dict_open(&f->s.layout, &f->reader, dict, &d), SPW_OBJ_OK);
    assert_int_equal(spw_dict_find(&f->s.layout, &f->reader, &d, key, &v), SPW_OBJ_OK);
    return v;
}

static void test_every_flavor_and_arch(void **state)
{
    (void)state;
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
            fixture *f = fix_new_arch(fix_flavors[i], arches[a]);
            const spw_layout *L = &f->s.layout;
            uint64_t interp = interp_with_threads(f), ident;
            spw_dict active;
            char name[SPW_NAME_MAX];
            assert_int_equal(spw_names_open(L, &f->reader, interp, &active), SPW_OBJ_OK);
            assert_int_equal(active.n, N);
            assert_int_equal(active.kind, SPW_DICT_GENERAL);
            for (uint32_t e = 0; e < N; e++) {
                memset(name, 'z', sizeof name);
                spw_obj_err err = spw_names_entry(L, &f->reader, &active, e, &ident, name,
                                                  sizeof name);
                if (!names[e]) {
                    assert_int_equal(err, SPW_OBJ_ABSENT); /* a Thread with no _name */
                    continue;
                }
                assert_int_equal(err, SPW_OBJ_OK);
                assert_true(ident == idents[e]);
                assert_string_equal(name, names[e]);
            }
            assert_int_equal(spw_names_entry(L, &f->reader, &active, N, &ident, name,
                                             sizeof name), SPW_OBJ_ABSENT);
            fix_free(f);
        }
}

static void test_names_are_cut_to_the_buffer(void **state)
{
    (void)state;
    fixture *f = fix_new(SPW_FLAVOR_313T);
    const spw_layout *L = &f->s.layout;
    uint64_t interp = interp_with_threads(f), ident;
    spw_dict active;
    char name[16];
    assert_int_equal(spw_names_open(L, &f->reader, interp, &active), SPW_OBJ_OK);
    assert_int_equal(spw_names_entry(L, &f->reader, &active, 2, &ident, name, sizeof name),
                     SPW_OBJ_OK);
    assert_string_equal(name, "a-thread-nam...");
    /* At a character boundary: "Müller Λ" is 10 bytes before the space. */
    assert_int_equal(spw_names_entry(L, &f->reader, &active, 1, &ident, name, 14),
                     SPW_OBJ_OK);
    assert_string_equal(name, "Müller Λ...");
    fix_free(f);
}

static void test_no_threading(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        fixture *f = fix_new(fix_flavors[i]);
        const spw_layout *L = &f->s.layout;
        spw_dict active;
        /* An interpreter being born: no sys.modules yet. */
        uint64_t interp = spw_synth_interp(&f->s, NULL, 0, 0);
        f->n_reads = 0;
        assert_int_equal(spw_names_open(L, &f->reader, interp, &active), SPW_OBJ_ABSENT);
        assert_int_equal(f->n_reads, 1);
        /* A program that never imported threading. */
        const char *mods[] = { "sys", "builtins", "threadingx", "_thread" };
        const uint64_t vals[] = { spw_synth_module(&f->s, 0), spw_synth_module(&f->s, 0),
                                  spw_synth_module(&f->s, 0), spw_synth_module(&f->s, 0) };
        fix_poke(f, interp + L->interp_imports_modules, spw_synth_str_dict(&f->s, mods, vals, 4),
             8);
        assert_int_equal(spw_names_open(L, &f->reader, interp, &active), SPW_OBJ_ABSENT);
        /* A threading module without _active (a stub of that name). */
        const char *attrs[] = { "__name__" };
        const uint64_t attr_vals[] = { spw_synth_str(&f->s, "threading") };
        const char *mods2[] = { "threading" };
        const uint64_t vals2[] = { spw_synth_module(
            &f->s, spw_synth_str_dict(&f->s, attrs, attr_vals, 1)) };
        fix_poke(f, interp + L->interp_imports_modules, spw_synth_str_dict(&f->s, mods2, vals2, 1),
             8);
        assert_int_equal(spw_names_open(L, &f->reader, interp, &active), SPW_OBJ_ABSENT);
        /* threading with an empty _active. */
        assert_int_not_equal(spw_synth_threading(&f->s, interp, NULL, NULL, 0), 0);
        assert_int_equal(spw_names_open(L, &f->reader, interp, &active), SPW_OBJ_OK);
        assert_int_equal(active.n, 0);
        assert_false(f->s.oom);
        fix_free(f);
    }
}

/* Each link of the chain replaced by a bad pointer: an error, never a name. */
static void test_every_link_broken(void **state)
{
    (void)state;
    static const uint64_t bad[] = { 0x10, 0xffff800000001000ull, 3 };
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++)
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++)
            for (int link = 0; link < 5; link++) {
                fixture *f = fix_new(fix_flavors[i]);
                const spw_layout *L = &f->s.layout;
                uint64_t interp = interp_with_threads(f);
                uint64_t modules = fix_peek64(f, interp + L->interp_imports_modules);
                uint64_t threading = lookup(f, modules, "threading");
                uint64_t md_dict = fix_peek64(f, threading + L->module_md_dict);
                spw_dict d;
                switch (link) {
                case 0: fix_poke(f, interp + L->interp_imports_modules, bad[b], 8); break;
                case 1: fix_poke(f, modules + L->ma_keys, bad[b], 8); break;
                case 2: fix_poke(f, threading + L->module_md_dict, bad[b], 8); break;
                case 3: fix_poke(f, md_dict + L->ma_keys, bad[b], 8); break;
                default: /* the value of sys.modules["threading"]: entry 2, (key, value) */
                    assert_int_equal(spw_dict_open(L, &f->reader, modules, &d), SPW_OBJ_OK);
                    assert_true(fix_peek64(f, d.entries + 2 * 16 + 8) == threading);
                    fix_poke(f, d.entries + 2 * 16 + 8, bad[b], 8);
                    break;
                }
                assert_int_equal(spw_names_open(L, &f->reader, interp, &d), SPW_OBJ_E_ADDR);
                fix_free(f);
            }
    fixture *f = fix_new(SPW_FLAVOR_314T);
    spw_dict d;
    assert_int_equal(spw_names_open(&f->s.layout, &f->reader, 0x1004, &d), SPW_OBJ_E_ADDR);
    assert_int_equal(spw_names_open(&f->s.layout, &f->reader, 0x7ffff0000000ull, &d),
                     SPW_OBJ_E_UNREADABLE);
    fix_free(f);
}

static void test_entry_checks(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        fixture *f = fix_new(fix_flavors[i]);
        const spw_layout *L = &f->s.layout;
        uint64_t interp = interp_with_threads(f), ident, key, thread, hash;
        spw_dict active;
        char name[SPW_NAME_MAX];
        assert_int_equal(spw_names_open(L, &f->reader, interp, &active), SPW_OBJ_OK);
        assert_int_equal(spw_dict_entry(L, &f->reader, &active, 0, &key, &thread, &hash),
                         SPW_OBJ_OK);
        /* A negative ident is none threading hands out: absent. */
        fix_poke(f, key + L->long_lv_tag, (2u << 3) | 2, 8);
        assert_int_equal(spw_names_entry(L, &f->reader, &active, 0, &ident, name, sizeof name),
                         SPW_OBJ_ABSENT);
        fix_poke(f, key + L->long_lv_tag, 2u << 3, 8);
        /* A _name that is not a str: absent, the buffer an empty string. */
        uint64_t str;
        assert_int_equal(spw_object_attr(L, &f->reader, thread, "_name", &str), SPW_OBJ_OK);
        const uint64_t slot = thread + L->object_size + 8 + 8; /* values[1]: _name */
        assert_true(fix_peek64(f, slot) == str);
        fix_poke(f, slot, spw_synth_object(&f->s, f->s.other_type, 128), 8);
        assert_int_equal(spw_names_entry(L, &f->reader, &active, 0, &ident, name, sizeof name),
                         SPW_OBJ_ABSENT);
        assert_string_equal(name, "");
        /* A _name that points nowhere. */
        fix_poke(f, slot, 0x1000, 8);
        assert_int_equal(spw_names_entry(L, &f->reader, &active, 0, &ident, name, sizeof name),
                         SPW_OBJ_E_UNREADABLE);
        fix_poke(f, slot, 0xffff800000000000ull, 8);
        assert_int_equal(spw_names_entry(L, &f->reader, &active, 0, &ident, name, sizeof name),
                         SPW_OBJ_E_ADDR);
        fix_poke(f, slot, str, 8);
        assert_int_equal(spw_names_entry(L, &f->reader, &active, 0, &ident, name, sizeof name),
                         SPW_OBJ_OK);
        assert_string_equal(name, "MainThread");
        /* A Thread whose type has no managed dict: corrupt. */
        const uint64_t type = fix_peek64(f, thread + L->ob_type);
        fix_poke(f, type + L->tp_flags, 0, 8);
        assert_int_equal(spw_names_entry(L, &f->reader, &active, 0, &ident, name, sizeof name),
                         SPW_OBJ_E_CORRUPT);
        fix_free(f);
    }
}

/* Every read failing in turn, for open and for an entry of each storage: an error each
 * time, and exactly the reads up to the failing one. */
static void test_unreadable_at_every_read(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        fixture *f = fix_new(fix_flavors[i]);
        const spw_layout *L = &f->s.layout;
        uint64_t interp = interp_with_threads(f), ident;
        spw_dict active, got;
        char name[SPW_NAME_MAX];
        f->n_reads = 0;
        assert_int_equal(spw_names_open(L, &f->reader, interp, &active), SPW_OBJ_OK);
        const uint32_t open_reads = f->n_reads;
        assert_true(open_reads >= 10);
        for (uint32_t b = 0; b < open_reads; b++) {
            fix_failing fail = { &f->s, b, 0 };
            spw_reader rd = { fix_failing_read, &fail };
            assert_int_equal(spw_names_open(L, &rd, interp, &got), SPW_OBJ_E_UNREADABLE);
            assert_int_equal(fail.n_reads, b + 1);
        }
        /* Entry 0 keeps _name inline, entry 2 in a dict (spw_synth_threading). */
        for (uint32_t e = 0; e < 3; e += 2) {
            f->n_reads = 0;
            assert_int_equal(spw_names_entry(L, &f->reader, &active, e, &ident, name,
                                             sizeof name), SPW_OBJ_OK);
            const uint32_t reads = f->n_reads;
            for (uint32_t b = 0; b < reads; b++) {
                fix_failing fail = { &f->s, b, 0 };
                spw_reader rd = { fix_failing_read, &fail };
                assert_int_equal(spw_names_entry(L, &rd, &active, e, &ident, name, sizeof name),
                                 SPW_OBJ_E_UNREADABLE);
                assert_int_equal(fail.n_reads, b + 1);
            }
        }
        fix_free(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_flavor_and_arch),
        cmocka_unit_test(test_names_are_cut_to_the_buffer),
        cmocka_unit_test(test_no_threading),
        cmocka_unit_test(test_every_link_broken),
        cmocka_unit_test(test_entry_checks),
        cmocka_unit_test(test_unreadable_at_every_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
