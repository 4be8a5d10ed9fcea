/*
 * capture.c — from a live CPython process (or a core file) to a snapshot file in memory.
 *
 * Everything past finding the interpreter and stopping the target works on an sw_source
 * (a reader with _PyRuntime and PyCode_Type in it), so a core file (corefile.c) is
 * captured by the very same code as a live process.
 *
 *   1. find _PyRuntime and PyCode_Type (proc.c);
 *   2. stop every thread (stop.c), unless --nonblocking;
 *   3. read _Py_DebugOffsets and parse it: the version field says how long it is;
 *   4. list the threads with the core's iterator (core/threads.h):
 *      runtime.interpreters_head -> interp.next, and per interpreter
 *      interp.threads_head -> tstate.next (plain remote reads, not recorded: a replay
 *      starts from the thread table, not from the lists);
 *   5. walk and symbolize every thread through the recording reader (remote.c);
 *   6. let the target go, encode the snapshot, replay it, and require the replay to equal
 *      what the capture itself rendered: the recording is complete and consistent, or the
 *      capture fails. The replay's JSON is stored in the file as its expected output.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corefile.h"
#include "threads.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Why a remote read failed, as the end of an error message (a source's `failure`). */
static int read_failure(void *ctx, sw_err *e, const char *what, uint64_t addr)
{
    const sw_remote *r = ctx;
    if (r->gone) return sw_fail(e, "process %d exited during the capture", (int)r->pid);
    if (r->first_errno == EPERM || r->first_errno == EACCES)
        return sw_fail(e, "permission denied: cannot read the memory of process %d",
                       (int)r->pid);
    return sw_fail(e, "process %d: cannot read %s at 0x%llx: %s", (int)r->pid, what,
                   (unsigned long long)addr, strerror(r->first_errno ? r->first_errno : EFAULT));
}

static int source_failure(const sw_source *src, sw_err *e, const char *what, uint64_t addr)
{
    if (src->failure) return src->failure(src->failure_ctx, e, what, addr);
    return sw_fail(e, "%s: cannot read %s at 0x%llx", src->name, what, (unsigned long long)addr);
}

int sw_source_layout(const sw_source *src, uint8_t *blob, size_t *blob_len, spw_layout *L,
                     sw_err *e)
{
    uint8_t head[24];
    if (spw_read(&src->reader, src->runtime, head, sizeof head))
        return source_failure(src, e, "_PyRuntime", src->runtime);
    if (memcmp(head, "xdebugpy", 8) != 0)
        return sw_fail(e, "%s is not a supported Python: no _Py_DebugOffsets cookie "
                          "at _PyRuntime (CPython 3.13 or later is needed)", src->name);
    uint64_t version = spw_le64(head + 8);
    char vs[32];
    sw_version_string(version, vs, sizeof vs);
    size_t need = spw_layout_blob_size((unsigned)(version >> 16) & 0xff);
    if ((version >> 24) != 3 || need == 0 || need > SPW_SNAP_OFFSETS_MAX)
        return sw_fail(e, "%s runs Python %s, which is not supported (3.13 and 3.14 "
                          "are)", src->name, vs);
    if (spw_read(&src->reader, src->runtime, blob, need))
        return source_failure(src, e, "_Py_DebugOffsets", src->runtime);
    spw_layout_err le = spw_layout_parse(blob, need, src->arch, L);
    if (le != SPW_LAYOUT_OK)
        return sw_fail(e, "%s (Python %s) is not a supported Python: %s", src->name, vs,
                       spw_layout_strerror(le));
    *blob_len = need;
    return 0;
}

int sw_source_threads(const sw_source *src, const spw_layout *L, spw_snap_thread **out,
                      uint32_t *n_out, sw_err *e)
{
    spw_threads_iter it;
    spw_thread_info ti;
    spw_snap_thread *t = NULL;
    uint32_t n = 0, cap = 0;
    spw_threads_begin_limits(&it, L, &src->reader, src->runtime, SPW_THREADS_MAX_INTERP,
                             SPW_SNAP_THREADS_MAX);
    while (spw_threads_next(&it, &ti)) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            t = sw_xrealloc(t, cap * sizeof *t);
        }
        t[n++] = (spw_snap_thread){ .tstate = ti.tstate, .thread_id = ti.thread_id,
                                    .native_thread_id = ti.native_thread_id };
    }
    const spw_threads_status st = spw_threads_status_of(&it);
    if (st == SPW_THREADS_DONE) {
        *out = t;
        *n_out = n;
        return 0;
    }
    free(t);
    const uint64_t at = spw_threads_fail_addr(&it);
    if (st == SPW_THREADS_UNREADABLE) return source_failure(src, e, "the thread list", at);
    char limit[96] = "";
    if (st == SPW_THREADS_LIMIT)
        snprintf(limit, sizeof limit, ": more than %u interpreters or %u thread states",
                 SPW_THREADS_MAX_INTERP, SPW_SNAP_THREADS_MAX);
    return sw_fail(e, "%s: the interpreter or thread list is corrupt (%s at 0x%llx%s, "
                      "after %u interpreters and %u thread states%s)",
                   src->name, spw_threads_status_name(st), (unsigned long long)at, limit,
                   it.n_interp, it.n_threads, src->failure ? "; changing while read?" : "");
}

/* Encode a snapshot of what the recorder holds, with `expected` (may be NULL). */
static int encode(const spw_snap_spec *base, const sw_recorder *rec, const sw_buf *expected,
                  sw_buf *out, sw_err *e)
{
    spw_snap_spec spec = *base;
    spw_snap_region *regions = sw_xmalloc((rec->n ? rec->n : 1) * sizeof *regions);
    for (size_t i = 0; i < rec->n; i++) {
        regions[i].addr = rec->regions[i].addr;
        regions[i].len = rec->regions[i].len;
        regions[i].data = rec->regions[i].data;
    }
    spec.regions = regions;
    spec.n_regions = (uint32_t)rec->n;
    const int rc = sw_snap_encode(&spec, expected, out, e);
    free(regions);
    return rc;
}

/* The part of a capture that reads the source (while a live target is held). */
static int record(const sw_source *src, uint8_t *blob, size_t *blob_len, spw_layout *L,
                  spw_snap_thread **threads, uint32_t *n_threads, sw_recorder *rec,
                  sw_buf *live, sw_err *e)
{
    if (sw_source_layout(src, blob, blob_len, L, e)) return -1;
    if (sw_source_threads(src, L, threads, n_threads, e)) return -1;
    spw_reader reader = { sw_recorder_read, rec };
    sw_view v = { .layout = L, .reader = &reader, .code_type = src->code_type,
                  .threads = *threads, .n_threads = *n_threads };
    return sw_render(&v, SW_JSON, live, e);
}

/* After the recording: encode it, replay the encoded bytes exactly as `spwalk replay`
 * would, require the replay to equal what the capture rendered, and encode the snapshot
 * again with that output as its expected output. */
static int finish(const sw_source *src, const uint8_t *blob, size_t blob_len,
                  const spw_layout *L, const spw_snap_thread *threads, uint32_t n_threads,
                  const sw_recorder *rec, const sw_buf *live, sw_buf *out,
                  sw_capture_stats *st, sw_err *e)
{
    sw_buf replayed = { 0 }, bare = { 0 };
    int rc = -1;
    if (rec->overflow) {
        sw_fail(e, "capture needs more than %zu MiB of target memory", SW_FILE_MAX >> 20);
        goto done;
    }
    spw_snap_spec spec = {
        .header = { .arch = src->arch, .pointer_width = 8, .free_threaded = L->free_threaded,
                    .py_version = L->py_version, .code_type = src->code_type },
        .offsets = blob,
        .offsets_len = (uint32_t)blob_len,
        .threads = threads,
        .n_threads = n_threads,
    };
    if (encode(&spec, rec, NULL, &bare, e)) goto done;
    sw_snap snap;
    if (sw_snap_open(&snap, (const uint8_t *)bare.data, bare.len, e)) goto done;
    int r2 = sw_snap_render(&snap, SW_JSON, &replayed, e);
    sw_snap_close(&snap);
    if (r2) goto done;
    if (replayed.len != live->len || memcmp(replayed.data, live->data, live->len) != 0) {
        sw_fail(e, "internal error: the snapshot does not replay to what the capture saw "
                   "(please report this with `spwalk capture --nonblocking` output)");
        goto done;
    }
    if (encode(&spec, rec, &replayed, out, e)) goto done;
    st->n_threads = n_threads;
    st->n_regions = (uint32_t)rec->n;
    st->bytes_recorded = rec->bytes;
    st->n_reads = rec->n_reads;
    st->n_remote_reads = rec->n_remote;
    rc = 0;
done:
    sw_buf_free(&replayed);
    sw_buf_free(&bare);
    return rc;
}

int sw_capture_source(const sw_source *src, sw_buf *out, sw_capture_stats *st, sw_err *e)
{
    sw_recorder rec = { .source = src->reader };
    spw_layout L;
    spw_snap_thread *threads = NULL;
    uint32_t n_threads = 0;
    uint8_t blob[SPW_SNAP_OFFSETS_MAX];
    size_t blob_len = 0;
    sw_buf live = { 0 };
    memset(st, 0, sizeof *st);
    int rc = record(src, blob, &blob_len, &L, &threads, &n_threads, &rec, &live, e);
    if (rc == 0)
        rc = finish(src, blob, blob_len, &L, threads, n_threads, &rec, &live, out, st, e);
    free(threads);
    sw_recorder_free(&rec);
    sw_buf_free(&live);
    return rc;
}

int sw_capture(pid_t pid, int nonblocking, sw_buf *out, sw_capture_stats *st, sw_err *e)
{
    sw_python py;
    sw_remote remote = { .pid = pid };
    sw_recorder rec = { .source = { sw_remote_read, &remote } };
    sw_stopper stopper = { 0 };
    spw_layout L;
    spw_snap_thread *threads = NULL;
    uint32_t n_threads = 0;
    uint8_t blob[SPW_SNAP_OFFSETS_MAX];
    size_t blob_len = 0;
    sw_buf live = { 0 };
    int rc = -1;

    memset(st, 0, sizeof *st);
    if (SPW_ARCH_HOST == SPW_ARCH_UNKNOWN)
        return sw_fail(e, "capture is not supported on this architecture");
    if (sw_find_python(pid, &py, e)) return -1;
    sw_source src = { .reader = { sw_remote_read, &remote }, .arch = py.arch,
                      .runtime = py.runtime, .code_type = py.code_type,
                      .failure = read_failure, .failure_ctx = &remote };
    snprintf(src.name, sizeof src.name, "process %d", (int)pid);

    if (!nonblocking && sw_stop(&stopper, pid, e)) return -1;
    double t0 = now_ms();
    rc = record(&src, blob, &blob_len, &L, &threads, &n_threads, &rec, &live, e);
    if (rc == 0 && remote.gone) rc = read_failure(&remote, e, "", 0);
    /* Released on every path, before any of the slower work below. */
    if (!nonblocking) {
        sw_resume(&stopper);
        st->stopped_ms = now_ms() - t0;
    }
    if (rc == 0)
        rc = finish(&src, blob, blob_len, &L, threads, n_threads, &rec, &live, out, st, e);
    free(threads);
    sw_recorder_free(&rec);
    sw_buf_free(&live);
    return rc;
}
