/*
 * walk_gen.h — the walk fuzzer's recipe made real (fuzz_walk.c builds it) and what the
 * oracle judges the walk against (walk_oracle.c): the code objects, the frames in chain
 * order and in address order, and the image as generated before any corruption.
 */
#ifndef FZ_WALK_GEN_H
#define FZ_WALK_GEN_H

#include <stdint.h>

#include "checked_reader.h"
#include "provider.h"
#include "synth.h"

#define MAX_CODES 8u
#define MAX_FRAMES (SPW_WALK_BUDGET + 64u) /* a little past the budget, to reach it */

typedef struct gen_code {
    uint64_t addr;
    uint32_t n_units;
    uint32_t n_copies; /* 3.14t thread-local bytecode copies, 0 = no co_tlbc array */
    uint64_t tlbc;     /* the _PyCodeArray, or 0 */
} gen_code;

typedef struct gen_frame {
    uint8_t code;     /* index into codes[], or 0xff for a NULL executable */
    uint8_t owner;
    uint32_t lasti;
    int32_t tlbc_index;
} gen_frame;

typedef struct gen {
    spw_synth s;
    fz_provider fp;
    gen_code codes[MAX_CODES];
    uint32_t n_codes, n_frames;
    uint64_t tstate;
    uint64_t strs[2];        /* some str objects, as wrong-type targets */
    /* What the walk is called with; the oracle only speaks when these are as generated. */
    uint64_t walk_tstate, walk_code_type, serve_end;
    uint32_t limit;
    uint32_t follow;         /* spw_walk_args.max_follow */
    int poked;               /* raw pokes happened: a forged code object is possible */
    int verbose;             /* SPW_FUZZ_VERBOSE: narrate the recipe */
    /* What was generated, for the oracle: */
    const uint8_t *pristine;        /* the image before any corruption */
    uint64_t frames[MAX_FRAMES];    /* by position in the chain, innermost first */
    uint32_t by_address[MAX_FRAMES];/* chain positions, lowest address first */
    gen_frame gframes[MAX_FRAMES];
} gen;

/* I1-I4 over a walk's result (fuzz_walk.c's header lists them). */
void oracle_result(const gen *g, const fz_checked *ck, const spw_walk_result *r,
                   const spw_frame *out, uint32_t max);
/* I6: when the chain the walk follows is as generated, the exact answer. */
void oracle_stack(const gen *g, const spw_walk_result *r, const spw_frame *out, uint32_t max);

#endif /* FZ_WALK_GEN_H */
