/*
 * walk.c — the walker instantiated over the generic reader, walk shapes, and the names.
 */
#include "walk_body.h"

/* The budget doubles as the last of Brent's power-of-two marks (walk_body.h). */
_Static_assert((SPW_WALK_BUDGET & (SPW_WALK_BUDGET - 1)) == 0, "budget is a power of two");

spw_status spw_walk(const spw_walk_args *args, const spw_reader *reader, spw_walk_result *res)
{
    return spw_walk_body(args, reader->read, reader->ctx, res);
}

spw_walk_shape spw_walk_shape_of(const spw_layout *L)
{
    spw_walk_shape S = {
        .tstate_current_frame = L->tstate_current_frame,
        .frame_previous = L->frame_previous,
        .frame_executable = L->frame_executable,
        .frame_instr_ptr = L->frame_instr_ptr,
        .frame_owner = L->frame_owner,
        .frame_tlbc_index = L->frame_tlbc_index,
        .frame_span = L->frame_span,
        .ob_type = L->ob_type,
        .ob_size = L->ob_size,
        .co_code_adaptive = L->co_code_adaptive,
        .co_tlbc = L->co_tlbc,
        .executable_tag_mask = L->executable_tag_mask,
        .owner_incomplete = L->owner_incomplete,
        .owner_max = L->owner_max,
        .has_tlbc = L->has_tlbc,
    };
    return S;
}

static int shape_equal(const spw_walk_shape *a, const spw_walk_shape *b)
{
    return a->tstate_current_frame == b->tstate_current_frame &&
           a->frame_previous == b->frame_previous && a->frame_executable == b->frame_executable &&
           a->frame_instr_ptr == b->frame_instr_ptr && a->frame_owner == b->frame_owner &&
           a->frame_tlbc_index == b->frame_tlbc_index && a->frame_span == b->frame_span &&
           a->ob_type == b->ob_type && a->ob_size == b->ob_size &&
           a->co_code_adaptive == b->co_code_adaptive && a->co_tlbc == b->co_tlbc &&
           a->executable_tag_mask == b->executable_tag_mask &&
           a->owner_incomplete == b->owner_incomplete && a->owner_max == b->owner_max &&
           a->has_tlbc == b->has_tlbc;
}

spw_flavor spw_walk_shape_flavor(const spw_walk_shape *s)
{
    for (int f = 0; f < SPW_FLAVOR_COUNT_; f++) {
        const spw_walk_shape known = spw_walk_shape_known((spw_flavor)f);
        if (shape_equal(s, &known)) return (spw_flavor)f;
    }
    return SPW_FLAVOR_COUNT_;
}

const char *spw_status_name(spw_status s)
{
    switch (s) {
    case SPW_WALK_OK: return "ok";
    case SPW_WALK_TRUNCATED: return "truncated";
    case SPW_WALK_DROPPED: return "dropped";
    }
    return "unknown";
}

const char *spw_reason_name(spw_reason r)
{
    switch (r) {
    case SPW_REASON_NONE: return "";
    case SPW_REASON_CYCLE: return "cycle";
    case SPW_REASON_INVALID_FRAME: return "invalid_frame";
    case SPW_REASON_INVALID_CODE: return "invalid_code";
    case SPW_REASON_UNREADABLE: return "unreadable";
    case SPW_REASON_COUNT_: break;
    }
    return "unknown";
}
