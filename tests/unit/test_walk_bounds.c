/*
 * test_walk_bounds.c — the walker's bounds at their edges, each with the reason it must
 * give: the cases the mutation campaign (docs/fuzzing.md) found no test or fuzzer telling
 * apart from an off-by-one. Every walk goes through fix_walk(), so both instances of the
 * walker are held to the same answers.
 *
 * Thread-local bytecode (3.14t): tlbc_index, the co_tlbc pointer and its _PyCodeArray
 * (Py_ssize_t size; char *entries[size]) each have a bound; the top-of-space cases place
 * the image so that it ends at the x86-64 user limit, where a bound one byte too lax makes
 * the walker read past the limit (unreadable) instead of refusing the pointer.
 */
#include "support/fixture.h"

#include <limits.h>
#include <string.h>

#define TOP ((uint64_t)1 << 47)
#define CAP (1u << 20)

/* A 3.14t image whose last byte is the last byte of x86-64 user space. */
static fixture *fix_top(void)
{
    fixture *f = fix_new_cap(SPW_FLAVOR_314T, SPW_ARCH_X86_64, CAP);
    assert_int_equal(spw_synth_init(&f->s, SPW_FLAVOR_314T, SPW_ARCH_X86_64, TOP - CAP,
                                    f->arena, CAP), 0);
    return f;
}

/* Hand out the rest of the arena, so that the bytes up to the limit are image. */
static void claim_rest(fixture *f)
{
    assert_int_not_equal(spw_synth_alloc(&f->s, CAP - f->s.used, 1), 0);
}

/* One frame running copy `idx` of a code object with 3 copies; *frame gets its address. */
static uint64_t one_frame(fixture *f, int32_t idx, uint64_t *code, uint64_t *frame)
{
    *code = fix_code(f, "fn", 16);
    assert_int_not_equal(spw_synth_tlbc(&f->s, *code, 3), 0);
    *frame = spw_synth_frame(&f->s, *code, 5, 0, 0, idx > 0 && idx < 3 ? idx : 1);
    assert_int_not_equal(*frame, 0);
    spw_synth_poke(&f->s, *frame + f->s.layout.frame_tlbc_index, (uint32_t)idx, 4);
    return spw_synth_tstate(&f->s, *frame, 1, 2);
}

static void expect(fixture *f, uint64_t ts, spw_status st, spw_reason why)
{
    spw_frame out[8];
    spw_walk_result r;
    assert_int_equal(fix_walk(f, ts, out, 8, &r), st);
    assert_int_equal(r.reason, why);
}

/* A negative tlbc_index is refused as a bad frame before anything is read for it: not
 * only -1 and -2, whose 8 * index wraps to a length that still passes the array's address
 * check, but every one. */
static void test_tlbc_negative_index(void **state)
{
    (void)state;
    const int32_t bad[] = { -1, -2, -3, -1000, INT32_MIN };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fixture *f = fix_new(SPW_FLAVOR_314T);
        uint64_t code, frame, ts = one_frame(f, bad[i], &code, &frame);
        expect(f, ts, SPW_WALK_DROPPED, SPW_REASON_INVALID_FRAME);
        /* tstate, the frame's five fields, the code's ob_type and ob_size: nothing of
         * co_tlbc or its array */
        assert_int_equal(f->n_reads, 8);
        fix_free(f);
    }
}

/* index == size is one past the array: refused, though entries[size] holds a pointer that
 * would pass; index == size - 1 is the last copy and is walked. Sizes above SPW_TLBC_MAX
 * are refused whatever the index. */
static void test_tlbc_index_vs_size(void **state)
{
    (void)state;
    for (int k = 0; k < 4; k++) {
        fixture *f = fix_new(SPW_FLAVOR_314T);
        uint64_t code, frame, ts = one_frame(f, 2, &code, &frame);
        /* a 5-entry array: size, then entries 0-3 point at copy 2, the last is the 5th */
        uint64_t arr = spw_synth_alloc(&f->s, 8 + 8 * 5, 8);
        const uint64_t copy2 = spw_synth_bytecode(&f->s, code, 2);
        for (int e = 0; e < 5; e++) spw_synth_poke(&f->s, arr + 8 + 8 * (uint64_t)e, copy2, 8);
        spw_synth_poke(&f->s, code + f->s.layout.co_tlbc, arr, 8);
        /* the frame runs copy 2 at lasti 5, from entry `idx` */
        const uint64_t sizes[] = { 3, 2, SPW_TLBC_MAX + 1, SPW_TLBC_MAX };
        spw_synth_poke(&f->s, arr, sizes[k], 8);
        spw_synth_poke(&f->s, frame + f->s.layout.frame_tlbc_index, 2, 4);
        if (k == 0 || k == 3) {
            spw_frame out[8];
            spw_walk_result r;
            assert_int_equal(fix_walk(f, ts, out, 8, &r), SPW_WALK_OK);
            assert_int_equal(r.n_frames, 1);
            assert_int_equal(out[0].code, code);
            assert_int_equal(out[0].lasti, 5);
        } else {
            expect(f, ts, SPW_WALK_DROPPED, SPW_REASON_INVALID_FRAME);
        }
        fix_free(f);
    }
}

/* The copy's start must be a 2-aligned user address with room for a code unit. */
static void test_tlbc_entry_pointer(void **state)
{
    (void)state;
    const uint64_t bad[] = { 0, 0x10, FIX_BASE + 1, TOP - 1, TOP };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fixture *f = fix_new(SPW_FLAVOR_314T);
        uint64_t code, frame, ts = one_frame(f, 1, &code, &frame);
        uint64_t a;
        assert_int_equal(spw_synth_read(&f->s, code + f->s.layout.co_tlbc, &a, 8), 0);
        /* an odd entry: the frame's instr_ptr moved with it, so only the check refuses it */
        uint64_t entry = bad[i];
        if (entry == FIX_BASE + 1) {
            entry = spw_synth_bytecode(&f->s, code, 1) + 1;
            spw_synth_poke(&f->s, frame + f->s.layout.frame_instr_ptr, entry + 10, 8);
        }
        spw_synth_poke(&f->s, a + 8 + 8 * 1, entry, 8);
        expect(f, ts, SPW_WALK_DROPPED, SPW_REASON_INVALID_CODE);
        fix_free(f);
    }
}

/* At the top of user space: a code object whose co_tlbc field would end past the limit,
 * and an array whose entry would, are refused as invalid code; one that ends exactly at the
 * limit is read. */
static void test_tlbc_at_the_user_limit(void **state)
{
    (void)state;
    const uint32_t co_tlbc = 224; /* 3.14t (walk_body.h: spw_walk_shape_known) */
    for (int fits = 0; fits < 2; fits++) {
        /* the array: size 3, entry 1 is the last 8 bytes of user space (or would be 8 past) */
        fixture *f = fix_top();
        uint64_t code, frame, ts = one_frame(f, 1, &code, &frame);
        claim_rest(f);
        const uint64_t arr = TOP - 8 - 8 * 1 - (fits ? 8 : 0);
        spw_synth_poke(&f->s, arr, 3, 8);
        if (fits) spw_synth_poke(&f->s, TOP - 8, spw_synth_bytecode(&f->s, code, 1), 8);
        spw_synth_poke(&f->s, code + f->s.layout.co_tlbc, arr, 8);
        if (fits) {
            expect(f, ts, SPW_WALK_OK, SPW_REASON_NONE);
        } else {
            expect(f, ts, SPW_WALK_DROPPED, SPW_REASON_INVALID_CODE);
        }
        fix_free(f);

        /* the code object: a copy of a real one's header, placed so that co_tlbc's 8 bytes
         * end at the limit (or 8 past it) */
        f = fix_top();
        ts = one_frame(f, 1, &code, &frame);
        claim_rest(f);
        const uint64_t fake = TOP - co_tlbc - 8 + (fits ? 0 : 8);
        uint8_t hdr[64];
        assert_int_equal(spw_synth_read(&f->s, code, hdr, sizeof hdr), 0);
        memcpy(spw_synth_ptr(&f->s, fake, sizeof hdr), hdr, sizeof hdr);
        uint64_t a;
        assert_int_equal(spw_synth_read(&f->s, code + co_tlbc, &a, 8), 0);
        if (fits) spw_synth_poke(&f->s, fake + co_tlbc, a, 8);
        spw_synth_poke(&f->s, frame + f->s.layout.frame_executable, fake | 1, 8);
        /* with the right copy the frame's instr_ptr is inside it: the walk succeeds */
        expect(f, ts, fits ? SPW_WALK_OK : SPW_WALK_DROPPED,
               fits ? SPW_REASON_NONE : SPW_REASON_INVALID_CODE);
        fix_free(f);
    }
}

/* The tail (max_follow): its one check of a frame pointer is its key against the bound.
 * The lowest aligned address whose span (the larger of a frame's and a code object's)
 * crosses the limit is refused as an invalid frame; 8 bytes lower the pointer is followed,
 * its `previous` (0) ends the chain, and the walk is truncated at the depth limit. */
static void test_tail_pointer_at_the_bound(void **state)
{
    (void)state;
    for (int fits = 0; fits < 2; fits++) {
        fixture *f = fix_top();
        const spw_layout *L = &f->s.layout;
        uint64_t code = fix_code(f, "fn", 16);
        assert_int_not_equal(spw_synth_tlbc(&f->s, code, 3), 0);
        const uint64_t b = spw_synth_frame(&f->s, code, 5, 0, 0, 1);
        const uint64_t a = spw_synth_frame(&f->s, code, 5, 0, b, 1);
        assert_int_not_equal(a, 0);
        const uint64_t ts = spw_synth_tstate(&f->s, a, 1, 2);
        claim_rest(f);
        const uint64_t fspan = (uint64_t)L->frame_owner + 1, cspan = (uint64_t)L->ob_size + 8;
        const uint64_t span = fspan > cspan ? fspan : cspan;
        const uint64_t first_bad = SPW_ADDR_MIN + 8 * spw_span_bound(SPW_ARCH_X86_64, span);
        assert_false(spw_addr_ok(SPW_ARCH_X86_64, first_bad, span, 8));
        assert_true(spw_addr_ok(SPW_ARCH_X86_64, first_bad - 8, span, 8));
        const uint64_t p = first_bad - (fits ? 8 : 0);
        assert_true(p + L->frame_previous + 8 <= TOP);
        spw_synth_poke(&f->s, p + L->frame_previous, 0, 8);
        spw_synth_poke(&f->s, b + L->frame_previous, p, 8);
        spw_frame out[4];
        spw_walk_result r;
        spw_status st = fix_walk_follow(f, ts, out, 1, 16, &r);
        if (fits) {
            assert_int_equal(st, SPW_WALK_TRUNCATED);
            assert_int_equal(r.n_visited, 3);
        } else {
            assert_int_equal(st, SPW_WALK_DROPPED);
            assert_int_equal(r.reason, SPW_REASON_INVALID_FRAME);
        }
        fix_free(f);
    }
}

/* The thread state's current_frame field ending exactly at the user limit is read; 8
 * bytes higher it would end past the limit and the walk is refused as an invalid frame
 * before any read. */
static void test_tstate_at_the_user_limit(void **state)
{
    (void)state;
    for (int fits = 0; fits < 2; fits++) {
        fixture *f = fix_top();
        claim_rest(f);
        const uint32_t cf = f->s.layout.tstate_current_frame;
        const uint64_t ts = TOP - cf - 8 + (fits ? 0 : 8);
        assert_int_equal(ts % 8, 0);
        if (fits) spw_synth_poke(&f->s, ts + cf, 0, 8); /* no frame */
        spw_frame out[4];
        spw_walk_result r;
        if (fits) {
            assert_int_equal(fix_walk(f, ts, out, 4, &r), SPW_WALK_OK);
            assert_int_equal(r.n_frames, 0);
        } else {
            assert_int_equal(fix_walk(f, ts, out, 4, &r), SPW_WALK_DROPPED);
            assert_int_equal(r.reason, SPW_REASON_INVALID_FRAME);
            assert_int_equal(f->n_reads, 0);
        }
        fix_free(f);
    }
}

/* One bound serves frame and code pointers: the larger of the frame's span and the code
 * header's (ob_size + 8). Every CPython build's frame span is the larger, but a layout blob
 * may place the frame's fields low and keep the 32-byte free-threaded object header: then a
 * code pointer whose ob_size would end past the limit must be refused as invalid code
 * before it is read, not read and found unreadable. 8 bytes lower its header fits and is
 * read (and judged: the zeroed bytes there are not a code object). */
static void test_code_header_bounds_the_span(void **state)
{
    (void)state;
    for (int fits = 0; fits < 2; fits++) {
        fixture *f = fix_new_cap(SPW_FLAVOR_313T, SPW_ARCH_X86_64, CAP);
        assert_int_equal(spw_synth_init(&f->s, SPW_FLAVOR_313T, SPW_ARCH_X86_64, TOP - CAP,
                                        f->arena, CAP), 0);
        spw_layout *L = &f->s.layout;
        L->frame_executable = 0;
        L->frame_previous = 8;
        L->frame_instr_ptr = 16;
        L->frame_owner = 24;
        L->frame_span = 25;
        const uint64_t cspan = (uint64_t)L->ob_size + 8;
        assert_true(cspan > L->frame_span); /* 40 > 25: the code header sets the bound */
        const uint64_t code = TOP - cspan + (fits ? 0 : 8);
        const uint64_t frame = spw_synth_frame(&f->s, 0, 0, 0, 0, 0);
        assert_int_not_equal(frame, 0);
        spw_synth_poke(&f->s, frame + L->frame_executable, code, 8);
        spw_synth_poke(&f->s, frame + L->frame_instr_ptr, code + 64, 8);
        const uint64_t ts = spw_synth_tstate(&f->s, frame, 1, 2);
        claim_rest(f);
        expect(f, ts, SPW_WALK_DROPPED, SPW_REASON_INVALID_CODE);
        /* tstate, the frame's four fields, then (when it fits) ob_type and ob_size */
        assert_int_equal(f->n_reads, fits ? 7 : 5);
        fix_free(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tlbc_negative_index),
        cmocka_unit_test(test_tlbc_index_vs_size),
        cmocka_unit_test(test_tlbc_entry_pointer),
        cmocka_unit_test(test_tlbc_at_the_user_limit),
        cmocka_unit_test(test_tail_pointer_at_the_bound),
        cmocka_unit_test(test_tstate_at_the_user_limit),
        cmocka_unit_test(test_code_header_bounds_the_span),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
