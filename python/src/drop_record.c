/*
 * drop_record.c — recording a dropped walk (drops.h), in signal context or on the sampler
 * thread.
 *
 * The calls this file makes: none but loads, stores, atomic operations and the fault
 * guard's sigsetjmp (guard.c). No malloc, no lock, no stdio, no Python API: the recorder
 * was mmap'ed when the slot was armed, and the consumer writes the file later.
 *
 * Cost: nothing unless a walk was dropped (the caller tests the status it already has and
 * the slot's recorder pointer). Past max_drops a drop costs two atomic operations (the
 * budget check and the not-kept count), no walk.
 */
#include "drops.h"
#include "guard.h"
#include "handler.h"
#include "live_reader.h"
#include "read_log.h"
#include "session.h"
#include "walk_body.h"

/* The recording reader: the live reader's load, then the bytes it loaded into the
 * recorder. A load that faults never returns here, so it is not recorded: the replay's
 * image reader cannot supply it either, and the replayed walk is `unreadable` there too. */
static inline __attribute__((always_inline)) int rec_read(void *ctx, uint64_t addr, void *dst,
                                                         size_t len)
{
    spp_live_read(NULL, addr, dst, len);
    spp_drop_put(ctx, addr, dst, len);
    return 0;
}

static int rec_read_fn(void *ctx, uint64_t addr, void *dst, size_t len)
{
    return rec_read(ctx, addr, dst, len);
}

static void not_kept(void) { __atomic_add_fetch(&spp_g.drops_not_kept, 1, __ATOMIC_RELAXED); }

/* The slot's recorder, emptied, when this drop may be recorded: the recorder is not still
 * waiting for the consumer, and the session's budget of files has room (claimed by CAS;
 * the consumer gives the claim back when it does not write the file). */
static spp_droprec *claim(spp_slot *s)
{
    spp_droprec *d = s->drops;
    if (__atomic_load_n(&d->state, __ATOMIC_ACQUIRE) != 0) {
        not_kept();
        return NULL;
    }
    uint32_t c = __atomic_load_n(&spp_g.drops_claimed, __ATOMIC_RELAXED);
    do {
        if (c >= spp_g.cfg.max_drops) {
            not_kept();
            return NULL;
        }
    } while (!__atomic_compare_exchange_n(&spp_g.drops_claimed, &c, c + 1, 1, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    d->used = 0;
    d->overflow = 0;
    d->n_frames = 0;
    return d;
}

/* Hand a filled recorder to the consumer, or give the claim back if it overflowed. */
static void hand_over(spp_slot *s, spp_droprec *d, uint64_t tstate, const spw_walk_result *live,
                      int torn)
{
    if (d->overflow) {
        __atomic_sub_fetch(&spp_g.drops_claimed, 1, __ATOMIC_RELAXED);
        not_kept();
        return;
    }
    d->live_status = (uint32_t)live->status;
    d->live_reason = (uint32_t)live->reason;
    d->torn = (uint32_t)torn;
    d->live_depth = s->depth;
    d->tstate = tstate;
    d->ident = s->ident;
    d->tid = s->tid;
    __atomic_store_n(&d->state, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&spp_g.drops_pending, 1, __ATOMIC_RELEASE);
}

/* The symbolizer's reads for the frames the walk emitted, so the replay names them as
 * the consumer would have. A frame met again with the same (code, lasti) reads the same
 * bytes: skipped (recursion would fill the recorder with copies). */
static void symbolize_frames(spp_droprec *d, const spw_layout *L, const spw_frame *fr, uint32_t n)
{
    const spw_reader rd = { rec_read_fn, d };
    spw_frame memo[8];
    memset(memo, 0, sizeof memo);
    for (uint32_t i = 0; i < n && !d->overflow; i++) {
        const unsigned b = (unsigned)((fr[i].code >> 4) ^ fr[i].lasti) & 7u;
        if (memo[b].code == fr[i].code && memo[b].lasti == fr[i].lasti) continue;
        memo[b] = fr[i];
        spw_symbolize(L, &rd, fr[i].code, fr[i].lasti, &d->sym);
    }
}

typedef struct rec_job {
    const spp_target *t;
    uint64_t tstate;
    spp_droprec *d;
    const spw_frame *frames; /* the sampler's case: frames to symbolize (the walk's own) */
    uint32_t n_frames;
} rec_job;

/* The walk again, through the recording reader, with the replay's parameters (spwalk's
 * depth, no max_follow: harness/render.c), so the recorded bytes are exactly those the
 * replay reads. Below the live depth limit the two walks are the same walk (walk.h: until
 * the first frame left out nothing differs); deeper, the replay's is what the file holds. */
static void rec_walk_run(void *arg)
{
    rec_job *j = arg;
    spp_droprec *d = j->d;
    const spw_walk_args a = { .layout = &j->t->layout, .code_type = j->t->code_type,
                              .tstate = j->tstate, .frames = d->frames,
                              .max_frames = SPW_WALK_DEPTH_MAX, .max_follow = 0 };
    spw_walk_result r;
    spw_walk_body(&a, rec_read, d, &r);
    __atomic_store_n(&d->n_frames, r.n_frames, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    symbolize_frames(d, &j->t->layout, d->frames, r.n_frames);
}

void spp_drop_record(spp_slot *s, const spp_target *t, uint64_t tstate,
                     const spw_walk_result *live)
{
    spp_droprec *d = claim(s);
    if (!d) return;
    rec_job j = { t, tstate, d, NULL, 0 };
    /* A fault ends the recording where it happened: what came before is the file. */
    (void)spp_guarded(rec_walk_run, &j);
    hand_over(s, d, tstate, live, 0);
}

static void sym_run(void *arg)
{
    rec_job *j = arg;
    symbolize_frames(j->d, &j->t->layout, j->frames, j->n_frames);
}

void spp_drop_from_log(spp_slot *s, const spp_target *t, uint64_t tstate,
                       const spw_read_log *log, const spw_frame *frames,
                       const spw_walk_result *live, int torn)
{
    spp_droprec *d = claim(s);
    if (!d) return;
    if (log->overflow) d->overflow = 1;
    /* The log holds every load of the walk with its value: the walker's loads are at most
     * 8 bytes, kept whole (read_log.h); a longer one was hashed and cannot be replayed. */
    for (uint32_t i = 0; i < log->n && !d->overflow; i++) {
        const spw_read_entry *e = &log->e[i];
        if (e->len > 8) d->overflow = 1;
        else spp_drop_put(d, e->addr, &e->val, e->len);
    }
    rec_job j = { t, tstate, d, frames, live->n_frames };
    d->n_frames = live->n_frames;
    if (!d->overflow) (void)spp_guarded(sym_run, &j);
    hand_over(s, d, tstate, live, torn);
}
