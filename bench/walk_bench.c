/*
 * walk_bench.c — what validation costs: the walker against a raw pointer chase.
 *
 * Synthetic 3.13t images are built in memory mapped at the very addresses they describe,
 * so every reader here is a plain load of the target address, exactly as in the live
 * signal handler. Four ways to get the (code, lasti) pairs of stacks of depth D are timed
 * side by side, interleaved, keeping the fastest of many rounds (this machine is shared and
 * noisy: interference only ever adds time, and only ratios measured in one run mean
 * anything):
 *   raw      spw_chase_known(): spw_chase_unchecked() on the build's known shape: no checks at all, every
 *            offset a constant — the fastest honest yardstick;
 *   known    spw_walk_known(): the walker instantiated on the known shape (the live
 *            handler's way for the builds spprof knows);
 *   runtime  spw_walk_body(): the same walker with offsets read from the layout at run
 *            time (the live handler's way for a build whose shape it does not know);
 *   generic  spw_walk() through the spw_reader function pointer (replay, fuzzing).
 * Two settings: "hot" walks one stack again and again (everything in L1: pure instruction
 * cost); "cold" walks 2000 stacks built interleaved, round robin, so frames and code objects
 * come from beyond the caches, as for a profiler whose signal lands on a deep stack. Each
 * with two stack shapes: every frame running its own code object (the walker judges each),
 * and one code object in every frame, as in recursion (judged once per run of frames).
 * Prints ns per frame and the ratios to raw.
 *
 * Then a deep stack (`walk_bench deep` prints only this): a 20,000-frame recursion with the
 * live handler's depth limit of 256, walked with max_follow 0 (every frame followed and
 * checked to SPW_WALK_BUDGET, the walk as it was) and 1024 (what the handler passes: 4 x
 * its limit), side by side, in ns per walk: hot (one stack again and again); cold (64 stacks
 * round robin, each laid out as CPython's data stack lays out a recursion, frame after
 * frame: beyond L2, but sequential); scattered (the same 64 built interleaved, frame i of
 * every stack before frame i + 1 of any: every frame a cache and TLB miss, the worst case).
 *
 * `walk_bench count DEPTH FOLLOW` walks one DEPTH-frame recursion once (limit 256), for
 * callgrind: the instructions of walk_known() for two depths past the limit, divided by
 * their difference, are the cost of a frame that is followed and not emitted:
 *   valgrind --tool=callgrind --toggle-collect=walk_known build/gcc/bench/walk_bench count 3000 16384
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "synth.h"
#include "chase.h"

#define BASE 0x7f0000000000ull
#define ARENA (256u << 20)
#define NSTACK_COLD 2000
#define FLAVOR SPW_FLAVOR_313T

static spw_synth S;

/* The live reader's twin: the image lives at the addresses it describes. */
static inline int direct_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    (void)ctx;
    memcpy(dst, (const void *)(uintptr_t)addr, len);
    return 0;
}

/* Out of line, so each is one instance whatever the compiler does with the timing loops. */
__attribute__((noinline)) static uint32_t walk_raw(uint64_t tstate, spw_frame *out, uint32_t max)
{
    return spw_chase_known(FLAVOR, &S.layout, direct_read, NULL, tstate, out, max);
}

__attribute__((noinline)) static spw_status walk_known(const spw_walk_args *a, spw_walk_result *r)
{
    return spw_walk_known(FLAVOR, SPW_ARCH_HOST, a, direct_read, NULL, r);
}

__attribute__((noinline)) static spw_status walk_runtime(const spw_walk_args *a,
                                                         spw_walk_result *r)
{
    return spw_walk_body(a, direct_read, NULL, r);
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
 * any, so consecutive frames of one stack lie far apart. Each frame runs its own code
 * object, or (`shared`) every frame of a stack runs the same one, as in recursion. */
static int build(uint8_t *mem, uint32_t depth, int n, int shared, uint64_t *tstates)
{
    if (spw_synth_init(&S, FLAVOR, SPW_ARCH_HOST, BASE, mem, ARENA) != 0) return -1;
    static uint64_t top[NSTACK_COLD], code[NSTACK_COLD];
    memset(top, 0, sizeof top);
    spw_synth_code_spec spec = { .qualname = "f", .filename = "b.py", .firstlineno = 1,
                                 .n_units = 16 };
    for (int k = 0; k < n; k++) code[k] = spw_synth_code(&S, &spec);
    for (uint32_t i = 0; i < depth; i++)
        for (int k = 0; k < n; k++) {
            uint64_t c = shared ? code[k] : spw_synth_code(&S, &spec);
            top[k] = spw_synth_frame(&S, c, i % 16, 0, top[k], 0);
        }
    for (int k = 0; k < n; k++) tstates[k] = spw_synth_tstate(&S, top[k], 1, 1);
    return S.oom ? -1 : 0;
}

enum { RAW, KNOWN, RUNTIME, GENERIC, N_WAYS };

static int run(uint8_t *mem, const char *setting, int n_stacks, int shared, int rounds)
{
    static const uint32_t depths[] = { 10, 50, 200 };
    static uint64_t ts[NSTACK_COLD];
    printf("%s\n%-6s %9s %9s %9s %9s %11s %11s %11s\n", setting, "depth", "raw", "known",
           "runtime", "generic", "known/raw", "runtime/raw", "generic/raw");
    for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
        uint32_t depth = depths[d];
        if (build(mem, depth, n_stacks, shared, ts) != 0) return 1;
        spw_frame out[256], ref[256];
        spw_walk_args a = { &S.layout, S.code_type, ts[0], out, 256, 0 };
        spw_reader rd = { spw_synth_read, &S };
        spw_walk_result r;
        /* All four must agree before their speed means anything. */
        uint32_t n = walk_raw(ts[0], ref, 256);
        int agree = n == depth;
        agree &= walk_known(&a, &r) == SPW_WALK_OK && r.n_frames == n && same(out, ref, n);
        agree &= walk_runtime(&a, &r) == SPW_WALK_OK && r.n_frames == n && same(out, ref, n);
        agree &= spw_walk(&a, &rd, &r) == SPW_WALK_OK && r.n_frames == n && same(out, ref, n);
        if (!agree) {
            fprintf(stderr, "walk_bench: the walkers disagree at depth %u\n", depth);
            return 1;
        }
        /* Hot: one stack, many times. Cold: every stack once per round. */
        const int reps = n_stacks > 1 ? n_stacks : 200000 / (int)depth;
        double t[N_WAYS][64];
        volatile uint32_t sink = 0;
        for (int round = 0; round < rounds; round++) {
            for (int way = 0; way < N_WAYS; way++) {
                double t0 = now_ns();
                for (int k = 0; k < reps; k++) {
                    a.tstate = ts[k % n_stacks];
                    switch (way) {
                    case RAW: sink += walk_raw(a.tstate, ref, 256); break;
                    case KNOWN: walk_known(&a, &r); break;
                    case RUNTIME: walk_runtime(&a, &r); break;
                    default: spw_walk(&a, &rd, &r); break;
                    }
                    sink += r.n_frames;
                }
                t[way][round] = (now_ns() - t0) / reps / depth;
            }
        }
        for (int i = 0; i < N_WAYS; i++) qsort(t[i], (size_t)rounds, sizeof(double), cmp_double);
        printf("%-6u %9.2f %9.2f %9.2f %9.2f %11.2f %11.2f %11.2f\n", depth, t[RAW][0],
               t[KNOWN][0], t[RUNTIME][0], t[GENERIC][0], t[KNOWN][0] / t[RAW][0],
               t[RUNTIME][0] / t[RAW][0], t[GENERIC][0] / t[RAW][0]);
    }
    return 0;
}

/* ---- deep stacks: max_follow ----------------------------------------------------------- */

#define DEEP 20000u
#define DEEP_LIMIT 256u
#define DEEP_FOLLOW 1024u
#define DEEP_COLD 64

/* `n` recursions of `depth` frames (one code object each): each stack's frames adjacent, or
 * (`scatter`) frame i of every stack allocated before frame i + 1 of any. */
static int build_deep(uint8_t *mem, uint32_t depth, int n, int scatter, uint64_t *tstates)
{
    if (spw_synth_init(&S, FLAVOR, SPW_ARCH_HOST, BASE, mem, ARENA) != 0) return -1;
    static uint64_t top[DEEP_COLD], code[DEEP_COLD];
    spw_synth_code_spec spec = { .qualname = "f", .filename = "b.py", .firstlineno = 1,
                                 .n_units = 16 };
    for (int k = 0; k < n; k++) {
        code[k] = spw_synth_code(&S, &spec);
        top[k] = 0;
    }
    if (scatter) {
        for (uint32_t i = 0; i < depth; i++)
            for (int k = 0; k < n; k++)
                top[k] = spw_synth_frame(&S, code[k], i % 16, 0, top[k], 0);
    } else {
        for (int k = 0; k < n; k++)
            for (uint32_t i = 0; i < depth; i++)
                top[k] = spw_synth_frame(&S, code[k], i % 16, 0, top[k], 0);
    }
    for (int k = 0; k < n; k++) tstates[k] = spw_synth_tstate(&S, top[k], 1, 1);
    return S.oom ? -1 : 0;
}

static int run_deep(uint8_t *mem)
{
    static uint64_t ts[DEEP_COLD];
    static const uint32_t follows[2] = { 0, DEEP_FOLLOW };
    printf("deep stack: %u frames of recursion (%s), depth limit %u; ns per walk, fastest round\n",
           DEEP, spw_flavor_name(FLAVOR), DEEP_LIMIT);
    printf("%-9s %-8s %14s %14s %8s %18s\n", "", "walker", "max_follow 0", "max_follow 1024",
           "0/1024", "frames followed");
    static const struct { const char *name; int n_stacks, scatter, reps, rounds; } settings[] = {
        { "hot", 1, 0, 40, 31 },
        { "cold", DEEP_COLD, 0, DEEP_COLD, 9 },
        { "scattered", DEEP_COLD, 1, DEEP_COLD, 5 },
    };
    for (size_t si = 0; si < sizeof settings / sizeof settings[0]; si++) {
        const int n_stacks = settings[si].n_stacks;
        if (build_deep(mem, DEEP, n_stacks, settings[si].scatter, ts) != 0) return 1;
        spw_frame out[DEEP_LIMIT];
        spw_walk_args a = { .layout = &S.layout, .code_type = S.code_type, .tstate = ts[0],
                            .frames = out, .max_frames = DEEP_LIMIT };
        spw_reader rd = { spw_synth_read, &S };
        for (int way = KNOWN; way <= GENERIC; way += GENERIC - KNOWN) {
            double t[2][64];
            uint32_t visited[2] = { 0, 0 };
            for (int round = 0; round < settings[si].rounds; round++)
                for (int f = 0; f < 2; f++) {
                    a.max_follow = follows[f];
                    spw_walk_result r;
                    double t0 = now_ns();
                    for (int k = 0; k < settings[si].reps; k++) {
                        a.tstate = ts[k % n_stacks];
                        if (way == KNOWN) walk_known(&a, &r);
                        else spw_walk(&a, &rd, &r);
                        if (r.status != SPW_WALK_TRUNCATED || r.n_frames != DEEP_LIMIT) {
                            fprintf(stderr, "walk_bench: deep walk gave %s/%s, %u frames\n",
                                    spw_status_name(r.status), spw_reason_name(r.reason),
                                    r.n_frames);
                            return 1;
                        }
                    }
                    t[f][round] = (now_ns() - t0) / settings[si].reps;
                    visited[f] = r.n_visited;
                }
            for (int f = 0; f < 2; f++)
                qsort(t[f], (size_t)settings[si].rounds, sizeof(double), cmp_double);
            printf("%-9s %-8s %14.0f %14.0f %7.1fx %10u / %u\n", settings[si].name,
                   way == KNOWN ? "known" : "generic", t[0][0], t[1][0], t[0][0] / t[1][0],
                   visited[0], visited[1]);
        }
    }
    return 0;
}

/* One walk for callgrind (see the top of the file). */
static int run_count(uint8_t *mem, uint32_t depth, uint32_t follow)
{
    uint64_t ts;
    if (build_deep(mem, depth, 1, 0, &ts) != 0) return 1;
    spw_frame out[DEEP_LIMIT];
    spw_walk_args a = { .layout = &S.layout, .code_type = S.code_type, .tstate = ts,
                        .frames = out, .max_frames = DEEP_LIMIT, .max_follow = follow };
    spw_walk_result r;
    walk_known(&a, &r);
    printf("%u frames, limit %u, max_follow %u: %s, %u emitted, %u followed\n", depth,
           DEEP_LIMIT, follow, spw_status_name(r.status), r.n_frames, r.n_visited);
    return 0;
}

int main(int argc, char **argv)
{
    /* The images describe memory at BASE; put them there. */
    uint8_t *mem = mmap((void *)(uintptr_t)BASE, ARENA, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (mem != (void *)(uintptr_t)BASE) {
        fprintf(stderr, "walk_bench: cannot map the image at %#llx\n", BASE);
        return 1;
    }
    if (argc == 4 && strcmp(argv[1], "count") == 0)
        return run_count(mem, (uint32_t)strtoul(argv[2], NULL, 10),
                         (uint32_t)strtoul(argv[3], NULL, 10));
    if (argc == 2 && strcmp(argv[1], "deep") == 0) return run_deep(mem);
    if (argc != 1) {
        fprintf(stderr, "usage: walk_bench [deep | count DEPTH FOLLOW]\n");
        return 2;
    }
    printf("ns per frame (fastest round), %s images\n", spw_flavor_name(FLAVOR));
    static const struct {
        const char *setting;
        int n_stacks, shared, rounds;
    } settings[] = {
        { "hot: one stack, in cache; a code object per frame", 1, 0, 61 },
        { "hot: one stack, in cache; one code object in every frame (recursion)", 1, 1, 61 },
        { "cold: 2000 stacks round robin, beyond the caches; a code object per frame",
          NSTACK_COLD, 0, 15 },
        { "cold: 2000 stacks round robin; one code object per stack (recursion)", NSTACK_COLD,
          1, 15 },
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (run(mem, settings[i].setting, settings[i].n_stacks, settings[i].shared,
                settings[i].rounds) != 0)
            return 1;
    printf("\n");
    return run_deep(mem);
}
