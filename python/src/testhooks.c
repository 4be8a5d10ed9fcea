/*
 * testhooks.c — entry points for the tests and benchmarks (shim.h). None of this is on the
 * sampling path: the handler reads nothing that only a test sets (a test that feeds the
 * handler a crafted chain pins the slot's thread state, which the handler reads anyway).
 */
#include "drops.h"
#include "guard.h"
#include "handler.h"
#include "live_reader.h"
#include "session.h"
#include "timers.h"
#include "chase.h"

#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

spw_status spp_walk_now(const spp_target *t, uint64_t tstate, spw_frame *frames, uint32_t max,
                        spw_walk_result *res)
{
    spp_sample_walk(t, tstate, 0, frames, max, res);
    return res->status;
}

/* The benchmark's yardstick: the same walk with no validation (chase.h), on the same
 * direct loads. Unguarded: only for the calling thread's own, live stack. */
uint32_t spp_chase_unchecked(const spp_target *t, uint64_t tstate, spw_frame *frames,
                             uint32_t max)
{
    return spw_chase_known(t->flavor, &t->layout, spp_live_read, NULL, tstate, frames, max);
}

double spp_bench_sample(const spp_target *t, uint64_t tstate, uint32_t n, uint32_t depth)
{
    if (depth == 0 || depth > SPP_MAX_DEPTH) return -1.0;
    const uint32_t cells = 32768;
    spp_slot *s = calloc(1, sizeof *s);
    void *mem = malloc(cells * sizeof(spp_cell) + depth * sizeof(spw_frame));
    if (!s || !mem) {
        free(s);
        free(mem);
        return -1.0;
    }
    s->ring.cells = mem;
    s->ring.mask = cells - 1;
    s->depth = depth;
    s->scratch = (spw_frame *)(void *)((spp_cell *)mem + cells);
    const int tid = spp_gettid();
    const uint64_t t0 = spp_now_ns();
    for (uint32_t i = 0; i < n; i++) {
        spp_sample_into(s, t, tstate, tid, 1, spp_now_ns());
        s->ring.tail = s->ring.head; /* the consumer's part, minus the symbolization */
    }
    const uint64_t t1 = spp_now_ns();
    const int ok = s->counts.captured == n;
    free(mem);
    free(s);
    return ok ? (double)(t1 - t0) / n : -1.0;
}

int spp_test_pin_tstate(int tid, uint64_t tstate)
{
    int rc = -1;
    pthread_mutex_lock(&spp_g.mu);
    const uint32_t idx = spp_g.running ? spp_slots_find(tid) : SPP_MAX_SLOTS;
    if (idx < SPP_MAX_SLOTS) {
        spp_slot *s = &spp_slots[idx];
        s->pinned = tstate != 0;
        if (tstate) __atomic_store_n(&s->tstate, tstate, __ATOMIC_RELAXED);
        rc = 0;
    }
    pthread_mutex_unlock(&spp_g.mu);
    return rc; /* unpinned, the next scan gives the slot its own tstate back */
}

int spp_test_silence_timer(int tid)
{
    static const struct itimerspec off; /* all zero: disarmed */
    int rc = -1;
    pthread_mutex_lock(&spp_g.mu);
    const uint32_t idx = spp_g.running ? spp_slots_find(tid) : SPP_MAX_SLOTS;
    if (idx < SPP_MAX_SLOTS && spp_slots[idx].has_timer)
        rc = timer_settime(spp_slots[idx].timer, 0, &off, NULL);
    pthread_mutex_unlock(&spp_g.mu);
    return rc;
}

/* Hold this thread's slot as a handler mid-sample does, make thread `to` take a SIGPROF that
 * names this slot as a stale timer signal would (a timer index reused since it was sent),
 * wait for that handler to be done, and report how many handlers the slot counts as inside:
 * 1 (this one) when the handshake is exact. A flag would read 0 here, and a disarm would
 * then unmap the ring under the mid-sample handler. -1 on failure. */
int spp_test_stale_signal(int owner, int to)
{
    pthread_mutex_lock(&spp_g.mu);
    const uint32_t idx = spp_g.running ? spp_slots_find(owner) : SPP_MAX_SLOTS;
    pthread_mutex_unlock(&spp_g.mu);
    if (idx >= SPP_MAX_SLOTS) return -1;
    spp_slot *s = &spp_slots[idx];
    const uint64_t seen = spp_handler_stale();
    spp_slot_enter(s);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGPROF;
    si.si_code = SI_TIMER;
    si.si_value.sival_int = (int)idx;
    int rc = -1;
    if (syscall(SYS_rt_tgsigqueueinfo, getpid(), to, SIGPROF, &si) == 0) {
        const uint64_t deadline = spp_now_ns() + 2000000000ull;
        while (spp_handler_stale() == seen && spp_now_ns() < deadline) sched_yield();
        if (spp_handler_stale() != seen) rc = __atomic_load_n(&s->inside, __ATOMIC_SEQ_CST);
    }
    spp_slot_leave(s);
    return rc;
}

/* A C thread holding the aggregate's lock for `ms`, as the consumer does for its rounds:
 * a fork meanwhile gives the child that lock held (tests). 0, or -1. */
static void *hold_agg(void *arg)
{
    const uint64_t ms = (uint64_t)(uintptr_t)arg;
    pthread_mutex_lock(&spp_g.agg_mu);
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    pthread_mutex_unlock(&spp_g.agg_mu);
    return NULL;
}

int spp_test_hold_agg(uint32_t ms)
{
    pthread_t t;
    if (pthread_create(&t, NULL, hold_agg, (void *)(uintptr_t)ms) != 0) return -1;
    pthread_detach(t);
    return 0;
}

void spp_test_scan_limit(uint32_t n) { __atomic_store_n(&spp_g.test_scan_limit, n, __ATOMIC_RELAXED); }

/* keep_drops' cost on the calling thread's own stack, outside a session (the budget and
 * counters of spp_g are borrowed and put back): ns per sample without a recorder and with
 * one when no walk drops (out[0], out[1]), ns per recording of this stack as a drop would
 * record it (out[2], the walk again and the symbolizer's reads), and the bytes it took
 * (out[3]). -1 on failure or while a session runs. */
int spp_bench_drops(const spp_target *t, uint64_t tstate, uint32_t n, double out[4])
{
    if (spp_g.running || n == 0) return -1;
    const uint32_t cells = 32768, depth = SPP_DEPTH_DEFAULT;
    spp_slot *s = calloc(1, sizeof *s);
    void *mem = malloc(cells * sizeof(spp_cell) + depth * sizeof(spw_frame));
    spp_droprec *d = calloc(1, sizeof *d);
    if (!s || !mem || !d) {
        free(s);
        free(mem);
        free(d);
        return -1;
    }
    s->ring.cells = mem;
    s->ring.mask = cells - 1;
    s->depth = depth;
    s->scratch = (spw_frame *)(void *)((spp_cell *)mem + cells);
    const int tid = spp_gettid();
    for (int with = 0; with < 2; with++) {
        s->drops = with ? d : NULL;
        double best = 1e300;
        for (int round = 0; round < 5; round++) {
            const uint64_t t0 = spp_now_ns();
            for (uint32_t i = 0; i < n; i++) {
                spp_sample_into(s, t, tstate, tid, 1, spp_now_ns());
                s->ring.tail = s->ring.head;
            }
            const double ns = (double)(spp_now_ns() - t0) / n;
            if (ns < best) best = ns;
        }
        out[with] = best;
    }
    const uint32_t max_drops = spp_g.cfg.max_drops, claimed = spp_g.drops_claimed;
    const uint64_t not_kept = spp_g.drops_not_kept;
    const uint32_t pending = spp_g.drops_pending;
    spp_g.cfg.max_drops = UINT32_MAX;
    spw_walk_result live = { SPW_WALK_DROPPED, SPW_REASON_CYCLE, 0, 0 };
    double best = 1e300;
    for (int round = 0; round < 5; round++) {
        const uint64_t t0 = spp_now_ns();
        for (uint32_t i = 0; i < n; i++) {
            d->state = 0;
            spp_drop_record(s, t, tstate, &live);
        }
        const double ns = (double)(spp_now_ns() - t0) / n;
        if (ns < best) best = ns;
    }
    out[2] = best;
    out[3] = d->overflow ? -1.0 : (double)d->used;
    spp_g.cfg.max_drops = max_drops;
    spp_g.drops_claimed = claimed;
    spp_g.drops_not_kept = not_kept;
    spp_g.drops_pending = pending;
    free(d);
    free(mem);
    free(s);
    return 0;
}
