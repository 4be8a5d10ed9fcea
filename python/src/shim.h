/*
 * shim.h — the live sampling shim inside spprof._native, as the module sees it. Pure C
 * (no Python header). Its parts, one job a file: guard.c (the fault guard), handler.c (all
 * that runs in signal context), ring.h (the record format), timers.h with timer_perf.c (the
 * two timer sources), slots.c (the slot table and its handshake), consumer.c (scan, drain,
 * symbolize), session.c (start/stop/stats, fork), testhooks.c (test and benchmark entries).
 *
 * One profiling session at a time per process. A session:
 *   - installs a SIGPROF handler (samples) and a SIGSEGV/SIGBUS guard (faults in walks);
 *   - arms one CPU-time timer per Python thread (perf_event task-clock, or a POSIX CPU-time
 *     timer), each delivering SIGPROF to its own thread;
 *   - the handler walks the interrupted thread's own frames with the core walker over direct
 *     loads and writes a fixed-layout record into that thread's single-producer ring;
 *   - a consumer pthread scans the interpreter's thread list (arming new threads, disarming
 *     gone ones), drains the rings, symbolizes and aggregates identical stacks.
 * docs/live-shim.md explains why each step is async-signal-safe.
 */
#ifndef SPP_SHIM_H
#define SPP_SHIM_H

#include "layout.h"
#include "symbolize.h"
#include "walk.h"

#include <stddef.h>
#include <stdint.h>

#define SPP_DEPTH_DEFAULT 256u /* frames kept per sample (innermost first) ... */
#define SPP_MAX_DEPTH 4096u    /* ... and the most start() accepts */
#define SPP_MAX_SLOTS 16384u   /* threads sampled at once; more are counted as unsampled */
#define SPP_FD_MAP 65536u      /* perf fds at or above this are not used */
#define SPP_SCAN_NS 20000000ull /* consumer period: scan threads, drain rings */
#define SPP_SCAN_MAX_NS 500000000ull /* the longest a long thread list goes unscanned */
#define SPP_BORN_NS 100000ull   /* rescan period while a new thread is being born */
#define SPP_BORN_TRIES 200u     /* ... for at most this many rescans (20 ms) */
#define SPP_STALL_NS 25000000ull /* a POSIX timer this far (+ 2 intervals) behind its thread's
                                    CPU clock has fallen silent: set it again */

typedef enum spp_timer_kind {
    SPP_TIMER_AUTO = 0,
    SPP_TIMER_PERF = 1,  /* perf_event task-clock, signal routed with F_SETOWN_EX */
    SPP_TIMER_POSIX = 2, /* timer_create on the thread's CPU clock, SIGEV_THREAD_ID */
    SPP_TIMER_SAMPLER = 3, /* no signal: a sampler thread walks every thread (sampler.c) */
} spp_timer_kind;

const char *spp_timer_name(spp_timer_kind k); /* "perf_event", "posix_cpu_timer" */

/* Drop reasons counted by the shim: the walker's four, ring overflow, and (sampler thread
 * only) a stack that moved under every attempt to read it. */
enum { SPP_DROP_CYCLE = 0, SPP_DROP_INVALID_FRAME, SPP_DROP_INVALID_CODE, SPP_DROP_UNREADABLE,
       SPP_DROP_OVERFLOW, SPP_DROP_TORN, SPP_DROP_COUNT_ };
extern const char *const spp_drop_names[SPP_DROP_COUNT_];

typedef struct spp_counts {
    uint64_t expirations; /* timer expirations seen (weights included) */
    uint64_t captured;    /* expirations whose sample reached the ring */
    uint64_t truncated;   /* of captured: deeper than the depth limit */
    uint64_t unsampled;   /* of captured: time no stack was sampled for (<unsampled>) */
    uint64_t dropped[SPP_DROP_COUNT_];
    uint64_t signals;     /* handler invocations that counted (one per record or drop) */
    uint64_t retries;     /* sampler thread: walks repeated because the stack moved */
    uint64_t reused;      /* sampler thread: samples that reused the previous stack */
} spp_counts;

typedef struct spp_stats {
    spp_counts c;
    spp_timer_kind timer;
    uint64_t interval_ns;
    uint64_t threads_armed;   /* timers armed over the session */
    uint64_t threads_active;  /* timers armed right now */
    uint64_t threads_unsampled; /* threads of the last full scan without a timer */
    uint64_t arm_failures;    /* threads that could not get a timer (gone, no memory, ...) */
    uint64_t posix_fallbacks; /* threads given a POSIX timer because perf fds ran out */
    uint64_t perf_fds;        /* perf fds held right now */
    uint64_t timer_rearms;    /* POSIX timers found silent and set again */
    uint64_t symbolize_errors;
    uint64_t freed_code;      /* frames whose code object was freed before the drain */
    uint64_t samples_lost;    /* captured samples the consumer could not store (no memory) */
    uint64_t records;         /* records drained by the consumer */
    uint64_t consumer_rounds; /* times the consumer woke and scanned */
    uint64_t partial_scans;   /* scans that could not read the whole thread list */
    uint64_t threads_merged;  /* threads past the per-session record limit, merged as one */
    uint64_t faults_forwarded; /* faults that were not ours, handed on */
    uint64_t ticks, ticks_late; /* sampler thread: its ticks, and those that came late */
    uint64_t sampler_cpu_ns;  /* sampler thread: its CPU time so far */
    uint64_t drops_kept;      /* keep_drops: dropped walks written as snapshot files ... */
    uint64_t drops_not_kept;  /* ... and those that were not (budget, busy, too big, ...) */
    uint64_t drop_recorders;  /* armed threads that have a recorder (keep_drops on) */
    uint32_t max_depth;
    int wall;
    int counts_kernel;        /* perf_event counts kernel time */
    int sigprof_stolen;       /* someone replaced our SIGPROF handler during the session */
    int active;
} spp_stats;

#define SPP_INTERVAL_MIN_NS 10000u /* the shim's floor; the public API's is 1 ms */

/* The interpreter being walked: its layout, &PyCode_Type, and which walker instance serves
 * it — the known build whose walk shape the layout has (every offset compiled in), or
 * SPW_FLAVOR_COUNT_ for the instance that reads offsets at run time. */
typedef struct spp_target {
    spw_layout layout;
    uint64_t code_type;
    spw_flavor flavor;
} spp_target;

/* Fill *t; the flavor is worked out here, once. */
void spp_target_init(spp_target *t, const spw_layout *L, uint64_t code_type);

typedef struct spp_config {
    spp_target target;
    uint64_t runtime;    /* &_PyRuntime */
    uint64_t interval_ns;
    spp_timer_kind timer;
    uint64_t scan_ns;    /* consumer period; 0: SPP_SCAN_NS (benchmarks change it) */
    uint32_t max_depth;  /* frames kept per sample; 0: SPP_DEPTH_DEFAULT */
    int wall;            /* sampler: a sample per thread per tick, idle or not (else the
                            thread's CPU time since its last sample) */
    int perf_user_only;  /* perf_event counts user time only, as where the kernel allows no
                            more (perf_event_paranoid 2): tests force it here */
    char drops_dir[1024]; /* keep_drops: write dropped walks here as snapshots ("": off) */
    uint32_t max_drops;  /* ... at most this many files a session */
} spp_config;

/* Start a session; 0, or -1 with a message in err. Not thread-safe against itself: the
 * module serialises start/stop. */
int spp_start(const spp_config *cfg, char *err, size_t errlen);
/* Stop: disarm every timer, final drain, join the consumer. 0, or -1 if not running. */
int spp_stop(void);
int spp_is_active(void);
/* Current counters (consistent snapshot: captured + dropped == expirations). */
void spp_get_stats(spp_stats *out);

/* Results of the last stopped session: the consumer's tables (agg.h), valid until the next
 * spp_start() or spp_results_free(); NULL if there are none. */
struct spp_agg;
const struct spp_agg *spp_results(uint64_t *start_ns, uint64_t *stop_ns);
void spp_results_free(void);
/* The running session's aggregate so far, unchanged until spp_snapshot_end() (the
 * consumer waits); NULL when not running. Call under spp_api_lock(). */
const struct spp_agg *spp_snapshot_begin(uint64_t *start_ns, uint64_t *now_ns);
void spp_snapshot_end(void);

/* Serialises start/stop/stats/results between Python threads (re-initialised in a forked
 * child). */
void spp_api_lock(void);
void spp_api_unlock(void);

/* --- test and benchmark entry points (testhooks.c) -------------------------------------- */

/* Walk a thread state of this process right now, on the calling thread, with the live
 * reader under the fault guard (exactly the handler's walk). */
spw_status spp_walk_now(const spp_target *t, uint64_t tstate, spw_frame *frames, uint32_t max,
                        spw_walk_result *res);
/* Symbolize through the guarded reader (what the consumer does). */
spw_sym_err spp_symbolize_guarded(const spw_layout *L, uint64_t code, uint32_t lasti,
                                  spw_symbol *out);
/* The benchmark baseline: spw_chase_unchecked() over direct loads, on the calling thread's
 * own stack, instantiated on the same shape as the walker. Returns the frames emitted. */
uint32_t spp_chase_unchecked(const spp_target *t, uint64_t tstate, spw_frame *frames,
                             uint32_t max);
/* Run the handler's sample path (walk + record into a private ring, counters) n times on
 * the calling thread at depth `depth`; returns nanoseconds per sample. */
double spp_bench_sample(const spp_target *t, uint64_t tstate, uint32_t n, uint32_t depth);
/* keep_drops' costs on this stack (testhooks.c): out = ns per sample without and with a
 * recorder (no drop), ns per recorded drop, bytes recorded. 0, or -1. */
int spp_bench_drops(const spp_target *t, uint64_t tstate, uint32_t n, double out[4]);
/* While profiling: make the samples of thread `tid` walk `tstate` instead of its own (0 goes
 * back to its own). 0, or -1 if that thread has no slot. */
int spp_test_pin_tstate(int tid, uint64_t tstate);
/* Test only: stop the POSIX timer of thread `tid` behind the shim's back, as the kernel
 * sometimes does. 0, or -1 if that thread has no POSIX timer. */
int spp_test_silence_timer(int tid);
/* Test only: send thread `to` a SIGPROF that names the slot of thread `owner` as a stale
 * timer signal would; returns the slot's handler count seen from inside (see testhooks.c). */
int spp_test_stale_signal(int owner, int to);
/* Test only: make every scan stop after n thread states (0: no limit), as a scan of a list
 * that changes under it may; threads beyond must stay armed. */
void spp_test_scan_limit(uint32_t n);
int spp_test_hold_agg(uint32_t ms);

/* A Python thread is about to start (called from the module's audit hook, any thread):
 * the consumer rescans promptly until it is armed. No-op when not profiling. */
void spp_thread_starting(void);
/* A new thread, on itself, before its Python code runs: wait (at most 10 ms) until the
 * consumer has armed it. No-op when not profiling. */
void spp_thread_begin(void);
/* The same thread, after its Python code returned: account its last whole intervals. */
void spp_thread_end(void);
/* Called from the module's audit hook on os.exec (see session.c). */
void spp_before_exec(void);
/* This thread's kernel thread id (cached). */
int spp_gettid(void);

#endif /* SPP_SHIM_H */
