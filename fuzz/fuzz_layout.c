/*
 * fuzz_layout.c — arbitrary _Py_DebugOffsets blobs into the layout parser, then a walk and
 * a symbolization driven by whatever layout was accepted.
 *
 * Input: one byte choosing the architecture (including an unknown one), then the blob.
 * Seeds are the four real blobs (corpus/layout/, written by fuzz/gen_seeds.c).
 *
 * Invariants:
 *   L1 the parser returns one of its documented errors; parsing is pure;
 *   L2 an accepted layout keeps every field the walker and symbolizer read inside the
 *      struct size declared next to it, the frame fields inside frame_span, frame_span
 *      within SPW_FRAME_SPAN_MAX, ob_type + 8 == ob_size == the PyObject size, and the
 *      string header fields inside the compact-string header;
 *   L3 whatever the offsets are, a walk and a symbolization over a small image built with
 *      them read only through the reader, only at addresses they validated, a bounded
 *      number of times, and end in one status (ASan additionally proves that no host
 *      buffer is overrun: the image is a fixed 64 KiB buffer).
 */
#include <string.h>

#include "checked_reader.h"
#include "oracle.h"
#include "symbolize.h"
#include "walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IMG_BASE 0x7f3400000000ull
#define IMG_SIZE (64u << 10)
/* Where the image's objects start; far enough apart for the real layouts, and fuzzed
 * layouts whose structs do not fit simply overlap or run off the image. */
#define AT_TSTATE 0x0000u
#define AT_FRAME 0x2000u
#define AT_CODE 0x3000u
#define AT_TYPE 0x4000u
#define AT_STR 0x5000u
#define AT_TABLE 0x6000u

static uint8_t img[IMG_SIZE];

static int img_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    (void)ctx;
    if (addr < IMG_BASE || addr - IMG_BASE > IMG_SIZE || len > IMG_SIZE - (addr - IMG_BASE))
        return -1;
    memcpy(dst, img + (addr - IMG_BASE), len);
    return 0;
}

/* Store into the image if the field lies inside it; a fuzzed offset may not. */
static void put(uint32_t at, uint64_t off, uint64_t value, unsigned width)
{
    if (off > IMG_SIZE || at > IMG_SIZE - off || width > IMG_SIZE - at - off) return;
    for (unsigned i = 0; i < width; i++) img[at + off + i] = (uint8_t)(value >> (8 * i));
}

#define FZ_IN(off, width, size) ((uint64_t)(off) + (width) <= (uint64_t)(size))

FZ_ORACLE static void oracle_layout(const spw_layout *L, size_t blob_len)
{
    FZ_CHECK(L->py_minor == 13 || L->py_minor == 14, "minor %u", L->py_minor);
    FZ_CHECK(blob_len >= spw_layout_blob_size(L->py_minor), "accepted a short blob");
    FZ_CHECK(L->free_threaded <= 1 && L->has_tlbc == (L->py_minor >= 14 && L->free_threaded),
             "flags");
    const uint32_t sizes[] = { L->runtime_size, L->interp_size, L->tstate_size, L->frame_size,
                               L->object_size, L->code_size, L->bytes_size, L->unicode_size };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        FZ_CHECK(sizes[i] > 0 && sizes[i] <= SPW_LAYOUT_SIZE_MAX, "size %zu is %u", i, sizes[i]);
    FZ_CHECK(FZ_IN(L->runtime_interpreters_head, 8, L->runtime_size), "runtime");
    FZ_CHECK(FZ_IN(L->interp_next, 8, L->interp_size) &&
                 FZ_IN(L->interp_threads_head, 8, L->interp_size), "interp");
    FZ_CHECK(FZ_IN(L->tstate_next, 8, L->tstate_size) &&
                 FZ_IN(L->tstate_current_frame, 8, L->tstate_size) &&
                 FZ_IN(L->tstate_thread_id, 8, L->tstate_size) &&
                 FZ_IN(L->tstate_native_thread_id, 8, L->tstate_size), "tstate");
    FZ_CHECK(L->frame_span <= SPW_FRAME_SPAN_MAX && L->frame_span <= L->frame_size,
             "frame span %u (size %u)", L->frame_span, L->frame_size);
    FZ_CHECK(FZ_IN(L->frame_previous, 8, L->frame_span) &&
                 FZ_IN(L->frame_executable, 8, L->frame_span) &&
                 FZ_IN(L->frame_instr_ptr, 8, L->frame_span) &&
                 FZ_IN(L->frame_owner, 1, L->frame_span) &&
                 (!L->has_tlbc || FZ_IN(L->frame_tlbc_index, 4, L->frame_span)),
             "frame field outside the span");
    FZ_CHECK(L->owner_incomplete <= L->owner_max, "owners");
    FZ_CHECK(L->ob_type + 8 == L->ob_size && L->ob_size == L->object_size,
             "ob_type %u ob_size %u object %u", L->ob_type, L->ob_size, L->object_size);
    FZ_CHECK(FZ_IN(L->ob_size, 8, L->code_size) && FZ_IN(L->co_filename, 8, L->code_size) &&
                 FZ_IN(L->co_name, 8, L->code_size) && FZ_IN(L->co_qualname, 8, L->code_size) &&
                 FZ_IN(L->co_linetable, 8, L->code_size) &&
                 FZ_IN(L->co_firstlineno, 4, L->code_size) &&
                 FZ_IN(L->co_code_adaptive, 1, L->code_size) &&
                 (!L->has_tlbc || FZ_IN(L->co_tlbc, 8, L->code_size)), "code field outside");
    FZ_CHECK(FZ_IN(L->bytes_ob_size, 8, L->bytes_size) && FZ_IN(L->bytes_ob_sval, 1, L->bytes_size),
             "bytes");
    FZ_CHECK(FZ_IN(L->unicode_state, 4, L->unicode_ascii_size) &&
                 FZ_IN(L->unicode_length, 8, L->unicode_ascii_size) &&
                 L->unicode_compact_size == L->unicode_ascii_size + 16 &&
                 L->unicode_compact_size <= L->unicode_size, "unicode");
    FZ_CHECK(L->state_ascii_bit < 32 && L->state_compact_bit < 32 && L->state_kind_shift < 30,
             "state bits");
}

FZ_ORACLE static void oracle_walk(const spw_walk_result *r, uint32_t max)
{
    FZ_CHECK((r->reason != SPW_REASON_NONE) == (r->status == SPW_WALK_DROPPED) &&
                 r->status <= SPW_WALK_DROPPED && r->reason < SPW_REASON_COUNT_,
             "status %d reason %d", (int)r->status, (int)r->reason);
    FZ_CHECK(r->n_frames <= max, "frames %u", r->n_frames);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const spw_arch arches[4] = { SPW_ARCH_X86_64, SPW_ARCH_AARCH64, SPW_ARCH_UNKNOWN,
                                        (spw_arch)7 };
    spw_arch arch = arches[data[0] & 3];
    const uint8_t *blob = data + 1;
    size_t len = size - 1;

    spw_layout L, L2;
    spw_layout_err err = spw_layout_parse(blob, len, arch, &L);
    FZ_CHECK(err <= SPW_LAYOUT_E_ARCH, "parser returned %d", (int)err);
    if (err != SPW_LAYOUT_OK) return 0;
    /* L1: the same blob parses the same way (compare field by field: the struct has
     * padding). */
    FZ_CHECK(spw_layout_parse(blob, len, arch, &L2) == SPW_LAYOUT_OK &&
                 L2.frame_span == L.frame_span && L2.co_code_adaptive == L.co_code_adaptive &&
                 L2.tstate_current_frame == L.tstate_current_frame,
             "a second parse differs");
    FZ_CHECK(L.arch == arch, "arch");
    oracle_layout(&L, len); /* L2 */

    /* L3: a one-frame image laid out with these offsets. */
    memset(img, 0, sizeof img);
    const uint64_t B = IMG_BASE;
    uint64_t tag = L.executable_tag_mask & 1;
    put(AT_TSTATE, L.tstate_current_frame, B + AT_FRAME, 8);
    put(AT_FRAME, L.frame_previous, 0, 8);
    put(AT_FRAME, L.frame_executable, (B + AT_CODE) | tag, 8);
    put(AT_FRAME, L.frame_instr_ptr, B + AT_CODE + L.co_code_adaptive + 2, 8);
    put(AT_FRAME, L.frame_owner, 0, 1);
    put(AT_CODE, L.ob_type, B + AT_TYPE, 8);
    put(AT_CODE, L.ob_size, 4, 8);
    put(AT_CODE, L.co_qualname, B + AT_STR, 8);
    put(AT_CODE, L.co_filename, B + AT_STR, 8);
    put(AT_CODE, L.co_linetable, B + AT_TABLE, 8);
    put(AT_CODE, L.co_firstlineno, 7, 4);
    put(AT_STR, L.unicode_state,
        1u << L.state_kind_shift | 1u << L.state_compact_bit | 1u << L.state_ascii_bit, 4);
    put(AT_STR, L.unicode_length, 3, 8);
    put(AT_STR, L.unicode_ascii_size, 0x636261, 4); /* "abc" */
    put(AT_TABLE, L.bytes_ob_size, 2, 8);
    put(AT_TABLE, L.bytes_ob_sval, 0xe8 | 3u << 8, 2); /* no-column entry, 1 unit, delta 0 */

    spw_reader inner = { img_read, NULL };
    fz_checked ck;
    fz_checked_init(&ck, &inner, arch, 1, FZ_WALK_READS_MAX, "layout walk");
    spw_reader rd = fz_checked_reader(&ck);
    spw_frame out[4];
    spw_walk_args args = { .layout = &L, .code_type = B + AT_TYPE, .tstate = B + AT_TSTATE,
                           .frames = out, .max_frames = 4 };
    spw_walk_result r;
    spw_walk(&args, &rd, &r);
    oracle_walk(&r, 4); /* the checked reader already aborted on a bad read */

    /* Symbolize the code object whether or not the walk emitted it. */
    fz_checked_reset(&ck, 1u << 16, "layout symbolize");
    spw_symbol sym;
    spw_sym_err serr = spw_symbolize(&L, &rd, B + AT_CODE, 1, &sym);
    FZ_CHECK(serr <= SPW_SYM_E_LINETABLE, "symbolizer returned %d", (int)serr);
    oracle_utf8(sym.function, sizeof sym.function, "function");
    oracle_utf8(sym.file, sizeof sym.file, "file");
    return 0;
}
