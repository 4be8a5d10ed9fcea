/*
 * read_log.h — a reader that logs what it read, and the check that makes a walk of memory
 * that changes under it trustworthy.
 *
 * A walk of another running thread's frames can meet frames pushed or popped mid-walk and
 * stitch two stacks together. Checking the top frame before and after is not enough (a
 * frame popped, then its caller's caller calling again, rebuilds the same top over a
 * different middle). This is exact instead: every load the walk makes is logged with the
 * value it got; afterwards each is loaded again. If every value is unchanged, the walk — a
 * pure function of the values it read — gave exactly what a walk of memory as it is *now*
 * gives: a stack that existed, whatever happened in between.
 *
 * One load is left out: the top frame's instruction pointer, which moves while the thread
 * runs in that frame; the walk read one of its values, a line of that same invocation
 * (spw_read_log_holds says which address that is, so a caller can check it another way).
 *
 * Header-only, so that a caller's reader is inlined into the walk (the live sampler uses
 * direct loads); the log's storage is the caller's. No allocation, no I/O.
 */
#ifndef SPW_READ_LOG_H
#define SPW_READ_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "layout.h"
#include "reader.h"

typedef struct spw_read_entry {
    uint64_t addr, val; /* val: the bytes read (up to 8), or a hash of longer reads */
    uint32_t len;
} spw_read_entry;

typedef struct spw_read_log {
    spw_read_entry *e;
    uint32_t cap, n;
    int overflow; /* more loads than cap: the log cannot vouch for the walk */
} spw_read_log;

static inline void spw_read_log_reset(spw_read_log *log)
{
    log->n = 0;
    log->overflow = 0;
}

static inline uint64_t spw_read_log_value(const void *p, size_t len)
{
    uint64_t v = 0;
    if (len <= 8) {
        memcpy(&v, p, len);
        return v;
    }
    const unsigned char *b = p;
    v = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) v = (v ^ b[i]) * 0x100000001b3ull;
    return v;
}

/* Append a load that succeeded (the caller read `len` bytes at `addr` into `dst`). */
static inline void spw_read_log_add(spw_read_log *log, uint64_t addr, const void *dst, size_t len)
{
    if (log->n == log->cap) {
        log->overflow = 1;
        return;
    }
    spw_read_entry *e = &log->e[log->n++];
    e->addr = addr;
    e->len = (uint32_t)len;
    e->val = spw_read_log_value(dst, len);
}

/* The address of the top frame's instruction pointer, from the walk's own load of the
 * thread state's current frame (0 if it made none). */
static inline uint64_t spw_read_log_top_instr(const spw_read_log *log, const spw_layout *L,
                                              uint64_t tstate)
{
    for (uint32_t i = 0; i < log->n; i++)
        if (log->e[i].addr == tstate + L->tstate_current_frame && log->e[i].len == 8)
            return log->e[i].val ? log->e[i].val + L->frame_instr_ptr : 0;
    return 0;
}

/* 1 if every logged load still gives its value through `read`, but the first at `skip`
 * (the top frame's instruction pointer; met again further down, only in a chain that
 * loops back to the top, it must hold); 0 if one changed, failed, or the log overflowed. */
static inline int spw_read_log_holds(const spw_read_log *log, spw_read_fn read, void *ctx,
                                     uint64_t skip)
{
    if (log->overflow) return 0;
    unsigned char buf[SPW_READ_MAX];
    for (uint32_t i = 0; i < log->n; i++) {
        const spw_read_entry *e = &log->e[i];
        if (skip && e->addr == skip) {
            skip = 0;
            continue;
        }
        if (e->len > sizeof buf || read(ctx, e->addr, buf, e->len) != 0) return 0;
        if (spw_read_log_value(buf, e->len) != e->val) return 0;
    }
    return 1;
}

#endif /* SPW_READ_LOG_H */
