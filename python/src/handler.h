/*
 * handler.h — what runs in signal context: the SIGPROF handler and the sample path it
 * shares with the test and benchmark entries.
 */
#ifndef SPP_HANDLER_H
#define SPP_HANDLER_H

#include "slots.h"

#include <signal.h>

/* The SIGPROF handler (installed by session.c). */
void spp_on_sigprof(int sig, siginfo_t *si, void *uc);

/* The guarded walk of one sample (what the handler runs, without the record): when tid != 0,
 * first check that the thread state is that thread's (a slot can briefly point at a deleted
 * tstate); then walk. A fault anywhere makes it dropped/unreadable. */
void spp_sample_walk(const spp_target *t, uint64_t tstate, int tid, spw_frame *frames,
                     uint32_t max, spw_walk_result *r);

/* One sample into a slot: walk, append the record (or count the overflow), count. */
void spp_sample_into(spp_slot *s, const spp_target *t, uint64_t tstate, int tid,
                     uint64_t weight, uint64_t ts);

/* The whole intervals of the slot's thread's CPU clock (`now`, ns) since cpu_base not yet
 * accounted; accounts them. The one rule for every engine's weights (handler.c). */
static inline uint64_t spp_weight_at(spp_slot *s, uint64_t now, uint64_t interval_ns)
{
    const uint64_t periods = (now - s->cpu_base) / interval_ns; /* modular: base may be < 0 */
    if (periods <= s->periods) return 0;
    uint64_t w = periods - s->periods;
    if (w > SPP_REC_WEIGHT_MAX) w = SPP_REC_WEIGHT_MAX;
    __atomic_store_n(&s->periods, s->periods + w, __ATOMIC_RELAXED); /* the consumer reads it */
    return w;
}

/* The sampler thread's samples of another thread (sampler.c). spp_sample_concurrent walks
 * the slot's thread while it runs, through a log of every load that is checked again after
 * the walk (handler.c, read_log): a walk whose memory changed under it is retried
 * (SPP_TORN_TRIES walks in all), then dropped as torn; returns 1 when a stack was recorded.
 * spp_sample_repeat records "the same stack as the last one, `weight` times" (the thread
 * did not run). */
#define SPP_TORN_TRIES 3
int spp_sample_concurrent(spp_slot *s, const spp_target *t, uint64_t weight, uint64_t ts,
                          uint32_t flags);
void spp_sample_repeat(spp_slot *s, uint64_t weight, uint64_t ts, uint32_t flags);

/* keep_drops (drop_record.c, drops.h): record a dropped walk into the slot's recorder for
 * the consumer to write as a snapshot file. spp_drop_record walks the thread state again
 * through a recording reader (the handler's case: the thread is interrupted, its frames
 * cannot change); spp_drop_from_log takes the sampler's read log of its last attempt. Both
 * also record the symbolizer's reads for the emitted frames. Call only when s->drops. */
struct spw_read_log;
void spp_drop_record(spp_slot *s, const spp_target *t, uint64_t tstate,
                     const spw_walk_result *live);
void spp_drop_from_log(spp_slot *s, const spp_target *t, uint64_t tstate,
                       const struct spw_read_log *log, const spw_frame *frames,
                       const spw_walk_result *live, int torn);

/* On the slot's own thread, SIGPROF blocked, when the thread is about to end: the whole
 * intervals its CPU clock crossed that no signal has accounted yet (a POSIX timer fires on
 * the tick after the boundary, which may come after the thread is gone) go to <unsampled>. */
void spp_sample_rest(spp_slot *s);

/* The identity of a code object, as the handler takes it: a hash of its qualified name,
 * file name and line table pointers and its first line. -1 when it cannot be read. */
int spp_code_identity(const spw_layout *L, uint64_t code, uint32_t *out);

/* A clock in ns, 0 if it cannot be read (clock_gettime is async-signal-safe). */
uint64_t spp_clock_ns(clockid_t clock);
static inline uint64_t spp_now_ns(void) { return spp_clock_ns(CLOCK_MONOTONIC); }

/* SIGPROFs that named a slot that is not their thread's (a stale fd or timer index). */
uint64_t spp_handler_stale(void);

void spp_handler_atfork_child(void);

#endif /* SPP_HANDLER_H */
