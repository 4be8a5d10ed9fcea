/*
 * fuzz_walk_moving.c — the walker over memory that changes while it reads: the sampler
 * thread's situation (another thread pushes and pops frames mid-walk), and the check that
 * makes such a walk trustworthy (core/read_log.h).
 *
 * The input is a recipe: an image (interpreter flavour, architecture, placement; a few code
 * objects; a frame chain with spare frames beside it; a thread state), then a schedule of
 * changes, each applied just before the walk's k-th read: the thread pushing a frame
 * (current_frame moves to a spare frame whose previous is the old top), popping one,
 * relinking a `previous`, swapping an executable, moving an instruction pointer, changing
 * an owner, or poking any aligned word. The walk reads through the read log over the
 * changing image; afterwards the log is checked against the image as it ended.
 *
 * Invariants (each violation aborts):
 *   M1 the walk never faults and reads only what the checked reader allows, however the
 *      image moves (the reader enforces it on every read);
 *   M2 if the log holds, the walk's result is exactly a walk of the image as it ended, once
 *      the top frame's instruction pointer (the one load the check leaves out) is given the
 *      value the walk read: status, reason, frame count and every (code, lasti). An
 *      impossible stack can only come out of a walk the check refused. (Not checked when
 *      the walk met the top frame twice, in a chain looping back to it: the first read of
 *      its instruction pointer and the later ones may differ, which no single image is.)
 *   M3 with no change scheduled inside the walk, the log holds (the check refuses nothing
 *      that did not move).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "checked_reader.h"
#include "image_place.h"
#include "provider.h"
#include "read_log.h"
#include "synth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARENA_CAP (1u << 20)
#define MAX_CODES 4u
#define MAX_FRAMES 48u
#define MAX_SPARE 8u
#define MAX_CHANGES 8u

static uint8_t arena[ARENA_CAP] __attribute__((aligned(64)));
static spw_read_entry log_entries[FZ_WALK_READS_MAX + 8];
static spw_frame out1[SPW_WALK_DEPTH_MAX], out2[SPW_WALK_DEPTH_MAX];

typedef struct change {
    uint32_t at;  /* before the walk's read number `at` */
    uint8_t kind;
    uint32_t a, b;
    uint64_t v;
} change;

typedef struct moving {
    spw_synth s;
    uint64_t codes[MAX_CODES];
    uint32_t n_units[MAX_CODES], n_codes;
    uint64_t frames[MAX_FRAMES + MAX_SPARE]; /* the chain, innermost first, then spares */
    uint32_t n_chain, n_all;
    uint64_t tstate;
    change ch[MAX_CHANGES];
    uint32_t n_ch, next, reads;
    int moving; /* changes apply while set */
} moving;

static moving g;

static uint64_t frame_at(uint32_t i) { return g.n_all ? g.frames[i % g.n_all] : 0; }

static void apply(const change *c)
{
    spw_synth *s = &g.s;
    const spw_layout *L = &s->layout;
    uint64_t top = 0;
    spw_synth_read(s, g.tstate + L->tstate_current_frame, &top, 8);
    const uint64_t f = frame_at(c->a);
    switch (c->kind % 7) {
    case 0: /* push: a spare frame on top of the current one */
        spw_synth_poke(s, f + L->frame_previous, top, 8);
        spw_synth_poke(s, g.tstate + L->tstate_current_frame, f, 8);
        break;
    case 1: { /* pop */
        uint64_t prev = 0;
        if (top) spw_synth_read(s, top + L->frame_previous, &prev, 8);
        spw_synth_poke(s, g.tstate + L->tstate_current_frame, prev, 8);
        break;
    }
    case 2: spw_synth_poke(s, f + L->frame_previous, c->b % 5 ? frame_at(c->b) : 0, 8); break;
    case 3: { /* another code object runs in this frame (a new call at the same address) */
        const uint32_t k = c->b % g.n_codes;
        const uint64_t tag = L->executable_tag_mask & 1;
        spw_synth_poke(s, f + L->frame_executable, g.codes[k] | tag, 8);
        spw_synth_poke(s, f + L->frame_instr_ptr,
                       spw_synth_bytecode(s, g.codes[k], 0) + 2 * (c->v % g.n_units[k]), 8);
        break;
    }
    case 4: { /* the thread runs on in this frame */
        uint64_t raw = 0;
        spw_synth_read(s, f + L->frame_executable, &raw, 8);
        uint64_t code = raw & ~(uint64_t)L->executable_tag_mask;
        const uint64_t start = code ? spw_synth_bytecode(s, code, 0) : 0;
        spw_synth_poke(s, f + L->frame_instr_ptr, start ? start + 2 * (c->v % 64) : c->v, 8);
        break;
    }
    case 5: spw_synth_poke(s, f + L->frame_owner, c->v & 7, 1); break;
    default: { /* any aligned word of the image */
        const uint64_t off = (c->v % (s->used / 8 ? s->used / 8 : 1)) * 8;
        spw_synth_poke(s, s->base + off, ((uint64_t)c->a << 32) ^ c->b ^ (c->v >> 8), 8);
        break;
    }
    }
}

/* The changing image's reader: the schedule's changes land before the reads they name. */
static int moving_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    (void)ctx;
    if (g.moving)
        while (g.next < g.n_ch && g.ch[g.next].at <= g.reads) apply(&g.ch[g.next++]);
    g.reads++;
    return spw_synth_read(&g.s, addr, dst, len);
}

typedef struct logged {
    spw_reader inner;
    spw_read_log *log;
} logged;

static int logged_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    logged *l = ctx;
    const int rc = l->inner.read(l->inner.ctx, addr, dst, len);
    if (rc == 0) spw_read_log_add(l->log, addr, dst, len);
    return rc;
}

static int generate(const uint8_t *data, size_t size)
{
    fz_provider fp;
    memset(&g, 0, sizeof g);
    fz_init(&fp, data, size);
    spw_flavor flavor;
    spw_arch arch;
    if (fz_image_start(&fp, &g.s, arena, ARENA_CAP, &flavor, &arch) != 0) return -1;
    spw_synth *s = &g.s;
    const spw_layout *L = &s->layout;
    g.n_codes = 1 + fz_pick(&fp, MAX_CODES);
    for (uint32_t k = 0; k < g.n_codes; k++) {
        g.n_units[k] = 1 + fz_pick(&fp, 64);
        spw_synth_code_spec spec = { .qualname = "f", .filename = "m.py", .firstlineno = 1,
                                     .n_units = g.n_units[k] };
        if (!(g.codes[k] = spw_synth_code(s, &spec))) return -1;
    }
    g.n_chain = fz_pick(&fp, MAX_FRAMES + 1);
    g.n_all = g.n_chain + 1 + fz_pick(&fp, MAX_SPARE);
    for (uint32_t i = 0; i < g.n_all; i++) {
        const uint32_t k = fz_pick(&fp, g.n_codes);
        g.frames[i] = spw_synth_frame(s, g.codes[k], (uint32_t)fz_range(&fp, 0, g.n_units[k] - 1),
                                      0, 0, 0);
        if (!g.frames[i]) return -1;
    }
    for (uint32_t i = 0; i + 1 < g.n_chain; i++)
        spw_synth_poke(s, g.frames[i] + L->frame_previous, g.frames[i + 1], 8);
    g.tstate = spw_synth_tstate(s, g.n_chain ? g.frames[0] : 0, 1, 2);
    if (s->oom || !g.tstate) return -1;
    g.n_ch = fz_pick(&fp, MAX_CHANGES + 1);
    uint32_t at = 0;
    for (uint32_t i = 0; i < g.n_ch; i++) {
        change *c = &g.ch[i];
        at += fz_pick(&fp, 24);
        c->at = at;
        c->kind = fz_u8(&fp);
        c->a = fz_u16(&fp);
        c->b = fz_u16(&fp);
        c->v = fz_u64(&fp);
    }
    if (fz_verbose())
        fz_log("image: %s on %s, %u codes, chain %u + %u spare, %u changes\n",
               spw_flavor_name(flavor), spw_arch_name(arch), g.n_codes, g.n_chain,
               g.n_all - g.n_chain, g.n_ch);
    return 0;
}

static FZ_ORACLE void oracle_same(const spw_walk_result *a, const spw_frame *fa,
                                  const spw_walk_result *b, const spw_frame *fb)
{
    FZ_CHECK(a->status == b->status && a->reason == b->reason && a->n_frames == b->n_frames,
             "a walk the log vouched for differs from a walk of the final image: status %d/%d "
             "reason %d/%d frames %u/%u", a->status, b->status, a->reason, b->reason,
             a->n_frames, b->n_frames);
    for (uint32_t i = 0; a->status != SPW_WALK_DROPPED && i < a->n_frames; i++)
        FZ_CHECK(fa[i].code == fb[i].code && fa[i].lasti == fb[i].lasti,
                 "frame %u differs from the final image's: code 0x%llx/0x%llx lasti %u/%u", i,
                 (unsigned long long)fa[i].code, (unsigned long long)fb[i].code, fa[i].lasti,
                 fb[i].lasti);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (generate(data, size) != 0) return 0;
    const spw_layout *L = &g.s.layout;
    spw_reader inner = { moving_read, NULL };
    fz_checked ck;
    fz_checked_init(&ck, &inner, L->arch, 8, FZ_WALK_READS_MAX, "walk over moving memory");
    spw_read_log log = { log_entries, sizeof log_entries / sizeof log_entries[0], 0, 0 };
    logged lg = { fz_checked_reader(&ck), &log };
    spw_reader reader = { logged_read, &lg };
    const uint32_t limit = 64;
    spw_walk_args args = { .layout = L, .code_type = g.s.code_type, .tstate = g.tstate,
                           .frames = out1, .max_frames = limit };
    spw_walk_result r1, r2;
    g.moving = 1;
    spw_walk(&args, &reader, &r1);          /* M1: the checked reader watched every read */
    const int moved = g.next > 0;
    g.moving = 0;
    const uint64_t skip = spw_read_log_top_instr(&log, L, g.tstate);
    fz_checked_reset(&ck, FZ_WALK_READS_MAX + 8, "the log's check");
    spw_reader plain = fz_checked_reader(&ck);
    const int holds = spw_read_log_holds(&log, plain.read, plain.ctx, skip);
    if (!moved) FZ_CHECK(holds, "nothing moved, yet the log does not hold"); /* M3 */
    if (fz_verbose())
        fz_log("walk: status %d reason %d, %u frames, %u reads, %u changes applied, log %s\n",
               r1.status, r1.reason, r1.n_frames, log.n, g.next, holds ? "holds" : "refused");
    if (!holds) return 0;
    /* M2: the final image, its top instruction pointer as the walk read it. */
    uint64_t now = 0, then = 0;
    int restore = 0, met = 0;
    for (uint32_t i = 0; skip && i < log.n; i++)
        if (log.e[i].addr == skip && met++ == 0) then = log.e[i].val;
    if (met > 1) return 0;
    if (met) {
        restore = spw_synth_read(&g.s, skip, &now, 8) == 0;
        if (restore) spw_synth_poke(&g.s, skip, then, 8);
    }
    args.frames = out2;
    fz_checked_reset(&ck, FZ_WALK_READS_MAX, "walk of the final image");
    spw_walk(&args, &plain, &r2);
    if (restore) spw_synth_poke(&g.s, skip, now, 8);
    oracle_same(&r1, out1, &r2, out2);
    return 0;
}
