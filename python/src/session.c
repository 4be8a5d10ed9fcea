/*
 * session.c — one profiling session: start, stop, stats, results, and what fork() and
 * exec() need. Everything here runs on Python threads (under spp_api_lock) or in the
 * forked child; nothing in signal context.
 */
#include "agg.h"
#include "drops.h"
#include "guard.h"
#include "handler.h"
#include "session.h"
#include "timers.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

spp_session spp_g = { .mu = PTHREAD_MUTEX_INITIALIZER, .agg_mu = PTHREAD_MUTEX_INITIALIZER };

const char *const spp_drop_names[SPP_DROP_COUNT_] = { "cycle", "invalid_frame", "invalid_code",
                                                     "unreadable", "overflow", "torn" };

const char *spp_timer_name(spp_timer_kind k)
{
    switch (k) {
    case SPP_TIMER_PERF: return "perf_event";
    case SPP_TIMER_POSIX: return "posix_cpu_timer";
    case SPP_TIMER_SAMPLER: return "sampler";
    case SPP_TIMER_AUTO: break;
    }
    return "none";
}

static pthread_mutex_t g_api_mu = PTHREAD_MUTEX_INITIALIZER;
void spp_api_lock(void) { pthread_mutex_lock(&g_api_mu); }
void spp_api_unlock(void) { pthread_mutex_unlock(&g_api_mu); }

void spp_wait_wake(uint32_t seen, uint64_t ns)
{
    const struct timespec rel = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
    syscall(SYS_futex, &spp_g.wake, FUTEX_WAIT_PRIVATE, seen, &rel, NULL, 0);
}

void spp_wake_consumer(void)
{
    __atomic_add_fetch(&spp_g.wake, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &spp_g.wake, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

uint64_t spp_rng_next(void)
{
    spp_g.rng ^= spp_g.rng << 13;
    spp_g.rng ^= spp_g.rng >> 7;
    spp_g.rng ^= spp_g.rng << 17;
    return spp_g.rng;
}

void spp_target_init(spp_target *t, const spw_layout *L, uint64_t code_type)
{
    const spw_walk_shape shape = spw_walk_shape_of(L);
    t->layout = *L;
    t->code_type = code_type;
    /* Only a walker compiled for this architecture may use the compiled-in shapes. */
    t->flavor = L->arch == SPW_ARCH_HOST ? spw_walk_shape_flavor(&shape) : SPW_FLAVOR_COUNT_;
}

int spp_is_active(void) { return spp_g.running; }

static int sigprof_is_ours(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == spp_on_sigprof;
}

void spp_check_sigprof(void)
{
    if (spp_g.cfg.timer == SPP_TIMER_SAMPLER) return; /* no handler of ours to lose */
    struct sigaction cur;
    if (sigaction(SIGPROF, NULL, &cur) == 0 && !sigprof_is_ours(&cur))
        __atomic_store_n(&spp_g.sigprof_stolen, 1, __ATOMIC_RELAXED);
}

/* Ring cells per thread: room for two consumer periods of samples at a typical depth, at
 * least two of the deepest records, a power of two between 1024 and 32768 (16 KiB–512 KiB,
 * touched only as used). A drain that finds a ring more than half full drains sooner
 * (consumer.c), so deep stacks at short intervals cost time, not samples. */
static uint32_t ring_cells_for(uint64_t interval_ns, uint64_t scan_ns, uint32_t depth)
{
    uint64_t samples = 2 * scan_ns / interval_ns + 2;
    uint64_t need = samples * 65u;
    if (need < 2u * (depth + 1u)) need = 2u * (depth + 1u);
    uint32_t cells = 1024;
    while (cells < need && cells < 32768u) cells <<= 1;
    return cells;
}

static void errf(char *err, size_t len, const char *msg, int e)
{
    snprintf(err, len, "%s%s%s", msg, e ? ": " : "", e ? strerror(e) : "");
}

int spp_start(const spp_config *cfg, char *err, size_t errlen)
{
    if (spp_g.running) {
        errf(err, errlen, "profiler already running", 0);
        return -1;
    }
    spp_g.cfg = *cfg;
    if (spp_g.cfg.drops_dir[0] && spp_drops_check_dir(spp_g.cfg.drops_dir, err, errlen) != 0)
        return -1;
    if (spp_g.cfg.max_drops == 0) spp_g.cfg.max_drops = SPP_DROPS_DEFAULT;
    if (spp_g.cfg.interval_ns < SPP_INTERVAL_MIN_NS) spp_g.cfg.interval_ns = SPP_INTERVAL_MIN_NS;
    if (spp_g.cfg.scan_ns < SPP_BORN_NS) spp_g.cfg.scan_ns = SPP_SCAN_NS;
    if (spp_g.cfg.max_depth == 0) spp_g.cfg.max_depth = SPP_DEPTH_DEFAULT;
    if (spp_g.cfg.max_depth > SPP_MAX_DEPTH) spp_g.cfg.max_depth = SPP_MAX_DEPTH;
    spp_g.ring_cells = ring_cells_for(spp_g.cfg.interval_ns, spp_g.cfg.scan_ns, spp_g.cfg.max_depth);

    /* The timer source: perf_event if this process may open a task-clock counter. */
    spp_g.counts_kernel = 0;
    const int signals = spp_g.cfg.timer != SPP_TIMER_SAMPLER; /* else no SIGPROF at all */
    if (signals && spp_g.cfg.timer != SPP_TIMER_POSIX) {
        if (spp_perf_probe(spp_g.cfg.interval_ns, spp_g.cfg.perf_user_only, &spp_g.counts_kernel) == 0) {
            spp_g.cfg.timer = SPP_TIMER_PERF;
        } else if (spp_g.cfg.timer == SPP_TIMER_PERF) {
            errf(err, errlen, "perf_event_open(task-clock) refused", errno);
            return -1;
        } else {
            spp_g.cfg.timer = SPP_TIMER_POSIX;
        }
    }
    spp_perf_budget_reset();

    struct sigaction cur, sa;
    sigaction(SIGPROF, NULL, &cur);
    if (signals && !sigprof_is_ours(&cur) && ((cur.sa_flags & SA_SIGINFO) ||
                                   (cur.sa_handler != SIG_DFL && cur.sa_handler != SIG_IGN))) {
        errf(err, errlen, "a SIGPROF handler is already installed by someone else (another "
                          "profiler, or signal.signal(SIGPROF, ...)); refusing to replace it", 0);
        return -1;
    }
    int e = spp_guard_install();
    if (e) {
        errf(err, errlen, "cannot install the SIGSEGV/SIGBUS guard", e);
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = spp_on_sigprof;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask); /* never SIGSEGV/SIGBUS: the guard must be deliverable */
    if (!sigprof_is_ours(&cur)) spp_g.prof_prev = cur;
    if (signals) sigaction(SIGPROF, &sa, NULL);

    spp_results_free();
    spp_g.agg = spp_agg_new();
    if (!spp_g.agg) {
        errf(err, errlen, "out of memory", 0);
        if (signals) sigaction(SIGPROF, &spp_g.prof_prev, NULL);
        return -1;
    }
    memset(&spp_g.folded, 0, sizeof spp_g.folded);
    spp_g.threads_armed = spp_g.arm_failures = spp_g.threads_unsampled = 0;
    spp_g.posix_fallbacks = spp_g.timer_rearms = spp_g.symbolize_errors = 0;
    spp_g.freed_code = spp_g.agg_lost = spp_g.records = spp_g.rounds = spp_g.partial_scans = 0;
    spp_g.threads_merged = 0;
    spp_g.sigprof_stolen = 0;
    spp_g.ticks = spp_g.ticks_late = spp_g.sampler_cpu_ns = 0;
    spp_g.drops_claimed = spp_g.drops_pending = 0;
    spp_g.drops_kept = spp_g.drops_not_kept = 0;
    spp_slots_reset();
    spp_g.rng = spp_now_ns() | 1;
    spp_g.stop_req = 0;
    spp_g.poked = 0;
    spp_g.start_ns = spp_now_ns();
    spp_g.stop_ns = 0;
    spp_g.gen = 0;
    spp_g.have_results = 1;
    spp_g.running = 1;

    spp_scan(1); /* threads existing now are armed before start() returns */

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&spp_g.scanned, &ca);
    spp_g.scans = 0;
    pthread_condattr_destroy(&ca);
    /* The consumer takes no asynchronous signals (they belong to Python's main thread). */
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    e = pthread_create(&spp_g.consumer, NULL, spp_consumer_main, NULL);
    spp_g.sampler_stop = 0;
    int es = 0;
    if (!e && !signals && (es = pthread_create(&spp_g.sampler, NULL, spp_sampler_main, NULL))) {
        pthread_mutex_lock(&spp_g.mu); /* the consumer is running: stop it as spp_stop does */
        spp_g.stop_req = 1;
        spp_wake_consumer();
        pthread_mutex_unlock(&spp_g.mu);
        pthread_join(spp_g.consumer, NULL);
        e = es;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        while (spp_slots_n_active()) spp_slot_disarm(spp_slots_n_active() - 1);
        spp_g.running = 0;
        if (signals) sigaction(SIGPROF, &spp_g.prof_prev, NULL);
        spp_guard_uninstall();
        errf(err, errlen, es ? "cannot start the sampler thread" : "cannot start the consumer thread", e);
        return -1;
    }
    pthread_mutex_lock(&spp_g.mu);
    spp_g.consumer_started = 1;
    pthread_mutex_unlock(&spp_g.mu);
    return 0;
}

int spp_stop(void)
{
    if (!spp_g.running) return -1;
    const int signals = spp_g.cfg.timer != SPP_TIMER_SAMPLER;
    if (!signals) { /* first the sampler, so that the consumer's last drain has everything */
        __atomic_store_n(&spp_g.sampler_stop, 1, __ATOMIC_RELEASE);
        syscall(SYS_futex, &spp_g.sampler_stop, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        pthread_join(spp_g.sampler, NULL);
    }
    pthread_mutex_lock(&spp_g.mu);
    spp_g.stop_req = 1;
    spp_wake_consumer();
    pthread_mutex_unlock(&spp_g.mu);
    pthread_join(spp_g.consumer, NULL);
    pthread_mutex_lock(&spp_g.mu);
    spp_g.consumer_started = 0;
    pthread_mutex_unlock(&spp_g.mu);
    pthread_cond_destroy(&spp_g.scanned);
    if (signals) spp_check_sigprof();
    /* Every timer is gone. SIG_IGN discards a SIGPROF still pending on any thread, then the
     * handler that was there before comes back (unless someone replaced ours meanwhile). */
    if (signals && !spp_g.sigprof_stolen) {
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        sigaction(SIGPROF, &ign, NULL);
        sigaction(SIGPROF, &spp_g.prof_prev, NULL);
    }
    spp_guard_uninstall();
    spp_g.stop_ns = spp_now_ns();
    spp_g.running = 0;
    return 0;
}

void spp_get_stats(spp_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&spp_g.mu);
    out->c = spp_g.folded;
    for (uint32_t k = 0; spp_g.running && k < spp_slots_n_active(); k++) {
        spp_counts c;
        spp_slot_read_counts(&spp_slots[spp_slots_active(k)], &c);
        spp_counts_add(&out->c, &c);
        out->drop_recorders += spp_slots[spp_slots_active(k)].drops != NULL;
    }
    out->threads_active = spp_g.running ? spp_slots_n_active() : 0;
    out->perf_fds = spp_g.running ? spp_perf_fds_in_use() : 0;
    pthread_mutex_unlock(&spp_g.mu);
    out->timer = spp_g.have_results ? spp_g.cfg.timer : SPP_TIMER_AUTO;
    out->interval_ns = spp_g.cfg.interval_ns;
    out->max_depth = spp_g.cfg.max_depth;
    out->counts_kernel = spp_g.counts_kernel;
    out->threads_armed = spp_g.threads_armed;
    out->threads_unsampled = spp_g.threads_unsampled;
    out->arm_failures = spp_g.arm_failures;
    out->posix_fallbacks = spp_g.posix_fallbacks;
    out->timer_rearms = spp_g.timer_rearms;
    out->symbolize_errors = spp_g.symbolize_errors;
    out->freed_code = spp_g.freed_code;
    out->samples_lost = spp_g.agg_lost;
    out->records = spp_g.records;
    out->consumer_rounds = __atomic_load_n(&spp_g.rounds, __ATOMIC_RELAXED);
    out->partial_scans = spp_g.partial_scans;
    out->threads_merged = spp_g.threads_merged;
    out->faults_forwarded = spp_guard_forwarded();
    out->ticks = __atomic_load_n(&spp_g.ticks, __ATOMIC_RELAXED);
    out->ticks_late = __atomic_load_n(&spp_g.ticks_late, __ATOMIC_RELAXED);
    out->sampler_cpu_ns = __atomic_load_n(&spp_g.sampler_cpu_ns, __ATOMIC_RELAXED);
    out->drops_kept = __atomic_load_n(&spp_g.drops_kept, __ATOMIC_RELAXED);
    out->drops_not_kept = __atomic_load_n(&spp_g.drops_not_kept, __ATOMIC_RELAXED);
    out->wall = spp_g.cfg.wall;
    out->sigprof_stolen = __atomic_load_n(&spp_g.sigprof_stolen, __ATOMIC_RELAXED);
    out->active = spp_g.running;
}

const struct spp_agg *spp_results(uint64_t *start_ns, uint64_t *stop_ns)
{
    *start_ns = spp_g.start_ns;
    *stop_ns = spp_g.stop_ns;
    return spp_g.running ? NULL : spp_g.agg;
}

/* The running session's aggregate, held still until spp_snapshot_end(): the consumer
 * waits (its rings keep filling) while the caller copies it out. NULL when not running;
 * the caller holds spp_api_lock, so the session cannot stop meanwhile. */
const struct spp_agg *spp_snapshot_begin(uint64_t *start_ns, uint64_t *now_ns)
{
    if (!spp_g.running) return NULL;
    pthread_mutex_lock(&spp_g.agg_mu);
    *start_ns = spp_g.start_ns;
    *now_ns = spp_now_ns();
    return spp_g.agg;
}

void spp_snapshot_end(void) { pthread_mutex_unlock(&spp_g.agg_mu); }

void spp_results_free(void)
{
    spp_agg_free(spp_g.agg);
    spp_g.agg = NULL;
}

void spp_thread_starting(void)
{
    pthread_mutex_lock(&spp_g.mu);
    if (spp_g.running && !spp_g.stop_req) {
        spp_g.poked = 1; /* seen by the consumer's first round if it is not running yet */
        if (spp_g.consumer_started) spp_wake_consumer();
    }
    pthread_mutex_unlock(&spp_g.mu);
}

/* A new thread, on itself, before it runs its Python code: wake the consumer and wait (at
 * most 10 ms) for the scan that arms this thread, so that its CPU time from its first
 * instruction is counted however short the thread is. */
void spp_thread_begin(void)
{
    const int tid = spp_gettid();
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_nsec += 10000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&spp_g.mu);
    if (spp_g.running && !spp_g.stop_req && spp_g.consumer_started &&
        spp_slots_find(tid) == SPP_MAX_SLOTS) {
        const uint64_t want = spp_g.scans + 2; /* one that started after this poke */
        spp_g.poked = 1;
        spp_wake_consumer();
        while (spp_g.running && !spp_g.stop_req && spp_g.scans < want &&
               spp_slots_find(tid) == SPP_MAX_SLOTS &&
               pthread_cond_timedwait(&spp_g.scanned, &spp_g.mu, &dl) == 0) {
        }
    }
    pthread_mutex_unlock(&spp_g.mu);
}

/* The end of a thread that _run_thread started: account its last whole intervals (see
 * spp_sample_rest), so that totals are right however short the thread and whichever timer. */
void spp_thread_end(void)
{
    if (!spp_g.running) return;
    const int tid = spp_gettid();
    sigset_t prof, old;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, &old); /* our own handler must not run meanwhile */
    pthread_mutex_lock(&spp_g.mu);
    const uint32_t idx = spp_g.running ? spp_slots_find(tid) : SPP_MAX_SLOTS;
    if (idx < SPP_MAX_SLOTS) {
        spp_slot *s = &spp_slots[idx];
        spp_slot_enter(s);
        /* the sampler thread is a slot's only writer in its mode (and needs no rest) */
        if (spp_g.cfg.timer != SPP_TIMER_SAMPLER && spp_slot_owned_by(s, tid)) spp_sample_rest(s);
        spp_slot_leave(s);
    }
    pthread_mutex_unlock(&spp_g.mu);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* exec() keeps the signals pending on the calling thread, and the new program's SIGPROF
 * disposition is the default (terminate): stop this thread's timer and take any SIGPROF
 * pending here before the exec. Other threads' pending signals end with those threads. */
void spp_before_exec(void)
{
    if (!spp_g.running) return;
    sigset_t prof, old;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, &old);
    pthread_mutex_lock(&spp_g.mu);
    uint32_t idx = spp_slots_find(spp_gettid());
    if (idx < SPP_MAX_SLOTS) spp_timer_stop(&spp_slots[idx]);
    pthread_mutex_unlock(&spp_g.mu);
    const struct timespec zero = { 0, 0 };
    while (sigtimedwait(&prof, NULL, &zero) == SIGPROF) {
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- fork ---------------------------------------------------------------------------------- */
/* In the child only the forking thread exists: no consumer, no POSIX timers (timers are not
 * inherited), and the inherited perf fds count the parent's threads. Drop the session so the
 * child is not profiling and can start its own. */
static void atfork_child(void)
{
    spp_handler_atfork_child();
    spp_guard_atfork_child();
    pthread_mutex_init(&g_api_mu, NULL);
    pthread_mutex_init(&spp_g.mu, NULL);
    pthread_mutex_init(&spp_g.agg_mu, NULL); /* the parent's consumer may have held it */
    if (!spp_g.running) return;
    spp_timers_atfork_child();
    for (uint32_t k = 0; k < spp_slots_n_active(); k++) {
        spp_slot *s = &spp_slots[spp_slots_active(k)];
        __atomic_store_n(&s->state, SPP_SLOT_DISARMING, __ATOMIC_SEQ_CST);
        s->fd = -1;
        s->has_timer = 0;
        s->inside = 0;
        munmap(s->ring.cells, spp_slot_bytes(s->depth));
        s->ring.cells = NULL;
        if (s->drops) munmap(s->drops, sizeof *s->drops); /* a drop not written is lost */
        s->drops = NULL;
        __atomic_store_n(&s->state, SPP_SLOT_FREE, __ATOMIC_SEQ_CST);
    }
    spp_slots_reset();
    spp_g.running = 0;
    spp_g.consumer_started = 0;
    spp_g.stop_req = 0;
    sigaction(SIGPROF, &spp_g.prof_prev, NULL);
    spp_guard_uninstall();
    spp_g.agg = NULL; /* the consumer may have been mid-update at fork: leak the child's copy */
    spp_g.have_results = 0;
    memset(&spp_g.folded, 0, sizeof spp_g.folded);
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void init_once(void) { pthread_atfork(NULL, NULL, atfork_child); }

__attribute__((constructor)) static void spp_init(void) { pthread_once(&g_once, init_once); }
