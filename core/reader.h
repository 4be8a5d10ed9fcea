/*
 * reader.h — the seam. The core never dereferences a target pointer: it asks a reader.
 *
 * Modelled on libunwind's access_mem accessor: the same walker and symbolizer source serve a
 * snapshot image, a fuzzer-built image, another process and the profiled process itself.
 *
 * Contract of a read function: copy exactly `len` bytes at target address `addr` into
 * `dst` and return 0, or return nonzero and leave the walk to report `unreadable`. A read
 * must never have side effects on the target and must never fault for an address it
 * cannot supply. The core only asks for ranges that passed spw_addr_ok(), and `len` is
 * always small (at most SPW_READ_MAX bytes).
 *
 * Two ways to use it:
 *   - through `spw_reader` (a function pointer and its context), for replay, fuzzing and
 *     remote processes, where an indirect call per read is fine;
 *   - by instantiating the walker body directly over an inline read function (walk_body.h),
 *     so the live signal-handler path compiles to plain loads with no indirect call.
 */
#ifndef SPW_READER_H
#define SPW_READER_H

#include "spw.h"

/* The largest single read the core ever issues. */
#define SPW_READ_MAX 256u

typedef int (*spw_read_fn)(void *ctx, uint64_t addr, void *dst, size_t len);

typedef struct spw_reader {
    spw_read_fn read;
    void *ctx;
} spw_reader;

static inline int spw_read(const spw_reader *r, uint64_t addr, void *dst, size_t len)
{
    return r->read(r->ctx, addr, dst, len);
}

/* Little-endian loads from a byte buffer (snapshot files, copied target memory). Target
 * memory is always little-endian on the supported architectures. */
SPW_ALWAYS_INLINE uint64_t spw_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}
SPW_ALWAYS_INLINE uint32_t spw_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint16_t spw_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline void spw_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void spw_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void spw_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

#endif /* SPW_READER_H */
