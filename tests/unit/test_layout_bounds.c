/*
 * test_layout_bounds.c — the layout parser's bounds at their edges: the cases the mutation
 * campaign (docs/fuzzing.md) found test_layout.c and the corpora leaving open. Each edits
 * one slot of the real 3.13 blob and checks both sides of the bound: the value that must be
 * refused and the one next to it that must be accepted.
 */
#include "support/fixture.h"

#include <stdlib.h>
#include <string.h>

/* Slot indexes in the 3.13 blob (layout.c's SHAPES: 3 header slots, then the groups). */
enum {
    S_VERSION = 1,
    S_THREAD = 3 + 3 + 13,         /* G_THREAD: size, then fields */
    S_CODE = S_THREAD + 9 + 6,     /* G_CODE */
    S_OBJECT = S_CODE + 10,        /* G_OBJECT: size, ob_type */
    S_TUPLE = S_OBJECT + 2 + 4,    /* G_TUPLE: size, ob_item?, ob_size (index 2) */
    S_UNICODE = S_TUPLE + 3 + 3 + 3 + 2 + 3 + 3, /* G_UNICODE: size, state, length, asciiobject_size */
};

static uint8_t blob[4096];
static size_t blob_len;

static void load_flavor(spw_flavor f)
{
    const uint8_t *b = spw_flavor_blob(f, &blob_len);
    assert_non_null(b);
    assert_true(blob_len <= sizeof blob);
    memcpy(blob, b, blob_len);
}

static void load(void)
{
    load_flavor(SPW_FLAVOR_313);
}

static uint64_t get(unsigned slot)
{
    return spw_le64(blob + 8 * slot);
}

static void set(unsigned slot, uint64_t v)
{
    spw_put64(blob + 8 * slot, v);
}

static spw_layout_err parse(void)
{
    spw_layout L;
    return spw_layout_parse(blob, blob_len, SPW_ARCH_X86_64, &L);
}

/* A field must leave its width inside the struct: offset size - width is the last that
 * does (tstate.next, 8 bytes). */
static void test_field_end_is_inclusive(void **state)
{
    (void)state;
    load();
    const uint64_t size = get(S_THREAD);
    set(S_THREAD + 2, size - 8);
    assert_int_equal(parse(), SPW_LAYOUT_OK);
    set(S_THREAD + 2, size - 7);
    assert_int_equal(parse(), SPW_LAYOUT_E_OFFSET);
    set(S_THREAD + 2, size);
    assert_int_equal(parse(), SPW_LAYOUT_E_OFFSET);
}

/* Release levels: 0xc (candidate) and 0xf (final) only; 0xd and 0xe are no level at all. */
static void test_release_levels(void **state)
{
    (void)state;
    const struct { uint64_t hex; spw_layout_err want; } cases[] = {
        { 0x030d05f0, SPW_LAYOUT_OK },      { 0x030d00c1, SPW_LAYOUT_OK },
        { 0x030d05d0, SPW_LAYOUT_E_VERSION }, { 0x030d05e0, SPW_LAYOUT_E_VERSION },
        { 0x030d00b3, SPW_LAYOUT_E_VERSION }, { 0x030d00a1, SPW_LAYOUT_E_VERSION },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        load();
        set(S_VERSION, cases[i].hex);
        assert_int_equal(parse(), cases[i].want);
    }
}

/* The walker reads ob_type and ob_size as the two words that end the PyObject header and
 * start the PyVarObject: any other arrangement is refused. */
static void test_object_header_shape(void **state)
{
    (void)state;
    load();
    const uint64_t obsize = get(S_OBJECT), obtype = get(S_OBJECT + 1);
    assert_int_equal(obtype + 8, obsize);
    assert_int_equal(get(S_TUPLE + 2), obsize);
    set(S_OBJECT + 1, obtype - 8); /* ob_type not last in the header */
    assert_int_equal(parse(), SPW_LAYOUT_E_OFFSET);
    load();
    set(S_TUPLE + 2, obsize + 8); /* ob_size not right after it */
    assert_int_equal(parse(), SPW_LAYOUT_E_OFFSET);
    load();
    set(S_TUPLE + 2, obtype); /* ob_size over ob_type */
    assert_int_equal(parse(), SPW_LAYOUT_E_OFFSET);
}

/* A code object holds at least the header and ob_size: ob_size + 8 bytes is the least
 * accepted (every code field moved to 0 so that only this bound decides). */
static void test_code_size_floor(void **state)
{
    (void)state;
    for (int below = 0; below < 2; below++) {
        load();
        set(S_CODE, get(S_TUPLE + 2) + 8 - (uint64_t)below);
        for (unsigned i = 1; i < 10; i++) set(S_CODE + i, 0);
        assert_int_equal(parse(), below ? SPW_LAYOUT_E_OFFSET : SPW_LAYOUT_OK);
    }
}

/* co_code_adaptive is a flexible array: at least its first byte inside the struct. */
static void test_adaptive_needs_a_byte(void **state)
{
    (void)state;
    load();
    const uint64_t size = get(S_CODE);
    set(S_CODE + 9, size - 1);
    assert_int_equal(parse(), SPW_LAYOUT_OK);
    set(S_CODE + 9, size);
    assert_int_equal(parse(), SPW_LAYOUT_E_OFFSET);
}

/* Each field's width, at the end of its struct: the last offset that leaves it inside is
 * accepted, one more is refused. co_firstlineno (4 bytes) on 3.13; on 3.14t the frame's
 * tlbc_index (4) and co_tlbc (8), whose groups start elsewhere (3.14's longer groups). */
static void test_field_widths(void **state)
{
    (void)state;
    const unsigned frame14 = 3 + 3 + 16 + 9, code14 = frame14 + 8;
    const struct { spw_flavor f; unsigned group, index, width; } cases[] = {
        { SPW_FLAVOR_313, S_CODE, 5, 4 },
        { SPW_FLAVOR_314T, code14, 5, 4 },
        { SPW_FLAVOR_314T, code14, 10, 8 },
        { SPW_FLAVOR_314T, frame14, 7, 4 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        load_flavor(cases[i].f);
        const uint64_t size = get(cases[i].group);
        set(cases[i].group + cases[i].index, size - cases[i].width);
        assert_int_equal(parse(), SPW_LAYOUT_OK);
        set(cases[i].group + cases[i].index, size - cases[i].width + 1);
        assert_int_equal(parse(), SPW_LAYOUT_E_OFFSET);
    }
}

/* The str header: PyASCIIObject holds state (4 bytes) and length (8), and
 * PyCompactUnicodeObject (16 more) fits in the struct; each bound at its edge. */
static void test_unicode_header_bounds(void **state)
{
    (void)state;
    const struct { uint64_t size, st, len, ascii; spw_layout_err want; } cases[] = {
        { 64, 32, 16, 36, SPW_LAYOUT_OK }, { 64, 32, 16, 35, SPW_LAYOUT_E_OFFSET }, /* state */
        { 64, 16, 32, 40, SPW_LAYOUT_OK }, { 64, 16, 32, 39, SPW_LAYOUT_E_OFFSET }, /* length */
        { 64, 16, 24, 48, SPW_LAYOUT_OK }, { 63, 16, 24, 48, SPW_LAYOUT_E_OFFSET }, /* size */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        load();
        set(S_UNICODE, cases[i].size);
        set(S_UNICODE + 1, cases[i].st);
        set(S_UNICODE + 2, cases[i].len);
        set(S_UNICODE + 3, cases[i].ascii);
        assert_int_equal(parse(), cases[i].want);
    }
}

/* The header (cookie, version, free_threaded) is 24 bytes: 23 is short before anything
 * past them is read (the blob is copied to an exact-size allocation so that ASan sees a
 * read past it; corpus/layout/short-header-23 does the same under fuzz-regress). */
static void test_short_header(void **state)
{
    (void)state;
    load();
    for (size_t n = 0; n <= 24; n++) {
        uint8_t *exact = malloc(n ? n : 1);
        assert_non_null(exact);
        memcpy(exact, blob, n);
        spw_layout L;
        assert_int_equal(spw_layout_parse(exact, n, SPW_ARCH_X86_64, &L), SPW_LAYOUT_E_SHORT);
        free(exact);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_end_is_inclusive),
        cmocka_unit_test(test_release_levels),
        cmocka_unit_test(test_object_header_shape),
        cmocka_unit_test(test_code_size_floor),
        cmocka_unit_test(test_short_header),
        cmocka_unit_test(test_adaptive_needs_a_byte),
        cmocka_unit_test(test_unicode_header_bounds),
        cmocka_unit_test(test_field_widths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
