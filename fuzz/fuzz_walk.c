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

#include "image_place.h"
#include "walk_gen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARENA_CAP (4u << 20)
#define MAX_OPS 8u

/* Static: the arena is the target's whole address space, reused for every input. */
static uint8_t arena[ARENA_CAP] __attribute__((aligned(64)));
static uint8_t pristine[ARENA_CAP]; /* the arena as generated, before any corruption */
static spw_frame out1[SPW_WALK_DEPTH_MAX], out2[SPW_WALK_DEPTH_MAX];

/* ---- generation ---------------------------------------------------------------------- */

static uint64_t frame_at(const gen *g, uint32_t i) { return g->n_frames ? g->frames[i % g->n_frames] : 0; }

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
     * same byte picks how addresses run along it (spw_synth_order): g->frames[i] is the i-th
     * frame of the chain, allocated in address order. */
    uint8_t n = fz_u8(fp);
    g->n_frames = n < 248 ? n % 40u : (uint32_t)fz_range(fp, 0, MAX_FRAMES);
    const spw_synth_order order = (spw_synth_order)((n < 248 ? n / 40u : n - 248u) % 3u);
    const uint32_t chunk = order == SPW_SYNTH_CHUNKED ? 1 + fz_pick(fp, 48) : 0;
    for (uint32_t a = 0; a < g->n_frames; a++) {
        const uint32_t i = spw_synth_chain_position(order, chunk, g->n_frames, a);
        g->by_address[a] = i;
        gen_frame *f = &g->gframes[i];
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
        g->frames[i] = spw_synth_frame(s, f->code == 0xff ? 0 : c->addr, f->lasti, f->owner, 0,
                                    f->tlbc_index);
        if (!g->frames[i]) return -1;
    }
    for (uint32_t i = 0; i + 1 < g->n_frames; i++)
        spw_synth_poke(s, g->frames[i] + L->frame_previous, g->frames[i + 1], 8);
    g->tstate = spw_synth_tstate(s, g->n_frames ? g->frames[0] : 0, 1, 2);
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
                   (unsigned long long)g->frames[i], g->gframes[i].code == 0xff ? -1 : g->gframes[i].code,
                   g->gframes[i].owner, g->gframes[i].lasti, g->gframes[i].tlbc_index);
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
        const gen_frame *gf = g->n_frames ? &g->gframes[i] : NULL;
        const gen_code *gc = gf && gf->code != 0xff ? &g->codes[gf->code] : &g->codes[0];
        switch (what) {
        case 0: /* a cycle: point `previous` back at an earlier frame, or at itself */
            if (f) spw_synth_poke(s, f + L->frame_previous, g->frames[fz_range(fp, 0, i)], 8);
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
            case 4: if (c->tlbc) { /* two draws: sequenced, for one decoding on every compiler */
                        const uint64_t slot = c->tlbc + 8 * fz_range(fp, 1, c->n_copies);
                        spw_synth_poke(s, slot, bad_ptr(g, c->addr), 8);
                    }
                    break;
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gen g;
    if (generate(&g, data, size) != 0) return 0; /* the recipe does not fit the arena */
    memcpy(pristine, arena, g.s.used);
    g.pristine = pristine;
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
