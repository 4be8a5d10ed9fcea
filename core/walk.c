/*
 * walk.c — the walker instantiated over the generic reader, and the status names.
 */
#include "walk_body.h"

spw_status spw_walk(const spw_walk_args *args, const spw_reader *reader, spw_walk_result *res)
{
    return spw_walk_body(args, reader->read, reader->ctx, res);
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
