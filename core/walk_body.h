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
 *   4. read the frame's fields (each once), then judge them: bogus owner `invalid_frame`;
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

/* Read a field of constant width (1, 4 or 8) into *dst, counting the read. With an inline
 * reader this compiles to one load, which is why the walker reads field by field rather
 * than copying whole structs. Returns nonzero when the reader failed. */
SPW_ALWAYS_INLINE int spw_load_(spw_read_fn read, void *ctx, uint32_t *n_reads, uint64_t addr,
                                size_t width, uint64_t *dst)
{
    uint8_t b[8];
    ++*n_reads;
    if (read(ctx, addr, b, width) != 0) return 1;
    *dst = width == 8 ? spw_le64(b) : width == 4 ? spw_le32(b) : b[0];
    return 0;
}

/* Where the bytecode copy that instr_ptr points into starts. 3.14t threads may run their own
 * copy: tlbc_index selects it in co_tlbc, whose entry 0 is co_code_adaptive itself. Returns
 * the reason to drop, or SPW_REASON_NONE with *base set. */
SPW_ALWAYS_INLINE spw_reason spw_walk_bytecode_(const spw_layout *L, spw_read_fn read, void *ctx,
                                                uint32_t *n_reads, uint64_t code,
                                                int32_t tlbc_index, uint64_t *base)
{
    uint64_t arr, size;
    if (tlbc_index == 0) {
        *base = code + L->co_code_adaptive;
        return SPW_REASON_NONE;
    }
    if (tlbc_index < 0) return SPW_REASON_INVALID_FRAME;
    if (!spw_addr_ok(L->arch, code, (uint64_t)L->co_tlbc + 8, 8)) return SPW_REASON_INVALID_CODE;
    if (spw_load_(read, ctx, n_reads, code + L->co_tlbc, 8, &arr)) return SPW_REASON_UNREADABLE;
    /* _PyCodeArray: Py_ssize_t size; char *entries[size]. */
    if (!spw_addr_ok(L->arch, arr, 8 + 8 * (uint64_t)tlbc_index + 8, 8))
        return SPW_REASON_INVALID_CODE;
    if (spw_load_(read, ctx, n_reads, arr, 8, &size)) return SPW_REASON_UNREADABLE;
    if (size > SPW_TLBC_MAX || (uint64_t)tlbc_index >= size) return SPW_REASON_INVALID_FRAME;
    if (spw_load_(read, ctx, n_reads, arr + 8 + 8 * (uint64_t)tlbc_index, 8, base))
        return SPW_REASON_UNREADABLE;
    if (!spw_addr_ok(L->arch, *base, 2, 2)) return SPW_REASON_INVALID_CODE;
    return SPW_REASON_NONE;
}

/* One frame that passed the owner check: validate its code object and instruction pointer
 * and compute lasti. Returns the reason to drop, or SPW_REASON_NONE. */
SPW_ALWAYS_INLINE spw_reason spw_walk_code_(const spw_walk_args *a, spw_read_fn read, void *ctx,
                                            uint32_t *n_reads, uint64_t frame, uint64_t code,
                                            spw_frame *out)
{
    const spw_layout *L = a->layout;
    uint64_t instr, tlbc = 0, type, n_units, base = 0;
    if (spw_load_(read, ctx, n_reads, frame + L->frame_instr_ptr, 8, &instr) ||
        (L->has_tlbc && spw_load_(read, ctx, n_reads, frame + L->frame_tlbc_index, 4, &tlbc)))
        return SPW_REASON_UNREADABLE;
    if (!spw_addr_ok(L->arch, code, (uint64_t)L->ob_size + 8, 8)) return SPW_REASON_INVALID_CODE;
    if (spw_load_(read, ctx, n_reads, code + L->ob_type, 8, &type) ||
        spw_load_(read, ctx, n_reads, code + L->ob_size, 8, &n_units))
        return SPW_REASON_UNREADABLE;
#ifndef SPW_PLANT_NO_CODE_CHECK
    if (type != a->code_type || n_units == 0 || n_units > SPW_CODE_UNITS_MAX)
        return SPW_REASON_INVALID_CODE;
#else
    (void)type;
#endif
    spw_reason why = spw_walk_bytecode_(L, read, ctx, n_reads, code, (int32_t)(uint32_t)tlbc, &base);
    if (why != SPW_REASON_NONE) return why;
    uint64_t off = instr - base; /* wraps when instr < base: caught below */
    if (instr < base || off >= 2 * n_units || (off & 1) != 0) return SPW_REASON_INVALID_FRAME;
    out->code = code;
    out->lasti = (uint32_t)(off / 2);
    return SPW_REASON_NONE;
}

SPW_ALWAYS_INLINE spw_status spw_walk_body(const spw_walk_args *a, spw_read_fn read, void *ctx,
                                           spw_walk_result *res)
{
    const spw_layout *L = a->layout;
    const uint32_t max = a->max_frames < SPW_WALK_DEPTH_MAX ? a->max_frames : SPW_WALK_DEPTH_MAX;
    uint32_t n_frames = 0, n_visited = 0, n_reads = 0;
    spw_status status = SPW_WALK_OK;
    spw_reason why = SPW_REASON_NONE;
    uint64_t frame = 0;

    uint64_t recent[8] = { 0 };       /* the last 8 frames, a rolling window */
    uint64_t tortoise = 0;            /* Brent: the frame at the last power-of-two step */
    uint32_t power = 1, lambda = 0;
    int cut = 0;                      /* a Python frame was left out by the depth limit */

    if (!spw_addr_ok(L->arch, a->tstate, (uint64_t)L->tstate_current_frame + 8, 8)) {
        why = SPW_REASON_INVALID_FRAME;
        goto done;
    }
    if (spw_load_(read, ctx, &n_reads, a->tstate + L->tstate_current_frame, 8, &frame)) {
        why = SPW_REASON_UNREADABLE;
        goto done;
    }

    while (frame != 0) {
        if (n_visited == SPW_WALK_BUDGET) {
            status = SPW_WALK_TRUNCATED;
            goto done;
        }
        if (!spw_addr_ok(L->arch, frame, L->frame_span, 8)) {
            why = SPW_REASON_INVALID_FRAME;
            goto done;
        }
#ifndef SPW_PLANT_NO_CYCLE_CHECK
        int seen = frame == tortoise; /* one branch instead of nine */
        for (int i = 0; i < 8; i++) seen |= recent[i] == frame;
        if (seen) {
            why = SPW_REASON_CYCLE;
            goto done;
        }
#else
        (void)tortoise;
#endif
        recent[n_visited & 7] = frame;
        if (lambda == power) {
            tortoise = frame;
            power <<= 1;
            lambda = 0;
        }
        lambda++;
        n_visited++;

        /* Each field is read exactly once, then judged. */
        uint64_t previous, code, owner;
        if (spw_load_(read, ctx, &n_reads, frame + L->frame_previous, 8, &previous) ||
            spw_load_(read, ctx, &n_reads, frame + L->frame_executable, 8, &code) ||
            spw_load_(read, ctx, &n_reads, frame + L->frame_owner, 1, &owner)) {
            why = SPW_REASON_UNREADABLE;
            goto done;
        }
        code &= ~L->executable_tag_mask;
        if (owner > L->owner_max) {
            why = SPW_REASON_INVALID_FRAME;
            goto done;
        }
        if (owner < L->owner_incomplete && code != 0) {
            if (n_frames == max) {
                cut = 1;
            } else {
                why = spw_walk_code_(a, read, ctx, &n_reads, frame, code, &a->frames[n_frames]);
                if (why != SPW_REASON_NONE) goto done;
                n_frames++;
            }
        }
        frame = previous;
    }
    if (cut) status = SPW_WALK_TRUNCATED;
done:
    /* The one exit: counters kept in registers during the walk reach the caller here. */
    if (why != SPW_REASON_NONE) status = SPW_WALK_DROPPED;
    res->status = status;
    res->reason = why;
    res->n_frames = n_frames;
    res->n_visited = n_visited;
    res->n_reads = n_reads;
    return status;
}

#endif /* SPW_WALK_BODY_H */
