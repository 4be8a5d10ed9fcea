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

/* A field added to spw_walk_shape must join SPW_WALK_SHAPE_FIELDS, which copies, compares and
 * tests them all; this trips when the struct grows. */
_Static_assert(sizeof(spw_walk_shape) == 64, "update SPW_WALK_SHAPE_FIELDS");

spw_walk_shape spw_walk_shape_of(const spw_layout *L)
{
    spw_walk_shape S;
#define COPY(field) S.field = L->field;
    SPW_WALK_SHAPE_FIELDS(COPY)
#undef COPY
    return S;
}

/* Field by field: padding is not guaranteed to be zero. */
static int shape_equal(const spw_walk_shape *a, const spw_walk_shape *b)
{
#define SAME(field) a->field == b->field &&
    return SPW_WALK_SHAPE_FIELDS(SAME) 1;
#undef SAME
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
