/*
 * handler.c — signal context only: the SIGPROF handler and the sample it takes.
 *
 * The calls this file makes, all async-signal-safe: clock_gettime (the monotonic clock
 * through the vDSO, the thread's CPU clock through a system call), syscall(SYS_gettid)
 * (once per thread, then cached), ioctl on the thread's perf fd, and the fault guard's
 * sigsetjmp (guard.c); with keep_drops, what drop_record.c makes (no more). No malloc, no
 * lock, no stdio, no Python API; errno is saved and restored. State is reached without
 * dynamic TLS: the slot comes from the signal itself (timers.h), the tid and the guard's
 * recovery point are initial-exec TLS.
 */
#include "handler.h"
#include "guard.h"
#include "live_reader.h"
#include "read_log.h"
#include "session.h"
#include "timers.h"
#include "walk_body.h"

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define IE_TLS __thread __attribute__((tls_model("initial-exec")))
#define NOINLINE __attribute__((noinline))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Past the depth limit a walk still follows the chain, checking only its links, so that a
 * loop is reported as a cycle instead of a stack: max_follow = this many times the depth
 * limit (walk.h; the walker follows more, 3 x the frames before the first one left out, when
 * many were skipped). A cycle of up to 4/3 of the depth limit is still caught, and a stack
 * 20,000 frames deep costs a few microseconds instead of the whole budget. */
#define SPP_FOLLOW_FACTOR 4u

static IE_TLS int t_tid;
static uint64_t g_stale; /* signals that named a slot not theirs (stats, tests) */

uint64_t spp_handler_stale(void) { return __atomic_load_n(&g_stale, __ATOMIC_RELAXED); }

int spp_gettid(void)
{
    if (UNLIKELY(t_tid == 0)) t_tid = (int)syscall(SYS_gettid);
    return t_tid;
}

void spp_handler_atfork_child(void) { t_tid = 0; }

uint64_t spp_clock_ns(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}


/* Unguarded: the caller holds a recovery point. The walker validated `code` as a code
 * object of at least code_size bytes, so these fields are inside it. The hash only has to
 * tell this object from another that takes its address later: a multiply-xor of the four
 * words (names and files are interned strings, the line table is the object's own). */
static inline uint32_t code_identity(const spw_layout *L, uint64_t code)
{
    uint64_t q, f, lt;
    uint32_t line;
    spp_live_read(NULL, code + L->co_qualname, &q, 8);
    spp_live_read(NULL, code + L->co_filename, &f, 8);
    spp_live_read(NULL, code + L->co_linetable, &lt, 8);
    spp_live_read(NULL, code + L->co_firstlineno, &line, 4);
    uint64_t h = (q ^ (uint64_t)line << 40) * 0x9e3779b97f4a7c15ull ^ (f + lt) * 0xc2b2ae3d27d4eb4full ^ lt;
    return (uint32_t)(h ^ h >> 32);
}

/* The sampler thread's walks read through a log (core/read_log.h) that is checked again
 * after the walk: sampler thread only, so one static log, touched only in that mode. */
#define SPP_LOG_CAP 65536u
static spw_read_entry g_log_entries[SPP_LOG_CAP];
static spw_read_log g_log = { g_log_entries, SPP_LOG_CAP, 0, 0 };

static inline __attribute__((always_inline)) int spp_logged_read(void *ctx, uint64_t addr,
                                                                 void *dst, size_t len)
{
    spp_live_read(NULL, addr, dst, len);
    spw_read_log_add(ctx, addr, dst, len);
    return 0;
}

typedef struct walk_job {
    const spp_target *t;
    spw_walk_args a;
    int tid;
    spp_ring *ring;  /* record the frames here (from ring->head + 1), or NULL */
    int recorded;    /* the frames are in the ring: 1 (0: no room, or no ring) */
    spw_read_log *log; /* sampler thread: read through the log, then check it (consistent) */
    int consistent;
    spw_walk_result *r;
} walk_job;

/* The walker on direct loads, instantiated on every known build's frame layout plus the
 * one that reads offsets at run time; `flavor` picks one. Then, still under the guard, each
 * frame goes into the ring with its code object's identity (ring.h): one pass, and a fault
 * while reading an identity abandons the record before it is published. */
static NOINLINE void walk_job_run(void *arg)
{
    walk_job *j = arg;
    const spw_layout *L = j->a.layout;
    if (j->tid) {
        uint64_t nid = ~0ull;
        if (spw_addr_ok(L->arch, j->a.tstate, (uint64_t)L->tstate_native_thread_id + 8, 8))
            spp_live_read(NULL, j->a.tstate + L->tstate_native_thread_id, &nid, 8);
        if (nid != (uint64_t)(unsigned)j->tid) {
            memset(j->r, 0, sizeof *j->r);
            j->r->status = SPW_WALK_DROPPED;
            j->r->reason = SPW_REASON_INVALID_FRAME;
            return;
        }
    }
    if (j->log) {
        spw_read_log_reset(j->log);
        spw_walk_known(j->t->flavor, SPW_ARCH_HOST, &j->a, spp_logged_read, j->log, j->r);
        /* twice: the re-reads of one pass take about a microsecond, and a thread looping
         * through the same frames can make one pass straddle two moments of it */
        const uint64_t skip = spw_read_log_top_instr(j->log, L, j->a.tstate);
        j->consistent = spw_read_log_holds(j->log, spp_live_read, NULL, skip) &&
                        spw_read_log_holds(j->log, spp_live_read, NULL, skip);
    } else {
        spw_walk_known(j->t->flavor, SPW_ARCH_HOST, &j->a, spp_live_read, NULL, j->r);
    }
    const uint32_t n = j->r->n_frames;
    if (!j->ring || j->r->status == SPW_WALK_DROPPED || spp_ring_free(j->ring) < 1u + n) return;
    spp_cell *const cells = j->ring->cells;
    const uint64_t mask = j->ring->mask, head = j->ring->head;
    const spw_frame *const fr = j->a.frames;
    /* A small memo (direct-mapped on the address) spares the reads for a code object met
     * again in the same stack: recursion, and functions that call each other in turn. */
    struct {
        uint64_t code;
        uint32_t id;
    } memo[8] = { { 0, 0 } };
    for (uint32_t i = 0; i < n; i++) {
        const uint64_t code = fr[i].code;
        const unsigned b = (unsigned)(code >> 4) & 7u;
        if (memo[b].code != code) {
            memo[b].code = code;
            memo[b].id = code_identity(L, code);
        }
        spp_cell *c = &cells[(head + 1 + i) & mask];
        c->a = code;
        c->b = (uint64_t)fr[i].lasti | (uint64_t)memo[b].id << 32;
    }
    j->recorded = 1;
}

/* The guarded walk; with `ring`, the frames are also recorded there (see walk_job_run) and
 * the return value says whether they were (0 when there was no room). With `consistent`
 * (the sampler thread), the walk reads through the read log and says whether it held. */
static int sample_walk(const spp_target *t, uint64_t tstate, int tid, spw_frame *frames,
                       uint32_t max, spp_ring *ring, spw_walk_result *r, int *consistent)
{
    walk_job j = { .t = t,
                   .a = { .layout = &t->layout, .code_type = t->code_type, .tstate = tstate,
                          .frames = frames, .max_frames = max,
                          .max_follow = SPP_FOLLOW_FACTOR * max },
                   .tid = tid, .ring = ring, .recorded = 0,
                   .log = consistent ? &g_log : NULL, .consistent = 0, .r = r };
    if (spp_guarded(walk_job_run, &j) != 0) {
        r->status = SPW_WALK_DROPPED;
        r->reason = SPW_REASON_UNREADABLE;
        r->n_frames = 0;
        if (consistent) *consistent = 1; /* a fault is a drop, not a torn walk */
        return 0;
    }
    if (consistent) *consistent = j.consistent;
    return j.recorded;
}

void spp_sample_walk(const spp_target *t, uint64_t tstate, int tid, spw_frame *frames,
                     uint32_t max, spw_walk_result *r)
{
    sample_walk(t, tstate, tid, frames, max, NULL, r, NULL);
}

typedef struct identity_job {
    const spw_layout *L;
    uint64_t code;
    uint32_t id;
} identity_job;

static void identity_run(void *arg)
{
    identity_job *j = arg;
    j->id = code_identity(j->L, j->code);
}

int spp_code_identity(const spw_layout *L, uint64_t code, uint32_t *out)
{
    identity_job j = { L, code, 0 };
    if (!spw_addr_ok(L->arch, code, L->code_size, 8) || spp_guarded(identity_run, &j) != 0)
        return -1;
    *out = j.id;
    return 0;
}

static inline void count_add(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

/* A record of CPU time no stack was sampled for: no frames, flag UNSAMPLED. */
static void unsampled_into(spp_slot *s, uint64_t weight, uint64_t ts)
{
    int drop = -1;
    if (spp_ring_free(&s->ring) < 1u) {
        drop = SPP_DROP_OVERFLOW;
    } else {
        spp_cell *c = spp_ring_at(&s->ring, s->ring.head);
        c->a = spp_rec_header(weight, 0, SPP_REC_UNSAMPLED);
        c->b = ts;
        spp_ring_publish(&s->ring, 1u);
        spp_slot_mark_dirty(s->index);
    }
    __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    count_add(&s->counts.expirations, weight);
    if (drop >= 0) {
        count_add(&s->counts.dropped[drop], weight);
    } else {
        count_add(&s->counts.captured, weight);
        count_add(&s->counts.unsampled, weight);
    }
    __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
}

/* A record (header + frames, or none with `drop` >= 0) and its counts: the frames are in the
 * ring already when `recorded` (sample_walk). */
static void publish(spp_slot *s, const spw_walk_result *r, int recorded, int drop,
                    uint32_t flags, uint64_t weight, uint64_t ts)
{
    if (drop < 0 && r->status == SPW_WALK_DROPPED) {
        drop = (r->reason >= 1 && r->reason <= 4) ? (int)r->reason - 1 : SPP_DROP_INVALID_FRAME;
    } else if (drop < 0 && !recorded) {
        drop = SPP_DROP_OVERFLOW;
    }
    if (drop < 0) {
        if (r->status == SPW_WALK_TRUNCATED) flags |= SPP_REC_TRUNCATED;
        spp_cell *c = spp_ring_at(&s->ring, s->ring.head);
        c->a = spp_rec_header(weight, r->n_frames, flags);
        c->b = ts;
        spp_ring_publish(&s->ring, 1u + r->n_frames);
        spp_slot_mark_dirty(s->index);
    }
    /* A seqlock (one writer: the slot's thread, or the sampler thread) so readers see
     * captured + dropped == expirations at every instant. */
    __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    count_add(&s->counts.expirations, weight);
    count_add(&s->counts.signals, 1);
    if (drop >= 0) {
        count_add(&s->counts.dropped[drop], weight);
    } else {
        count_add(&s->counts.captured, weight);
        if (flags & SPP_REC_TRUNCATED) count_add(&s->counts.truncated, weight);
    }
    __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
}

void spp_sample_into(spp_slot *s, const spp_target *t, uint64_t tstate, int tid,
                     uint64_t weight, uint64_t ts)
{
    spw_walk_result r;
    const int recorded = sample_walk(t, tstate, tid, s->scratch, s->depth, &s->ring, &r, NULL);
    publish(s, &r, recorded, -1, 0, weight, ts);
    /* keep_drops: the thread is still interrupted, so a second walk reads what this one did */
    if (UNLIKELY(r.status == SPW_WALK_DROPPED) && s->drops) spp_drop_record(s, t, tstate, &r);
}

/* ---- the sampler thread's samples (sampler.c): another thread's stack, read while it runs */

int spp_sample_concurrent(spp_slot *s, const spp_target *t, uint64_t weight, uint64_t ts,
                          uint32_t flags)
{
    const uint64_t tstate = __atomic_load_n(&s->tstate, __ATOMIC_RELAXED);
    spw_walk_result r;
    for (int attempt = 0; attempt < SPP_TORN_TRIES; attempt++) {
        int consistent = 0;
        const int recorded =
            sample_walk(t, tstate, s->tid, s->scratch, s->depth, &s->ring, &r, &consistent);
        if (consistent) {
            publish(s, &r, recorded, -1, flags, weight, ts);
            if (UNLIKELY(r.status == SPW_WALK_DROPPED) && s->drops)
                spp_drop_from_log(s, t, tstate, &g_log, s->scratch, &r, 0);
            return r.status != SPW_WALK_DROPPED && recorded;
        }
        count_add(&s->counts.retries, 1);
    }
    publish(s, &r, 0, SPP_DROP_TORN, 0, weight, ts);
    /* keep_drops: the last attempt's log, which the replay walks to whatever it gives */
    if (s->drops) spp_drop_from_log(s, t, tstate, &g_log, s->scratch, &r, 1);
    return 0;
}

void spp_sample_repeat(spp_slot *s, uint64_t weight, uint64_t ts, uint32_t flags)
{
    spw_walk_result r;
    memset(&r, 0, sizeof r);
    r.status = SPW_WALK_OK;
    const int room = spp_ring_free(&s->ring) >= 1u;
    publish(s, &r, room, -1, flags | SPP_REC_REPEAT, weight, ts);
    if (room) count_add(&s->counts.reused, weight);
}

/* A sample's weight: the whole intervals of the thread's CPU clock since cpu_base, less
 * those already accounted. Read from the clock rather than from what the kernel delivered,
 * so totals stay right however many signals arrive (POSIX timers lose expirations under
 * load; perf may not signal overflows in kernel mode). cpu_base starts at a random phase of
 * an interval (slot arming), so a thread shorter than one interval is sampled with
 * probability length / interval: totals are right in expectation at any thread length. An
 * early signal, with no whole interval since the last sample, weighs 0 and is not a sample:
 * the next one carries its time. */
static inline uint64_t cpu_weight(spp_slot *s, uint64_t interval_ns)
{
    const uint64_t now = spp_clock_ns(CLOCK_THREAD_CPUTIME_ID);
    if (now == 0) return 1; /* unreadable clock: count the signal itself */
    return spp_weight_at(s, now, interval_ns);
}

void spp_sample_rest(spp_slot *s)
{
    const uint64_t w = cpu_weight(s, spp_g.cfg.interval_ns);
    if (w) unsampled_into(s, w, spp_now_ns());
}

/* Of a weight, the part the stack sampled now stands for. A perf counter that may count user
 * time only overflows in user mode only: the thread's kernel time since the last sample
 * (system calls) was not spent in the stack it is in now, so it goes to <unsampled>
 * instead. Each overflow closes one interval of the counter that ended in user mode, so the
 * signals themselves say how many of the weight's intervals were user time. The counter's
 * count cannot: a task-clock counter opened with exclude_kernel skips its overflows in
 * kernel mode but, on some kernels (6.18 here), still counts kernel time. An early signal
 * (weight 0) leaves its interval to the next. */
static inline uint64_t user_part(spp_slot *s, int fd, uint64_t weight)
{
    if (fd < 0 || spp_g.counts_kernel) return weight;
    uint64_t sigs = s->user_sigs + 1;
    if (sigs > SPP_USER_SIGS_MAX) sigs = SPP_USER_SIGS_MAX;
    const uint64_t w = weight < sigs ? weight : sigs;
    s->user_sigs = (uint32_t)(sigs - w);
    return w;
}

void spp_on_sigprof(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    const int saved_errno = errno;
    const uint64_t ts = spp_now_ns();
    int fd;
    const int idx = spp_timer_slot_of(si, &fd);
    if (idx >= 0) {
        spp_slot *s = &spp_slots[idx];
        const int tid = spp_gettid();
        spp_slot_enter(s);
        if (spp_slot_owned_by(s, tid) && (fd < 0 || s->fd == fd)) {
            const uint64_t iv = spp_g.cfg.interval_ns;
            const uint64_t weight = cpu_weight(s, iv);
            const uint64_t sampled = user_part(s, fd, weight);
            if (sampled)
                spp_sample_into(s, &spp_g.cfg.target, __atomic_load_n(&s->tstate, __ATOMIC_RELAXED),
                                tid, sampled, ts);
            if (weight > sampled) unsampled_into(s, weight - sampled, ts);
            if (fd >= 0) spp_timer_rearm_perf(s, fd, iv);
        } else {
            __atomic_add_fetch(&g_stale, 1, __ATOMIC_RELAXED);
        }
        spp_slot_leave(s);
    }
    errno = saved_errno;
}
