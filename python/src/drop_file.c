/*
 * drop_file.c — the consumer's half of keep_drops (drops.h): a full recorder becomes a
 * snapshot file with its expected output.
 *
 * The file is built with the harness's own code (harness/replay.c: encode, open, render,
 * write; harness/render.c: the rendering `spwalk replay --json` prints), so the expected
 * output is by construction what `spwalk replay` gives. A drop is written only when the
 * replay of its recorded bytes gives the live walk's status and reason (a torn drop: any
 * replay, the file says it was torn); otherwise it is counted as not kept. Normal thread:
 * it allocates and does I/O. The harness gives up on an allocation failure
 * (sw_out_of_memory); spwalk then exits, but here the program must go on: the file being
 * written is abandoned (counted as not kept), leaking what it had allocated so far.
 */
#include "drops.h"
#include "session.h"
#include "slots.h"
#include "spwalk.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The note region lives below the null page, which no walk or symbolization ever reads
 * (every pointer they follow must pass spw_addr_ok), so it cannot change a replay. */
#define NOTE_ADDR 0u
#define NOTE_MAX 512u

int spp_drops_check_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        snprintf(err, errlen, "keep_drops directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "keep_drops directory %s: not a directory", dir);
        return -1;
    }
    /* access(W_OK) says yes to root on a read-only file system or /proc: try it */
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/.spprof-probe-%d", dir, (int)getpid());
    const int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "keep_drops directory %s: cannot create files there: %s", dir,
                 strerror(errno));
        return -1;
    }
    close(fd);
    unlink(probe);
    return 0;
}

typedef struct run {
    uint64_t addr;
    uint32_t len, order;
    const uint8_t *bytes;
} run;

static int run_cmp(const void *a, const void *b)
{
    const run *x = a, *y = b;
    if (x->addr != y->addr) return x->addr < y->addr ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The recorder's runs as regions: sorted, overlapping and touching runs merged (the image
 * reader serves a read only from within one region, and a walk may read a field next to
 * one read before), the first recorded copy of a byte kept. `note` becomes the first
 * region. The regions point into *pool (the caller frees it and *out). -1 if the runs are
 * malformed or one lies below the note. */
static int build_regions(const spp_droprec *d, const char *note, spw_snap_region **out,
                         uint32_t *n_out, uint8_t **pool)
{
    const uint32_t used = d->used;
    run *runs = malloc((used / 16u + 1u) * sizeof *runs);
    spw_snap_region *reg = malloc((used / 16u + 2u) * sizeof *reg);
    uint8_t *p = malloc(used + NOTE_MAX + 1u);
    uint32_t n = 0;
    if (!runs || !reg || !p) goto fail;
    for (uint32_t off = 0; off + 16u <= used;) {
        run r;
        memcpy(&r.addr, d->data + off, 8);
        memcpy(&r.len, d->data + off + 8, 4);
        r.order = n;
        r.bytes = d->data + off + 16;
        const uint32_t step = 16u + ((r.len + 7u) & ~7u);
        if (r.len == 0 || step > used - off || r.addr < NOTE_ADDR + NOTE_MAX) goto fail;
        runs[n++] = r;
        off += step;
    }
    qsort(runs, n, sizeof *runs, run_cmp);
    const size_t note_len = strlen(note);
    memcpy(p, note, note_len);
    reg[0] = (spw_snap_region){ NOTE_ADDR, note_len, p };
    uint32_t k = 1;
    size_t at = note_len;
    for (uint32_t i = 0; i < n; i++) {
        const uint64_t end = runs[i].addr + runs[i].len;
        spw_snap_region *last = &reg[k - 1];
        if (k > 1 && runs[i].addr <= last->addr + last->len) {
            const uint64_t have = last->addr + last->len;
            if (end > have) {
                memcpy(p + at, runs[i].bytes + (have - runs[i].addr), end - have);
                at += end - have;
                last->len = end - last->addr;
            }
            continue;
        }
        memcpy(p + at, runs[i].bytes, runs[i].len);
        reg[k++] = (spw_snap_region){ runs[i].addr, runs[i].len, p + at };
        at += runs[i].len;
    }
    free(runs);
    *out = reg;
    *n_out = k;
    *pool = p;
    return 0;
fail:
    free(runs);
    free(reg);
    free(p);
    return -1;
}

/* What the file says of the live walk, in its note region (docs/snapshot-format.md). */
static void note_text(const spp_droprec *d, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "spprof drop 1\nlive_status: %s\nlive_reason: %s\nengine: %s\nlive_depth: %u\n",
             d->torn ? "torn" : spw_status_name((spw_status)d->live_status),
             d->torn ? "torn" : spw_reason_name((spw_reason)d->live_reason),
             spp_g.cfg.timer == SPP_TIMER_SAMPLER ? "sampler" : "signal", d->live_depth);
}

/* 1 when the file was written. */
static int write_one(const spp_droprec *d)
{
    const spp_target *t = &spp_g.cfg.target;
    const spw_layout *L = &t->layout;
    char note[NOTE_MAX];
    note_text(d, note, sizeof note);
    spw_snap_region *reg = NULL;
    uint8_t *pool = NULL;
    uint32_t n_reg = 0;
    if (build_regions(d, note, &reg, &n_reg, &pool) != 0) return 0;
    const size_t blob_len = spw_layout_blob_size((unsigned)(L->py_version >> 16) & 0xffu);
    const spw_snap_thread th = { d->tstate, d->ident, (uint64_t)d->tid };
    const spw_snap_spec spec = {
        .header = { .arch = SPW_ARCH_HOST, .pointer_width = 8,
                    .free_threaded = L->free_threaded, .py_version = L->py_version,
                    .code_type = t->code_type },
        /* _Py_DebugOffsets sits at the start of _PyRuntime, written once at start-up */
        .offsets = (const uint8_t *)(uintptr_t)spp_g.cfg.runtime,
        .offsets_len = (uint32_t)blob_len,
        .threads = &th, .n_threads = 1,
        .regions = reg, .n_regions = n_reg,
    };
    sw_buf bare = { 0 }, expected = { 0 }, file = { 0 };
    sw_err e;
    int written = 0;
    spw_frame *frames = malloc(SW_DEPTH * sizeof *frames);
    sw_snap snap;
    if (!frames || blob_len == 0 || sw_snap_encode(&spec, NULL, &bare, &e) != 0 ||
        sw_snap_open(&snap, (const uint8_t *)bare.data, bare.len, &e) != 0)
        goto done;
    /* The replay's own walk, for its status and reason (the rendering prints them). */
    spw_walk_args a = { .layout = &snap.layout, .code_type = snap.snap.header.code_type,
                        .tstate = d->tstate, .frames = frames, .max_frames = SW_DEPTH };
    spw_walk_result r;
    spw_walk(&a, &snap.reader, &r);
    const int same = r.status == (spw_status)d->live_status &&
                     r.reason == (spw_reason)d->live_reason;
    const int ok = (d->torn || same) && sw_snap_render(&snap, SW_JSON, &expected, &e) == 0;
    sw_snap_close(&snap);
    if (!ok || sw_snap_encode(&spec, &expected, &file, &e) != 0) goto done;
    char path[1200];
    const unsigned seq = __atomic_fetch_add(&spp_g.drops_seq, 1, __ATOMIC_RELAXED);
    snprintf(path, sizeof path, "%s/spprof-drop-%d-%03u-%s.spw", spp_g.cfg.drops_dir,
             (int)getpid(), seq, d->torn ? "torn" : spw_reason_name((spw_reason)d->live_reason));
    written = sw_write_file(path, file.data, file.len, &e) == 0;
done:
    free(frames);
    free(reg);
    free(pool);
    sw_buf_free(&bare);
    sw_buf_free(&expected);
    sw_buf_free(&file);
    return written;
}

/* Where an allocation failure in the harness's code returns to: only write_one calls it. */
static __thread jmp_buf *g_oom_exit;

void sw_out_of_memory(void)
{
    if (g_oom_exit) longjmp(*g_oom_exit, 1);
    abort(); /* unreachable: the extension calls the harness only from write_one */
}

/* fn(arg), or 0 when the harness ran out of memory in it (then fn's allocations leak). */
static int or_give_up(int (*fn)(const void *), const void *arg)
{
    jmp_buf out;
    if (setjmp(out)) {
        g_oom_exit = NULL;
        return 0;
    }
    g_oom_exit = &out;
    const int r = fn(arg);
    g_oom_exit = NULL;
    return r;
}

static int write_one_of(const void *d) { return write_one(d); }

static int ask_too_much(const void *unused)
{
    (void)unused;
    sw_buf b = { 0 };
    sw_buf_put(&b, "", SIZE_MAX / 2 + 1); /* more than any buffer may hold */
    sw_buf_free(&b);
    return 1;
}

int spp_drops_oom_check(void) { return or_give_up(ask_too_much, NULL); }

void spp_drops_flush_slot(spp_slot *s)
{
    spp_droprec *d = s->drops;
    if (!d || __atomic_load_n(&d->state, __ATOMIC_ACQUIRE) != 1) return;
    if (or_give_up(write_one_of, d)) {
        __atomic_add_fetch(&spp_g.drops_kept, 1, __ATOMIC_RELAXED);
    } else {
        __atomic_sub_fetch(&spp_g.drops_claimed, 1, __ATOMIC_RELAXED); /* the budget back */
        __atomic_add_fetch(&spp_g.drops_not_kept, 1, __ATOMIC_RELAXED);
    }
    __atomic_sub_fetch(&spp_g.drops_pending, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&d->state, 0, __ATOMIC_RELEASE);
}

void spp_drops_flush(void)
{
    if (!__atomic_load_n(&spp_g.drops_pending, __ATOMIC_ACQUIRE)) return;
    const uint32_t high = spp_slots_high();
    for (uint32_t i = 0; i < high; i++)
        if (__atomic_load_n(&spp_slots[i].state, __ATOMIC_ACQUIRE) == SPP_SLOT_ARMED)
            spp_drops_flush_slot(&spp_slots[i]);
}
