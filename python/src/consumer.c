/*
 * consumer.c — the consumer thread: finds the threads to sample, arms and disarms their
 * slots, drains the rings, symbolizes and aggregates. A pthread without a Python thread
 * state; it reads the interpreter only through the guarded live reader.
 */
#include "agg.h"
#include "drops.h"
#include "guard.h"
#include "handler.h"
#include "live_reader.h"
#include "session.h"
#include "threads.h"
#include "timers.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* A thread found after start() whose CPU clock is below this is counted from its birth: a
 * thread started through `threading` is armed within a few hundred microseconds, and its
 * time before that is its own Python code's. A thread that ran longer before it got a thread
 * state (a C thread calling PyGILState_Ensure late) is counted from the moment it is armed. */
#define SPP_BIRTH_NS 10000000ull

/* ---- arming ---------------------------------------------------------------------------- */
/* Threads that could not be armed are not tried again at every scan, but only for a while:
 * the failure may have been passing (memory), and the kernel gives a tid to a new thread
 * once the old one is gone, which must then be armed like any other. */
#define SPP_RETRY_NS 100000000ull
static struct {
    int tid;
    uint64_t at;
} g_failed[64];
static uint32_t g_n_failed;

static int tid_failed(int tid)
{
    const uint64_t now = spp_now_ns();
    for (uint32_t i = 0; i < g_n_failed && i < 64; i++)
        if (g_failed[i].tid == tid && now - g_failed[i].at < SPP_RETRY_NS) return 1;
    return 0;
}

static void note_failed(int tid)
{
    const uint32_t i = g_n_failed++ % 64;
    g_failed[i].tid = tid;
    g_failed[i].at = spp_now_ns();
    spp_g.arm_failures++;
}

/* A slot's memory: its ring, the walk's scratch frames, and the symbols of its last stack
 * (+ <truncated>, + <idle>). */
size_t spp_slot_bytes(uint32_t depth)
{
    return (size_t)spp_g.ring_cells * sizeof(spp_cell) + depth * sizeof(spw_frame) +
           (depth + 2u) * sizeof(uint32_t);
}

static void slot_free_memory(spp_slot *s)
{
    if (s->drops) munmap(s->drops, sizeof *s->drops);
    s->drops = NULL;
    munmap(s->ring.cells, spp_slot_bytes(s->depth));
    s->ring.cells = NULL;
    s->scratch = NULL;
    s->last_syms = NULL;
}

/* Arm a timer for thread `tid` whose thread state is `tstate`. */
static void slot_arm(int tid, uint64_t tstate, uint64_t ident, int initial)
{
    if (tid_failed(tid)) return;
    uint32_t idx;
    if (spp_slots_take(&idx) != 0) return; /* counted as unsampled by the scan */
    /* Must be a live thread of this process (tgkill checks the thread group). */
    if (syscall(SYS_tgkill, getpid(), tid, 0) != 0) {
        note_failed(tid);
        return;
    }
    /* A thread that has not run yet has spent 0 ns: only a failed read is a failure. */
    struct timespec ts;
    if (clock_gettime(spp_thread_cpu_clock(tid), &ts) != 0) {
        note_failed(tid);
        return;
    }
    const uint64_t cpu0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    spp_slot *s = &spp_slots[idx];
    const uint32_t depth = spp_g.cfg.max_depth;
    void *mem = mmap(NULL, spp_slot_bytes(depth), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) {
        note_failed(tid);
        return;
    }
    int64_t th = spp_agg_thread(spp_g.agg, ident, (uint64_t)tid);
    spp_g.threads_merged = spp_agg_threads_merged(spp_g.agg);
    if (th < 0) {
        munmap(mem, spp_slot_bytes(depth));
        note_failed(tid);
        return;
    }
    /* keep_drops: the recorder, untouched (no RSS) until a drop fills it; without one the
     * thread's drops are not kept, it is still sampled */
    s->drops = NULL;
    if (spp_g.cfg.drops_dir[0]) {
        void *d = mmap(NULL, sizeof(spp_droprec), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (d != MAP_FAILED) s->drops = d;
    }
    s->ring.cells = mem;
    s->ring.mask = spp_g.ring_cells - 1u;
    s->ring.head = s->ring.tail = s->ring.high = 0;
    s->depth = depth;
    s->scratch = (spw_frame *)(void *)((spp_cell *)mem + spp_g.ring_cells);
    s->last_syms = (uint32_t *)(void *)(s->scratch + depth);
    s->last_n = UINT32_MAX;
    s->last_cpu = cpu0;
    s->have_last = 0;
    s->idle_ticks = 0;
    s->tid = tid;
    __atomic_store_n(&s->tstate, tstate, __ATOMIC_RELAXED);
    s->pinned = 0;
    s->ident = ident;
    /* Accounting starts at a random phase of an interval (handler.c, cpu_weight), from the
     * thread's birth when it was born during the session. */
    const uint64_t iv = spp_g.cfg.interval_ns;
    const uint64_t phase = spp_rng_next() % iv;
    const uint64_t base = (!initial && cpu0 <= SPP_BIRTH_NS ? 0 : cpu0) - phase;
    s->cpu_base = base;
    s->periods = 0;
    s->set_cpu = cpu0;
    s->user_sigs = 0;
    s->perf_first = 0;
    s->seq = 0;
    memset(&s->counts, 0, sizeof s->counts);
    s->seen_gen = spp_g.gen;
    s->agg_thread = (uint32_t)th;
    s->index = idx;
    const uint64_t done = (cpu0 - base) / iv; /* whole intervals behind us already */
    const uint64_t first = base + (done + 1) * iv - cpu0;

    if (spp_g.cfg.timer == SPP_TIMER_SAMPLER) { /* no timer: the sampler thread comes by */
        s->fd = -1;
        s->has_timer = 0;
        __atomic_store_n(&s->state, SPP_SLOT_ARMED, __ATOMIC_SEQ_CST);
        goto armed;
    }
    if (spp_timer_create(s, idx, spp_g.cfg.timer, first) != 0) goto fail;
    if (spp_g.cfg.timer == SPP_TIMER_PERF && s->fd < 0) spp_g.posix_fallbacks++;
    __atomic_store_n(&s->state, SPP_SLOT_ARMED, __ATOMIC_SEQ_CST);
    if (spp_timer_start(s, first, iv) != 0) {
        spp_slot_quiesce(s);
        spp_timer_destroy(s);
        goto fail;
    }
armed:
    pthread_mutex_lock(&spp_g.mu);
    spp_slots_activate(idx);
    spp_g.threads_armed++;
    pthread_mutex_unlock(&spp_g.mu);
    return;
fail:
    spp_timer_destroy(s);
    __atomic_store_n(&s->state, SPP_SLOT_FREE, __ATOMIC_SEQ_CST);
    slot_free_memory(s);
    note_failed(tid);
}

/* ---- draining ---------------------------------------------------------------------------- */
static int64_t special_symbol(const char *name)
{
    return spp_agg_symbol(spp_g.agg, name, "", SPW_LINE_NONE);
}

/* The symbol of frame (code, lasti) whose code object had identity `id` when sampled. */
static int64_t resolve(uint64_t code, uint32_t lasti, uint32_t id)
{
    spp_cache_entry *e = spp_agg_cache(spp_g.agg, code, lasti);
    if (!e) return -1;
    if (e->used && e->ident == id) return e->sym;
    /* Not seen with this identity: the object must still be the one sampled. */
    const spw_layout *L = &spp_g.cfg.target.layout;
    uint32_t now_id = 0;
    uint64_t type = 0;
    static spw_symbol sym; /* consumer thread only */
    spw_sym_err err = SPW_SYM_E_UNREADABLE;
    if (spp_code_identity(L, code, &now_id) == 0 && now_id == id &&
        spp_read_guarded(code + L->ob_type, &type, 8) == 0 && type == spp_g.cfg.target.code_type)
        err = spp_symbolize_guarded(L, code, lasti, &sym);
    else if (id != 0) {
        spp_g.freed_code++; /* freed (and maybe reused) before this drain: never misname */
        return special_symbol("<freed code>");
    }
    if (err != SPW_SYM_OK) {
        spp_g.symbolize_errors++;
        if (err != SPW_SYM_E_LINETABLE || !sym.function[0]) {
            strcpy(sym.function, "<unknown>");
            strcpy(sym.file, "<unknown>");
            sym.line = SPW_LINE_NONE;
        }
    }
    int64_t sid = spp_agg_symbol(spp_g.agg, sym.function, sym.file, sym.line);
    if (sid < 0) return -1;
    e = spp_agg_cache(spp_g.agg, code, lasti); /* same entry: only the symbol table changed */
    if (!e) return -1;
    e->used = 1;
    e->sym = (uint32_t)sid;
    e->ident = id;
    return sid;
}

static void slot_drain(spp_slot *s)
{
    static uint32_t syms[SPP_MAX_DEPTH + 2]; /* + <truncated>, + <idle> */
    spp_ring *r = &s->ring;
    const uint64_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
    uint64_t tail = r->tail;
    if (head - tail > r->high) r->high = head - tail;
    while (tail < head) {
        const spp_cell h = *spp_ring_at(r, tail);
        const uint32_t n = spp_rec_frames(h.a);
        const uint64_t w = spp_rec_weight(h.a);
        if (n > s->depth || head - tail < 1u + n) break; /* cannot happen */
        const uint32_t flags = spp_rec_flags(h.a);
        /* <idle> (wall mode: the thread did not run) is the innermost frame */
        const int64_t idle = (flags & SPP_REC_IDLE) ? special_symbol("<idle>") : 0;
        uint32_t k = 0, want = 0;
        if (idle >= 0 && (flags & SPP_REC_IDLE)) syms[k++] = (uint32_t)idle;
        want = k;
        if (flags & SPP_REC_REPEAT) { /* the slot's previous stack, resolved last time */
            if (s->last_n != UINT32_MAX) {
                memcpy(syms + k, s->last_syms, s->last_n * sizeof *syms);
                k += s->last_n;
            }
            want = s->last_n == UINT32_MAX ? k + 1 : k;
        } else {
            for (uint32_t i = 0; i < n; i++) {
                const spp_cell c = *spp_ring_at(r, tail + 1 + i);
                int64_t id = resolve(c.a, (uint32_t)c.b, (uint32_t)(c.b >> 32));
                if (id >= 0) syms[k++] = (uint32_t)id;
            }
            if (flags & SPP_REC_UNSAMPLED) {
                int64_t id = special_symbol("<unsampled>");
                if (id >= 0) syms[k++] = (uint32_t)id;
            }
            if (flags & SPP_REC_TRUNCATED) {
                int64_t id = special_symbol("<truncated>"); /* the outermost frame */
                if (id >= 0) syms[k++] = (uint32_t)id;
            }
            want += n + !!(flags & (SPP_REC_UNSAMPLED | SPP_REC_TRUNCATED));
            if (s->last_syms && !(flags & SPP_REC_UNSAMPLED)) { /* what a repeat repeats */
                const uint32_t skip = (flags & SPP_REC_IDLE) ? 1u : 0u;
                s->last_n = k == want ? k - skip : UINT32_MAX;
                if (k == want) memcpy(s->last_syms, syms + skip, s->last_n * sizeof *syms);
            }
        }
        if (idle < 0 || k < want || spp_agg_add(spp_g.agg, s->agg_thread, syms, k, w) != 0)
            spp_g.agg_lost += w; /* out of memory: counted, never silent */
        spp_g.records++;
        tail += 1 + n;
    }
    __atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);
}

/* Returns 1 when some ring was more than half full: the consumer then drains sooner. */
int spp_drain_all(void)
{
    int full = 0;
    for (uint32_t w = 0; w < SPP_MAX_SLOTS / 64; w++) {
        uint64_t bits = __atomic_load_n(&spp_dirty[w], __ATOMIC_RELAXED);
        if (!bits) continue;
        bits = __atomic_exchange_n(&spp_dirty[w], 0, __ATOMIC_ACQUIRE);
        for (; bits; bits &= bits - 1) {
            spp_slot *s = &spp_slots[w * 64 + (uint32_t)__builtin_ctzll(bits)];
            /* a bit may outlive its slot's session (a late record of a disarmed slot) */
            if (!s->ring.cells || __atomic_load_n(&s->state, __ATOMIC_SEQ_CST) != SPP_SLOT_ARMED)
                continue;
            s->ring.high = 0;
            slot_drain(s);
            if (s->ring.high * 2 > (uint64_t)s->ring.mask + 1u) full = 1;
        }
    }
    return full;
}

void spp_slot_disarm(uint32_t k)
{
    const uint32_t idx = spp_slots_active(k);
    spp_slot *s = &spp_slots[idx];
    spp_timer_stop(s);
    spp_slot_quiesce(s); /* no handler inside, none can enter */
    spp_timer_destroy(s);
    spp_sampler_flush(s); /* the sampler's held idle ticks: it can no longer enter */
    slot_drain(s);
    spp_drops_flush_slot(s);
    spp_counts c;
    spp_slot_read_counts(s, &c);
    pthread_mutex_lock(&spp_g.mu);
    spp_counts_add(&spp_g.folded, &c);
    spp_slots_release(idx);
    pthread_mutex_unlock(&spp_g.mu);
    slot_free_memory(s);
    __atomic_store_n(&s->state, SPP_SLOT_FREE, __ATOMIC_SEQ_CST);
}

/* ---- scanning the thread list ------------------------------------------------------------ */
/* The whole list is read first, under one recovery point per chunk (a thread state freed
 * under us costs a bad pointer or a caught fault, never a crash), then acted on. Only a
 * scan that reached the end of the list may disarm: a thread missing from a partial scan
 * may simply not have been reached. */
static spw_thread_info *g_seen;
static size_t g_seen_cap;

typedef struct scan_job {
    spw_threads_iter *it;
    size_t n;
} scan_job;

static void scan_chunk(void *arg)
{
    scan_job *j = arg;
    while (j->n < g_seen_cap && spw_threads_next(j->it, &g_seen[j->n])) j->n++;
}

uint32_t spp_scan(int initial)
{
    const spw_reader rd = { spp_live_read_fn, NULL };
    spw_threads_iter it;
    const uint32_t lim = __atomic_load_n(&spp_g.test_scan_limit, __ATOMIC_RELAXED);
    spw_threads_begin_limits(&it, &spp_g.cfg.target.layout, &rd, spp_g.cfg.runtime,
                             SPW_THREADS_MAX_INTERP, lim ? lim : SPW_THREADS_MAX);
    scan_job j = { &it, 0 };
    int faulted = 0;
    for (;;) {
        if (j.n == g_seen_cap) {
            size_t nc = g_seen_cap ? g_seen_cap * 2 : 256;
            spw_thread_info *p = realloc(g_seen, nc * sizeof *p);
            if (!p) break;
            g_seen = p;
            g_seen_cap = nc;
        }
        if (spp_guarded(scan_chunk, &j) != 0) {
            faulted = 1;
            break;
        }
        if (j.n < g_seen_cap) break; /* the iterator ended */
    }
    const int complete = !faulted && spw_threads_status_of(&it) == SPW_THREADS_DONE;
    if (!complete) spp_g.partial_scans++;

    spp_g.gen++;
    uint32_t unborn = 0;
    uint64_t unsampled = 0;
    for (size_t i = 0; i < j.n; i++) {
        const spw_thread_info *t = &g_seen[i];
        if (t->native_thread_id == 0) unborn++;
        if (t->native_thread_id == 0 || t->native_thread_id >= INT_MAX) continue;
        const int tid = (int)t->native_thread_id;
        const uint32_t idx = spp_slots_find(tid);
        if (idx == SPP_MAX_SLOTS) {
            slot_arm(tid, t->tstate, t->thread_id, initial);
            if (spp_slots_find(tid) == SPP_MAX_SLOTS) unsampled++;
            continue;
        }
        spp_slot *s = &spp_slots[idx];
        if (s->seen_gen == spp_g.gen) continue; /* a second tstate of this thread */
        s->seen_gen = spp_g.gen;
        if (s->ident != t->thread_id) { /* same tid, another thread: restart */
            spp_slot_disarm(spp_slots_pos(idx));
            slot_arm(tid, t->tstate, t->thread_id, initial);
        } else if (__atomic_load_n(&s->tstate, __ATOMIC_RELAXED) != t->tstate) {
            /* Under the lock a test's pin takes (testhooks.c): tested without it, a pin
             * set between the test and the store was overwritten, and the pinned chain
             * never sampled. Only a thread whose tstate changed (or a pinned one) gets here. */
            pthread_mutex_lock(&spp_g.mu);
            if (!s->pinned) __atomic_store_n(&s->tstate, t->tstate, __ATOMIC_RELAXED);
            pthread_mutex_unlock(&spp_g.mu);
        }
    }
    if (complete) {
        spp_g.threads_unsampled = unsampled;
        for (uint32_t k = 0; k < spp_slots_n_active();) {
            if (spp_slots[spp_slots_active(k)].seen_gen != spp_g.gen)
                spp_slot_disarm(k); /* moves the last one into k */
            else
                k++;
        }
    }
    return unborn;
}

/* ---- POSIX timers that fell silent ----------------------------------------------------------
 * Under competing load the kernel sometimes stops expiring a thread's POSIX CPU timer for the
 * rest of the thread's life. Each round, a timer whose thread has run SPP_STALL_NS (plus two
 * intervals) of CPU past what its samples account for, and as much since the timer was last
 * set, is set again; the next sample's weight carries the time it missed. (Measured from the
 * samples alone, a thread that runs less than an interval of CPU a round had its timer set
 * again every round, each time pushing its expiry back: it was never sampled again.) A
 * thread that is not running does not advance its clock, so it is never taken for a silent
 * timer. A clock read is a system call (about 0.5 us), so a round reads at most
 * SPP_WATCH_MAX of them, in turn: with thousands of POSIX timers each is checked every few
 * hundred milliseconds. */
#define SPP_WATCH_MAX 64u
static void posix_timers_watch(void)
{
    static uint32_t cursor; /* round robin: at most SPP_WATCH_MAX clock reads a round */
    const uint64_t iv = spp_g.cfg.interval_ns;
    const uint32_t n = spp_slots_n_active();
    for (uint32_t i = 0; i < n && i < SPP_WATCH_MAX; i++) {
        if (++cursor >= n) cursor = 0;
        spp_slot *s = &spp_slots[spp_slots_active(cursor)];
        if (!s->has_timer) continue;
        const uint64_t cpu = spp_clock_ns(spp_thread_cpu_clock(s->tid));
        uint64_t since = s->cpu_base + __atomic_load_n(&s->periods, __ATOMIC_RELAXED) * iv;
        if ((int64_t)(s->set_cpu - since) > 0) since = s->set_cpu; /* (modular: base < 0) */
        if ((int64_t)(cpu - since) > (int64_t)(SPP_STALL_NS + 2 * iv) &&
            spp_timer_restart(s, iv) == 0) {
            s->set_cpu = cpu;
            spp_g.timer_rearms++;
        }
    }
}

/* The consumer wakes every scan_ns (20 ms): each wake-up costs the running threads a timer
 * interrupt, so it wakes rarely. A thread started through `threading` or `_thread` pokes it
 * (spp_thread_starting, from an audit hook; spp_thread_begin, from the new thread): it then
 * rescans every SPP_BORN_NS until the new thread is bound and armed, so a new thread is
 * sampled from its first moments. Otherwise the whole thread list is scanned at most every
 * scan_ns, and less often when it is long: a scan reads every thread state, which is cache
 * misses (about 1 ms at 4,000 threads here), so the period is set to 200 times the last
 * scan's CPU time — the periodic scan costs at most 0.5 % of a core. Threads started some
 * other way are found by the next periodic scan. */
void *spp_consumer_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "spprof-consumer"); /* findable in /proc, top -H */
    uint32_t rapid = 0;     /* fast rescans left after a poke */
    uint64_t drained = 0;   /* when the rings were last drained */
    uint64_t scanned = spp_now_ns(); /* when the list was last scanned (start() did) */
    uint64_t period = spp_g.cfg.scan_ns;      /* drains: shorter while rings fill up */
    uint64_t scan_period = spp_g.cfg.scan_ns; /* scans: longer while the list is long */
    for (;;) {
        const uint32_t seen = __atomic_load_n(&spp_g.wake, __ATOMIC_ACQUIRE);
        pthread_mutex_lock(&spp_g.mu);
        const int idle = !spp_g.stop_req && !spp_g.poked;
        pthread_mutex_unlock(&spp_g.mu);
        if (idle) spp_wait_wake(seen, rapid ? SPP_BORN_NS : period);
        pthread_mutex_lock(&spp_g.mu);
        const int stop = spp_g.stop_req, poked = spp_g.poked;
        if (poked) {
            spp_g.poked = 0;
            rapid = SPP_BORN_TRIES;
        }
        pthread_mutex_unlock(&spp_g.mu);
        if (stop) break;
        pthread_mutex_lock(&spp_g.agg_mu); /* the round changes agg: not under a snapshot */
        uint64_t now = spp_now_ns();
        if (rapid || now - scanned >= scan_period) {
            const uint64_t armed = spp_g.threads_armed;
            const uint64_t c0 = spp_clock_ns(CLOCK_THREAD_CPUTIME_ID);
            const uint32_t unborn = spp_scan(0);
            const uint64_t cost = spp_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
            if (!rapid) {
                scanned = now;
                scan_period = 200 * cost > spp_g.cfg.scan_ns ? 200 * cost : spp_g.cfg.scan_ns;
                if (scan_period > SPP_SCAN_MAX_NS) scan_period = SPP_SCAN_MAX_NS;
            }
            __atomic_fetch_add(&spp_g.rounds, 1, __ATOMIC_RELAXED);
            pthread_mutex_lock(&spp_g.mu);
            spp_g.scans++;
            pthread_cond_broadcast(&spp_g.scanned);
            pthread_mutex_unlock(&spp_g.mu);
            if (rapid) rapid = (spp_g.threads_armed != armed && unborn == 0) ? 0 : rapid - 1;
        }
        /* The rest is periodic work: not repeated by the fast rescans, and not put off by
         * them either (a program starting threads all the time keeps them coming). */
        now = spp_now_ns();
        if (now - drained >= period) {
            drained = now;
            spp_guard_install(); /* back on top if faulthandler.enable() ran after start */
            spp_check_sigprof();
            posix_timers_watch();
            period = spp_drain_all() ? spp_g.cfg.scan_ns / 4 : spp_g.cfg.scan_ns;
            spp_drops_flush();
        }
        pthread_mutex_unlock(&spp_g.agg_mu);
    }
    spp_drain_all(); /* stop() holds the API lock: no snapshot can start now */
    while (spp_slots_n_active()) spp_slot_disarm(spp_slots_n_active() - 1);
    pthread_mutex_lock(&spp_g.mu);
    pthread_cond_broadcast(&spp_g.scanned); /* nobody waits for a scan that will not come */
    pthread_mutex_unlock(&spp_g.mu);
    return NULL;
}
