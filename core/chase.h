/*
 * chase.h — the yardstick the walker is measured against (benchmarks, and the tests that
 * hold it to the walker): the same walk with the same loads and no validation at all.
 * Kept out of walk_body.h so that the walker's header holds the walker alone.
 */
#ifndef SPW_CHASE_H
#define SPW_CHASE_H

#include "walk_body.h"

/* The yardstick the walker is measured against (benchmarks only: it trusts every byte).
 * The same walk with no validation at all: follow `previous`, skip frames that are not
 * Python frames, and emit (code, lasti) from f_executable and instr_ptr relative to
 * co_code_adaptive. Same reader, same loads per frame as the walker's common path, so the
 * ratio of the two is what validation costs. Returns the frames emitted. */
SPW_ALWAYS_INLINE uint32_t spw_chase_unchecked(const spw_walk_shape *L, spw_read_fn read,
                                               void *ctx, uint64_t tstate, spw_frame *frames,
                                               uint32_t max)
{
    const uint32_t previous = L->frame_previous, executable = L->frame_executable,
                   owner = L->frame_owner, instr_ptr = L->frame_instr_ptr,
                   adaptive = L->co_code_adaptive;
    const uint64_t tag_keep = ~L->executable_tag_mask;
    const uint8_t incomplete = L->owner_incomplete;
    uint32_t n = 0;
    uint64_t frame = 0, code = 0, instr = 0, own = 0;
    if (spw_load_(read, ctx, tstate + L->tstate_current_frame, 8, &frame)) return 0;
    while (frame != 0 && n < max) {
        /* a failed read ends the chase (an inline reader that cannot fail compiles it out) */
        if (spw_load_(read, ctx, frame + executable, 8, &code) ||
            spw_load_(read, ctx, frame + owner, 1, &own))
            break;
        code &= tag_keep;
        if (own < incomplete && code != 0) {
            if (spw_load_(read, ctx, frame + instr_ptr, 8, &instr)) break;
            frames[n].code = code;
            frames[n].lasti = (uint32_t)((instr - code - adaptive) / 2);
            n++;
        }
        if (spw_load_(read, ctx, frame + previous, 8, &frame)) break;
    }
    return n;
}

/* The yardstick on the same shape as spw_walk_known() would use: `L` gives the run-time one
 * for SPW_FLAVOR_COUNT_. */
#define SPW_CHASE_KNOWN_CASE_(F)                                                              \
    case F: {                                                                                  \
        const spw_walk_shape S = spw_walk_shape_known(F);                                      \
        return spw_chase_unchecked(&S, read, ctx, tstate, frames, max);                        \
    }
SPW_ALWAYS_INLINE uint32_t spw_chase_known(spw_flavor f, const spw_layout *L, spw_read_fn read,
                                           void *ctx, uint64_t tstate, spw_frame *frames,
                                           uint32_t max)
{
    switch (f) {
        SPW_EACH_KNOWN_FLAVOR_(SPW_CHASE_KNOWN_CASE_)
    case SPW_FLAVOR_COUNT_: break;
    }
    const spw_walk_shape S = spw_walk_shape_of(L);
    return spw_chase_unchecked(&S, read, ctx, tstate, frames, max);
}
#undef SPW_CHASE_KNOWN_CASE_

#endif /* SPW_CHASE_H */
