/*
 * live_reader.h — the reader for this process's own memory: direct loads.
 *
 * Every value is read exactly once (SPP_LOAD_ONCE below): the compiler may not read a value
 * again after the core validated it, as it may with a plain memcpy into a local that it
 * later drops. An aligned word is one load, so it is never torn; on x86-64 TSO makes it an
 * acquire. Unaligned or odd-sized ranges (string bodies for the symbolizer) are read a byte
 * at a time, each byte once.
 *
 * A fault is not handled here: callers run the read under the fault guard (guard.h).
 */
#ifndef SPP_LIVE_READER_H
#define SPP_LIVE_READER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One load of a naturally aligned word, taken exactly once: the empty asm makes the loaded
 * value opaque, so the compiler can neither read the memory again in its place (it may
 * assume memory no other thread writes does not change, and rematerialise a load instead
 * of keeping a register) nor merge it with another read. Unlike an atomic load it leaves
 * the compiler free to schedule the load, or drop it when the value goes unused: the
 * walker reads every field of a frame and judges them after (walk_body.h), and forcing
 * each of those loads in program order cost 1.7x per frame. On ARM64 8-byte words are
 * `ldar` acquire loads, which pairs each pointer with the initialised object it points to. */
#define SPP_LOAD_ONCE(T, addr, dst)                                                            \
    do {                                                                                       \
        T v_;                                                                                  \
        memcpy(&v_, (const void *)(uintptr_t)(addr), sizeof v_);                              \
        __asm__("" : "+r"(v_));                                                                \
        memcpy((dst), &v_, sizeof v_);                                                         \
    } while (0)

static inline __attribute__((always_inline)) int spp_live_read(void *ctx, uint64_t addr,
                                                               void *dst, size_t len)
{
    (void)ctx;
    /* `len` is a constant wherever the walker reads, so this switch folds away; no
     * alignment is tested (x86-64 and ARM64 plain loads take any alignment) except for
     * ARM64's acquire load, which needs it. */
    switch (len) {
    case 8:
#if defined(__aarch64__)
        if ((addr & 7) == 0) {
            uint64_t v = __atomic_load_n((const uint64_t *)(uintptr_t)addr, __ATOMIC_ACQUIRE);
            memcpy(dst, &v, 8);
            return 0;
        }
#endif
        SPP_LOAD_ONCE(uint64_t, addr, dst);
        return 0;
    case 4: SPP_LOAD_ONCE(uint32_t, addr, dst); return 0;
    case 2: SPP_LOAD_ONCE(uint16_t, addr, dst); return 0;
    default: break;
    }
    unsigned char *d = dst;
    for (size_t i = 0; i < len; i++) SPP_LOAD_ONCE(unsigned char, addr + i, d + i);
    return 0;
}

/* The same, as an spw_read_fn for the core's reader-table interfaces (symbolizer, thread
 * list iterator). */
int spp_live_read_fn(void *ctx, uint64_t addr, void *dst, size_t len);

/* One read under the fault guard: 0, or -1 if the range is not a user address or faulted. */
int spp_read_guarded(uint64_t addr, void *dst, size_t len);

#endif /* SPP_LIVE_READER_H */
