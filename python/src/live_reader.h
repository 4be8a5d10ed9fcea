/*
 * live_reader.h — the reader for this process's own memory: direct loads.
 *
 * Every word is read exactly once, with an atomic load: the compiler may neither re-read
 * a value after the core validated it (as it may with memcpy into a local that it later
 * drops) nor tear it. On x86-64 a relaxed atomic load of an aligned word is a plain `mov`
 * and TSO makes it an acquire; on ARM64 8-byte words are `ldar` acquire loads, so a pointer
 * published by another thread is seen with what it points to. Unaligned or odd-sized
 * ranges (string bodies for the symbolizer) are read a byte at a time, each byte once.
 *
 * A fault is not handled here: callers run the read under the fault guard (guard.h).
 */
#ifndef SPP_LIVE_READER_H
#define SPP_LIVE_READER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__aarch64__)
#define SPP_LOAD_ORDER __ATOMIC_ACQUIRE
#else
#define SPP_LOAD_ORDER __ATOMIC_RELAXED
#endif

static inline __attribute__((always_inline)) int spp_live_read(void *ctx, uint64_t addr,
                                                               void *dst, size_t len)
{
    (void)ctx;
    if (len == 8 && (addr & 7) == 0) {
        uint64_t v = __atomic_load_n((const uint64_t *)(uintptr_t)addr, SPP_LOAD_ORDER);
        memcpy(dst, &v, 8);
        return 0;
    }
    if (len == 4 && (addr & 3) == 0) {
        uint32_t v = __atomic_load_n((const uint32_t *)(uintptr_t)addr, SPP_LOAD_ORDER);
        memcpy(dst, &v, 4);
        return 0;
    }
    if (len == 2 && (addr & 1) == 0) {
        uint16_t v = __atomic_load_n((const uint16_t *)(uintptr_t)addr, SPP_LOAD_ORDER);
        memcpy(dst, &v, 2);
        return 0;
    }
    unsigned char *d = dst;
    for (size_t i = 0; i < len; i++)
        d[i] = __atomic_load_n((const unsigned char *)(uintptr_t)(addr + i), SPP_LOAD_ORDER);
    return 0;
}

/* The same, as an spw_read_fn for the core's reader-table interfaces (symbolizer, thread
 * list iterator). */
int spp_live_read_fn(void *ctx, uint64_t addr, void *dst, size_t len);

/* One read under the fault guard: 0, or -1 if the range is not a user address or faulted. */
int spp_read_guarded(uint64_t addr, void *dst, size_t len);

#endif /* SPP_LIVE_READER_H */
