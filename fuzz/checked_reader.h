/*
 * checked_reader.h — a reader that watches the core while serving it.
 *
 * Every fuzz target hands the core this reader instead of the plain image or synthetic
 * reader it wraps. It enforces, on every single read, the promises of reader.h and of the
 * design ("Fuzzing: what 'never faults' means"):
 *   - the core only asks for addresses it validated: above the null page, wholly inside the
 *     architecture's user space, and, when the caller asks for it, naturally aligned: a
 *     read of width w lands on a multiple of min(w, align) (rounded down to a power of two),
 *     which is what reading fields of validated, aligned objects gives;
 *   - no read is longer than SPW_READ_MAX;
 *   - the number of reads per operation is bounded (a walk that never ends shows up here
 *     as a hard failure, long before a fuzzer's timeout);
 * and aborts with a message the moment one is broken. The validity check is written here
 * independently of spw_addr_ok(): the oracle must not share code with what it checks (the
 * planted-bug builds of `make fuzz-selftest` weaken spw_addr_ok itself).
 *
 * It can also pretend the image ends early (serve_end): reads reaching past that address
 * fail, which is how targets model an object cut off by the end of a mapping.
 */
#ifndef SPW_FUZZ_CHECKED_READER_H
#define SPW_FUZZ_CHECKED_READER_H

#include <stddef.h>
#include <stdint.h>

#include "reader.h"

/* The most reads one walk may issue: the bound walk.h promises (one for the thread state,
 * a few per frame followed, a few more per frame emitted). A walk that needs more is
 * unbounded work in disguise. */
#include "walk.h"
#define FZ_WALK_READS_MAX SPW_WALK_READS_MAX

typedef struct fz_checked {
    spw_reader inner;   /* the reader actually serving the bytes */
    spw_arch arch;
    uint64_t align;     /* natural alignment up to this (a power of two; 1 = none) */
    uint64_t serve_end; /* reads reaching past this address fail; 0 = no cut */
    uint32_t n_reads;   /* reads asked for since the last reset */
    uint32_t max_reads; /* more than this many since the last reset aborts */
    const char *what;   /* what is being checked, for messages ("walk", "symbolize") */
} fz_checked;

void fz_checked_init(fz_checked *c, const spw_reader *inner, spw_arch arch, uint64_t align,
                     uint32_t max_reads, const char *what);
/* Start counting a new operation (a walk, a symbolization). */
void fz_checked_reset(fz_checked *c, uint32_t max_reads, const char *what);
/* The spw_read_fn; ctx is an fz_checked. */
int fz_checked_read(void *ctx, uint64_t addr, void *dst, size_t len);
/* A reader that goes through the checks. */
spw_reader fz_checked_reader(fz_checked *c);

/* The independent validity rule (see above). */
int fz_addr_plausible(spw_arch arch, uint64_t addr, uint64_t len, uint64_t align);

/* Marks the checking side of a target (functions named oracle_*). Kept out of line so that
 * fuzz/nocov.txt can exclude them from coverage instrumentation: their branches say
 * nothing about the code under test, and comparison tracing in their loops would cost
 * more than the walk itself. They stay under ASan and UBSan. */
#if defined(__GNUC__) || defined(__clang__)
#define FZ_ORACLE __attribute__((noinline))
#else
#define FZ_ORACLE
#endif

/* Report a broken invariant and abort(): this is what every engine records as a finding. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noreturn, format(printf, 3, 4)))
#endif
void fz_fail(const char *file, int line, const char *fmt, ...);

#define FZ_CHECK(cond, ...)                                                                   \
    do {                                                                                      \
        if (!(cond)) fz_fail(__FILE__, __LINE__, "check failed: " #cond " -- " __VA_ARGS__); \
    } while (0)

/* Debug trace for replays: set SPW_FUZZ_VERBOSE=1 to see what a target built and got. */
int fz_verbose(void);
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 1, 2)))
#endif
void fz_log(const char *fmt, ...);

#endif /* SPW_FUZZ_CHECKED_READER_H */
