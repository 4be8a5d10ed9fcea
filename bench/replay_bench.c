/*
 * replay_bench.c — how fast spwalk replays and captures. Prints figures; asserts nothing.
 *
 *   replay_bench SNAPSHOT [--pid PID]
 *
 * Replay: frames per second for a walk alone and for walk + symbolize + JSON rendering
 * (what `spwalk replay --json` does after reading the file), and the ratio of a full replay
 * to a plain memcpy of exactly the reads it makes (same sizes, same source bytes): the cost
 * of the walker's checks, the image reader's region search and the symbolizer over the raw
 * data movement. The two sides are measured in alternating rounds and the medians
 * compared, so a noisy machine disturbs both alike.
 * Capture (--pid): wall time of sw_capture() on that process, and how long it was held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spwalk.h"

#define ROUNDS 15

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* A reader that forwards to the image reader and logs where each read came from. */
typedef struct logged {
    const uint8_t *src;
    size_t len;
} logged;

typedef struct logger {
    const spw_snapshot *snap;
    logged *reads;
    size_t n, cap;
    uint64_t bytes;
} logger;

static int log_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    logger *lg = ctx;
    if (spw_image_read((void *)(uintptr_t)lg->snap, addr, dst, len) != 0) return -1;
    /* Find the source bytes once here, so the memcpy side does no searching at all. */
    for (uint32_t i = 0; i < lg->snap->n_regions; i++) {
        spw_snap_region r = spw_snapshot_region(lg->snap, i);
        if (addr >= r.addr && addr - r.addr <= r.len && len <= r.len - (addr - r.addr)) {
            if (lg->n == lg->cap) {
                lg->cap = lg->cap ? 2 * lg->cap : 1024;
                lg->reads = sw_xrealloc(lg->reads, lg->cap * sizeof *lg->reads);
            }
            lg->reads[lg->n].src = r.data + (addr - r.addr);
            lg->reads[lg->n].len = len;
            lg->n++;
            lg->bytes += len;
            break;
        }
    }
    return 0;
}

/* Walk every thread once; returns frames emitted. */
static uint64_t walk_all(const sw_snap *s, spw_frame *frames)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < s->snap.n_threads; i++) {
        spw_walk_args a = { &s->layout, s->snap.header.code_type, s->threads[i].tstate, frames,
                            SW_DEPTH, 0 };
        spw_walk_result res;
        spw_walk(&a, &s->reader, &res);
        n += res.n_frames;
    }
    return n;
}

static int bench_replay(const char *path)
{
    uint8_t *data;
    size_t len;
    sw_err e;
    sw_snap s;
    if (sw_read_file(path, &data, &len, &e) || sw_snap_open(&s, data, len, &e)) {
        fprintf(stderr, "replay_bench: %s\n", e.msg);
        return 1;
    }
    spw_frame *frames = sw_xmalloc(SW_DEPTH * sizeof *frames);
    const uint64_t per_walk = walk_all(&s, frames);
    sw_buf out = { 0 };

    /* One logged replay: the reads a full rendering makes. */
    logger lg = { .snap = &s.snap };
    spw_reader logr = { log_read, &lg };
    sw_view v = { .layout = &s.layout, .reader = &logr, .code_type = s.snap.header.code_type,
                  .threads = s.threads, .n_threads = s.snap.n_threads,
                  .input_bytes = s.input_bytes };
    if (sw_render(&v, SW_JSON, &out, &e)) {
        fprintf(stderr, "replay_bench: %s\n", e.msg);
        return 1;
    }
    uint8_t *sink = sw_xmalloc(SPW_READ_MAX * 4 + 4096);
    unsigned check = 0;

    /* Batch sizes so that one batch takes a few milliseconds. */
    int walk_batch = 1, render_batch = 1, copy_batch = 1;
    double t = now_s();
    walk_all(&s, frames);
    double one_walk = now_s() - t;
    t = now_s();
    out.len = 0;
    sw_snap_render(&s, SW_JSON, &out, &e);
    double one_render = now_s() - t;
    walk_batch = (int)(0.005 / (one_walk + 1e-9)) + 1;
    render_batch = (int)(0.005 / (one_render + 1e-9)) + 1;
    copy_batch = render_batch * 4;

    double walk_fps[ROUNDS], render_fps[ROUNDS], render_t[ROUNDS], copy_t[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        t = now_s();
        for (int i = 0; i < walk_batch; i++) walk_all(&s, frames);
        walk_fps[r] = (double)per_walk * walk_batch / (now_s() - t);

        t = now_s();
        for (int i = 0; i < render_batch; i++) {
            out.len = 0;
            sw_snap_render(&s, SW_JSON, &out, &e);
        }
        render_t[r] = (now_s() - t) / render_batch;
        render_fps[r] = (double)per_walk / render_t[r];

        t = now_s();
        for (int i = 0; i < copy_batch; i++) {
            for (size_t k = 0; k < lg.n; k++) memcpy(sink, lg.reads[k].src, lg.reads[k].len);
            check += sink[0];
        }
        copy_t[r] = (now_s() - t) / copy_batch;
    }
    double rt = median(render_t, ROUNDS), ct = median(copy_t, ROUNDS);
    printf("snapshot            %s\n", path);
    printf("  threads, frames   %u threads, %llu frames per replay, %zu bytes of JSON\n",
           s.snap.n_threads, (unsigned long long)per_walk, out.len);
    printf("  reads per replay  %zu reads, %llu bytes\n", lg.n, (unsigned long long)lg.bytes);
    printf("  walk only         %.2f M frames/s\n", median(walk_fps, ROUNDS) / 1e6);
    printf("  full replay       %.2f M frames/s (walk + symbolize + JSON), %.1f us/replay\n",
           median(render_fps, ROUNDS) / 1e6, rt * 1e6);
    printf("  memcpy of reads   %.1f us/replay (same %zu reads, no search, no checks)\n",
           ct * 1e6, lg.n);
    printf("  ratio             replay / memcpy = %.1f x   (checksum %u)\n", rt / ct, check & 1);
    free(lg.reads);
    free(sink);
    free(frames);
    sw_buf_free(&out);
    sw_snap_close(&s);
    free(data);
    return 0;
}

static int bench_capture(pid_t pid)
{
    double wall[ROUNDS], held[ROUNDS];
    sw_capture_stats st = { 0 };
    size_t size = 0;
    for (int r = 0; r < ROUNDS; r++) {
        sw_buf snap = { 0 };
        sw_err e;
        double t = now_s();
        if (sw_capture(pid, 0, &snap, &st, &e)) {
            fprintf(stderr, "replay_bench: %s\n", e.msg);
            return 1;
        }
        wall[r] = (now_s() - t) * 1e3;
        held[r] = st.stopped_ms;
        size = snap.len;
        sw_buf_free(&snap);
    }
    /* median() sorts in place: take it first, then wall[0] is the minimum. */
    const double med = median(wall, ROUNDS), min = wall[0];
    printf("capture of pid %d (%u threads)\n", (int)pid, st.n_threads);
    printf("  wall time         median %.2f ms, min %.2f ms over %d captures\n", med, min,
           ROUNDS);
    printf("  target held       median %.2f ms\n", median(held, ROUNDS));
    printf("  reads             %llu (%llu went to the target), %llu bytes kept, %zu-byte "
           "snapshot\n", (unsigned long long)st.n_reads, (unsigned long long)st.n_remote_reads,
           (unsigned long long)st.bytes_recorded, size);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--pid") == 0)) {
        fprintf(stderr, "usage: replay_bench SNAPSHOT [--pid PID]\n");
        return 2;
    }
    int rc = bench_replay(argv[1]);
    if (rc == 0 && argc == 4) rc = bench_capture((pid_t)atoi(argv[3]));
    return rc;
}
