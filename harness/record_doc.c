/*
 * record_doc.c — the document `spwalk record` writes: spprof's own profile (threads, frames,
 * stacks with counts, innermost first) and the run's stats, as one line of JSON.
 */
#include <stdio.h>
#include <string.h>

#include "record.h"

/* ---- the document ------------------------------------------------------------------ */
static void put_str(sw_buf *b, const char *s)
{
    sw_json_string(b, s, strlen(s));
}

static void put_stats(rec *r, sw_buf *b, double rate, int final)
{
    const struct {
        const char *name;
        uint64_t n;
    } counts[] = {
        { "ticks", r->ticks }, { "ticks_late", r->ticks_late },
        { "ticks_failed", r->ticks_failed }, { "thread_list_errors", r->list_errors },
        { "samples_captured", r->captured }, { "samples_dropped", r->dropped },
        { "samples_truncated", r->truncated }, { "samples_empty", r->empty },
        { "symbolize_errors", r->sym_errors }, { "samples_other_threads", r->other_threads },
        { "samples_other_stacks", r->other_stacks }, { "samples_idle", r->idle },
    };
    char version[32];
    sw_version_string(r->layout.py_version, version, sizeof version);
    const double cpu = rec_cpu_s(), per_tick = r->ticks ? 1e6 / (double)r->ticks : 0;
    sw_buf_printf(b, "{\"timer\":\"spwalk-record\",\"final\":%s,\"pid\":%d,\"python\":\"%s\","
                     "\"free_threaded\":%s,\"nonblocking\":%s,\"rate_hz\":%.9g,"
                     "\"target_exited\":%s",
                  final ? "true" : "false", (int)r->pid, version,
                  r->layout.free_threaded ? "true" : "false", r->nonblocking ? "true" : "false",
                  rate, r->exited ? "true" : "false");
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
        sw_buf_printf(b, ",\"%s\":%llu", counts[i].name, (unsigned long long)counts[i].n);
    sw_buf_printf(b, ",\"dropped_by_reason\":{\"cycle\":%llu,\"invalid_frame\":%llu,"
                     "\"invalid_code\":%llu,\"unreadable\":%llu,\"torn\":%llu},\"walk_retries\":%llu,"
                     "\"limits\":{\"threads\":%u,"
                     "\"frames\":%u,\"stacks\":%u,\"stack_frames\":%u,\"name_bytes\":%u},"
                     "\"tick_us_mean\":%.1f,\"tick_us_max\":%.1f,\"tick_cpu_us_mean\":%.1f,"
                     "\"cpu_s\":%.6f,\"last_error\":",
                  (unsigned long long)r->by_reason[SPW_REASON_CYCLE],
                  (unsigned long long)r->by_reason[SPW_REASON_INVALID_FRAME],
                  (unsigned long long)r->by_reason[SPW_REASON_INVALID_CODE],
                  (unsigned long long)r->by_reason[SPW_REASON_UNREADABLE],
                  (unsigned long long)r->torn, (unsigned long long)r->retries, REC_THREADS_MAX,
                  REC_FRAMES_MAX, REC_STACKS_MAX, REC_IDS_MAX, REC_TEXT_MAX,
                  r->tick_total * per_tick, r->tick_max * 1e6, (cpu - r->cpu_start) * per_tick,
                  cpu);
    if (r->last_error[0]) put_str(b, r->last_error);
    else sw_buf_puts(b, "null");
    sw_buf_puts(b, "}");
}

/* The whole profile so far as one line of JSON (Profile.from_dict() reads it). */
void rec_document(rec *r, sw_buf *b, double rate, int final)
{
    char cwd[4096], link[64];
    snprintf(link, sizeof link, "/proc/%d/cwd", (int)r->pid);
    ssize_t n = readlink(link, cwd, sizeof cwd - 1);
    cwd[n > 0 ? n : 0] = '\0';
    /* The kernel's name may change while a thread runs; a threading name is kept. */
    for (uint32_t i = 0; i < r->n_threads; i++)
        if (r->threads[i].last_tick == r->ticks && !r->exited && !r->threads[i].named)
            rec_thread_name(r->pid, r->threads[i].native, r->threads[i].name,
                        sizeof r->threads[i].name);

    b->len = 0;
    sw_buf_printf(b, "{\"format\":\"spprof-profile\",\"version\":1,\"mode\":\"wall\","
                     "\"interval_ms\":%.9g,\"duration_s\":%.6f,\"stats\":",
                  1000.0 / rate, rec_now_s() - r->t_start);
    put_stats(r, b, rate, final);
    sw_buf_puts(b, ",\"path_roots\":[");
    if (cwd[0] == '/') put_str(b, cwd);
    sw_buf_puts(b, "],\"threads\":[");
    /* "<other threads>", when there is one, is the last: REC_THREADS_MAX == n_threads. */
    const uint32_t nt = r->n_threads + (r->other_thread != UINT32_MAX);
    for (uint32_t i = 0; i < nt; i++) {
        const rec_thread *t = &r->threads[i];
        sw_buf_printf(b, "%s[%llu,%llu,", i ? "," : "", (unsigned long long)t->ident,
                      (unsigned long long)t->native);
        put_str(b, t->name);
        sw_buf_printf(b, ",%d]", (int)r->pid);
    }
    sw_buf_puts(b, "],\"frames\":[");
    for (uint32_t i = 0; i < r->n_frames; i++) {
        sw_buf_puts(b, i ? ",[" : "[");
        put_str(b, r->text + r->frames[i].function);
        sw_buf_puts(b, ",");
        put_str(b, r->text + r->frames[i].file);
        sw_buf_printf(b, ",%d]", (int)r->frames[i].line);
    }
    /* The pseudo-frames follow the real ones: <truncated>, then <other stacks>. */
    const uint32_t trunc_at = r->n_frames, other_at = r->n_frames + (uint32_t)r->used_trunc;
    if (r->used_trunc) sw_buf_printf(b, "%s[\"<truncated>\",\"\",-1]", r->n_frames ? "," : "");
    if (r->other_stacks)
        sw_buf_printf(b, "%s[\"<other stacks>\",\"\",-1]", other_at ? "," : "");
    sw_buf_puts(b, "],\"stacks\":[");
    int first = 1;
    for (uint32_t i = 0; i < r->n_stacks; i++) {
        const rec_stack *s = &r->stacks[i];
        sw_buf_printf(b, "%s[%u,[", first ? "" : ",", s->thread);
        for (uint32_t k = 0; k < s->n; k++) {
            uint32_t id = r->ids[s->first + k];
            sw_buf_printf(b, "%s%u", k ? "," : "", id == TRUNC_ID ? trunc_at : id);
        }
        sw_buf_printf(b, "],%llu]", (unsigned long long)s->count);
        first = 0;
    }
    for (uint32_t i = 0; i < nt; i++) {
        const rec_thread *t = &r->threads[i];
        if (t->other) {
            sw_buf_printf(b, "%s[%u,[%u],%llu]", first ? "" : ",", i, other_at,
                          (unsigned long long)t->other);
            first = 0;
        }
    }
    sw_buf_puts(b, "]}\n");
}
