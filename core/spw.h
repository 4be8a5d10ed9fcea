/*
 * spw.h — shared vocabulary of the spprof core: architectures, error codes, limits.
 *
 * The core is pure C11. It includes no Python header, holds no mutable global or static
 * state, never allocates and performs no I/O, so every function in it is async-signal-safe
 * and may run inside a SIGPROF handler. Every byte of target memory it looks at arrives
 * through a reader (reader.h).
 */
#ifndef SPW_H
#define SPW_H

#include <stddef.h>
#include <stdint.h>

/* Small helpers on the walker's path are forced inline: the compiler's inliner gives up on
 * them once a caller instantiates the walker several times, and a call per load costs more
 * than the load. */
#if defined(__GNUC__) || defined(__clang__)
#define SPW_ALWAYS_INLINE static inline __attribute__((always_inline))
#define SPW_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SPW_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define SPW_UNLIKELY(x) (x)
#define SPW_LIKELY(x) (x)
#define SPW_ALWAYS_INLINE static inline
#endif
/* Rarer than SPW_UNLIKELY says (which compilers take as 1 in 10): the exits of a loop that
 * should run for hundreds of rounds, so the compiler gives that loop the registers. */
#if defined(__has_builtin)
#if __has_builtin(__builtin_expect_with_probability)
#define SPW_RARELY(x) __builtin_expect_with_probability(!!(x), 0, 0.999)
#endif
#endif
#ifndef SPW_RARELY
#define SPW_RARELY(x) SPW_UNLIKELY(x)
#endif

/* Architecture of the process whose memory is being read. The numeric values are part of
 * the snapshot format (docs/snapshot-format.md); never renumber them. */
typedef enum spw_arch {
    SPW_ARCH_UNKNOWN = 0,
    SPW_ARCH_X86_64 = 1,  /* user addresses below 2^47 */
    SPW_ARCH_AARCH64 = 2, /* user addresses below 2^48 */
} spw_arch;

/* The architecture this code was compiled for (what a live or remote reader sees). */
#if defined(__x86_64__)
#define SPW_ARCH_HOST SPW_ARCH_X86_64
#elif defined(__aarch64__)
#define SPW_ARCH_HOST SPW_ARCH_AARCH64
#else
#define SPW_ARCH_HOST SPW_ARCH_UNKNOWN
#endif

/* Lowest address any reader may be asked for: the null page and its neighbourhood are never
 * mapped by Linux (vm.mmap_min_addr is at least 4096). */
#define SPW_ADDR_MIN 0x1000u

/* One past the highest user-space address of an architecture, or 0 if unknown. */
SPW_ALWAYS_INLINE uint64_t spw_arch_user_limit(spw_arch arch)
{
    switch (arch) {
    case SPW_ARCH_X86_64: return (uint64_t)1 << 47;
    case SPW_ARCH_AARCH64: return (uint64_t)1 << 48;
    default: return 0;
    }
}

/* True when [addr, addr+len) is a plausible user-space range of `arch`: above the null
 * page, aligned to `align` (a power of two), and wholly below the architecture's user
 * limit. This is the check every pointer passes before the core reads through it. */
SPW_ALWAYS_INLINE int spw_addr_ok(spw_arch arch, uint64_t addr, uint64_t len, uint64_t align)
{
    uint64_t limit = spw_arch_user_limit(arch);
#ifdef SPW_PLANT_NO_ALIGN_CHECK /* fuzz self-test only: a planted bug the fuzzers must find */
    align = 1;
#endif
    return addr >= SPW_ADDR_MIN && (addr & (align - 1)) == 0 && len <= limit &&
           addr <= limit - len;
}

/* spw_addr_ok(arch, addr, len, 8), split in two so that a loop testing many addresses of
 * one length computes the bound once: bound = spw_span_bound(arch, len), then
 * spw_span_ok(addr, bound) is a subtraction, a rotate and a compare. Rotating
 * addr - SPW_ADDR_MIN right by 3 moves the alignment bits to the top, where any of them
 * makes the value larger than every bound; an address below the minimum wraps around and
 * is larger still. tests/unit/test_walk.c checks the two forms agree. */
SPW_ALWAYS_INLINE uint64_t spw_span_bound(spw_arch arch, uint64_t len)
{
    uint64_t limit = spw_arch_user_limit(arch);
    if (len > limit || limit - len < SPW_ADDR_MIN) return 0; /* no address fits */
    return ((limit - len - SPW_ADDR_MIN) >> 3) + 1;
}

/* The rotated value spw_span_ok() compares. Between aligned addresses it keeps their order,
 * so key(a) < key(b) with b valid says both that a is valid and that a is below b. */
SPW_ALWAYS_INLINE uint64_t spw_span_key(uint64_t addr)
{
    uint64_t x = addr - SPW_ADDR_MIN;
#ifdef SPW_PLANT_NO_ALIGN_CHECK
    x &= ~(uint64_t)7;
#endif
    return (x >> 3) | (x << 61);
}

SPW_ALWAYS_INLINE int spw_span_ok(uint64_t addr, uint64_t bound)
{
    return spw_span_key(addr) < bound;
}

/* Name of an architecture ("x86_64", "aarch64", "unknown"). */
const char *spw_arch_name(spw_arch arch);

#endif /* SPW_H */
