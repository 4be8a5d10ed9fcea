/*
 * fixture.h — shared set-up for unit tests: a synthetic image in a heap arena, and a
 * reader over it that counts what it was asked.
 */
#ifndef SPW_TEST_FIXTURE_H
#define SPW_TEST_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "synth.h"
#include "walk.h"

/* Target address of the arena: an ordinary-looking heap address. */
#define FIX_BASE 0x7f1200000000ull
#define FIX_ARENA (8u << 20)

typedef struct fixture {
    spw_synth s;
    uint8_t *arena;
    spw_reader reader;  /* reads the image, counting into n_reads */
    uint32_t n_reads;   /* reads made by the last fix_walk() */
} fixture;

/* A fresh image of `flavor` (x86_64 unless arch given); fails the test if it cannot. */
fixture *fix_new(spw_flavor flavor);
fixture *fix_new_arch(spw_flavor flavor, spw_arch arch);
/* ... with an arena of `cap` bytes instead of FIX_ARENA (long lists of interpreters). */
fixture *fix_new_cap(spw_flavor flavor, spw_arch arch, size_t cap);
void fix_free(fixture *f);

/* A code object "fn<i>" in "mod.py" with `units` code units, lines firstline+unit. */
uint64_t fix_code(fixture *f, const char *name, uint32_t units);

/* Walk `tstate` with depth limit `max` into frames[]; f->n_reads says how many reads. */
spw_status fix_walk(fixture *f, uint64_t tstate, spw_frame *frames, uint32_t max,
                    spw_walk_result *res);
/* ... and with spw_walk_args.max_follow (fix_walk passes 0). */
spw_status fix_walk_follow(fixture *f, uint64_t tstate, spw_frame *frames, uint32_t max,
                           uint32_t max_follow, spw_walk_result *res);

/* A reader over the image that fails once `budget` reads were made, to reach every
 * unreadable exit of a walk: {&f->s, budget, 0} and fix_failing_read. */
typedef struct fix_failing {
    spw_synth *s;
    uint32_t budget, n_reads;
} fix_failing;
int fix_failing_read(void *ctx, uint64_t addr, void *dst, size_t len);

/* Store `width` bytes of v at a target address of the image / load 8 bytes from one;
 * either fails the test if the address is outside the image. */
void fix_poke(fixture *f, uint64_t addr, uint64_t v, unsigned width);
uint64_t fix_peek64(const fixture *f, uint64_t addr);

/* Every flavour, for tests that loop over them. */
extern const spw_flavor fix_flavors[SPW_FLAVOR_COUNT_];

#endif
