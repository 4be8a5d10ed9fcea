/*
 * sampler.c — signal-free sampling: one thread that, every interval, samples every armed
 * slot's thread while that thread runs on.
 *
 * In a free-threaded process another thread's frames can be read with plain loads at any
 * time; the core walker validates every pointer anyway, and the fault guard turns a fault
 * into a dropped sample. What is new is tearing: the thread may push or pop frames during
 * the walk. spp_sample_concurrent (handler.c) logs every load of a walk and loads each again
 * after it; a walk whose memory changed under it is retried, then dropped as `torn`.
 *
 * Weights: in cpu mode, the whole intervals of the thread's CPU clock since its last sample
 * (the signal engines' rule, spp_weight_at); in wall mode, the ticks since the last one,
 * idle or not, the record flagged SPP_REC_IDLE when the thread's CPU clock did not move.
 *
 * A thread whose CPU clock did not move did not run, so its frames are as they were (only a
 * thread changes its own frame chain): if its thread state is also the one its last stack
 * was walked from, that stack is reused (SPP_REC_REPEAT) without reading its memory at all.
 * In wall mode such ticks are held in the slot and published as one record of their summed
 * weight when the thread next runs or IDLE_HOLD_NS has gone by, so an idle thread costs one
 * clock read a tick, no ring write and nothing for the consumer. What is held is published
 * before anything else of that thread, or by the consumer when it disarms the slot (the
 * thread ended, or stop(): spp_sampler_flush): never lost; stats() lags it by IDLE_HOLD_NS.
 *
 * The sampler is a slot's only writer in this mode (no timer is armed, and threads do not
 * account their own end: session.c), and takes the handler's side of the slot handshake
 * (slots.h), so the consumer disarms slots under it as it does under signal handlers.
 * Calls: clock_gettime, futex (its sleep), and what spp_sample_concurrent makes; no lock.
 */
#include "handler.h"
#include "session.h"
#include "timers.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* How long an idle thread's reused ticks may be held before they are published. */
#define IDLE_HOLD_NS 250000000ull

void spp_sampler_flush(spp_slot *s)
{
    if (!s->idle_ticks) return;
    spp_sample_repeat(s, s->idle_ticks, s->idle_ts, SPP_REC_IDLE);
    s->idle_ticks = 0;
}

static void sample_slot(spp_slot *s, uint64_t ticks, uint64_t ts)
{
    const uint64_t cpu = spp_clock_ns(spp_thread_cpu_clock(s->tid));
    if (cpu == 0) { /* the thread is gone: the consumer's next scan disarms it */
        spp_sampler_flush(s);
        return;
    }
    const int ran = cpu != s->last_cpu;
    s->last_cpu = cpu;
    const uint64_t tstate = __atomic_load_n(&s->tstate, __ATOMIC_RELAXED);
    if (!spp_g.cfg.wall) {
        const uint64_t w = spp_weight_at(s, cpu, spp_g.cfg.interval_ns);
        /* no whole interval: nothing to record (a thread that did not run never has one) */
        if (w) s->have_last = spp_sample_concurrent(s, &spp_g.cfg.target, w, ts, 0);
        return;
    }
    if (!ran && s->have_last && tstate == s->last_tstate) {
        if (!s->idle_ticks) s->idle_ts = ts;
        s->idle_ticks += (uint32_t)ticks;
        if ((uint64_t)s->idle_ticks * spp_g.cfg.interval_ns >= IDLE_HOLD_NS) spp_sampler_flush(s);
        return;
    }
    spp_sampler_flush(s);
    s->have_last = spp_sample_concurrent(s, &spp_g.cfg.target, ticks, ts, ran ? 0 : SPP_REC_IDLE);
    s->last_tstate = tstate;
}

static void tick(uint64_t ticks, uint64_t ts)
{
    const uint32_t high = spp_slots_high();
    for (uint32_t idx = 0; idx < high; idx++) {
        spp_slot *s = &spp_slots[idx];
        if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != SPP_SLOT_ARMED) continue;
        spp_slot_enter(s);
        if (__atomic_load_n(&s->state, __ATOMIC_SEQ_CST) == SPP_SLOT_ARMED)
            sample_slot(s, ticks, ts);
        spp_slot_leave(s);
    }
}

void *spp_sampler_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "spprof-sampler");
    const uint64_t iv = spp_g.cfg.interval_ns;
    uint64_t next = spp_now_ns() + iv;
    while (!__atomic_load_n(&spp_g.sampler_stop, __ATOMIC_ACQUIRE)) {
        uint64_t now = spp_now_ns();
        if (now < next) {
            const uint64_t ns = next - now;
            const struct timespec rel = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
            syscall(SYS_futex, &spp_g.sampler_stop, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0);
            continue; /* woken early (stop) or on time: look again */
        }
        /* Ticks missed (the sampler was descheduled) are not lost time: in wall mode the
         * sample carries them, in cpu mode the CPU clocks do. */
        const uint64_t ticks = 1 + (now - next) / iv;
        next += ticks * iv;
        __atomic_store_n(&spp_g.ticks, spp_g.ticks + 1, __ATOMIC_RELAXED);
        if (ticks > 1) __atomic_store_n(&spp_g.ticks_late, spp_g.ticks_late + 1, __ATOMIC_RELAXED);
        tick(ticks, now);
        __atomic_store_n(&spp_g.sampler_cpu_ns, spp_clock_ns(CLOCK_THREAD_CPUTIME_ID),
                         __ATOMIC_RELAXED);
    }
    return NULL;
}
