/*
 * shim.c — the live sampling shim: signal handlers, fault guard, per-thread timers,
 * per-thread rings, and the consumer thread. See shim.h and docs/live-shim.md.
 *
 * Who touches what:
 *   handler (SIGPROF, on the sampled thread): its slot's ring head, counters, scratch, and
 *       `periods`; reads the slot's configuration. Async-signal-safe only: no malloc, no
 *       lock, no stdio, no Python API; errno is saved and restored.
 *   consumer (a pthread without a Python thread state): arms and disarms slots, drains the
 *       rings (ring tail), symbolizes, aggregates; folds a finished slot's counters.
 *   API (start/stop/stats, under spp_api_lock): everything else.
 */
#include "shim.h"
#include "agg.h"
#include "walk_body.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define IE_TLS __thread __attribute__((tls_model("initial-exec")))
#define NOINLINE __attribute__((noinline))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define RING_MASK (SPP_RING_CELLS - 1u)

const char *const spp_drop_names[SPP_DROP_COUNT_] = { "cycle", "invalid_frame", "invalid_code",
                                                     "unreadable", "overflow" };

const char *spp_timer_name(spp_timer_kind k)
{
    switch (k) {
    case SPP_TIMER_PERF: return "perf_event";
    case SPP_TIMER_POSIX: return "posix_cpu_timer";
    case SPP_TIMER_AUTO: break;
    }
    return "none";
}

/* ---- per-thread state reachable from signal handlers -------------------------------------
 * Initial-exec TLS: a fixed offset from the thread pointer, so reading it never calls
 * __tls_get_addr (which may allocate). Only a few bytes, well inside glibc's static TLS
 * surplus for dlopen'ed modules. */
static IE_TLS sigjmp_buf *volatile t_guard; /* recovery point of the walk running here */
static IE_TLS int t_tid;                    /* this thread's kernel tid, cached */

int spp_gettid(void)
{
    if (UNLIKELY(t_tid == 0)) t_tid = (int)syscall(SYS_gettid); /* async-signal-safe */
    return t_tid;
}

/* ---- the live reader -------------------------------------------------------------------
 * Direct loads. On x86-64 a plain aligned load is already atomic and ordered as an acquire
 * (TSO), so the reader is a plain copy the compiler can schedule freely. On ARM64 8-byte
 * aligned words (every pointer the walker follows) are single `ldar` acquire loads, so a
 * pointer published by another thread is never seen torn and what it points to is seen
 * initialised. A fault is caught by the guard (on_fault) and turns the whole walk into
 * `unreadable`. */
static inline int live_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    (void)ctx;
#if defined(__aarch64__)
    if (len == 8 && (addr & 7) == 0) {
        uint64_t v = __atomic_load_n((const uint64_t *)(uintptr_t)addr, __ATOMIC_ACQUIRE);
        memcpy(dst, &v, 8);
        return 0;
    }
#endif
    memcpy(dst, (const void *)(uintptr_t)addr, len);
    return 0;
}

static int live_read_fn(void *ctx, uint64_t addr, void *dst, size_t len)
{
    return live_read(ctx, addr, dst, len);
}

/* ---- the fault guard -------------------------------------------------------------------- */
typedef struct fault_chain {
    int sig;
    int installed;           /* our handler is somewhere in this signal's chain */
    struct sigaction prev;   /* what we sit on top of now */
    struct sigaction orig;   /* what was there before spprof first touched it (sticky) */
    int orig_set;
    int foreign;             /* faults not ours seen since install */
} fault_chain;
static fault_chain g_fault[2] = { { .sig = SIGSEGV }, { .sig = SIGBUS } };

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    sigjmp_buf *g = t_guard;
    if (g) {
        /* A fault inside a walk or a guarded read on this thread: abandon it. The mask needs
         * no restoring: SA_NODEFER left it as it was inside the walk. */
        t_guard = NULL;
        siglongjmp(*g, 1);
    }
    /* Not ours. Hand it on with its original siginfo: put the previous action back and
     * return, so the faulting instruction runs again and faults into it. The second time
     * we are entered for a foreign fault is faulthandler calling "its previous handler"
     * (us) by raise(): then go to what was there before us, then to the default. A signal
     * sent by software (si_code <= 0) does not recur by itself, so send it on again. */
    fault_chain *f = &g_fault[sig == SIGBUS];
    int n = __atomic_add_fetch(&f->foreign, 1, __ATOMIC_SEQ_CST);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    const struct sigaction *to = &dfl;
    if (n == 1 && f->installed)
        to = &f->prev; /* we are on top: the handler we covered */
    else if (n <= 2)
        to = &f->orig; /* entered as someone's "previous": what was there before spprof */
    sigaction(sig, to, NULL);
    if (si->si_code <= 0) raise(sig);
}

static int is_ours(const struct sigaction *sa, void (*fn)(int, siginfo_t *, void *))
{
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == fn;
}

/* Put on_fault on top of SIGSEGV/SIGBUS unless it already is. Returns 0 or errno. */
static int fault_install(void)
{
    for (int i = 0; i < 2; i++) {
        fault_chain *f = &g_fault[i];
        struct sigaction cur, sa;
        if (sigaction(f->sig, NULL, &cur) != 0) return errno;
        if (is_ours(&cur, on_fault)) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        struct sigaction old;
        if (sigaction(f->sig, &sa, &old) != 0) return errno;
        f->prev = old;
        if (!f->orig_set) {
            f->orig = old;
            f->orig_set = 1;
        }
        f->installed = 1;
        __atomic_store_n(&f->foreign, 0, __ATOMIC_SEQ_CST);
    }
    return 0;
}

/* At stop: step down if we are on top; if someone (faulthandler) sits above us, stay in the
 * chain as their "previous" handler: on_fault keeps working with no session. */
static void fault_uninstall(void)
{
    for (int i = 0; i < 2; i++) {
        fault_chain *f = &g_fault[i];
        struct sigaction cur;
        if (sigaction(f->sig, NULL, &cur) != 0 || !is_ours(&cur, on_fault)) continue;
        sigaction(f->sig, &f->prev, NULL);
        f->installed = 0;
    }
}

int spp_guard_begin(void)
{
    if (g_fault[0].installed && g_fault[1].installed) {
        struct sigaction a, b;
        sigaction(SIGSEGV, NULL, &a);
        sigaction(SIGBUS, NULL, &b);
        if (is_ours(&a, on_fault) && is_ours(&b, on_fault)) return 0;
    }
    return fault_install() == 0 ? 1 : -1;
}

void spp_guard_end(int installed)
{
    if (installed == 1 && !spp_is_active()) fault_uninstall();
}

/* ---- per-thread slots and rings ------------------------------------------------------------ */
typedef struct cell {
    uint64_t a, b;
} cell;
/* A record: one header cell {a = weight | n_frames << 32 | flags << 48, b = timestamp ns}
 * followed by n_frames cells {a = code, b = lasti}, innermost first. */
#define REC_TRUNCATED 1u

enum { SLOT_FREE = 0, SLOT_ARMED = 1, SLOT_DISARMING = 2 };

typedef struct spp_slot {
    /* handshake between the handler and the consumer (see slot_disarm) */
    int state;
    int busy;
    /* configuration, written by the consumer before state becomes ARMED */
    int tid;
    int fd;           /* perf_event fd, or -1 */
    timer_t timer;
    int has_timer;
    uint64_t tstate;  /* may be updated while armed (atomic) */
    uint64_t ident;
    cell *ring;       /* SPP_RING_CELLS cells, then SPP_MAX_DEPTH scratch frames */
    spw_frame *scratch;
    /* written by the handler only */
    uint64_t head;
    uint64_t cpu_base; /* the thread's CPU clock (ns) when armed */
    uint64_t periods;  /* whole intervals of CPU since then, accounted so far */
    uint32_t seq;     /* seqlock over counts */
    spp_counts counts;
    /* consumer-private */
    uint64_t tail;
    uint32_t seen_gen;
    uint32_t agg_thread;
} spp_slot;

/* Never freed: a late signal may still look at a slot after its session ended. */
static spp_slot g_slots[SPP_MAX_SLOTS];
static uint32_t g_fd_map[SPP_FD_MAP]; /* perf fd -> slot index + 1 */

/* Session state. Handlers read only `target` and `interval_ns`. */
static struct {
    spp_config cfg;
    int running;
    int stop_req;
    int poked;            /* a thread is starting: rescan soon (under mu) */
    int consumer_started; /* written under mu */
    pthread_t consumer;
    pthread_mutex_t mu; /* active list, folded counters, stop request */
    pthread_cond_t cv;
    struct sigaction prof_prev;
    spp_agg *agg;
    uint32_t gen, drain_gen;
    uint32_t active[SPP_MAX_SLOTS];
    uint32_t n_active;
    uint32_t free_list[SPP_MAX_SLOTS];
    uint32_t n_free;
    int failed_tids[64];
    uint32_t n_failed;
    spp_counts folded;
    uint64_t threads_armed, arm_failures, timer_rearms, symbolize_errors, records, rounds;
    uint64_t start_ns, stop_ns;
    uint64_t rng;
    int have_results;
} g = { .mu = PTHREAD_MUTEX_INITIALIZER };

static pthread_mutex_t g_api_mu = PTHREAD_MUTEX_INITIALIZER;
void spp_api_lock(void) { pthread_mutex_lock(&g_api_mu); }
void spp_api_unlock(void) { pthread_mutex_unlock(&g_api_mu); }

static volatile int g_test_tid;
static volatile uint64_t g_test_tstate;

void spp_test_override(uint64_t tstate, int tid)
{
    g_test_tstate = tstate;
    __atomic_store_n(&g_test_tid, tstate ? tid : 0, __ATOMIC_SEQ_CST);
}

/* A clock in ns (clock_gettime is async-signal-safe), or 0 if it cannot be read: the
 * monotonic one (vDSO) for timestamps, a thread's CPU clock for sample weights. */
static uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

/* ---- the walk, guarded ---------------------------------------------------------------------
 * The walker on direct loads, instantiated on every known build's frame layout plus the one
 * that reads offsets at run time; `flavor` picks one per walk. Out of line, so none of its
 * locals lives across walk_guarded's sigsetjmp. */
static NOINLINE void walk_live(spw_flavor flavor, const spw_walk_args *a, spw_walk_result *r)
{
    spw_walk_known(flavor, SPW_ARCH_HOST, a, live_read, NULL, r);
}

/* sigsetjmp(.., 0) saves no signal mask (no syscall: a few ns). The previous recovery point
 * is kept and restored, so a sample taken while this thread was itself inside a guarded
 * region (a test entry, say) nests correctly. */
static NOINLINE void walk_guarded(const spw_walk_args *a, spw_flavor flavor, int tid,
                                  spw_walk_result *r)
{
    sigjmp_buf jb;
    sigjmp_buf *volatile saved = t_guard;
    if (sigsetjmp(jb, 0)) {
        t_guard = saved;
        r->status = SPW_WALK_DROPPED;
        r->reason = SPW_REASON_UNREADABLE;
        r->n_frames = 0;
        return;
    }
    t_guard = &jb;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    const spw_layout *L = a->layout;
    if (tid) {
        /* The thread state must be this thread's: a slot can briefly point at a tstate that
         * was deleted (thread exiting) before the consumer notices. */
        uint64_t nid = 0;
        if (!spw_addr_ok(L->arch, a->tstate, (uint64_t)L->tstate_native_thread_id + 8, 8)) {
            nid = ~0ull;
        } else {
            live_read(NULL, a->tstate + L->tstate_native_thread_id, &nid, 8);
        }
        if (nid != (uint64_t)(unsigned)tid) {
            __atomic_signal_fence(__ATOMIC_SEQ_CST);
            t_guard = saved;
            memset(r, 0, sizeof *r);
            r->status = SPW_WALK_DROPPED;
            r->reason = SPW_REASON_INVALID_FRAME;
            return;
        }
    }
    walk_live(flavor, a, r);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t_guard = saved;
}

void spp_target_init(spp_target *t, const spw_layout *L, uint64_t code_type)
{
    const spw_walk_shape shape = spw_walk_shape_of(L);
    t->layout = *L;
    t->code_type = code_type;
    /* Only a walker compiled for this architecture may use the compiled-in shapes. */
    t->flavor = L->arch == SPW_ARCH_HOST ? spw_walk_shape_flavor(&shape) : SPW_FLAVOR_COUNT_;
}

spw_status spp_walk_now(const spp_target *t, uint64_t tstate, spw_frame *frames, uint32_t max,
                        spw_walk_result *res)
{
    spw_walk_args a = { .layout = &t->layout, .code_type = t->code_type, .tstate = tstate,
                        .frames = frames, .max_frames = max };
    walk_guarded(&a, t->flavor, 0, res);
    return res->status;
}

static NOINLINE int guarded_copy(uint64_t addr, void *dst, size_t len)
{
    sigjmp_buf jb;
    sigjmp_buf *volatile saved = t_guard;
    if (sigsetjmp(jb, 0)) {
        t_guard = saved;
        return -1;
    }
    t_guard = &jb;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    live_read(NULL, addr, dst, len);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t_guard = saved;
    return 0;
}

/* Read a pointer-sized word that must be a plausible address (or 0). */
static int safe_u64(uint64_t addr, uint64_t *out)
{
    if (!spw_addr_ok(SPW_ARCH_HOST, addr, 8, 8)) return -1;
    return guarded_copy(addr, out, 8);
}

NOINLINE spw_sym_err spp_symbolize_guarded(const spw_layout *L, uint64_t code, uint32_t lasti,
                                           spw_symbol *out)
{
    sigjmp_buf jb;
    sigjmp_buf *volatile saved = t_guard;
    spw_reader rd = { live_read_fn, NULL };
    if (sigsetjmp(jb, 0)) {
        t_guard = saved;
        out->function[0] = 0;
        out->file[0] = 0;
        out->line = SPW_LINE_NONE;
        return SPW_SYM_E_UNREADABLE;
    }
    t_guard = &jb;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    spw_sym_err e = spw_symbolize(L, &rd, code, lasti, out);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t_guard = saved;
    return e;
}

/* The benchmark's yardstick: the same walk with no validation (walk_body.h), on the same
 * direct loads. Unguarded: only for the calling thread's own, live stack. */
uint32_t spp_chase_unchecked(const spp_target *t, uint64_t tstate, spw_frame *frames,
                             uint32_t max)
{
    return spw_chase_known(t->flavor, &t->layout, live_read, NULL, tstate, frames, max);
}

/* ---- one sample: walk, record, count (the handler's body) ----------------------------------- */
static inline void count_add(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline void sample_into(spp_slot *s, const spp_target *t, uint64_t tstate, int tid,
                               uint64_t weight, uint64_t ts)
{
    spw_walk_args a = { .layout = &t->layout, .code_type = t->code_type, .tstate = tstate,
                        .frames = s->scratch, .max_frames = SPP_MAX_DEPTH };
    spw_walk_result r;
    walk_guarded(&a, t->flavor, tid, &r);

    int drop = -1;
    uint32_t flags = 0;
    if (r.status == SPW_WALK_DROPPED) {
        drop = (r.reason >= 1 && r.reason <= 4) ? (int)r.reason - 1 : SPP_DROP_INVALID_FRAME;
    } else {
        uint32_t n = r.n_frames;
        uint64_t head = s->head, tail = __atomic_load_n(&s->tail, __ATOMIC_ACQUIRE);
        if (r.status == SPW_WALK_TRUNCATED) flags |= REC_TRUNCATED;
        if (SPP_RING_CELLS - (head - tail) < 1u + n) {
            drop = SPP_DROP_OVERFLOW;
        } else {
            cell *ring = s->ring;
            ring[head & RING_MASK].a = (weight & 0xffffffffu) | (uint64_t)n << 32 |
                                       (uint64_t)flags << 48;
            ring[head & RING_MASK].b = ts;
            for (uint32_t i = 0; i < n; i++) {
                ring[(head + 1 + i) & RING_MASK].a = s->scratch[i].code;
                ring[(head + 1 + i) & RING_MASK].b = s->scratch[i].lasti;
            }
            __atomic_store_n(&s->head, head + 1 + n, __ATOMIC_RELEASE);
        }
    }
    /* Counters: a seqlock (one writer, this thread) so readers see captured + dropped ==
     * expirations at every instant. */
    __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    count_add(&s->counts.expirations, weight);
    count_add(&s->counts.signals, 1);
    if (drop >= 0) {
        count_add(&s->counts.dropped[drop], weight);
    } else {
        count_add(&s->counts.captured, weight);
        if (flags & REC_TRUNCATED) count_add(&s->counts.truncated, weight);
    }
    __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
}

/* A sample's weight: the whole intervals of the thread's CPU time since the slot was armed,
 * less those already accounted. One rule for both sources, read from the clock rather than
 * from what the kernel delivered, so totals stay right however many signals arrive:
 *   - perf_event does not signal overflows that fall in kernel mode (exclude_kernel);
 *   - POSIX CPU timers fire on scheduler ticks and report the expirations in between as
 *     overruns, but under competing load the kernel sometimes stops expiring a thread's
 *     timer; posix_timers_watch() sets it again, and the next sample carries the gap.
 * An early signal, with no whole interval since the last sample, weighs 0 and is not a
 * sample: the next one carries its time. */
static inline uint64_t cpu_weight(spp_slot *s)
{
    const uint64_t now = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    if (now < s->cpu_base) return 1; /* unreadable clock: count the signal itself */
    const uint64_t periods = (now - s->cpu_base) / g.cfg.interval_ns;
    if (periods <= s->periods) return 0;
    uint64_t w = periods - s->periods;
    if (w > 0xffffffffu) w = 0xffffffffu;
    __atomic_store_n(&s->periods, s->periods + w, __ATOMIC_RELAXED); /* the consumer reads it */
    return w;
}

static void on_sigprof(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    int saved_errno = errno;
    uint64_t ts = now_ns();
    uint32_t idx;
    int fd = -1;
    if (si->si_code == SI_TIMER) {
        idx = (uint32_t)si->si_value.sival_int;
    } else if (si->si_code > 0 && si->si_fd >= 0 && (unsigned)si->si_fd < SPP_FD_MAP) {
        fd = si->si_fd;
        uint32_t v = __atomic_load_n(&g_fd_map[fd], __ATOMIC_ACQUIRE);
        if (!v) goto out;
        idx = v - 1;
    } else {
        goto out; /* a SIGPROF sent by kill(): not a timer expiry */
    }
    if (idx >= SPP_MAX_SLOTS) goto out;
    spp_slot *s = &g_slots[idx];
    __atomic_store_n(&s->busy, 1, __ATOMIC_SEQ_CST);
    int tid = spp_gettid();
    if (__atomic_load_n(&s->state, __ATOMIC_SEQ_CST) == SLOT_ARMED && s->tid == tid &&
        (fd < 0 || s->fd == fd)) {
        const uint64_t weight = cpu_weight(s);
        uint64_t tstate = __atomic_load_n(&s->tstate, __ATOMIC_RELAXED);
        if (UNLIKELY(__atomic_load_n(&g_test_tid, __ATOMIC_RELAXED) == tid))
            tstate = g_test_tstate;
        /* weight 0: no whole interval has elapsed; the next sample carries it */
        if (weight) sample_into(s, &g.cfg.target, tstate, tid, weight, ts);
        if (fd >= 0) ioctl(fd, PERF_EVENT_IOC_REFRESH, 1);
    }
    __atomic_store_n(&s->busy, 0, __ATOMIC_SEQ_CST);
out:
    errno = saved_errno;
}

double spp_bench_sample(const spp_target *t, uint64_t tstate, uint32_t n)
{
    spp_slot *s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->ring = malloc(SPP_RING_CELLS * sizeof(cell) + SPP_MAX_DEPTH * sizeof(spw_frame));
    if (!s->ring) {
        free(s);
        return -1;
    }
    s->scratch = (spw_frame *)(void *)(s->ring + SPP_RING_CELLS);
    int tid = spp_gettid();
    uint64_t t0 = now_ns();
    for (uint32_t i = 0; i < n; i++) {
        sample_into(s, t, tstate, tid, 1, now_ns());
        s->tail = s->head; /* the consumer's part, minus the symbolization */
    }
    uint64_t t1 = now_ns();
    int ok = s->counts.captured == n;
    free(s->ring);
    free(s);
    return ok ? (double)(t1 - t0) / n : -1.0;
}

/* ---- timers ----------------------------------------------------------------------------------- */
static long perf_open(int tid, uint64_t period_ns)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_TASK_CLOCK;
    attr.sample_period = period_ns;
    attr.disabled = 1;
    attr.exclude_kernel = 1; /* required when perf_event_paranoid >= 2 */
    attr.exclude_hv = 1;
    attr.wakeup_events = 1;
    return syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static int perf_route(int fd, int tid)
{
    struct f_owner_ex owner = { F_OWNER_TID, tid };
    if (fcntl(fd, F_SETFL, O_ASYNC | O_NONBLOCK) != 0) return -1;
    if (fcntl(fd, F_SETSIG, SIGPROF) != 0) return -1;
    if (fcntl(fd, F_SETOWN_EX, &owner) != 0) return -1;
    return 0;
}

static uint64_t rng_next(void)
{
    g.rng ^= g.rng << 13;
    g.rng ^= g.rng >> 7;
    g.rng ^= g.rng << 17;
    return g.rng;
}

static clockid_t thread_cpu_clock(int tid)
{
    /* The kernel's MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED): any thread of this process can
     * name another's CPU clock without its pthread_t (which may dangle once it exits). */
    return (clockid_t)((~(unsigned)tid << 3) | 6u);
}

static int tid_failed(int tid)
{
    for (uint32_t i = 0; i < g.n_failed && i < 64; i++)
        if (g.failed_tids[i] == tid) return 1;
    return 0;
}

static void note_failed(int tid)
{
    g.failed_tids[g.n_failed++ % 64] = tid;
    g.arm_failures++;
}

/* (Re)start a slot's POSIX timer: first expiry after `first` ns of its thread's CPU, then
 * every interval. */
static int posix_timer_set(spp_slot *s, uint64_t first)
{
    const uint64_t iv = g.cfg.interval_ns;
    const struct itimerspec its = {
        .it_interval = { (time_t)(iv / 1000000000u), (long)(iv % 1000000000u) },
        .it_value = { (time_t)(first / 1000000000u), (long)(first % 1000000000u) },
    };
    return timer_settime(s->timer, 0, &its, NULL);
}

/* POSIX CPU timers can fall silent. Under competing load this kernel sometimes stops
 * expiring a thread's timer for the rest of the thread's life (measured with a plain C
 * program and 2 busy processes per core: a thread signalled for 0.45 of its CPU time and
 * never after). Each consumer round, a timer whose thread has run SPP_STALL_NS (plus two
 * intervals) of CPU past the intervals its samples have accounted for is set again, and
 * the next sample's weight (cpu_weight) carries the time it missed. A thread that is not
 * running does not advance its clock, so it is never mistaken for a silent timer. */
static void posix_timers_watch(void)
{
    if (g.cfg.timer != SPP_TIMER_POSIX) return;
    const uint64_t iv = g.cfg.interval_ns;
    for (uint32_t k = 0; k < g.n_active; k++) {
        spp_slot *s = &g_slots[g.active[k]];
        if (!s->has_timer) continue;
        const uint64_t cpu = clock_ns(thread_cpu_clock(s->tid));
        const uint64_t accounted = s->cpu_base + __atomic_load_n(&s->periods, __ATOMIC_RELAXED) * iv;
        if (cpu > accounted + SPP_STALL_NS + 2 * iv && posix_timer_set(s, iv) == 0)
            g.timer_rearms++;
    }
}

int spp_test_silence_timer(int tid)
{
    static const struct itimerspec off; /* all zero: disarmed */
    int rc = -1;
    pthread_mutex_lock(&g.mu);
    for (uint32_t k = 0; k < g.n_active; k++) {
        spp_slot *s = &g_slots[g.active[k]];
        if (s->tid == tid && s->has_timer) rc = timer_settime(s->timer, 0, &off, NULL);
    }
    pthread_mutex_unlock(&g.mu);
    return rc;
}

/* Arm a timer for thread `tid` whose thread state is `tstate`. Consumer (or start). */
static void slot_arm(int tid, uint64_t tstate, uint64_t ident)
{
    if (g.n_free == 0 || tid_failed(tid)) return;
    /* Must be a live thread of this process (tgkill checks the thread group). */
    if (syscall(SYS_tgkill, getpid(), tid, 0) != 0) {
        note_failed(tid);
        return;
    }
    /* Samples weigh the thread's CPU time from here (cpu_weight). */
    const uint64_t cpu0 = clock_ns(thread_cpu_clock(tid));
    if (cpu0 == 0) {
        note_failed(tid);
        return;
    }
    uint32_t idx = g.free_list[g.n_free - 1];
    spp_slot *s = &g_slots[idx];
    size_t bytes = SPP_RING_CELLS * sizeof(cell) + SPP_MAX_DEPTH * sizeof(spw_frame);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    if (mem == MAP_FAILED) {
        note_failed(tid);
        return;
    }
    int64_t th = spp_agg_thread(g.agg, ident, (uint64_t)tid);
    if (th < 0) {
        munmap(mem, bytes);
        note_failed(tid);
        return;
    }
    s->ring = mem;
    s->scratch = (spw_frame *)(void *)(s->ring + SPP_RING_CELLS);
    s->tid = tid;
    s->fd = -1;
    s->has_timer = 0;
    __atomic_store_n(&s->tstate, tstate, __ATOMIC_RELAXED);
    s->ident = ident;
    s->head = s->tail = 0;
    s->cpu_base = cpu0;
    s->periods = 0;
    s->seq = 0;
    memset(&s->counts, 0, sizeof s->counts);
    s->seen_gen = g.gen;
    s->agg_thread = (uint32_t)th;

    uint64_t iv = g.cfg.interval_ns;
    if (g.cfg.timer == SPP_TIMER_PERF) {
        long fd = perf_open(tid, iv);
        if (fd < 0 || fd >= (long)SPP_FD_MAP || perf_route((int)fd, tid) != 0) {
            if (fd >= 0) close((int)fd);
            goto fail;
        }
        s->fd = (int)fd;
        __atomic_store_n(&g_fd_map[fd], idx + 1, __ATOMIC_RELEASE);
        __atomic_store_n(&s->state, SLOT_ARMED, __ATOMIC_SEQ_CST);
        if (ioctl((int)fd, PERF_EVENT_IOC_REFRESH, 1) != 0) {
            __atomic_store_n(&s->state, SLOT_FREE, __ATOMIC_SEQ_CST);
            __atomic_store_n(&g_fd_map[fd], 0, __ATOMIC_RELEASE);
            close((int)fd);
            goto fail;
        }
    } else {
        struct sigevent sev;
        memset(&sev, 0, sizeof sev);
        sev.sigev_notify = SIGEV_THREAD_ID;
        sev.sigev_signo = SIGPROF;
        sev.sigev_value.sival_int = (int)idx;
        sev._sigev_un._tid = tid;
        if (timer_create(thread_cpu_clock(tid), &sev, &s->timer) != 0) goto fail;
        s->has_timer = 1;
        __atomic_store_n(&s->state, SLOT_ARMED, __ATOMIC_SEQ_CST);
        /* First expiry at a random point of the first period (as Go does), so short
         * threads are not biased against. */
        if (posix_timer_set(s, 1 + rng_next() % iv) != 0) {
            __atomic_store_n(&s->state, SLOT_FREE, __ATOMIC_SEQ_CST);
            timer_delete(s->timer);
            s->has_timer = 0;
            goto fail;
        }
    }
    g.n_free--;
    pthread_mutex_lock(&g.mu);
    g.active[g.n_active++] = idx;
    g.threads_armed++;
    pthread_mutex_unlock(&g.mu);
    return;
fail:
    /* No handler can be inside this slot: its state never became visible as ARMED to a
     * signal of ours, or the source was torn down before any could fire; wait anyway. */
    while (__atomic_load_n(&s->busy, __ATOMIC_SEQ_CST)) sched_yield();
    munmap(mem, bytes);
    s->ring = NULL;
    note_failed(tid);
}

/* ---- the consumer: drain, symbolize, aggregate --------------------------------------------- */
static int code_identity(uint64_t code, uint64_t id[4])
{
    const spw_layout *L = &g.cfg.target.layout;
    if (!spw_addr_ok(L->arch, code, L->code_size, 8)) return -1;
    if (guarded_copy(code + L->ob_type, &id[0], 8) || guarded_copy(code + L->co_qualname, &id[1], 8) ||
        guarded_copy(code + L->co_filename, &id[2], 8) ||
        guarded_copy(code + L->co_linetable, &id[3], 8))
        return -1;
    return 0;
}

static int64_t resolve(uint64_t code, uint32_t lasti)
{
    spp_cache_entry *e = spp_agg_cache(g.agg, code, lasti);
    if (!e) return -1;
    if (e->used && e->checked_gen == g.drain_gen) return e->sym;
    uint64_t id[4] = { 0, 0, 0, 0 };
    int have_id = code_identity(code, id) == 0;
    if (e->used && have_id && !memcmp(id, e->ident, sizeof id)) {
        e->checked_gen = g.drain_gen;
        return e->sym;
    }
    static spw_symbol sym; /* consumer thread only */
    spw_sym_err err = SPW_SYM_E_UNREADABLE;
    if (have_id && id[0] == g.cfg.target.code_type)
        err = spp_symbolize_guarded(&g.cfg.target.layout, code, lasti, &sym);
    if (err != SPW_SYM_OK) {
        g.symbolize_errors++;
        if (err != SPW_SYM_E_LINETABLE || !sym.function[0]) {
            strcpy(sym.function, "<unknown>");
            strcpy(sym.file, "<unknown>");
            sym.line = SPW_LINE_NONE;
        }
    }
    int64_t sid = spp_agg_symbol(g.agg, sym.function, sym.file, sym.line);
    if (sid < 0) return -1;
    e = spp_agg_cache(g.agg, code, lasti); /* same entry: only the symbol table changed */
    if (!e) return -1;
    e->used = 1;
    e->sym = (uint32_t)sid;
    memcpy(e->ident, id, sizeof id);
    e->checked_gen = g.drain_gen;
    return sid;
}

static void slot_drain(spp_slot *s)
{
    static uint32_t syms[SPP_MAX_DEPTH];
    uint64_t head = __atomic_load_n(&s->head, __ATOMIC_ACQUIRE), tail = s->tail;
    while (tail < head) {
        cell h = s->ring[tail & RING_MASK];
        uint32_t n = (uint32_t)(h.a >> 32) & 0xffffu;
        uint64_t w = h.a & 0xffffffffu;
        if (n > SPP_MAX_DEPTH || head - tail < 1u + n) break; /* cannot happen */
        uint32_t k = 0;
        for (uint32_t i = 0; i < n; i++) {
            cell c = s->ring[(tail + 1 + i) & RING_MASK];
            int64_t id = resolve(c.a, (uint32_t)c.b);
            if (id >= 0) syms[k++] = (uint32_t)id;
        }
        spp_agg_add(g.agg, s->agg_thread, syms, k, w);
        g.records++;
        tail += 1 + n;
    }
    __atomic_store_n(&s->tail, tail, __ATOMIC_RELEASE);
}

static void drain_all(void)
{
    g.drain_gen++;
    for (uint32_t i = 0; i < g.n_active; i++) slot_drain(&g_slots[g.active[i]]);
}

static void read_counts(spp_slot *s, spp_counts *out)
{
    for (;;) {
        uint32_t s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1) {
            sched_yield();
            continue;
        }
        uint64_t *dst = (uint64_t *)out;
        const uint64_t *src = (const uint64_t *)&s->counts;
        for (size_t i = 0; i < sizeof *out / 8; i++) dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == s1) return;
    }
}

static void counts_add(spp_counts *to, const spp_counts *from)
{
    uint64_t *d = (uint64_t *)to;
    const uint64_t *s = (const uint64_t *)from;
    for (size_t i = 0; i < sizeof *to / 8; i++) d[i] += s[i];
}

/* Stop a slot's timer, wait until no handler is inside it, drain and release it.
 * Handshake (Dekker, all seq_cst): the handler stores busy=1 then loads state; we store
 * state=DISARMING then load busy. Either we see busy and wait, or the handler sees
 * DISARMING and leaves without touching the ring, the fd or the counters. */
static void slot_disarm(uint32_t pos)
{
    uint32_t idx = g.active[pos];
    spp_slot *s = &g_slots[idx];
    __atomic_store_n(&s->state, SLOT_DISARMING, __ATOMIC_SEQ_CST);
    if (s->has_timer) timer_delete(s->timer);
    if (s->fd >= 0) ioctl(s->fd, PERF_EVENT_IOC_DISABLE, 0);
    while (__atomic_load_n(&s->busy, __ATOMIC_SEQ_CST)) sched_yield();
    if (s->fd >= 0) {
        __atomic_store_n(&g_fd_map[s->fd], 0, __ATOMIC_RELEASE);
        close(s->fd);
        s->fd = -1;
    }
    s->has_timer = 0;
    slot_drain(s);
    spp_counts c;
    read_counts(s, &c);
    pthread_mutex_lock(&g.mu);
    counts_add(&g.folded, &c);
    g.active[pos] = g.active[--g.n_active];
    pthread_mutex_unlock(&g.mu);
    munmap(s->ring, SPP_RING_CELLS * sizeof(cell) + SPP_MAX_DEPTH * sizeof(spw_frame));
    s->ring = NULL;
    s->scratch = NULL;
    __atomic_store_n(&s->state, SLOT_FREE, __ATOMIC_SEQ_CST);
    g.free_list[g.n_free++] = idx;
}

/* Walk the interpreters' thread lists (lock-free, through guarded reads: a tstate being
 * freed under us costs a bad pointer, never a crash) and bring the timers in line.
 * Returns how many thread states are not yet bound to a thread (native id still 0): a
 * thread being born. */
static uint32_t scan(void)
{
    uint32_t unborn = 0;
    const spw_layout *L = &g.cfg.target.layout;
    uint64_t interp = 0;
    g.gen++;
    if (safe_u64(g.cfg.runtime + L->runtime_interpreters_head, &interp) != 0) return 0;
    for (int ni = 0; interp && ni < 256; ni++) {
        if (!spw_addr_ok(L->arch, interp, L->interp_size, 8)) break;
        uint64_t ts = 0;
        if (safe_u64(interp + L->interp_threads_head, &ts) != 0) break;
        for (int nt = 0; ts && nt < 1000000; nt++) {
            uint64_t nid = 0, ident = 0, next = 0;
            if (!spw_addr_ok(L->arch, ts, L->tstate_size, 8)) break;
            if (guarded_copy(ts + L->tstate_native_thread_id, &nid, 8) ||
                guarded_copy(ts + L->tstate_thread_id, &ident, 8) ||
                safe_u64(ts + L->tstate_next, &next) != 0)
                break;
            if (nid == 0) unborn++;
            if (nid > 0 && nid < INT_MAX) {
                int tid = (int)nid;
                uint32_t k = 0;
                for (; k < g.n_active; k++)
                    if (g_slots[g.active[k]].tid == tid) break;
                if (k < g.n_active) {
                    spp_slot *s = &g_slots[g.active[k]];
                    if (s->seen_gen != g.gen) {
                        s->seen_gen = g.gen;
                        if (s->ident != ident) { /* same tid, another thread: restart */
                            slot_disarm(k);
                            slot_arm(tid, ts, ident);
                        } else if (__atomic_load_n(&s->tstate, __ATOMIC_RELAXED) != ts) {
                            __atomic_store_n(&s->tstate, ts, __ATOMIC_RELAXED);
                        }
                    }
                } else {
                    slot_arm(tid, ts, ident);
                }
            }
            ts = next;
        }
        if (safe_u64(interp + L->interp_next, &interp) != 0) break;
    }
    for (uint32_t k = 0; k < g.n_active;) {
        if (g_slots[g.active[k]].seen_gen != g.gen)
            slot_disarm(k); /* moves the last one into k */
        else
            k++;
    }
    return unborn;
}

/* The consumer sleeps SPP_SCAN_NS between rounds: each wake-up costs the running threads a
 * timer interrupt, so it wakes rarely. A thread started through `threading` or `_thread`
 * pokes it (spp_thread_starting, from an audit hook): it then rescans every SPP_BORN_NS
 * until the new thread is bound and armed, so a new thread is sampled from its first
 * moments; threads started some other way are found by the next round. */
static void *consumer_main(void *arg)
{
    (void)arg;
    uint32_t rapid = 0;    /* fast rescans left after a poke */
    uint64_t drained = 0;  /* when the rings were last drained */
    for (;;) {
        pthread_mutex_lock(&g.mu);
        if (!g.stop_req && !g.poked) {
            struct timespec dl;
            clock_gettime(CLOCK_MONOTONIC, &dl);
            uint64_t ns = (uint64_t)dl.tv_nsec + (rapid ? SPP_BORN_NS : g.cfg.scan_ns);
            dl.tv_sec += (time_t)(ns / 1000000000u);
            dl.tv_nsec = (long)(ns % 1000000000u);
            pthread_cond_timedwait(&g.cv, &g.mu, &dl);
        }
        int stop = g.stop_req;
        if (g.poked) {
            g.poked = 0;
            rapid = SPP_BORN_TRIES;
        }
        pthread_mutex_unlock(&g.mu);
        if (stop) break;
        uint64_t armed = g.threads_armed;
        uint32_t unborn = scan();
        __atomic_fetch_add(&g.rounds, 1, __ATOMIC_RELAXED);
        if (rapid) rapid = (g.threads_armed != armed && unborn == 0) ? 0 : rapid - 1;
        /* The rest is periodic work: not repeated by the fast rescans, and not put off by
         * them either (a program starting threads all the time keeps them coming). */
        uint64_t now = now_ns();
        if (now - drained >= g.cfg.scan_ns) {
            drained = now;
            fault_install(); /* back on top if faulthandler.enable() ran after start */
            posix_timers_watch();
            drain_all();
        }
    }
    drain_all();
    while (g.n_active) slot_disarm(g.n_active - 1);
    return NULL;
}

void spp_thread_starting(void)
{
    pthread_mutex_lock(&g.mu);
    if (g.running && !g.stop_req) {
        g.poked = 1; /* seen by the consumer's first round if it is not running yet */
        if (g.consumer_started) pthread_cond_signal(&g.cv);
    }
    pthread_mutex_unlock(&g.mu);
}

/* ---- session ------------------------------------------------------------------------------- */
static void errf(char *err, size_t len, const char *fmt, const char *a, int e)
{
    snprintf(err, len, fmt, a, e ? strerror(e) : "");
}

int spp_is_active(void) { return g.running; }

int spp_start(const spp_config *cfg, char *err, size_t errlen)
{
    if (g.running) {
        errf(err, errlen, "%sprofiler already running%s", "", 0);
        return -1;
    }
    g.cfg = *cfg;
    if (g.cfg.interval_ns < SPP_INTERVAL_MIN_NS) g.cfg.interval_ns = SPP_INTERVAL_MIN_NS;
    if (g.cfg.scan_ns < SPP_BORN_NS) g.cfg.scan_ns = SPP_SCAN_NS;

    /* Choose the timer source: perf_event if this process may open a task-clock counter. */
    if (g.cfg.timer != SPP_TIMER_POSIX) {
        long fd = perf_open(0, g.cfg.interval_ns);
        int e = errno;
        if (fd >= 0) {
            close((int)fd);
            g.cfg.timer = SPP_TIMER_PERF;
        } else if (g.cfg.timer == SPP_TIMER_PERF) {
            errf(err, errlen, "%sperf_event_open(task-clock) refused: %s", "", e);
            return -1;
        } else {
            g.cfg.timer = SPP_TIMER_POSIX;
        }
    }

    struct sigaction cur, sa;
    sigaction(SIGPROF, NULL, &cur);
    if (!is_ours(&cur, on_sigprof) && ((cur.sa_flags & SA_SIGINFO) ||
                                        (cur.sa_handler != SIG_DFL && cur.sa_handler != SIG_IGN))) {
        errf(err, errlen, "%sa SIGPROF handler is already installed by someone else "
                          "(another profiler, or signal.signal(SIGPROF, ...)); refusing to replace it%s",
             "", 0);
        return -1;
    }
    int e = fault_install();
    if (e) {
        errf(err, errlen, "%scannot install the SIGSEGV/SIGBUS guard: %s", "", e);
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigprof;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask); /* never SIGSEGV/SIGBUS: the guard must be deliverable */
    if (!is_ours(&cur, on_sigprof)) g.prof_prev = cur;
    sigaction(SIGPROF, &sa, NULL);

    spp_results_free();
    g.agg = spp_agg_new();
    if (!g.agg) {
        errf(err, errlen, "%sout of memory%s", "", 0);
        sigaction(SIGPROF, &g.prof_prev, NULL);
        return -1;
    }
    memset(&g.folded, 0, sizeof g.folded);
    g.threads_armed = g.arm_failures = g.timer_rearms = g.symbolize_errors = g.records = 0;
    g.rounds = 0;
    g.n_active = 0;
    g.n_failed = 0;
    g.n_free = 0;
    for (uint32_t i = SPP_MAX_SLOTS; i-- > 0;) {
        if (__atomic_load_n(&g_slots[i].state, __ATOMIC_SEQ_CST) == SLOT_FREE)
            g.free_list[g.n_free++] = i;
    }
    g.rng = now_ns() | 1;
    g.stop_req = 0;
    g.poked = 0;
    g.start_ns = now_ns();
    g.stop_ns = 0;
    g.gen = g.drain_gen = 0;
    g.have_results = 1;
    g.running = 1;

    scan(); /* threads existing now are armed before start() returns */

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g.cv, &ca);
    pthread_condattr_destroy(&ca);
    /* The consumer takes no asynchronous signals (they belong to Python's main thread). */
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    e = pthread_create(&g.consumer, NULL, consumer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        while (g.n_active) slot_disarm(g.n_active - 1);
        g.running = 0;
        sigaction(SIGPROF, &g.prof_prev, NULL);
        fault_uninstall();
        errf(err, errlen, "%scannot start the consumer thread: %s", "", e);
        return -1;
    }
    pthread_mutex_lock(&g.mu);
    g.consumer_started = 1;
    pthread_mutex_unlock(&g.mu);
    return 0;
}

int spp_stop(void)
{
    if (!g.running) return -1;
    pthread_mutex_lock(&g.mu);
    g.stop_req = 1;
    pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pthread_join(g.consumer, NULL);
    pthread_mutex_lock(&g.mu);
    g.consumer_started = 0;
    pthread_mutex_unlock(&g.mu);
    pthread_cond_destroy(&g.cv);
    /* Every timer is gone. SIG_IGN discards a SIGPROF still pending on any thread, then
     * the handler that was there before comes back. */
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPROF, &ign, NULL);
    sigaction(SIGPROF, &g.prof_prev, NULL);
    fault_uninstall();
    g.stop_ns = now_ns();
    g.running = 0;
    return 0;
}

void spp_get_stats(spp_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&g.mu);
    out->c = g.folded;
    for (uint32_t i = 0; g.running && i < g.n_active; i++) {
        spp_counts c;
        read_counts(&g_slots[g.active[i]], &c);
        counts_add(&out->c, &c);
    }
    out->threads_active = g.running ? g.n_active : 0;
    pthread_mutex_unlock(&g.mu);
    out->timer = g.have_results ? g.cfg.timer : SPP_TIMER_AUTO;
    out->interval_ns = g.cfg.interval_ns;
    out->threads_armed = g.threads_armed;
    out->arm_failures = g.arm_failures;
    out->timer_rearms = g.timer_rearms;
    out->symbolize_errors = g.symbolize_errors;
    out->records = g.records;
    out->consumer_rounds = __atomic_load_n(&g.rounds, __ATOMIC_RELAXED);
    out->active = g.running;
}

const struct spp_agg *spp_results(uint64_t *start_ns, uint64_t *stop_ns)
{
    *start_ns = g.start_ns;
    *stop_ns = g.stop_ns;
    return g.running ? NULL : g.agg;
}

void spp_results_free(void)
{
    spp_agg_free(g.agg);
    g.agg = NULL;
}

/* ---- fork ---------------------------------------------------------------------------------- */
/* In the child only the forking thread exists: no consumer, no POSIX timers (timers are not
 * inherited), and the inherited perf fds count the parent's threads. Drop the session so
 * the child is not profiling and can start its own. */
static void atfork_child(void)
{
    t_tid = 0;
    t_guard = NULL;
    pthread_mutex_init(&g_api_mu, NULL);
    pthread_mutex_init(&g.mu, NULL);
    g_test_tid = 0;
    if (!g.running) return;
    for (uint32_t i = 0; i < g.n_active; i++) {
        spp_slot *s = &g_slots[g.active[i]];
        __atomic_store_n(&s->state, SLOT_DISARMING, __ATOMIC_SEQ_CST);
        if (s->fd >= 0) {
            g_fd_map[s->fd] = 0;
            close(s->fd);
            s->fd = -1;
        }
        s->has_timer = 0;
        s->busy = 0;
        munmap(s->ring, SPP_RING_CELLS * sizeof(cell) + SPP_MAX_DEPTH * sizeof(spw_frame));
        s->ring = NULL;
        __atomic_store_n(&s->state, SLOT_FREE, __ATOMIC_SEQ_CST);
    }
    g.n_active = 0;
    g.running = 0;
    g.consumer_started = 0;
    g.stop_req = 0;
    sigaction(SIGPROF, &g.prof_prev, NULL);
    fault_uninstall();
    g.agg = NULL; /* the consumer may have been mid-update at fork: leak the child's copy */
    g.have_results = 0;
    memset(&g.folded, 0, sizeof g.folded);
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void init_once(void) { pthread_atfork(NULL, NULL, atfork_child); }

__attribute__((constructor)) static void spp_init(void) { pthread_once(&g_once, init_once); }
