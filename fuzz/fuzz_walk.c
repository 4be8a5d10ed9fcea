/*
 * fuzz_walk.c — structure-aware fuzzing of the frame walker.
 *
 * The input is not memory: it is a recipe. It picks an interpreter flavour, an
 * architecture and where the image lives, builds a well-formed thread state, frame chain
 * and code objects with spw_synth (the same builder the unit tests use), then applies a
 * list of corruptions — cycles, relinks, bad pointers of every kind, wrong object types,
 * tagged executables, impostor code objects, bogus owners, instruction pointers outside
 * the code, bad thread-local bytecode, raw byte pokes and a cut-off image — and walks, with
 * a follow bound (spw_walk_args.max_follow) from the input's last bytes: 0, the walk as it
 * was, for an input that ends before them (every seed from before the bound existed).
 *
 * Invariants (each violation aborts; see the design's "Fuzzing" section):
 *   I1 exactly one status; a reason iff dropped;
 *   I2 at most min(limit, SPW_WALK_DEPTH_MAX) frames, at most SPW_WALK_BUDGET followed;
 *      `truncated` only at the depth limit or the budget (the follow bound only applies
 *      once a frame was left out by the depth limit);
 *   I3 reads: bounded, only at validated, naturally aligned addresses (every field the
 *      walker reads belongs to an object it validated as 8-aligned, and the real layouts
 *      place each field on a multiple of its width), and the walker's own count is exact;
 *   I4 every emitted frame's code has ob_type == PyCode_Type in the image, a sane size,
 *      and lasti < its size; unless raw pokes could have forged one, it is one of the code
 *      objects the generator made;
 *   I5 the walk is a pure function of the image: a second walk, by the walker instantiated
 *      on the build's shape (the live handler's), gives identical results;
 *   I6 oracle: following the chain in the image from the thread state, if every frame on
 *      the way is exactly as generated (only `previous` may differ; with a follow bound,
 *      only up to the first Python frame the depth limit leaves out, at position p: after
 *      it the walker reads nothing but `previous`, so any generated frame will do) then,
 *      with B = the budget, or min(budget, max(F, 3p)) under a follow bound F (walk.h):
 *        - a chain that ends: the walk returns exactly the expected frames (codes and
 *          lastis, skipping owner >= 3 and NULL-executable frames), `ok` or `truncated`
 *          per the depth limit and B, and follows exactly min(length, B) frames
 *          (differential oracle);
 *        - a chain that loops (a tail of T distinct frames, a loop of L): if Brent's check
 *          meets it within B frames (step 2^j + L - 1, 2^j the first power of two >=
 *          max(T + 1, L): always when T + L <= B / 3), `dropped`/`cycle` by that step;
 *          otherwise `cycle` or `truncated` after exactly B frames, never ok. When
 *          truncated, the frames are exactly those met along the loop and, when the last
 *          of them is among the first budget / 3 followed, none of them twice.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "checked_reader.h"
#include "image_place.h"
#include "provider.h"
#include "synth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARENA_CAP (4u << 20)
#define MAX_CODES 8u
#define MAX_FRAMES (SPW_WALK_BUDGET + 64u) /* a little past the budget, to reach it */
#define MAX_OPS 8u

/* Static: the arena is the target's whole address space, reused for every input. */
static uint8_t arena[ARENA_CAP] __attribute__((aligned(64)));
static uint8_t pristine[ARENA_CAP]; /* the arena as generated, before any corruption */
static uint64_t frames[MAX_FRAMES];     /* by position in the chain, innermost first */
static uint32_t by_address[MAX_FRAMES]; /* chain positions, lowest address first */
static uint32_t seen[MAX_FRAMES]; /* cycle finding in the oracle: stamp of the last visit */
static uint32_t seen_at[MAX_FRAMES]; /* ... and its position on the path */
static uint32_t path[MAX_FRAMES];    /* the oracle's path: frame index by position */
static uint32_t stamp;
static spw_frame out1[SPW_WALK_DEPTH_MAX], out2[SPW_WALK_DEPTH_MAX], expect[SPW_WALK_DEPTH_MAX];

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

static gen_frame gframes[MAX_FRAMES];

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
} gen;

/* ---- generation ---------------------------------------------------------------------- */

static uint64_t frame_at(const gen *g, uint32_t i) { return g->n_frames ? frames[i % g->n_frames] : 0; }

/* An address that some rule of the walker must refuse, or that the reader cannot serve,
 * or that points at the wrong thing. `near` is a real object to be off by a little from. */
static uint64_t bad_ptr(gen *g, uint64_t near)
{
    fz_provider *fp = &g->fp;
    const spw_synth *s = &g->s;
    static const fz_reach reach = { 16, 16, 32 };
    uint64_t a;
    if (fz_bad_address(fp, s, near, &reach, &a)) return a;
    const uint64_t objs[] = { s->none, s->other_type, s->code_type, g->tstate, g->strs[0],
                              g->strs[1], frame_at(g, fz_u16(fp)),
                              g->codes[fz_pick(fp, g->n_codes)].addr }; /* wrong objects */
    return objs[fz_pick(fp, sizeof objs / sizeof objs[0])];
}

static int generate(gen *g, const uint8_t *data, size_t size)
{
    fz_provider *fp = &g->fp;
    memset(g, 0, sizeof *g);
    fz_init(fp, data, size);

    spw_flavor flavor;
    spw_arch arch;
    if (fz_image_start(fp, &g->s, arena, ARENA_CAP, &flavor, &arch) != 0) return -1;
    spw_synth *s = &g->s;
    const spw_layout *L = &s->layout;

    /* Depth limit: mostly small, so that `truncated` is common; sometimes past the max. */
    uint8_t m = fz_u8(fp);
    g->limit = m < 192 ? m % 48 : (uint32_t)fz_range(fp, 0, SPW_WALK_DEPTH_MAX + 64);

    g->n_codes = 1 + fz_pick(fp, MAX_CODES);
    for (uint32_t k = 0; k < g->n_codes; k++) {
        gen_code *c = &g->codes[k];
        uint8_t u = fz_u8(fp);
        c->n_units = 1 + (u < 224 ? u % 96u : (uint32_t)fz_range(fp, 0, 8191));
        spw_synth_code_spec spec = { .qualname = "f", .filename = "m.py", .firstlineno = 1,
                                     .n_units = c->n_units };
        c->addr = spw_synth_code(s, &spec);
        if (!c->addr) return -1;
        if (L->has_tlbc) {
            c->n_copies = fz_pick(fp, 4); /* 0: no array at all (the common CPython case) */
            if (c->n_copies) c->tlbc = spw_synth_tlbc(s, c->addr, c->n_copies);
        }
    }
    uint32_t cps[3] = { 'x', 0xe9, 0x1f600 };
    g->strs[0] = spw_synth_str(s, "name");
    g->strs[1] = spw_synth_str_kind(s, cps, 3, 4, 0);

    /* The chain, innermost first. Mostly short; a long one tests Brent and the budget. The
     * same byte picks how addresses run along it (spw_synth_order): frames[i] is the i-th
     * frame of the chain, allocated in address order. */
    uint8_t n = fz_u8(fp);
    g->n_frames = n < 248 ? n % 40u : (uint32_t)fz_range(fp, 0, MAX_FRAMES);
    const spw_synth_order order = (spw_synth_order)((n < 248 ? n / 40u : n - 248u) % 3u);
    const uint32_t chunk = order == SPW_SYNTH_CHUNKED ? 1 + fz_pick(fp, 48) : 0;
    for (uint32_t a = 0; a < g->n_frames; a++) {
        const uint32_t i = spw_synth_chain_position(order, chunk, g->n_frames, a);
        by_address[a] = i;
        gen_frame *f = &gframes[i];
        uint8_t k = fz_u8(fp);
        unsigned kind = (k >> 4) & 15;
        f->code = (uint8_t)(k % g->n_codes);
        f->owner = (uint8_t)(kind % 3); /* 0-2: thread, generator, frame object */
        f->tlbc_index = 0;
        if (kind == 14) f->owner = (uint8_t)(L->owner_incomplete + fz_range(fp, 0, L->owner_max - L->owner_incomplete));
        if (kind == 15) f->code = 0xff;
        const gen_code *c = &g->codes[f->code == 0xff ? 0 : f->code];
        f->lasti = (uint32_t)fz_range(fp, 0, c->n_units - 1);
        if (c->n_copies > 1) f->tlbc_index = (int32_t)fz_range(fp, 0, c->n_copies - 1);
        frames[i] = spw_synth_frame(s, f->code == 0xff ? 0 : c->addr, f->lasti, f->owner, 0,
                                    f->tlbc_index);
        if (!frames[i]) return -1;
    }
    for (uint32_t i = 0; i + 1 < g->n_frames; i++)
        spw_synth_poke(s, frames[i] + L->frame_previous, frames[i + 1], 8);
    g->tstate = spw_synth_tstate(s, g->n_frames ? frames[0] : 0, 1, 2);
    if (s->oom || !g->tstate) return -1;
    g->walk_tstate = g->tstate;
    g->walk_code_type = s->code_type;
    g->verbose = fz_verbose();
    if (g->verbose) {
        fz_log("image: %s on %s at 0x%llx, limit %u, tstate 0x%llx, code_type 0x%llx\n",
               spw_flavor_name(flavor), spw_arch_name(arch),
               (unsigned long long)s->base, g->limit, (unsigned long long)g->tstate,
               (unsigned long long)s->code_type);
        for (uint32_t k = 0; k < g->n_codes; k++)
            fz_log("  code %u at 0x%llx: %u units, %u tlbc copies\n", k,
                   (unsigned long long)g->codes[k].addr, g->codes[k].n_units, g->codes[k].n_copies);
        for (uint32_t i = 0; i < g->n_frames && i < 64; i++)
            fz_log("  frame %u at 0x%llx: code %d owner %u lasti %u tlbc %d\n", i,
                   (unsigned long long)frames[i], gframes[i].code == 0xff ? -1 : gframes[i].code,
                   gframes[i].owner, gframes[i].lasti, gframes[i].tlbc_index);
    }
    return 0;
}

/* A copy of code k whose type is wrong but which otherwise looks exactly like a code
 * object (same size, same fields, bytecode in place): only the type check can refuse it.
 * Returns its address, or 0 when the arena is full. */
static uint64_t impostor(gen *g, uint32_t k, uint64_t type)
{
    spw_synth *s = &g->s;
    const spw_layout *L = &s->layout;
    size_t size = (size_t)L->co_code_adaptive + 2 * (size_t)g->codes[k].n_units;
    if (size < L->code_size) size = L->code_size;
    uint64_t imp = spw_synth_alloc(s, size, 16);
    uint8_t *dst = imp ? spw_synth_ptr(s, imp, size) : NULL;
    const uint8_t *src = spw_synth_ptr(s, g->codes[k].addr, size);
    if (!dst || !src) return 0;
    memcpy(dst, src, size);
    spw_synth_poke(s, imp + L->ob_type, type, 8);
    return imp;
}

static void corrupt(gen *g)
{
    fz_provider *fp = &g->fp;
    spw_synth *s = &g->s;
    const spw_layout *L = &s->layout;
    uint32_t n_ops = fz_pick(fp, MAX_OPS + 1);
    for (uint32_t op = 0; op < n_ops; op++) {
        unsigned what = fz_pick(fp, 14);
        uint32_t i = g->n_frames ? (uint32_t)fz_range(fp, 0, g->n_frames - 1) : 0;
        uint64_t f = frame_at(g, i);
        if (g->verbose) fz_log("  op %u: corruption %u at frame %u (0x%llx)\n", op, what, i, (unsigned long long)f);
        const gen_frame *gf = g->n_frames ? &gframes[i] : NULL;
        const gen_code *gc = gf && gf->code != 0xff ? &g->codes[gf->code] : &g->codes[0];
        switch (what) {
        case 0: /* a cycle: point `previous` back at an earlier frame, or at itself */
            if (f) spw_synth_poke(s, f + L->frame_previous, frames[fz_range(fp, 0, i)], 8);
            break;
        case 1: /* relink anywhere in the chain (skip ahead, loop back, end) */
            if (f) spw_synth_poke(s, f + L->frame_previous, frame_at(g, fz_u16(fp)), 8);
            break;
        case 2: /* a bad `previous` */
            if (f) spw_synth_poke(s, f + L->frame_previous, bad_ptr(g, f), 8);
            break;
        case 3: /* a bad executable: null, wrong type, misaligned, dangling ... */
            if (f) spw_synth_poke(s, f + L->frame_executable, bad_ptr(g, gc->addr), 8);
            break;
        case 4: /* a tagged executable: harmless on 3.14 (_PyStackRef), misaligned on 3.13 */
            if (f && gf->code != 0xff)
                spw_synth_poke(s, f + L->frame_executable, gc->addr | fz_range(fp, 0, 7), 8);
            break;
        case 5: { /* an impostor: a code object in all but its type */
            if (!f || gf->code != 0xff) {
                uint64_t type = fz_bool(fp) ? s->other_type : s->none;
                uint64_t imp = f ? impostor(g, gf->code, type) : 0;
                if (imp) {
                    spw_synth_poke(s, f + L->frame_executable, imp | (L->executable_tag_mask & 1), 8);
                    if (gf->tlbc_index == 0)
                        spw_synth_poke(s, f + L->frame_instr_ptr,
                                       imp + L->co_code_adaptive + 2 * (uint64_t)gf->lasti, 8);
                }
            }
            break;
        }
        case 6: /* a bogus owner */
            if (f) spw_synth_poke(s, f + L->frame_owner, fz_u8(fp), 1);
            break;
        case 7: { /* an instruction pointer outside (or at the edges of) the code */
            if (!f) break;
            uint64_t start = spw_synth_bytecode(s, gc->addr, gf->tlbc_index > 0 ? (uint32_t)gf->tlbc_index : 0);
            uint64_t v;
            switch (fz_pick(fp, 6)) {
            case 0: v = start + 2 * (uint64_t)gc->n_units; break;       /* one past the end */
            case 1: v = start - 2 * fz_range(fp, 1, 4); break;           /* before the start */
            case 2: v = start + 2 * (uint64_t)gf->lasti + 1; break;      /* odd */
            case 3: v = 0; break;
            case 4: v = spw_synth_bytecode(s, g->codes[fz_pick(fp, g->n_codes)].addr, 0); break;
            default: v = fz_u64(fp); break;
            }
            spw_synth_poke(s, f + L->frame_instr_ptr, v, 8);
            break;
        }
        case 8: /* a bad thread-local bytecode index (3.14t only: elsewhere no such field) */
            if (f && L->has_tlbc) {
                static const int32_t idx[] = { -1, INT32_MIN, 1, 2, 3, 4, 65536, INT32_MAX };
                int32_t v = fz_bool(fp) ? idx[fz_pick(fp, 8)] : (int32_t)fz_u32(fp);
                spw_synth_poke(s, f + L->frame_tlbc_index, (uint32_t)v, 4);
            }
            break;
        case 9: { /* a damaged code object: type, size, thread-local bytecode array */
            gen_code *c = &g->codes[fz_pick(fp, g->n_codes)];
            switch (fz_pick(fp, 6)) {
            case 0: spw_synth_poke(s, c->addr + L->ob_type, bad_ptr(g, s->code_type), 8); break;
            case 1: {
                static const uint64_t sizes[] = { 0, 1, SPW_CODE_UNITS_MAX, SPW_CODE_UNITS_MAX + 1,
                                                  UINT64_MAX, (uint64_t)INT64_MAX + 1 };
                spw_synth_poke(s, c->addr + L->ob_size, fz_bool(fp) ? sizes[fz_pick(fp, 6)]
                                                                     : c->n_units - fz_range(fp, 0, c->n_units), 8);
                break;
            }
            case 2: if (L->has_tlbc) spw_synth_poke(s, c->addr + L->co_tlbc, bad_ptr(g, c->tlbc ? c->tlbc : c->addr), 8); break;
            case 3: if (c->tlbc) spw_synth_poke(s, c->tlbc, fz_bool(fp) ? fz_range(fp, 0, 8) : fz_u64(fp), 8); break;
            case 4: if (c->tlbc) spw_synth_poke(s, c->tlbc + 8 * fz_range(fp, 1, c->n_copies), bad_ptr(g, c->addr), 8); break;
            default: if (L->has_tlbc && g->n_codes > 1) /* share another code's array */
                         spw_synth_poke(s, c->addr + L->co_tlbc, g->codes[fz_pick(fp, g->n_codes)].tlbc, 8);
                     break;
            }
            break;
        }
        case 10: /* the thread state's current_frame: bad, or a frame in the middle */
            spw_synth_poke(s, g->tstate + L->tstate_current_frame,
                           fz_bool(fp) ? frame_at(g, fz_u16(fp)) : bad_ptr(g, f ? f : g->tstate), 8);
            break;
        case 11: /* walk from a bad thread state, or with the wrong PyCode_Type */
            if (fz_bool(fp)) g->walk_tstate = bad_ptr(g, g->tstate);
            else g->walk_code_type = fz_bool(fp) ? s->other_type : bad_ptr(g, s->code_type);
            break;
        case 12: { /* a raw poke anywhere in the image */
            static const unsigned widths[] = { 1, 2, 4, 8 };
            uint64_t at = s->base + fz_range(fp, 0, s->used ? s->used - 1 : 0);
            unsigned w = widths[fz_pick(fp, 4)];
            if (spw_synth_poke(s, at, fz_u64(fp), w) == 0) g->poked = 1;
            break;
        }
        default: /* the image ends early, mid-object: reads past the cut fail */
            g->serve_end = s->base + fz_range(fp, 0, s->used);
            break;
        }
    }
}

/* The follow bound, from the input's last bytes: 0 (the walk as before the bound) when the
 * input ends first, else mostly small (the clamps at the depth limit and 3p) or near three
 * times the limit (the 3p edge), sometimes anything up to past the budget. */
static uint32_t draw_follow(gen *g)
{
    fz_provider *fp = &g->fp;
    const uint16_t v = fz_u16(fp);
    if (v == 0) return 0;
    switch (v & 3) {
    case 0: return 1 + (v >> 2) % 64u;
    case 1: return 3 * g->limit + (v >> 2) % 8u - 3; /* 3p - 3 .. 3p + 4 when nothing is skipped */
    case 2: return g->limit + (v >> 2) % 128u;
    default: return (uint32_t)fz_range(fp, 1, SPW_WALK_BUDGET + 64);
    }
}

/* ---- the oracle ---------------------------------------------------------------------- */

FZ_ORACLE static int oracle_same(const spw_synth *s, uint64_t addr, size_t len)
{
    const uint8_t *now = spw_synth_ptr(s, addr, len);
    return now && memcmp(now, pristine + (addr - s->base), len) == 0;
}

/* The walker would read exactly what was generated for this code object. */
FZ_ORACLE static int oracle_code_clean(const gen *g, const gen_code *c)
{
    const spw_layout *L = &g->s.layout;
    if (!oracle_same(&g->s, c->addr + L->ob_type, L->ob_size + 8 - L->ob_type)) return 0;
    if (L->has_tlbc) {
        if (!oracle_same(&g->s, c->addr + L->co_tlbc, 8)) return 0;
        if (c->tlbc && !oracle_same(&g->s, c->tlbc, 8 + 8 * (size_t)c->n_copies)) return 0;
    }
    return 1;
}

/* The frame's bytes are as generated, except `previous` (followed by the oracle) and the
 * executable's tag bits (which the layout says to ignore). */
FZ_ORACLE static int oracle_frame_clean(const gen *g, uint32_t i)
{
    const spw_synth *s = &g->s;
    const spw_layout *L = &s->layout;
    const uint8_t *now = spw_synth_ptr(s, frames[i], L->frame_span);
    const uint8_t *was = pristine + (frames[i] - s->base);
    uint8_t mine[SPW_FRAME_SPAN_MAX];
    if (!now) return 0;
    uint64_t x = spw_le64(now + L->frame_executable), y = spw_le64(was + L->frame_executable);
    if ((x & ~L->executable_tag_mask) != (y & ~L->executable_tag_mask)) return 0;
    /* Compare everything else in one go, with the two free fields copied over. */
    memcpy(mine, now, L->frame_span);
    memcpy(mine + L->frame_previous, was + L->frame_previous, 8);
    memcpy(mine + L->frame_executable, was + L->frame_executable, 8);
    if (memcmp(mine, was, L->frame_span) != 0) return 0;
    return gframes[i].code == 0xff || oracle_code_clean(g, &g->codes[gframes[i].code]);
}

FZ_ORACLE static int32_t oracle_frame_index(const gen *g, uint64_t addr)
{
    uint32_t lo = 0, hi = g->n_frames; /* by_address[] is ascending: allocated in order */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (frames[by_address[mid]] < addr) lo = mid + 1;
        else hi = mid;
    }
    return lo < g->n_frames && frames[by_address[lo]] == addr ? (int32_t)by_address[lo] : -1;
}

/* Brent's step for a tail of T frames and a loop of L: the walk meets the loop again by
 * step 2^j + L - 1, 2^j the first power of two >= max(T + 1, L) (its own count, not the
 * walker's). */
FZ_ORACLE static uint32_t oracle_brent(uint32_t T, uint32_t L)
{
    uint64_t p2 = 1;
    while (p2 < (uint64_t)T + 1 || p2 < L) p2 *= 2;
    return (uint32_t)(p2 - 1 + L);
}

/* B of walk.h: what the walk may follow, given p, the position of the first Python frame
 * left out (NONE: none within the budget, so no tail). */
#define NONE UINT32_MAX
FZ_ORACLE static uint32_t oracle_bound(uint32_t max, uint32_t follow, uint32_t p)
{
    if (follow == 0 || p == NONE) return SPW_WALK_BUDGET;
    uint64_t F = follow < max ? max : follow; /* max is already at most SPW_WALK_DEPTH_MAX */
    if (3 * (uint64_t)p > F) F = 3 * (uint64_t)p;
    return F < SPW_WALK_BUDGET ? (uint32_t)F : SPW_WALK_BUDGET;
}

FZ_ORACLE static void oracle_stack(const gen *g, const spw_walk_result *r, const spw_frame *out,
                         uint32_t max)
{
    const spw_synth *s = &g->s;
    const spw_layout *L = &s->layout;
    if (g->walk_tstate != g->tstate || g->walk_code_type != s->code_type) return;
    if (g->serve_end && g->serve_end < s->base + s->used) return;
    const uint8_t *cf = spw_synth_ptr(s, g->tstate + L->tstate_current_frame, 8);
    uint64_t cur = spw_le64(cf);

    /* Follow the chain as the walker must: len frames so far, the Python frames among the
     * first SPW_WALK_BUDGET of them (the first `max` expected in the output), p the first
     * one left out, last_emit the position of the last one emitted. */
    uint32_t len = 0, n_python = 0, p = NONE, last_emit = NONE;
    int cut = 0; /* the walk stops at its bound before the chain ends */
    if (++stamp == 0) { memset(seen, 0, sizeof seen); stamp = 1; }
#define ORACLE_PYTHON_(fi, at)                                                                 \
    do {                                                                                       \
        const gen_frame *gf_ = &gframes[fi];                                                   \
        if ((at) < SPW_WALK_BUDGET && gf_->owner < L->owner_incomplete && gf_->code != 0xff) { \
            if (n_python < max) {                                                              \
                expect[n_python].code = g->codes[gf_->code].addr;                              \
                expect[n_python].lasti = gf_->lasti;                                           \
                last_emit = (at);                                                              \
            } else if (p == NONE) {                                                            \
                p = (at);                                                                      \
            }                                                                                  \
            n_python++;                                                                        \
        }                                                                                      \
    } while (0)
    while (cur != 0) {
        if (len >= oracle_bound(max, g->follow, p)) { /* the walk looks no further */
            cut = 1;
            break;
        }
        int32_t i = oracle_frame_index(g, cur);
        if (i < 0) return; /* left the generated world */
        if (seen[i] == stamp) {
            /* A loop through frames the walker judges as generated: only the cycle check or
             * the bound can end this walk. Go round the loop while no frame was left out
             * yet (the frames met again were all clean then). */
            const uint32_t T = seen_at[i], Lp = len - T;
            for (uint32_t at = len; at < SPW_WALK_BUDGET && p == NONE; at++)
                ORACLE_PYTHON_(path[T + (at - T) % Lp], at);
            const uint32_t B = oracle_bound(max, g->follow, p), d = oracle_brent(T, Lp);
            if (d <= B - 1) {
                FZ_CHECK(r->status == SPW_WALK_DROPPED && r->reason == SPW_REASON_CYCLE &&
                             r->n_visited <= d,
                         "a loop (tail %u, loop %u, bound %u) gave %s/%s after %u frames, "
                         "Brent's step is %u", T, Lp, B, spw_status_name(r->status),
                         spw_reason_name(r->reason), r->n_visited, d);
                return;
            }
            FZ_CHECK((r->status == SPW_WALK_DROPPED && r->reason == SPW_REASON_CYCLE &&
                      r->n_visited < B) ||
                         (r->status == SPW_WALK_TRUNCATED && r->n_visited == B),
                     "a long loop (tail %u, loop %u, bound %u) gave %s/%s after %u frames", T,
                     Lp, B, spw_status_name(r->status), spw_reason_name(r->reason),
                     r->n_visited);
            if (r->status == SPW_WALK_DROPPED) return;
            const uint32_t n_want = n_python < max ? n_python : max;
            FZ_CHECK(r->n_frames == n_want, "a long loop: %u frames emitted, %u expected",
                     r->n_frames, n_want);
            for (uint32_t k = 0; k < n_want; k++)
                FZ_CHECK(out[k].code == expect[k].code && out[k].lasti == expect[k].lasti,
                         "a long loop, frame %u: got (0x%llx, %u), expected (0x%llx, %u)", k,
                         (unsigned long long)out[k].code, out[k].lasti,
                         (unsigned long long)expect[k].code, expect[k].lasti);
            /* walk.h: no frame emitted twice when the last one emitted is among the first
             * budget / 3 followed. */
            FZ_CHECK(last_emit == NONE || last_emit + 1 > SPW_WALK_BUDGET / 3 || last_emit < len,
                     "a loop (tail %u, loop %u) emitted as a stack: the last frame emitted is "
                     "number %u on the path", T, Lp, last_emit);
            return;
        }
        /* After the first frame left out, a walk with a follow bound reads only `previous`:
         * the rest of the frame may be anything. Before it, and always without one, the
         * frame must be exactly as generated for the oracle to know the answer. */
        const int tail = g->follow != 0 && p != NONE;
        if (!tail && !oracle_frame_clean(g, (uint32_t)i)) return;
        seen[i] = stamp;
        seen_at[i] = len;
        path[len] = (uint32_t)i;
        if (!tail) ORACLE_PYTHON_((uint32_t)i, len);
        len++;
        cur = spw_le64(spw_synth_ptr(s, cur + L->frame_previous, 8));
    }
#undef ORACLE_PYTHON_
    /* A chain that ends, every frame as the walker sees it as generated: the exact stack. */
    const uint32_t B = oracle_bound(max, g->follow, p);
    const uint32_t n_want = n_python < max ? n_python : max;
    spw_status want = p != NONE || cut ? SPW_WALK_TRUNCATED : SPW_WALK_OK;
    FZ_CHECK(r->status == want, "clean chain of %u frames (%u Python, limit %u, bound %u) gave %s/%s",
             len, n_python, max, B, spw_status_name(r->status), spw_reason_name(r->reason));
    FZ_CHECK(r->n_frames == n_want, "clean chain: %u frames emitted, %u expected", r->n_frames,
             n_want);
    FZ_CHECK(r->n_visited == len, "clean chain of %u frames (bound %u%s): %u visited", len, B,
             cut ? ", cut" : "", r->n_visited);
    for (uint32_t k = 0; k < n_want; k++)
        FZ_CHECK(out[k].code == expect[k].code && out[k].lasti == expect[k].lasti,
                 "frame %u: got (0x%llx, %u), expected (0x%llx, %u)", k,
                 (unsigned long long)out[k].code, out[k].lasti,
                 (unsigned long long)expect[k].code, expect[k].lasti);
}

FZ_ORACLE static void oracle_result(const gen *g, const fz_checked *ck, const spw_walk_result *r,
                         const spw_frame *out, uint32_t max)
{
    const spw_synth *s = &g->s;
    const spw_layout *L = &s->layout;
    /* I1 */
    FZ_CHECK(r->status == SPW_WALK_OK || r->status == SPW_WALK_TRUNCATED ||
                 r->status == SPW_WALK_DROPPED, "status %d", (int)r->status);
    FZ_CHECK((r->reason != SPW_REASON_NONE) == (r->status == SPW_WALK_DROPPED) &&
                 r->reason < SPW_REASON_COUNT_, "status %s with reason %d",
             spw_status_name(r->status), (int)r->reason);
    /* I2 */
    FZ_CHECK(r->n_frames <= max, "%u frames emitted, limit %u", r->n_frames, max);
    FZ_CHECK(r->n_visited <= SPW_WALK_BUDGET, "%u frames followed", r->n_visited);
    FZ_CHECK(r->status != SPW_WALK_TRUNCATED || r->n_frames == max ||
                 r->n_visited == SPW_WALK_BUDGET,
             "truncated with %u of %u frames after %u followed", r->n_frames, max, r->n_visited);
    /* I3: the checked reader already aborted on a bad address or too many reads. */
    (void)ck;
    /* I4 */
    for (uint32_t k = 0; k < r->n_frames; k++) {
        const uint8_t *hdr = spw_synth_ptr(s, out[k].code + L->ob_type, 16);
        FZ_CHECK(hdr != NULL, "frame %u: code 0x%llx is not in the image", k,
                 (unsigned long long)out[k].code);
        uint64_t type = spw_le64(hdr), units = spw_le64(hdr + (L->ob_size - L->ob_type));
        FZ_CHECK(type == g->walk_code_type, "frame %u: emitted 0x%llx whose type is 0x%llx, not code",
                 k, (unsigned long long)out[k].code, (unsigned long long)type);
        FZ_CHECK(units > 0 && units <= SPW_CODE_UNITS_MAX && out[k].lasti < units,
                 "frame %u: lasti %u of a code with %llu units", k, out[k].lasti,
                 (unsigned long long)units);
        /* Only the generator's own code objects have PyCode_Type as their type, unless a raw
         * poke forged one or the walk was told another type is PyCode_Type (impostors
         * carry other_type or None as their type). */
        if (!g->poked && g->walk_code_type == s->code_type) {
            int known = 0;
            for (uint32_t c = 0; c < g->n_codes; c++) known |= g->codes[c].addr == out[k].code;
            FZ_CHECK(known, "frame %u: 0x%llx is not a code object the generator made", k,
                     (unsigned long long)out[k].code);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gen g;
    if (generate(&g, data, size) != 0) return 0; /* the recipe does not fit the arena */
    memcpy(pristine, arena, g.s.used);
    corrupt(&g);
    g.follow = draw_follow(&g);

    const uint32_t max = g.limit < SPW_WALK_DEPTH_MAX ? g.limit : SPW_WALK_DEPTH_MAX;
    spw_reader inner = { spw_synth_read, &g.s };
    fz_checked ck;
    fz_checked_init(&ck, &inner, g.s.layout.arch, 8, FZ_WALK_READS_MAX, "walk");
    ck.serve_end = g.serve_end;
    spw_reader reader = fz_checked_reader(&ck);
    spw_walk_args args = { .layout = &g.s.layout, .code_type = g.walk_code_type,
                           .tstate = g.walk_tstate, .frames = out1, .max_frames = g.limit,
                           .max_follow = g.follow };
    spw_walk_result r1, r2;
    spw_walk(&args, &reader, &r1);
    oracle_result(&g, &ck, &r1, out1, max);
    const uint32_t reads1 = ck.n_reads;
    fz_log("walk: %s, %u frames (limit %u, follow %u), %u codes, -> %s/%s emitted %u visited %u "
           "reads %u\n",
           spw_flavor_name(g.s.flavor), g.n_frames, g.limit, g.follow, g.n_codes,
           spw_status_name(r1.status), spw_reason_name(r1.reason), r1.n_frames, r1.n_visited,
           reads1);

    /* I5: purity, and the walker instantiated on the build's shape (the live handler's)
     * gives the same answer. */
    fz_checked_reset(&ck, FZ_WALK_READS_MAX, "walk (again)");
    args.frames = out2;
    spw_walk_shape_instance(&args, &reader, &r2);
    FZ_CHECK(memcmp(&r1, &r2, sizeof r1) == 0 && ck.n_reads == reads1 &&
                 memcmp(out1, out2, r1.n_frames * sizeof out1[0]) == 0,
             "two walks of the same image differ: %s/%s %u frames %u reads, then %s/%s %u "
             "frames %u reads",
             spw_status_name(r1.status), spw_reason_name(r1.reason), r1.n_frames, reads1,
             spw_status_name(r2.status), spw_reason_name(r2.reason), r2.n_frames, ck.n_reads);

    /* I6 */
    oracle_stack(&g, &r1, out1, max);
    return 0;
}
