/*
 * walk_body.h — the walker, as one inline function parameterised by its read function.
 *
 * This is libunwind's UNW_LOCAL_ONLY idea in C11: spw_walk_body() is always inlined, so a
 * caller that passes a `static inline` read function gets a walker specialised to it with
 * every read compiled in place (the live signal handler: plain loads, no indirect call),
 * while walk.c instantiates it once over the generic spw_reader for replay, fuzzing and
 * remote processes. Same source, tested by the same fuzzers.
 *
 * The rules, in the order they are applied to each frame pointer:
 *   1. budget: at most SPW_WALK_BUDGET frames are followed; a longer chain is `truncated`;
 *   2. validate: non-null page, 8-byte aligned, inside user space — else `invalid_frame`;
 *   3. cycle: the pointer equals one of the last 8 frames (exact, catches short loops at
 *      once) or Brent's tortoise (O(1) memory, catches long loops) — `cycle`;
 *   4. read the frame's fields in one read, then judge them: bogus owner `invalid_frame`;
 *      owner >= 3 (C stack / interpreter shim) or NULL executable: not a Python frame, skip;
 *   5. while under the depth limit: executable must be an object whose type is
 *      PyCode_Type with a sane size (`invalid_code`), and instr_ptr must point inside the
 *      bytecode copy it runs (`invalid_frame`); then emit (code, lasti).
 * Frames past the depth limit are still followed and checked by rules 1-4, so a cycle or a
 * broken link anywhere in the chain is reported, and the status is `truncated`.
 */
#ifndef SPW_WALK_BODY_H
#define SPW_WALK_BODY_H

#include "walk.h"

#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define SPW_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define SPW_ALWAYS_INLINE static inline
#endif

/* A code object larger than this many code units is not believed. */
#define SPW_CODE_UNITS_MAX (1u << 28)
/* Nor a thread-local bytecode array with more copies than this. */
#define SPW_TLBC_MAX (1u << 16)

#define SPW_WALK_END_(st, why)                                                                \
    do {                                                                                      \
        res->status = (st);                                                                   \
        res->reason = (why);                                                                  \
        return (st);                                                                          \
    } while (0)
#define SPW_DROP_(why) SPW_WALK_END_(SPW_WALK_DROPPED, (why))
#define SPW_READ_(addr, dst, len)                                                             \
    do {                                                                                      \
        res->n_reads++;                                                                       \
        if (read(ctx, (addr), (dst), (len)) != 0) SPW_DROP_(SPW_REASON_UNREADABLE);           \
    } while (0)

/* Where the bytecode copy that instr_ptr points into starts. 3.14t threads may run their own
 * copy: tlbc_index selects it in co_tlbc, whose entry 0 is co_code_adaptive itself. Returns
 * the reason to drop, or SPW_REASON_NONE with *base set. */
SPW_ALWAYS_INLINE spw_reason spw_walk_bytecode_(const spw_layout *L, spw_read_fn read, void *ctx,
                                                spw_walk_result *res, uint64_t code,
                                                int32_t tlbc_index, uint64_t *base)
{
    uint8_t b[8];
    if (tlbc_index == 0) {
        *base = code + L->co_code_adaptive;
        return SPW_REASON_NONE;
    }
    if (tlbc_index < 0) return SPW_REASON_INVALID_FRAME;
    if (!spw_addr_ok(L->arch, code, (uint64_t)L->co_tlbc + 8, 8)) return SPW_REASON_INVALID_CODE;
    res->n_reads++;
    if (read(ctx, code + L->co_tlbc, b, 8) != 0) return SPW_REASON_UNREADABLE;
    uint64_t arr = spw_le64(b);
    /* _PyCodeArray: Py_ssize_t size; char *entries[size]. */
    if (!spw_addr_ok(L->arch, arr, 8 + 8 * (uint64_t)tlbc_index + 8, 8))
        return SPW_REASON_INVALID_CODE;
    res->n_reads++;
    if (read(ctx, arr, b, 8) != 0) return SPW_REASON_UNREADABLE;
    uint64_t size = spw_le64(b);
    if (size > SPW_TLBC_MAX || (uint64_t)tlbc_index >= size) return SPW_REASON_INVALID_FRAME;
    res->n_reads++;
    if (read(ctx, arr + 8 + 8 * (uint64_t)tlbc_index, b, 8) != 0) return SPW_REASON_UNREADABLE;
    *base = spw_le64(b);
    if (!spw_addr_ok(L->arch, *base, 2, 2)) return SPW_REASON_INVALID_CODE;
    return SPW_REASON_NONE;
}

SPW_ALWAYS_INLINE spw_status spw_walk_body(const spw_walk_args *a, spw_read_fn read, void *ctx,
                                           spw_walk_result *res)
{
    const spw_layout *L = a->layout;
    const uint32_t max = a->max_frames < SPW_WALK_DEPTH_MAX ? a->max_frames : SPW_WALK_DEPTH_MAX;
    uint8_t fb[SPW_FRAME_SPAN_MAX], b[16];

    memset(res, 0, sizeof *res);
    if (!spw_addr_ok(L->arch, a->tstate, (uint64_t)L->tstate_current_frame + 8, 8))
        SPW_DROP_(SPW_REASON_INVALID_FRAME);
    SPW_READ_(a->tstate + L->tstate_current_frame, b, 8);
    uint64_t frame = spw_le64(b);

    uint64_t recent[8] = { 0 };       /* the last 8 frames, a rolling window */
    uint64_t tortoise = 0;            /* Brent: the frame at the last power-of-two step */
    uint32_t power = 1, lambda = 0;
    int cut = 0;                      /* a Python frame was left out by the depth limit */

    while (frame != 0) {
        if (res->n_visited == SPW_WALK_BUDGET) SPW_WALK_END_(SPW_WALK_TRUNCATED, SPW_REASON_NONE);
        if (!spw_addr_ok(L->arch, frame, L->frame_span, 8)) SPW_DROP_(SPW_REASON_INVALID_FRAME);
#ifndef SPW_PLANT_NO_CYCLE_CHECK
        for (int i = 0; i < 8; i++)
            if (recent[i] == frame) SPW_DROP_(SPW_REASON_CYCLE);
        if (frame == tortoise) SPW_DROP_(SPW_REASON_CYCLE);
#endif
        recent[res->n_visited & 7] = frame;
        if (lambda == power) {
            tortoise = frame;
            power <<= 1;
            lambda = 0;
        }
        lambda++;
        res->n_visited++;

        SPW_READ_(frame, fb, L->frame_span);
        uint64_t previous = spw_le64(fb + L->frame_previous);
        uint64_t code = spw_le64(fb + L->frame_executable) & ~L->executable_tag_mask;
        uint64_t instr = spw_le64(fb + L->frame_instr_ptr);
        uint8_t owner = fb[L->frame_owner];
        int32_t tlbc_index = L->has_tlbc ? (int32_t)spw_le32(fb + L->frame_tlbc_index) : 0;

        if (owner > L->owner_max) SPW_DROP_(SPW_REASON_INVALID_FRAME);
        if (owner < L->owner_incomplete && code != 0) {
            if (res->n_frames == max) {
                cut = 1;
            } else {
                /* ob_type and ob_size are adjacent: one read gives both. */
                if (!spw_addr_ok(L->arch, code, (uint64_t)L->ob_size + 8, 8))
                    SPW_DROP_(SPW_REASON_INVALID_CODE);
                SPW_READ_(code + L->ob_type, b, L->ob_size + 8 - L->ob_type);
                uint64_t type = spw_le64(b);
                uint64_t n_units = spw_le64(b + (L->ob_size - L->ob_type));
#ifndef SPW_PLANT_NO_CODE_CHECK
                if (type != a->code_type || n_units == 0 || n_units > SPW_CODE_UNITS_MAX)
                    SPW_DROP_(SPW_REASON_INVALID_CODE);
#else
                (void)type;
#endif
                uint64_t base = 0;
                spw_reason why = spw_walk_bytecode_(L, read, ctx, res, code, tlbc_index, &base);
                if (why != SPW_REASON_NONE) SPW_DROP_(why);
                uint64_t off = instr - base; /* wraps when instr < base: caught below */
                if (instr < base || off >= 2 * n_units || (off & 1) != 0)
                    SPW_DROP_(SPW_REASON_INVALID_FRAME);
                a->frames[res->n_frames].code = code;
                a->frames[res->n_frames].lasti = (uint32_t)(off / 2);
                res->n_frames++;
            }
        }
        frame = previous;
    }
    if (cut) SPW_WALK_END_(SPW_WALK_TRUNCATED, SPW_REASON_NONE);
    SPW_WALK_END_(SPW_WALK_OK, SPW_REASON_NONE);
}

#undef SPW_READ_
#undef SPW_DROP_
#undef SPW_WALK_END_

#endif /* SPW_WALK_BODY_H */
