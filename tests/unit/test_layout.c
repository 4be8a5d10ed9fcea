/*
 * test_layout.c — _Py_DebugOffsets parsing for the four real layouts, and each rejection.
 *
 * The expected offsets are derived by hand from CPython's struct definitions
 * (pycore_frame.h in 3.13, pycore_interpframe_structs.h in 3.14, object.h), independently
 * of the blobs, so a wrong blob or a wrong group table both fail here.
 */
#include "support/fixture.h"

#include <stdlib.h>
#include <string.h>

static uint8_t *copy_blob(spw_flavor f, size_t *len)
{
    const uint8_t *b = spw_flavor_blob(f, len);
    assert_non_null(b);
    uint8_t *c = malloc(*len);
    assert_non_null(c);
    memcpy(c, b, *len);
    return c;
}

static spw_layout parse_ok(spw_flavor f)
{
    size_t len;
    const uint8_t *b = spw_flavor_blob(f, &len);
    spw_layout L;
    assert_int_equal(spw_layout_parse(b, len, SPW_ARCH_X86_64, &L), SPW_LAYOUT_OK);
    return L;
}

static void test_blob_sizes(void **state)
{
    (void)state;
    size_t len;
    spw_flavor_blob(SPW_FLAVOR_313T, &len);
    assert_int_equal(len, spw_layout_blob_size(13));
    spw_flavor_blob(SPW_FLAVOR_314T, &len);
    assert_int_equal(len, spw_layout_blob_size(14));
    assert_int_equal(spw_layout_blob_size(12), 0);
    assert_int_equal(spw_layout_blob_size(15), 0);
}

static void test_313_layouts(void **state)
{
    (void)state;
    for (int ft = 0; ft < 2; ft++) {
        spw_layout L = parse_ok(ft ? SPW_FLAVOR_313T : SPW_FLAVOR_313);
        assert_int_equal(L.py_minor, 13);
        assert_int_equal(L.py_version >> 16, 0x030d);
        assert_int_equal(L.free_threaded, ft);
        assert_int_equal(L.has_tlbc, 0);
        /* _PyInterpreterFrame: f_executable, previous, f_funcobj, f_globals, f_builtins,
         * f_locals, frame_obj, instr_ptr, int stacktop, uint16 return_offset, char owner. */
        assert_int_equal(L.frame_executable, 0);
        assert_int_equal(L.frame_previous, 8);
        assert_int_equal(L.frame_instr_ptr, 56);
        assert_int_equal(L.frame_owner, 70);
        assert_int_equal(L.frame_span, 71);
        assert_int_equal(L.executable_tag_mask, 0);
        assert_int_equal(L.owner_max, 3);
        /* PyObject: ob_refcnt, ob_type (default); ob_tid, 2+1+1 bytes, uint32 local
         * refcount, Py_ssize_t shared refcount, ob_type (free-threaded). */
        assert_int_equal(L.ob_type, ft ? 24 : 8);
        assert_int_equal(L.ob_size, ft ? 32 : 16);
        assert_int_equal(L.state_kind_shift, 2);
    }
}

static void test_314_layouts(void **state)
{
    (void)state;
    for (int ft = 0; ft < 2; ft++) {
        spw_layout L = parse_ok(ft ? SPW_FLAVOR_314T : SPW_FLAVOR_314);
        assert_int_equal(L.py_minor, 14);
        assert_int_equal(L.free_threaded, ft);
        assert_int_equal(L.has_tlbc, ft);
        /* ... instr_ptr, stackpointer, [int32 tlbc_index,] uint16 return_offset, owner. */
        assert_int_equal(L.frame_executable, 0);
        assert_int_equal(L.frame_previous, 8);
        assert_int_equal(L.frame_instr_ptr, 56);
        assert_int_equal(L.frame_owner, ft ? 78 : 74);
        if (ft) assert_int_equal(L.frame_tlbc_index, 72);
        assert_int_equal(L.executable_tag_mask, 3);
        assert_int_equal(L.owner_max, 4);
        assert_int_equal(L.ob_type, ft ? 24 : 8);
        if (ft) assert_true(L.co_tlbc > L.co_qualname && L.co_tlbc < L.co_code_adaptive);
        /* 3.14t made `interned` a whole byte: the kind bits start at bit 8. */
        assert_int_equal(L.state_kind_shift, ft ? 8 : 2);
    }
}

static void test_common_invariants(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        spw_layout L = parse_ok(fix_flavors[i]);
        assert_true(L.frame_span <= L.frame_size);
        assert_true(L.tstate_current_frame + 8 <= L.tstate_size);
        assert_true(L.co_code_adaptive < L.code_size);
        assert_true(L.unicode_compact_size == L.unicode_ascii_size + 16);
        assert_true(L.unicode_compact_size <= L.unicode_size);
        /* Same parse for aarch64 except the architecture. */
        size_t len;
        const uint8_t *b = spw_flavor_blob(fix_flavors[i], &len);
        spw_layout A;
        assert_int_equal(spw_layout_parse(b, len, SPW_ARCH_AARCH64, &A), SPW_LAYOUT_OK);
        assert_int_equal(A.arch, SPW_ARCH_AARCH64);
        A.arch = L.arch;
        assert_memory_equal(&A, &L, sizeof L);
    }
}

/* Overwrite slot `index` (uint64 number in the blob) and expect `err`. */
static void expect_slot(spw_flavor f, size_t index, uint64_t value, spw_layout_err err)
{
    size_t len;
    uint8_t *b = copy_blob(f, &len);
    spw_put64(b + 8 * index, value);
    spw_layout L;
    assert_int_equal(spw_layout_parse(b, len, SPW_ARCH_X86_64, &L), err);
    free(b);
}

static void test_rejections(void **state)
{
    (void)state;
    for (int i = 0; i < SPW_FLAVOR_COUNT_; i++) {
        spw_flavor f = fix_flavors[i];
        size_t len;
        uint8_t *b = copy_blob(f, &len);
        spw_layout L;
        /* Every prefix is too short. */
        for (size_t n = 0; n < len; n++)
            assert_int_equal(spw_layout_parse(b, n, SPW_ARCH_X86_64, &L),
                             SPW_LAYOUT_E_SHORT);
        assert_int_equal(spw_layout_parse(b, len, SPW_ARCH_UNKNOWN, &L), SPW_LAYOUT_E_ARCH);
        b[0] = 'X';
        assert_int_equal(spw_layout_parse(b, len, SPW_ARCH_X86_64, &L), SPW_LAYOUT_E_COOKIE);
        free(b);

        uint64_t v = (fix_flavors[i] >= SPW_FLAVOR_314) ? 0x030e0000 : 0x030d0000;
        expect_slot(f, 1, 0x030c07f0, SPW_LAYOUT_E_VERSION);        /* 3.12 */
        expect_slot(f, 1, 0x030f00f0, SPW_LAYOUT_E_VERSION);        /* 3.15 */
        expect_slot(f, 1, v | 0x00a1, SPW_LAYOUT_E_VERSION);        /* alpha */
        expect_slot(f, 1, v | 0x00b2, SPW_LAYOUT_E_VERSION);        /* beta */
        expect_slot(f, 1, v | 0x01c1, SPW_LAYOUT_OK);               /* release candidate */
        expect_slot(f, 1, 0x1030d05f0ull, SPW_LAYOUT_E_VERSION);    /* high bits */
        expect_slot(f, 2, 2, SPW_LAYOUT_E_FREE_THREADED);
        /* Slot 3 is runtime_state.size; slot 3 + 3 + 13 (3.13) or + 16 (3.14) starts the
         * thread_state group, followed by the frame group 9 slots later. */
        size_t thread = 3 + 3 + (v == 0x030d0000 ? 13 : 16), frame = thread + 9;
        expect_slot(f, 3, 0, SPW_LAYOUT_E_SIZE);
        expect_slot(f, frame, SPW_LAYOUT_SIZE_MAX + 1ull, SPW_LAYOUT_E_SIZE);
        expect_slot(f, frame + 1, 200, SPW_LAYOUT_E_OFFSET);         /* previous past size */
        expect_slot(f, frame + 1, ~0ull, SPW_LAYOUT_E_OFFSET);       /* no wrap-around */
        expect_slot(f, thread + 4, 100000, SPW_LAYOUT_E_OFFSET);     /* current_frame */
        expect_slot(f, frame, 40, SPW_LAYOUT_E_OFFSET);              /* frame shrinks under owner */
    }
}

static void test_frame_span_limit(void **state)
{
    (void)state;
    /* A frame big enough to hold a far-away owner still may not push the walker's single
     * frame read past SPW_FRAME_SPAN_MAX. */
    size_t frame = 3 + 3 + 13 + 9;
    size_t len;
    uint8_t *b = copy_blob(SPW_FLAVOR_313T, &len);
    spw_put64(b + 8 * frame, 4096);
    spw_put64(b + 8 * (frame + 5), SPW_FRAME_SPAN_MAX);
    spw_layout L;
    assert_int_equal(spw_layout_parse(b, len, SPW_ARCH_X86_64, &L), SPW_LAYOUT_E_OFFSET);
    spw_put64(b + 8 * (frame + 5), SPW_FRAME_SPAN_MAX - 1);
    assert_int_equal(spw_layout_parse(b, len, SPW_ARCH_X86_64, &L), SPW_LAYOUT_OK);
    assert_int_equal(L.frame_span, SPW_FRAME_SPAN_MAX);
    free(b);
}

static void test_strerror_distinct(void **state)
{
    (void)state;
    for (int a = SPW_LAYOUT_OK; a <= SPW_LAYOUT_E_ARCH; a++)
        for (int c = a + 1; c <= SPW_LAYOUT_E_ARCH; c++)
            assert_string_not_equal(spw_layout_strerror(a), spw_layout_strerror(c));
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(spw_arch_name(SPW_ARCH_X86_64), "x86_64");
    assert_string_equal(spw_arch_name(SPW_ARCH_AARCH64), "aarch64");
    assert_string_equal(spw_arch_name(SPW_ARCH_UNKNOWN), "unknown");
    assert_string_equal(spw_layout_strerror((spw_layout_err)99), "unknown layout error");
    size_t len = 1;
    assert_null(spw_flavor_blob(SPW_FLAVOR_COUNT_, &len));
    assert_int_equal(len, 0);
    assert_string_equal(spw_flavor_name(SPW_FLAVOR_314T), "3.14t");
    assert_string_equal(spw_flavor_name(SPW_FLAVOR_COUNT_), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blob_sizes),
        cmocka_unit_test(test_313_layouts),
        cmocka_unit_test(test_314_layouts),
        cmocka_unit_test(test_common_invariants),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_frame_span_limit),
        cmocka_unit_test(test_strerror_distinct),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
