/*
 * record.c — `spwalk record`: sample every thread of a running CPython at a fixed rate and
 * write the counts as spprof's own profile document (docs/spwalk.md).
 *
 * The first look at the target is a dump's capture (capture.c): the same checks, and the
 * same messages, as `spwalk dump`. The debug offsets it read never change while the process
 * runs, so its layout serves every tick. A tick then stops the target (stop.c, unless
 * --nonblocking), lists the thread states with the core's iterator, walks and symbolizes
 * each one with the core as dump does, and lets the target go.
 *
 * What keeps a tick cheap:
 *   - its reads go through a page cache: the walker and the symbolizer ask for a few bytes
 *     at a time, but a thread's frames sit together in its data stack, and one
 *     process_vm_readv of a page serves them all. Mappings are whole pages, so a page is
 *     readable or not as a whole and the cache fails exactly the reads the target would.
 *     It is emptied at every tick: the target ran in between;
 *   - a frame is symbolized once: (code, lasti) maps to its frame in a cache that is
 *     believed only while the code object still points at the same name, file and line
 *     table (a freed code object's address can be taken by another);
 *   - every table is allocated once with a fixed capacity. When one is full, samples are
 *     counted into an "other" bucket (the stats say how many): memory does not grow with
 *     the length of the run.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "threads.h"

#include "mix.h"
#include "record.h"
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

double rec_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time this process used, user and system. */
double rec_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static uint64_t mix_bytes(uint64_t h, const char *s)
{
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return spw_mix64(h);
}

/* ---- tables ------------------------------------------------------------------------ */
/* The start of a /proc file into buf[cap], NUL-terminated, without stdio (no allocation);
 * its length, or -1 with errno set. */
static ssize_t read_proc(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

void rec_thread_name(pid_t pid, uint64_t tid, char *buf, size_t cap)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task/%llu/comm", (int)pid, (unsigned long long)tid);
    ssize_t n = tid ? read_proc(path, buf, cap) : -1;
    if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = '\0';
    if (n <= 0 || !buf[0]) snprintf(buf, cap, "thread %llu", (unsigned long long)tid);
}

/* Did the thread wait (not run at all) since its last sample? From the kernel's count of
 * its time on CPU, /proc/PID/task/TID/schedstat's first field (ns): wall mode's <idle>, as
 * the in-process sampler has it from the thread's CPU clock. 0 when unknown: a thread's
 * first sample, or no schedstat (a kernel without CONFIG_SCHED_INFO). */
static int thread_waited(rec *r, rec_thread *t)
{
    char path[80], buf[96];
    snprintf(path, sizeof path, "/proc/%d/task/%llu/schedstat", (int)r->pid,
             (unsigned long long)t->native);
    char *end = buf;
    const uint64_t runtime = read_proc(path, buf, sizeof buf) > 0 ? strtoull(buf, &end, 10) : 0;
    if (end == buf) {
        t->have_runtime = 0;
        return 0;
    }
    const int waited = t->have_runtime && runtime == t->runtime;
    t->runtime = runtime;
    t->have_runtime = 1;
    return waited;
}

static uint32_t thread_of(rec *r, const spw_thread_info *ti)
{
    const uint32_t mask = 2 * REC_THREADS_MAX - 1;
    uint32_t s = (uint32_t)spw_mix64(ti->thread_id ^ spw_mix64(ti->native_thread_id)) & mask;
    for (;; s = (s + 1) & mask) {
        uint32_t i = r->thread_index[s];
        if (i == 0) break;
        rec_thread *t = &r->threads[i - 1];
        if (t->ident == ti->thread_id && t->native == ti->native_thread_id) {
            t->last_tick = r->ticks;
            return i - 1;
        }
    }
    if (r->n_threads == REC_THREADS_MAX) {
        r->other_threads++;
        if (r->other_thread == UINT32_MAX) {
            r->other_thread = REC_THREADS_MAX;
            snprintf(r->threads[REC_THREADS_MAX].name, sizeof r->threads[0].name,
                     "<other threads>");
        }
        return r->other_thread;
    }
    rec_thread *t = &r->threads[r->n_threads];
    t->ident = ti->thread_id;
    t->native = ti->native_thread_id;
    t->last_tick = r->ticks;
    t->interp = ti->interp;
    t->name_tries = REC_NAME_TRIES;
    r->names_pending++;
    rec_thread_name(r->pid, t->native, t->name, sizeof t->name);
    r->thread_index[s] = ++r->n_threads;
    return r->n_threads - 1;
}

static uint32_t frame_add(rec *r, const char *function, const char *file, int32_t line)
{
    const uint32_t mask = 2 * REC_FRAMES_MAX - 1;
    uint32_t s = (uint32_t)mix_bytes(mix_bytes((uint64_t)(uint32_t)line, function), file) & mask;
    for (;; s = (s + 1) & mask) {
        uint32_t i = r->frame_index[s];
        if (i == 0) break;
        const rec_frame *f = &r->frames[i - 1];
        if (f->line == line && !strcmp(r->text + f->function, function) &&
            !strcmp(r->text + f->file, file))
            return i - 1;
    }
    size_t a = strlen(function) + 1, b = strlen(file) + 1;
    if (r->n_frames == REC_FRAMES_MAX || r->text_len + a + b > REC_TEXT_MAX) return NO_FRAME;
    rec_frame *f = &r->frames[r->n_frames];
    f->function = (uint32_t)r->text_len;
    f->file = (uint32_t)(r->text_len + a);
    f->line = line;
    memcpy(r->text + r->text_len, function, a);
    memcpy(r->text + r->text_len + a, file, b);
    r->text_len += a + b;
    r->frame_index[s] = ++r->n_frames;
    return r->n_frames - 1;
}

/* The frame index of (code, lasti), or NO_FRAME when the frame table is full. */
static uint32_t frame_of(rec *r, const spw_reader *rd, uint64_t code, uint32_t lasti)
{
    const spw_layout *L = &r->layout;
    uint64_t q = 0, f = 0, lt = 0;
    int32_t first = 0;
    const int known = spw_addr_ok(L->arch, code, L->code_size, 8) &&
                      rd->read(rd->ctx, code + L->co_qualname, &q, 8) == 0 &&
                      rd->read(rd->ctx, code + L->co_filename, &f, 8) == 0 &&
                      rd->read(rd->ctx, code + L->co_linetable, &lt, 8) == 0 &&
                      rd->read(rd->ctx, code + L->co_firstlineno, &first, 4) == 0;
    const uint32_t mask = REC_SYMS - 1;
    uint32_t s = (uint32_t)spw_mix64(code ^ (uint64_t)lasti << 48) & mask;
    rec_sym *e;
    for (;; s = (s + 1) & mask) {
        e = &r->syms[s];
        if (!e->used || (e->code == code && e->lasti == lasti)) break;
    }
    if (known && e->used && e->qualname == q && e->filename == f && e->linetable == lt &&
        e->first_line == first)
        return e->frame;

    spw_symbol *sym = &r->sym;
    spw_sym_err err = spw_symbolize(L, rd, code, lasti, sym);
    if (err != SPW_SYM_OK) {
        r->sym_errors++;
        /* A name without its line is still worth keeping; anything less is unknown. */
        if (err != SPW_SYM_E_LINETABLE || !sym->function[0]) {
            snprintf(sym->function, sizeof sym->function, "<unknown>");
            snprintf(sym->file, sizeof sym->file, "<unknown>");
            sym->line = SPW_LINE_NONE;
        }
    }
    const uint32_t id = frame_add(r, sym->function, sym->file, sym->line);
    if (!known || err != SPW_SYM_OK || id == NO_FRAME) return id;
    if (!e->used) {
        if (r->n_syms == REC_SYMS / 2) { /* only a cache: start again */
            memset(r->syms, 0, sizeof r->syms);
            r->n_syms = 0;
            for (s = (uint32_t)spw_mix64(code ^ (uint64_t)lasti << 48) & mask; r->syms[s].used;)
                s = (s + 1) & mask;
            e = &r->syms[s];
        }
        r->n_syms++;
    }
    *e = (rec_sym){ .code = code, .qualname = q, .filename = f, .linetable = lt,
                    .lasti = lasti, .frame = id, .first_line = first, .used = 1 };
    return id;
}

/* Count one sample of stack key[0, n) for thread t; -1 when the stack table is full. */
static int stack_add(rec *r, uint32_t t, const uint32_t *key, uint32_t n)
{
    const uint32_t mask = 2 * REC_STACKS_MAX - 1;
    uint64_t h = spw_mix64(t + 1);
    for (uint32_t k = 0; k < n; k++) h = spw_mix64(h ^ key[k]);
    uint32_t s = (uint32_t)h & mask;
    for (;; s = (s + 1) & mask) {
        uint32_t i = r->stack_index[s];
        if (i == 0) break;
        rec_stack *st = &r->stacks[i - 1];
        if (st->hash == h && st->thread == t && st->n == n &&
            !memcmp(r->ids + st->first, key, n * sizeof *key)) {
            st->count++;
            return 0;
        }
    }
    if (r->n_stacks == REC_STACKS_MAX || r->n_ids + n > REC_IDS_MAX) return -1;
    rec_stack *st = &r->stacks[r->n_stacks];
    *st = (rec_stack){ .hash = h, .count = 1, .thread = t, .first = (uint32_t)r->n_ids, .n = n };
    memcpy(r->ids + r->n_ids, key, n * sizeof *key);
    r->n_ids += n;
    r->stack_index[s] = ++r->n_stacks;
    return 0;
}

/* ---- a tick ------------------------------------------------------------------------ */
/* Through the page cache, logging every load (read_log.h). */
static int logged_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    rec *r = ctx;
    const int rc = pc_read(&r->pc, addr, dst, len);
    if (rc == 0) spw_read_log_add(&r->log, addr, dst, len);
    return rc;
}

/* The walk dump makes (render.c). While the target runs (the default) a walk may meet
 * frames pushed and popped under it: every load it made is checked again against fresh
 * pages (the cache emptied), and a walk whose memory changed is retried, REC_TORN_TRIES walks
 * in all, then counted as torn (core/read_log.h). The check is exact when it sees memory at
 * one instant; from outside no read is (the target runs on while the kernel copies its
 * pages), so a thread whose loop rebuilds the same frames at the same addresses can pass a
 * check that read two moments of it. Each check reads the walk's pages in one system call
 * (pc_reread), and a log must pass REC_CHECKS of them: the chance is then below what the
 * oracle of bench/record_oracle.py sees in 10^6 samples (docs/spwalk.md has the figures). */
static int walk_thread(rec *r, const spw_reader *rd, const spw_thread_info *ti,
                       spw_walk_result *res)
{
    spw_walk_args a = { .layout = &r->layout, .code_type = r->py.code_type,
                        .tstate = ti->tstate, .frames = r->walk, .max_frames = SW_DEPTH };
    if (!r->nonblocking) {
        spw_walk(&a, rd, res);
        return 0;
    }
    const spw_reader logged = { logged_read, r };
    for (int attempt = 0; attempt < REC_TORN_TRIES; attempt++) {
        if (attempt) r->pc.gen++; /* walk what the target holds now */
        spw_read_log_reset(&r->log);
        spw_walk(&a, &logged, res);
        const uint64_t skip = spw_read_log_top_instr(&r->log, &r->layout, ti->tstate);
        int holds = 1;
        for (int pass = 0; pass < REC_CHECKS && holds; pass++) {
            pc_reread(&r->pc, &r->log);
            holds = spw_read_log_holds(&r->log, pc_read, &r->pc, skip);
        }
        if (holds) return 0;
        r->retries++;
    }
    return -1;
}

static void sample(rec *r, const spw_reader *rd, const spw_thread_info *ti)
{
    spw_walk_result res;
    if (walk_thread(r, rd, ti, &res) != 0) {
        r->dropped++;
        r->torn++;
        return;
    }
    if (res.status == SPW_WALK_DROPPED) {
        r->dropped++;
        r->by_reason[res.reason < SPW_REASON_COUNT_ ? res.reason : SPW_REASON_UNREADABLE]++;
        return;
    }
    if (res.n_frames == 0) { /* no Python code running: nothing to show in a profile */
        r->empty++;
        return;
    }
    r->captured++;
    const uint32_t t = thread_of(r, ti);
    uint32_t n = 0;
    int room = 1;
    if (t < REC_THREADS_MAX && thread_waited(r, &r->threads[t])) { /* <idle>: innermost */
        const uint32_t id = frame_add(r, "<idle>", "", -1);
        if (id == NO_FRAME) room = 0;
        r->key[n++] = id;
        r->idle++;
    }
    for (uint32_t k = 0; k < res.n_frames && room; k++) {
        uint32_t id = frame_of(r, rd, r->walk[k].code, r->walk[k].lasti);
        if (id == NO_FRAME) room = 0;
        r->key[n++] = id;
    }
    const int cut = res.status == SPW_WALK_TRUNCATED;
    r->truncated += cut;
    if (cut) r->key[n++] = TRUNC_ID; /* the outermost frame, as the in-process profiler has it */
    if (!room || stack_add(r, t, r->key, n) != 0) {
        r->threads[t].other++;
        r->other_stacks++;
    } else if (cut) {
        r->used_trunc = 1;
    }
}

/* Give the threads met lately their threading names, while the tick's view of the target
 * holds: one pass over threading._active per interpreter (a thread's first ticks may come
 * before its bootstrap put it there, so it is looked for in REC_NAME_TRIES ticks). */
static void name_threads(rec *r, const spw_reader *rd)
{
    r->names.filled = 0;
    for (uint32_t i = 0; i < r->n_threads && r->names_pending; i++) {
        rec_thread *t = &r->threads[i];
        if (!t->name_tries) continue;
        if (!r->names.filled || r->names.interp != t->interp)
            sw_names_fill(&r->names, &r->layout, rd, t->interp);
        const char *name = sw_names_get(&r->names, t->ident);
        if (name) {
            snprintf(t->name, sizeof t->name, "%s", name);
            t->named = 1;
            t->name_tries = 1;
        }
        if (--t->name_tries == 0) r->names_pending--;
    }
}

/* A thread can be renamed (Thread.name = ...): every REC_RENAME_S each thread gets one
 * more try, so the profile has the last name it had while recorded. */
static void rename_threads(rec *r, double now)
{
    r->names_at = now;
    for (uint32_t i = 0; i < r->n_threads; i++) {
        if (r->threads[i].name_tries) continue;
        r->threads[i].name_tries = 1;
        r->names_pending++;
    }
}

/* Is the process gone (no /proc entry, or a zombie)? */
static int target_gone(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    ssize_t n = read_proc(path, buf, sizeof buf);
    if (n <= 0) return n == 0 || errno == ENOENT || errno == ESRCH;
    const char *p = strrchr(buf, ')'); /* the name may contain anything */
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* One tick. Returns 1 when the target has exited. */
static int tick(rec *r)
{
    sw_stopper st;
    sw_err e;
    const double t0 = rec_now_s();
    if (!r->nonblocking && sw_stop(&st, r->pid, &e) != 0) {
        if (target_gone(r->pid)) return 1;
        r->ticks_failed++;
        memcpy(r->last_error, e.msg, sizeof r->last_error);
        return 0;
    }
    r->remote.gone = 0;
    r->remote.first_errno = 0;
    r->pc.gen++;
    spw_reader rd = { pc_read, &r->pc };
    spw_threads_iter it;
    spw_thread_info ti;
    r->ticks++;
    spw_threads_begin(&it, &r->layout, &rd, r->py.runtime);
    while (spw_threads_next(&it, &ti)) sample(r, &rd, &ti);
    if (t0 - r->names_at >= REC_RENAME_S) rename_threads(r, t0);
    if (r->names_pending) name_threads(r, &rd);
    if (!r->nonblocking) sw_resume(&st);
    const double dt = rec_now_s() - t0;
    r->tick_total += dt;
    if (dt > r->tick_max) r->tick_max = dt;
    if (spw_threads_status_of(&it) != SPW_THREADS_DONE) r->list_errors++;
    return r->remote.gone || (r->remote.first_errno && target_gone(r->pid));
}

static int write_all(int fd, const sw_buf *b)
{
    for (size_t off = 0; off < b->len;) {
        ssize_t n = write(fd, b->data + off, b->len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        off += (size_t)n;
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------------- */
static int record_loop(rec *r, const sw_record_opts *o, int out_fd, sw_err *e)
{
    const double interval = 1.0 / o->rate_hz;
    const double deadline = o->duration_s > 0 ? r->t_start + o->duration_s : 0;
    double next = r->t_start, next_doc = r->t_start + o->every_s;
    sigset_t waitmask;
    sigprocmask(SIG_SETMASK, NULL, &waitmask);
    sigdelset(&waitmask, SIGINT);
    sigdelset(&waitmask, SIGTERM);
    sw_buf doc = { 0 };
    int rc = 0;
    while (!g_stop) {
        double now = rec_now_s();
        const double until = deadline && next >= deadline ? deadline : next;
        if (until > now) {
            /* SIGINT and SIGTERM are blocked except here: one that arrives during a tick
             * is acted on once the target is released, and none can be missed. */
            double d = until - now;
            struct timespec ts = { (time_t)d, (long)((d - (double)(time_t)d) * 1e9) };
            ppoll(NULL, 0, &ts, &waitmask);
            continue;
        }
        if (deadline && next >= deadline) break;
        if (now - next > interval) { /* missed ticks are skipped, not caught up in a burst */
            r->ticks_late++;
            next = now;
        }
        if (tick(r)) {
            r->exited = 1;
            break;
        }
        next += interval;
        if (o->every_s > 0 && (now = rec_now_s()) >= next_doc) {
            rec_document(r, &doc, o->rate_hz, 0);
            if (write_all(out_fd, &doc)) {
                rc = sw_fail(e, "cannot write the profile: %s", strerror(errno));
                break;
            }
            next_doc += o->every_s;
            if (next_doc <= now) next_doc = now + o->every_s;
        }
    }
    sw_buf_free(&doc);
    return rc;
}

/* Refuse an output that cannot be written before recording anything into it. */
static int open_output(const sw_record_opts *o, int *fd, sw_err *e)
{
    *fd = -1;
    if (!strcmp(o->output, "-")) {
        *fd = STDOUT_FILENO;
        return 0;
    }
    if (o->every_s > 0) { /* a stream of documents: written as they come */
        *fd = open(o->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (*fd < 0) return sw_fail(e, "cannot write %s: %s", o->output, strerror(errno));
        return 0;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", o->output);
    char *slash = strrchr(dir, '/');
    if (slash) slash[slash == dir] = '\0';
    if (access(slash ? dir : ".", W_OK | X_OK) != 0)
        return sw_fail(e, "cannot write %s: %s", o->output, strerror(errno));
    return 0;
}

int sw_record(const sw_record_opts *o, sw_err *e)
{
    rec *r = calloc(1, sizeof *r);
    sw_buf snap = { 0 }, doc = { 0 };
    sw_capture_stats cst;
    sw_snap s;
    int out_fd, rc = -1;
    sigset_t block, old;
    struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term, old_pipe;

    if (!r) return sw_fail(e, "out of memory");
    r->log = (spw_read_log){ r->log_entries, REC_LOG_CAP, 0, 0 };
    if (open_output(o, &out_fd, e)) {
        free(r);
        return -1;
    }
    sigemptyset(&sa.sa_mask);
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = SIG_IGN; /* a closed pipe is a write error, reported as one */
    sigaction(SIGPIPE, &sa, &old_pipe);
    g_stop = 0;

    /* dump's capture: every check and message of `spwalk dump`, and the layout. */
    if (sw_capture(o->pid, o->nonblocking, &snap, &cst, e) ||
        sw_snap_open(&s, (const uint8_t *)snap.data, snap.len, e))
        goto done;
    r->layout = s.layout;
    sw_snap_close(&s);
    if (sw_find_python(o->pid, &r->py, e)) goto done;

    r->pid = o->pid;
    r->nonblocking = o->nonblocking;
    r->remote.pid = o->pid;
    r->pc.remote = &r->remote;
    r->other_thread = UINT32_MAX;
    r->t_start = r->names_at = rec_now_s();
    r->cpu_start = rec_cpu_s();
    if (record_loop(r, o, out_fd, e)) goto done;
    rec_document(r, &doc, o->rate_hz, 1);
    if (out_fd < 0) {
        if (sw_write_file(o->output, doc.data, doc.len, e)) goto done;
    } else if (write_all(out_fd, &doc)) {
        sw_fail(e, "cannot write the profile: %s", strerror(errno));
        goto done;
    }
    fprintf(stderr, "spwalk: recorded process %d for %.1f s: %llu samples of %u threads in "
                    "%llu ticks (%llu late), %llu dropped%s\n",
            (int)o->pid, rec_now_s() - r->t_start, (unsigned long long)r->captured, r->n_threads,
            (unsigned long long)r->ticks, (unsigned long long)r->ticks_late,
            (unsigned long long)r->dropped, r->exited ? "; the target exited" : "");
    rc = 0;
done:
    if (out_fd > STDOUT_FILENO) close(out_fd);
    sw_buf_free(&snap);
    sw_buf_free(&doc);
    sw_names_free(&r->names);
    free(r);
    /* Unblocked while our handler is still in place: a signal that came late only sets
     * the flag, it does not end the process after the document was written. */
    sigprocmask(SIG_SETMASK, &old, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    return rc;
}
