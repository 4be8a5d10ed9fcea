/*
 * walk_bench.c — what validation costs: the walker against a raw pointer chase.
 *
 * Over synthetic 3.13t images held in this process's memory, three ways to get the
 * (code, lasti) pairs of stacks of depth D are timed side by side, interleaved, keeping the
 * fastest of many rounds (this machine is shared and noisy: interference only ever adds
 * time, and only ratios measured in one run mean anything):
 *   raw      spw_chase_unchecked(): the same walk with no checks at all;
 *   inline   spw_walk_body() specialised on an inline plain-load read (the live handler's way);
 *   generic  spw_walk() through the spw_reader function pointer (replay, fuzzing).
 * Two settings: "hot" walks one stack again and again (everything in L1: pure instruction
 * cost); "cold" walks 2000 stacks built interleaved, round robin, so frames and code objects
 * come from beyond the caches, as for a profiler whose signal lands on a deep stack.
 * Prints ns per frame and the ratios to raw.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "synth.h"
#include "walk_body.h"

#define BASE 0x7f0000000000ull
#define ARENA (256u << 20)
#define NSTACK_COLD 2000

static uint8_t arena[ARENA];
static spw_synth S;

/* The inline reader models the live one: a plain load of the target address (here shifted
 * into the arena). The live reader has no bounds check either; an address that faults is
 * the fault guard's business, and the walker validated it first. */
static inline int arena_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    (void)ctx;
    memcpy(dst, arena + (addr - BASE), len);
    return 0;
}

static spw_status walk_inline(const spw_walk_args *a, spw_walk_result *r)
{
    return spw_walk_body(a, arena_read, NULL, r);
}

/* No validation whatsoever: the yardstick from walk_body.h, on the same inline reader. */
static uint32_t walk_raw(uint64_t tstate, spw_frame *out, uint32_t max)
{
    return spw_chase_unchecked(&S.layout, arena_read, NULL, tstate, out, max);
}

static int same(const spw_frame *a, const spw_frame *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (a[i].code != b[i].code || a[i].lasti != b[i].lasti) return 0;
    return 1;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Build `n` stacks of `depth` frames, frame i of every stack allocated before frame i+1 of
 * any, so consecutive frames of one stack lie far apart. */
static int build(uint32_t depth, int n, uint64_t *tstates)
{
    spw_arch arch = SPW_ARCH_HOST == SPW_ARCH_UNKNOWN ? SPW_ARCH_X86_64 : SPW_ARCH_HOST;
    if (spw_synth_init(&S, SPW_FLAVOR_313T, arch, BASE, arena, ARENA) != 0) return -1;
    static uint64_t top[NSTACK_COLD];
    memset(top, 0, sizeof top);
    for (uint32_t i = 0; i < depth; i++)
        for (int k = 0; k < n; k++) {
            spw_synth_code_spec spec = { .qualname = "f", .filename = "b.py", .firstlineno = 1,
                                         .n_units = 16 };
            top[k] = spw_synth_frame(&S, spw_synth_code(&S, &spec), i % 16, 0, top[k], 0);
        }
    for (int k = 0; k < n; k++) tstates[k] = spw_synth_tstate(&S, top[k], 1, 1);
    return S.oom ? -1 : 0;
}

static int run(const char *setting, int n_stacks, int rounds)
{
    static const uint32_t depths[] = { 10, 50, 200 };
    static uint64_t ts[NSTACK_COLD];
    printf("%s\n%-6s %12s %13s %13s %10s %11s\n", setting, "depth", "raw ns/fr",
           "inline ns/fr", "generic ns/fr", "inline/raw", "generic/raw");
    for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
        uint32_t depth = depths[d];
        if (build(depth, n_stacks, ts) != 0) return 1;
        spw_frame out[256], ref[256];
        spw_walk_args a = { &S.layout, S.code_type, ts[0], out, 256 };
        spw_reader rd = { spw_synth_read, &S };
        spw_walk_result r;
        /* All three must agree before their speed means anything. */
        uint32_t n = walk_raw(ts[0], ref, 256);
        if (walk_inline(&a, &r) != SPW_WALK_OK || r.n_frames != n || !same(out, ref, n) ||
            spw_walk(&a, &rd, &r) != SPW_WALK_OK || !same(out, ref, n)) {
            fprintf(stderr, "walkers disagree at depth %u\n", depth);
            return 1;
        }
        /* Hot: one stack, many times. Cold: every stack once per round. */
        const int reps = n_stacks > 1 ? n_stacks : 200000 / (int)depth;
        double t[3][64];
        volatile uint32_t sink = 0;
        for (int round = 0; round < rounds; round++) {
            double t0 = now_ns();
            for (int k = 0; k < reps; k++) sink += walk_raw(ts[k % n_stacks], ref, 256);
            double t1 = now_ns();
            for (int k = 0; k < reps; k++) {
                a.tstate = ts[k % n_stacks];
                walk_inline(&a, &r);
                sink += r.n_frames;
            }
            double t2 = now_ns();
            for (int k = 0; k < reps; k++) {
                a.tstate = ts[k % n_stacks];
                spw_walk(&a, &rd, &r);
                sink += r.n_frames;
            }
            double t3 = now_ns();
            t[0][round] = (t1 - t0) / reps / depth;
            t[1][round] = (t2 - t1) / reps / depth;
            t[2][round] = (t3 - t2) / reps / depth;
        }
        for (int i = 0; i < 3; i++) qsort(t[i], (size_t)rounds, sizeof(double), cmp_double);
        double raw = t[0][0], inl = t[1][0], gen = t[2][0];
        printf("%-6u %12.2f %13.2f %13.2f %10.2f %11.2f\n", depth, raw, inl, gen, inl / raw,
               gen / raw);
    }
    return 0;
}

int main(void)
{
    if (run("hot: one stack, in cache", 1, 61) != 0) return 1;
    return run("cold: 2000 stacks round robin, beyond the caches", NSTACK_COLD, 15);
}
