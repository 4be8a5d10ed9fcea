/*
 * session.h — the state of the one profiling session of this process, shared by the
 * session (start/stop/stats), the consumer and the timers. Handlers read only
 * `cfg.target` and `cfg.interval_ns`, which do not change while a session runs.
 */
#ifndef SPP_SESSION_H
#define SPP_SESSION_H

#include "shim.h"

#include <pthread.h>
#include <signal.h>

struct spp_agg;

typedef struct spp_session {
    spp_config cfg;
    uint32_t ring_cells;  /* cells per thread ring (a power of two) */
    int counts_kernel;    /* perf_event counts kernel time too */
    int running;
    int stop_req;
    int poked;            /* a thread is starting: rescan soon (under mu) */
    int consumer_started; /* under mu */
    pthread_t consumer;
    pthread_t sampler;      /* SPP_TIMER_SAMPLER: the thread that samples every thread */
    uint32_t sampler_stop;  /* futex word: nonzero ends the sampler */
    uint64_t ticks, ticks_late, sampler_cpu_ns; /* the sampler's ticks, late ones, its CPU */
    pthread_mutex_t mu;   /* the slot index, folded counters, stop request */
    uint32_t wake;          /* bumped (and futex-woken) to wake the consumer early */
    pthread_cond_t scanned; /* broadcast after each scan (threads waiting to be armed) */
    uint64_t scans;         /* scans completed (under mu) */
    struct sigaction prof_prev;
    struct spp_agg *agg;
    pthread_mutex_t agg_mu; /* the consumer's rounds vs a snapshot of agg (spp_snapshot_begin) */
    uint32_t gen; /* scan generation: a slot not seen by the latest full scan is gone */
    spp_counts folded;
    uint64_t threads_armed, arm_failures, threads_unsampled, posix_fallbacks, timer_rearms,
        symbolize_errors, freed_code, agg_lost, records, rounds, partial_scans, threads_merged;
    uint64_t start_ns, stop_ns;
    uint64_t rng;
    int have_results;
    int sigprof_stolen; /* our SIGPROF handler was replaced during the session */
    uint32_t test_scan_limit; /* test only: scans stop after this many thread states */
    /* keep_drops (drops.h): files claimed by samplers (atomic; given back when a file is not
     * written), written, drops not kept (atomic), recorders waiting for the consumer */
    uint32_t drops_claimed;
    uint64_t drops_kept, drops_not_kept;
    uint32_t drops_pending;
    uint32_t drops_seq; /* consumer: number in the next file's name */
} spp_session;

extern spp_session spp_g;

/* The consumer thread's body and its pieces (consumer.c). */
void *spp_consumer_main(void *arg);
/* The bytes of a slot's memory (ring, scratch frames, last symbols) at this depth. */
size_t spp_slot_bytes(uint32_t depth);
/* The sampler thread's body (sampler.c), and the publication of an idle thread's held
 * ticks by whoever is the slot's one writer: the sampler, or the consumer once the slot is
 * quiesced (spp_slot_disarm). */
void *spp_sampler_main(void *arg);
void spp_sampler_flush(struct spp_slot *s);
/* Walk the thread list and bring the slots in line; returns the thread states not yet
 * bound to a thread (a thread being born). `initial`: the scan of start(). */
uint32_t spp_scan(int initial);
int spp_drain_all(void); /* 1 when some ring was over half full */
/* Disarm the slot at position k of the active list: stop its timer, wait for its handlers
 * to leave, drain it, fold its counters, release it. */
void spp_slot_disarm(uint32_t k);

uint64_t spp_rng_next(void);
/* The consumer's sleep: until `wake` differs from `seen` or `ns` passed. A bare futex, not a
 * condition variable: with thousands of threads parked in futex waits (idle Python threads),
 * a FUTEX_WAKE walks a crowded hash bucket (140 us measured here at 4,000 threads), and
 * pthread_cond_timedwait() makes one on every return (it re-takes the mutex as contended). */
void spp_wait_wake(uint32_t seen, uint64_t ns);
/* Wake the consumer (caller holds mu, having set what it should see). */
void spp_wake_consumer(void);
/* Note in stats() when our SIGPROF handler was replaced by someone else. */
void spp_check_sigprof(void);

#endif /* SPP_SESSION_H */
