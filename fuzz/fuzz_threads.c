/*
 * fuzz_threads.c — structure-aware fuzzing of the thread-list iterator (core/threads.h).
 *
 * The input is a recipe. It picks an interpreter flavour, an architecture and where the
 * image lives, the limits (mostly the defaults, sometimes small ones), then builds with
 * spw_synth a _PyRuntime and a list of interpreters, each with a thread list (empty,
 * short, or thousands long; some threads unborn), and applies a list of corruptions:
 * `next` pointers bent back into their own list (cycles of every length, self-loops,
 * after a long tail) or into another list, interpreter lists that loop, bad pointers of
 * every kind (null page, misaligned, non-canonical, kernel, straddling the user limit,
 * dangling, inside or at the wrong object) in every link, raw pokes, a cut-off image and
 * a bad runtime address. Then it iterates through the checked reader.
 *
 * Invariants (each violation aborts):
 *   T1 reads: only at validated, 8-aligned addresses, never more than the limits allow
 *      (the checked reader), and at most SPW_THREADS_READS() of the counts at the end;
 *   T2 an exact reference: an independent follower of the same lists (its own address
 *      rule, fz_addr_plausible; an exact map of the elements each list visited instead of
 *      Brent) predicts every thread state returned, in order (the lists' prefix), then the
 *      status, the failing address and the number of reads. So DONE only when every list
 *      ended with NULL; INVALID and UNREADABLE only where that pointer or read fails;
 *      CYCLE only in a list that does loop, at exactly the step threads.h states; LIMIT
 *      only at a limit;
 *   T3 a list that loops gives CYCLE under the default limits, never LIMIT or DONE (unless
 *      Brent's step lies beyond the thread limit, which no recipe here reaches);
 *   T4 a finished iterator keeps its status and reads nothing more; a second iteration of
 *      the same image gives the same sequence, status and reads.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "checked_reader.h"
#include "image_place.h"
#include "provider.h"
#include "synth.h"
#include "threads.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARENA_CAP (12u << 20)
#define MAX_INTERP 12u
#define MAX_TS 6000u
#define MAX_OPS 8u
#define TID(i) (0x7f4000000700ull + 0x800000ull * (i))
#define NID(i) (4000u + (uint64_t)(i))

static uint8_t arena[ARENA_CAP] __attribute__((aligned(64)));
static uint64_t interps[MAX_INTERP];
static uint64_t tstates[MAX_TS];           /* interpreter by interpreter, each in list order */
static uint32_t first_ts[MAX_INTERP + 1];  /* interpreter k: tstates[first_ts[k], first_ts[k+1]) */

typedef struct gen {
    spw_synth s;
    fz_provider fp;
    uint32_t n_interp, n_ts;
    uint64_t runtime, iter_runtime; /* as built / what the iteration is started on */
    uint32_t max_i, max_t;
    uint64_t serve_end;
    int verbose;
} gen;

/* ---- generation ---------------------------------------------------------------------- */


static uint64_t some_ts(const gen *g, uint32_t i) { return g->n_ts ? tstates[i % g->n_ts] : 0; }
static uint64_t some_interp(const gen *g, uint32_t i)
{
    return g->n_interp ? interps[i % g->n_interp] : 0;
}

/* An address some rule must refuse, or the reader cannot serve, or that points at the
 * wrong thing; `near` is a real object to be off by a little from. */
static uint64_t bad_ptr(gen *g, uint64_t near)
{
    fz_provider *fp = &g->fp;
    const spw_synth *s = &g->s;
    static const fz_reach reach = { 64, 128, 64 };
    uint64_t a;
    if (fz_bad_address(fp, s, near, &reach, &a)) return a;
    /* Draws in their own statements: the order of an initializer's (or a call's
     * arguments') evaluation is unspecified, and gcc and clang would decode the same
     * input differently. */
    const uint64_t in = some_interp(g, fz_u8(fp));
    const uint64_t ts = some_ts(g, fz_u16(fp));
    const uint64_t objs[] = { g->runtime, in, ts, s->none, s->code_type }; /* wrong objects */
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

    /* Limits: mostly the defaults; sometimes small enough to be reached. */
    g->max_i = SPW_THREADS_MAX_INTERP;
    g->max_t = SPW_THREADS_MAX;
    if (fz_u8(fp) >= 200) {
        g->max_i = (uint32_t)fz_range(fp, 0, 16);
        g->max_t = (uint32_t)fz_range(fp, 0, 400);
    }

    /* The runtime first, so that an image cut short (below) loses lists, not the head. */
    g->runtime = g->iter_runtime = spw_synth_runtime(s, 0);
    if (!g->runtime) return -1;

    /* Interpreters: mostly one to four; sometimes none or up to MAX_INTERP. Thread lists:
     * mostly up to 8 states; sometimes long. Interpreter k's states are allocated just
     * before it, numbered in list order over the whole image. */
    uint8_t b = fz_u8(fp);
    g->n_interp = b < 240 ? 1 + b % 4u : (uint32_t)(b - 240) % (MAX_INTERP + 1);
    for (uint32_t k = 0; k < g->n_interp; k++) {
        uint8_t c = fz_u8(fp);
        uint32_t n = c < 224 ? c % 9u : (uint32_t)fz_range(fp, 0, MAX_TS - g->n_ts);
        if (n > MAX_TS - g->n_ts) n = MAX_TS - g->n_ts;
        uint8_t u = fz_u8(fp); /* odd: every ((u >> 1) + 1)-th state is unborn (native id 0) */
        first_ts[k] = g->n_ts;
        for (uint32_t j = 0; j < n; j++) {
            const uint32_t i = g->n_ts++;
            const int unborn = (u & 1) && j % ((u >> 1) + 1u) == 0;
            tstates[i] = spw_synth_tstate(s, 0, TID(i), unborn ? 0 : NID(i));
            if (!tstates[i]) return -1;
        }
        interps[k] = spw_synth_interp(s, tstates + first_ts[k], n, 0);
        if (!interps[k]) return -1;
        if (k) spw_synth_poke(s, interps[k - 1] + L->interp_next, interps[k], 8);
    }
    first_ts[g->n_interp] = g->n_ts;
    if (g->n_interp)
        spw_synth_poke(s, g->runtime + L->runtime_interpreters_head, interps[0], 8);
    if (s->oom) return -1;
    g->verbose = fz_verbose();
    if (g->verbose) {
        fz_log("image: %s on %s at 0x%llx, limits %u interpreters %u threads, runtime 0x%llx\n",
               spw_flavor_name(flavor), spw_arch_name(arch),
               (unsigned long long)s->base, g->max_i, g->max_t, (unsigned long long)g->runtime);
        for (uint32_t k = 0; k < g->n_interp; k++)
            fz_log("  interp %u at 0x%llx: states %u..%u\n", k, (unsigned long long)interps[k],
                   first_ts[k], first_ts[k + 1]);
    }
    return 0;
}

/* The index of a state in interpreter k's list at or before position `pos` of it. */
static uint32_t earlier_in_list(gen *g, uint32_t i)
{
    uint32_t k = 0;
    while (k + 1 < g->n_interp && first_ts[k + 1] <= i) k++;
    return first_ts[k] + (uint32_t)fz_range(&g->fp, 0, i - first_ts[k]);
}

static void corrupt(gen *g)
{
    fz_provider *fp = &g->fp;
    spw_synth *s = &g->s;
    const spw_layout *L = &s->layout;
    uint32_t n_ops = fz_pick(fp, MAX_OPS + 1);
    for (uint32_t op = 0; op < n_ops; op++) {
        unsigned what = fz_pick(fp, 12);
        const uint32_t i = g->n_ts ? (uint32_t)fz_range(fp, 0, g->n_ts - 1) : 0;
        const uint32_t k = g->n_interp ? (uint32_t)fz_range(fp, 0, g->n_interp - 1) : 0;
        const uint64_t ts = some_ts(g, i), in = some_interp(g, k);
        if (g->verbose) fz_log("  op %u: corruption %u at state %u, interp %u\n", op, what, i, k);
        switch (what) {
        case 0: /* a cycle: `next` back at an earlier state of its own list, or itself */
            if (ts) spw_synth_poke(s, ts + L->tstate_next, tstates[earlier_in_list(g, i)], 8);
            break;
        case 1: /* relink to any state: another list, ahead, behind */
            if (ts) spw_synth_poke(s, ts + L->tstate_next, some_ts(g, fz_u16(fp)), 8);
            break;
        case 2: /* a bad `next` */
            if (ts) spw_synth_poke(s, ts + L->tstate_next, bad_ptr(g, ts), 8);
            break;
        case 3: /* an interpreter list that loops: back at an earlier one, or itself */
            if (in) spw_synth_poke(s, in + L->interp_next, interps[fz_range(fp, 0, k)], 8);
            break;
        case 4: /* relink to any interpreter, or end the list early */
            if (in)
                spw_synth_poke(s, in + L->interp_next,
                               fz_bool(fp) ? 0 : some_interp(g, fz_u8(fp)), 8);
            break;
        case 5: /* a bad interpreter `next` */
            if (in) spw_synth_poke(s, in + L->interp_next, bad_ptr(g, in), 8);
            break;
        case 6: /* a bad or borrowed threads head */
            if (in)
                spw_synth_poke(s, in + L->interp_threads_head,
                               fz_bool(fp) ? some_ts(g, fz_u16(fp)) : bad_ptr(g, ts ? ts : in), 8);
            break;
        case 7: /* the runtime's head: bad, empty, or another interpreter */
            spw_synth_poke(s, g->runtime + L->runtime_interpreters_head,
                           fz_bool(fp) ? some_interp(g, fz_u8(fp))
                                       : bad_ptr(g, in ? in : g->runtime), 8);
            break;
        case 8: /* start from a bad runtime address */
            g->iter_runtime = bad_ptr(g, g->runtime);
            break;
        case 9: { /* a raw poke anywhere in the image */
            static const unsigned widths[] = { 1, 2, 4, 8 };
            uint64_t at = s->base + fz_range(fp, 0, s->used ? s->used - 1 : 0);
            const uint64_t v = fz_u64(fp);
            spw_synth_poke(s, at, v, widths[fz_pick(fp, 4)]);
            break;
        }
        case 10: /* a thread being born or an odd id: returned as it is */
            if (ts) {
                const uint32_t field = fz_bool(fp) ? L->tstate_native_thread_id
                                                   : L->tstate_thread_id;
                spw_synth_poke(s, ts + field, fz_bool(fp) ? 0 : fz_u64(fp), 8);
            }
            break;
        default: /* the image ends early, mid-object: reads past the cut fail */
            g->serve_end = s->base + fz_range(fp, 0, s->used);
            break;
        }
    }
}

/* ---- the reference ------------------------------------------------------------------- */

/* Per aligned address of the arena, per kind of list: the stamp of the list that last
 * visited it and at which of its steps. A list that comes back to an address is known to
 * loop, with its tail and loop lengths, exactly. */
#define SLOTS (ARENA_CAP / 8u)
static uint32_t visit_stamp[2][SLOTS], visit_step[2][SLOTS];
static uint32_t stamp_counter;

typedef struct ref {
    const gen *g;
    uint32_t reads, n_interp, n_threads, k_ts; /* k_ts: steps of the current thread list */
    uint64_t interp, ts;
    int started, ended;
    spw_threads_status end;
    uint64_t end_addr;
    uint32_t list[2];                      /* stamps: 0 the interpreter list, 1 a thread list */
    int loops[2];                          /* that list was seen to loop ... */
    uint32_t tail[2], loop[2];             /* ... with these lengths */
    uint32_t threads_before_list;          /* states returned before this thread list */
} ref;

FZ_ORACLE static uint32_t oracle_new_stamp(void)
{
    if (++stamp_counter == 0) {
        memset(visit_stamp, 0, sizeof visit_stamp);
        stamp_counter = 1;
    }
    return stamp_counter;
}

/* Brent's step as threads.h states it: 2^j - 1 + L, 2^j >= max(T + 1, L). */
FZ_ORACLE static uint64_t oracle_brent(uint32_t tail, uint32_t loop)
{
    uint64_t m = tail + 1u > loop ? tail + 1u : loop, p = 1;
    while (p < m) p <<= 1;
    return p - 1 + loop;
}

FZ_ORACLE static int oracle_end(ref *r, spw_threads_status st, uint64_t addr)
{
    r->ended = 1;
    r->end = st;
    r->end_addr = addr;
    return -1;
}

FZ_ORACLE static int oracle_read(ref *r, uint64_t addr, uint64_t *v)
{
    const gen *g = r->g;
    const uint8_t *p = spw_synth_ptr(&g->s, addr, 8);
    r->reads++;
    if (!p || (g->serve_end && addr + 8 > g->serve_end))
        return oracle_end(r, SPW_THREADS_UNREADABLE, addr);
    *v = spw_le64(p);
    return 0;
}

/* Element `step` of a list of kind `kind`, p != 0: valid, then (the list's loop known)
 * Brent's step, then the limit. */
FZ_ORACLE static int oracle_visit(ref *r, int kind, uint64_t p, uint64_t size, uint32_t step,
                                  uint32_t count, uint32_t max)
{
    const spw_synth *s = &r->g->s;
    if (!fz_addr_plausible(s->layout.arch, p, size, 8))
        return oracle_end(r, SPW_THREADS_INVALID, p);
    if (p >= s->base && p - s->base < s->used) {
        const uint64_t slot = (p - s->base) / 8;
        if (visit_stamp[kind][slot] != r->list[kind]) {
            visit_stamp[kind][slot] = r->list[kind];
            visit_step[kind][slot] = step;
        } else if (!r->loops[kind]) {
            r->loops[kind] = 1;
            r->tail[kind] = visit_step[kind][slot];
            r->loop[kind] = step - visit_step[kind][slot];
        }
    }
    if (r->loops[kind] && step == oracle_brent(r->tail[kind], r->loop[kind]))
        return oracle_end(r, SPW_THREADS_CYCLE, p);
    if (count >= max) return oracle_end(r, SPW_THREADS_LIMIT, p);
    return 0;
}

FZ_ORACLE static int oracle_enter(ref *r, uint64_t p)
{
    const spw_layout *L = &r->g->s.layout;
    if (p == 0) return oracle_end(r, SPW_THREADS_DONE, 0);
    if (oracle_visit(r, 0, p, L->interp_size, r->n_interp, r->n_interp, r->g->max_i)) return -1;
    r->n_interp++;
    r->interp = p;
    r->list[1] = oracle_new_stamp();
    r->loops[1] = 0;
    r->k_ts = 0;
    r->threads_before_list = r->n_threads;
    return oracle_read(r, p + L->interp_threads_head, &r->ts);
}

FZ_ORACLE static int oracle_next(ref *r, spw_thread_info *out)
{
    const gen *g = r->g;
    const spw_layout *L = &g->s.layout;
    uint64_t p, native, ident, next;
    if (r->ended) return 0;
    if (!r->started) {
        r->started = 1;
        if (!fz_addr_plausible(L->arch, g->iter_runtime, L->runtime_size, 8)) {
            oracle_end(r, SPW_THREADS_INVALID, g->iter_runtime);
            return 0;
        }
        if (oracle_read(r, g->iter_runtime + L->runtime_interpreters_head, &p) ||
            oracle_enter(r, p))
            return 0;
    }
    while (r->ts == 0)
        if (oracle_read(r, r->interp + L->interp_next, &p) || oracle_enter(r, p)) return 0;
    const uint64_t ts = r->ts;
    if (oracle_visit(r, 1, ts, L->tstate_size, r->k_ts, r->n_threads, g->max_t) ||
        oracle_read(r, ts + L->tstate_native_thread_id, &native) ||
        oracle_read(r, ts + L->tstate_thread_id, &ident) ||
        oracle_read(r, ts + L->tstate_next, &next))
        return 0;
    r->k_ts++;
    r->n_threads++;
    r->ts = next;
    *out = (spw_thread_info){ .interp = r->interp, .tstate = ts, .thread_id = ident,
                              .native_thread_id = native };
    return 1;
}

/* ---- the run ------------------------------------------------------------------------- */

typedef struct outcome {
    spw_threads_status st;
    uint64_t fail, digest;
    uint32_t n, reads, n_interp;
} outcome;

FZ_ORACLE static uint64_t oracle_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static void run(const gen *g, const char *what, outcome *o)
{
    const spw_layout *L = &g->s.layout;
    spw_reader inner = { spw_synth_read, (void *)&g->s };
    memset(o, 0, sizeof *o); /* compared with memcmp: no stray padding */
    fz_checked ck;
    fz_checked_init(&ck, &inner, L->arch, 8, SPW_THREADS_READS(g->max_i, g->max_t), what);
    ck.serve_end = g->serve_end;
    const spw_reader reader = fz_checked_reader(&ck);
    ref r = { .g = g };
    r.list[0] = oracle_new_stamp();
    spw_threads_iter it;
    spw_thread_info t, want;
    spw_threads_begin_limits(&it, L, &reader, g->iter_runtime, g->max_i, g->max_t);
    FZ_CHECK(ck.n_reads == 0, "begin() read %u times", ck.n_reads);
    while (spw_threads_next(&it, &t)) {
        FZ_CHECK(spw_threads_status_of(&it) == SPW_THREADS_MORE,
                 "returned a state with status %s",
                 spw_threads_status_name(spw_threads_status_of(&it)));
        FZ_CHECK(oracle_next(&r, &want) == 1,
                 "state %u: returned 0x%llx where the reference ends: %s at 0x%llx", o->n,
                 (unsigned long long)t.tstate, spw_threads_status_name(r.end),
                 (unsigned long long)r.end_addr);
        FZ_CHECK(memcmp(&t, &want, sizeof t) == 0,
                 "state %u: got 0x%llx of 0x%llx (ids %llu, %llu), the lists hold 0x%llx of "
                 "0x%llx (ids %llu, %llu)", o->n, (unsigned long long)t.tstate,
                 (unsigned long long)t.interp, (unsigned long long)t.thread_id,
                 (unsigned long long)t.native_thread_id, (unsigned long long)want.tstate,
                 (unsigned long long)want.interp, (unsigned long long)want.thread_id,
                 (unsigned long long)want.native_thread_id);
        o->digest = oracle_mix(oracle_mix(o->digest, t.tstate), t.native_thread_id);
        o->n++;
    }
    o->st = spw_threads_status_of(&it);
    o->fail = spw_threads_fail_addr(&it);
    o->reads = ck.n_reads;
    o->n_interp = it.n_interp;
    fz_log("%s: %u states, %u interpreters entered, %u reads -> %s at 0x%llx\n", what, o->n,
           it.n_interp, o->reads, spw_threads_status_name(o->st), (unsigned long long)o->fail);
    /* T2: the end, where the reference ends. */
    FZ_CHECK(oracle_next(&r, &want) == 0,
             "ended (%s at 0x%llx) after %u states, but the lists go on with 0x%llx",
             spw_threads_status_name(o->st), (unsigned long long)o->fail, o->n,
             (unsigned long long)want.tstate);
    FZ_CHECK(o->st == r.end && o->fail == r.end_addr,
             "after %u states: %s at 0x%llx, the reference says %s at 0x%llx (interpreter list "
             "loop %d: %u+%u, thread list loop %d: %u+%u)", o->n,
             spw_threads_status_name(o->st),
             (unsigned long long)o->fail, spw_threads_status_name(r.end),
             (unsigned long long)r.end_addr, r.loops[0], r.tail[0], r.loop[0], r.loops[1],
             r.tail[1], r.loop[1]);
    FZ_CHECK(o->reads == r.reads, "%u reads, the reference made %u", o->reads, r.reads);
    FZ_CHECK(it.n_threads == o->n && it.n_interp == r.n_interp,
             "counters %u states %u interpreters, returned %u, entered %u", it.n_threads,
             it.n_interp, o->n, r.n_interp);
    /* T1 */
    FZ_CHECK(o->reads <= SPW_THREADS_READS(it.n_interp, it.n_threads),
             "%u reads for %u interpreters and %u states", o->reads, it.n_interp, it.n_threads);
    /* T3: with the default limits a loop is a cycle (the thread lists here are far shorter
     * than a third of SPW_THREADS_MAX, the interpreter list than a third of 256). A loop in
     * an earlier thread list would have ended the iteration: loops[1] is the current one. */
    if (g->max_i == SPW_THREADS_MAX_INTERP && g->max_t == SPW_THREADS_MAX) {
        const int kind = r.loops[1] ? 1 : 0;
        const uint64_t step = oracle_brent(r.tail[kind], r.loop[kind]);
        if (r.loops[kind] && (kind == 0 ? step <= SPW_THREADS_MAX_INTERP
                                        : r.threads_before_list + step <= SPW_THREADS_MAX))
            FZ_CHECK(o->st == SPW_THREADS_CYCLE, "a list that loops (%u+%u) gave %s",
                     r.tail[kind], r.loop[kind], spw_threads_status_name(o->st));
    }
    /* T4: finished stays finished, without reading. */
    for (int again = 0; again < 2; again++) {
        FZ_CHECK(spw_threads_next(&it, &t) == 0 && spw_threads_status_of(&it) == o->st &&
                     spw_threads_fail_addr(&it) == o->fail && ck.n_reads == o->reads,
                 "a finished iteration moved");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gen g;
    if (generate(&g, data, size) != 0) return 0; /* the recipe does not fit the arena */
    corrupt(&g);
    outcome a, b;
    run(&g, "threads", &a);
    run(&g, "threads (again)", &b);
    FZ_CHECK(memcmp(&a, &b, sizeof a) == 0,
             "two iterations of one image differ: %u states %s, then %u states %s", a.n,
             spw_threads_status_name(a.st), b.n, spw_threads_status_name(b.st));
    return 0;
}
