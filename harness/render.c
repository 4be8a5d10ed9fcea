/*
 * render.c — walk and symbolize every thread, print the stacks as text or JSON.
 *
 * Capture and replay both come through sw_render() over different readers; the output
 * depends only on the bytes the reader returns (no host addresses, no clock, no locale),
 * so a snapshot renders identically on every run and every machine. The JSON form is
 * specified in docs/stack-json.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "spwalk.h"

void sw_version_string(uint64_t hex, char *buf, size_t cap)
{
    unsigned major = (unsigned)(hex >> 24) & 0xff, minor = (unsigned)(hex >> 16) & 0xff;
    unsigned micro = (unsigned)(hex >> 8) & 0xff, level = (unsigned)(hex >> 4) & 0xf;
    unsigned serial = (unsigned)hex & 0xf;
    const char *tag = level == 0xa ? "a" : level == 0xb ? "b" : level == 0xc ? "rc" : "";
    if (level == 0xf)
        snprintf(buf, cap, "%u.%u.%u", major, minor, micro);
    else
        snprintf(buf, cap, "%u.%u.%u%s%u", major, minor, micro, tag, serial);
}

/* Length of the well-formed UTF-8 sequence at p[0,n), or 0 if it is not one (overlong
 * forms, surrogates and values past U+10FFFF are refused, as RFC 3629 says). */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    uint32_t cp;
    size_t k;
    if (p[0] < 0x80) return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) k = 2, cp = p[0] & 0x1f;
    else if (p[0] >= 0xe0 && p[0] <= 0xef) k = 3, cp = p[0] & 0x0f;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4) k = 4, cp = p[0] & 0x07;
    else return 0;
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
    if (cp >= 0xd800 && cp <= 0xdfff) return 0;
    return k;
}

void sw_json_string(sw_buf *b, const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    sw_buf_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            sw_buf_put(b, esc, 2);
            i++;
        } else if (c < 0x20) {
            /* RFC 8259 requires every control character escaped; the short forms are
             * used where JSON has them so common names stay readable. */
            const char *esc = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r"
                            : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (esc) sw_buf_puts(b, esc);
            else sw_buf_printf(b, "\\u%04x", c);
            i++;
        } else {
            size_t k = utf8_len(p + i, n - i);
            if (k == 0) {
                sw_buf_puts(b, "\\ufffd");
                i++;
            } else {
                sw_buf_put(b, p + i, k);
                i += k;
            }
        }
    }
    sw_buf_put(b, "\"", 1);
}

/* Text form of a name: one line per frame must stay one line, so control characters and
 * bytes that are not UTF-8 are shown as escapes. */
static void text_string(sw_buf *b, const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = p[i] < 0x20 || p[i] == 0x7f ? 0 : utf8_len(p + i, n - i);
        if (k == 0) {
            if (p[i] == '\n') sw_buf_puts(b, "\\n");
            else if (p[i] == '\t') sw_buf_puts(b, "\\t");
            else sw_buf_printf(b, "\\x%02x", p[i]);
            i++;
        } else {
            sw_buf_put(b, p + i, k);
            i += k;
        }
    }
}

static void render_header(const spw_layout *L, uint32_t n_threads, sw_format fmt, sw_buf *out)
{
    char version[32];
    sw_version_string(L->py_version, version, sizeof version);
    if (fmt == SW_JSON) {
        sw_buf_printf(out, "{\n  \"python\": {\"version\": \"%s\", \"free_threaded\": %s},\n"
                           "  \"threads\": [",
                      version, L->free_threaded ? "true" : "false");
    } else {
        sw_buf_printf(out, "Python %s%s, %s, %u thread%s\n", version,
                      L->free_threaded ? " (free-threaded)" : "", spw_arch_name(L->arch),
                      n_threads, n_threads == 1 ? "" : "s");
    }
}

static void render_thread(const spw_snap_thread *t, const char *name,
                          const spw_walk_result *res, uint32_t index, sw_format fmt,
                          sw_buf *out)
{
    const char *status = spw_status_name(res->status);
    const char *reason = spw_reason_name(res->reason);
    if (fmt == SW_JSON) {
        sw_buf_printf(out, "%s\n    {\"thread_id\": %llu, \"native_thread_id\": %llu, ",
                      index ? "," : "", (unsigned long long)t->thread_id,
                      (unsigned long long)t->native_thread_id);
        if (name) {
            sw_buf_puts(out, "\"name\": ");
            sw_json_string(out, name, strlen(name));
            sw_buf_puts(out, ", ");
        }
        sw_buf_printf(out, "\"status\": \"%s\", \"reason\": ", status);
        if (res->reason == SPW_REASON_NONE) sw_buf_puts(out, "null");
        else sw_json_string(out, reason, strlen(reason));
        sw_buf_puts(out, ", \"frames\": [");
    } else {
        sw_buf_printf(out, "\nThread %llu (native %llu)", (unsigned long long)t->thread_id,
                      (unsigned long long)t->native_thread_id);
        if (name) {
            sw_buf_puts(out, " \"");
            text_string(out, name);
            sw_buf_puts(out, "\"");
        }
        sw_buf_printf(out, ": %s", status);
        if (res->reason != SPW_REASON_NONE) sw_buf_printf(out, " (%s)", reason);
        sw_buf_printf(out, ", %u frame%s\n", res->n_frames, res->n_frames == 1 ? "" : "s");
    }
}

static void render_frame(const spw_frame *f, const spw_symbol *sym, spw_sym_err err,
                         uint32_t index, sw_format fmt, sw_buf *out)
{
    if (fmt == SW_JSON) {
        sw_buf_puts(out, index ? ",\n      {\"function\": " : "\n      {\"function\": ");
        sw_json_string(out, sym->function, strlen(sym->function));
        sw_buf_puts(out, ", \"file\": ");
        sw_json_string(out, sym->file, strlen(sym->file));
        if (sym->line == SPW_LINE_NONE) sw_buf_puts(out, ", \"line\": null");
        else sw_buf_printf(out, ", \"line\": %ld", (long)sym->line);
        sw_buf_printf(out, ", \"code\": \"0x%llx\", \"lasti\": %lu",
                      (unsigned long long)f->code, (unsigned long)f->lasti);
        if (err != SPW_SYM_OK) {
            const char *msg = spw_sym_strerror(err);
            sw_buf_puts(out, ", \"error\": ");
            sw_json_string(out, msg, strlen(msg));
        }
        sw_buf_puts(out, "}");
    } else {
        sw_buf_puts(out, "  ");
        if (sym->function[0]) text_string(out, sym->function);
        else sw_buf_puts(out, "<unknown>");
        sw_buf_puts(out, " (");
        if (sym->file[0]) text_string(out, sym->file);
        else sw_buf_puts(out, "<unknown>");
        if (sym->line == SPW_LINE_NONE) sw_buf_puts(out, ":?)");
        else sw_buf_printf(out, ":%ld)", (long)sym->line);
        if (err != SPW_SYM_OK) sw_buf_printf(out, "  [%s]", spw_sym_strerror(err));
        sw_buf_puts(out, "\n");
    }
}

/* The reads one rendering may still make (spwalk.h: the bounds of a rendering). A read
 * past them fails, which ends the walk or symbolization in hand; sw_render then refuses
 * the whole input rather than print a rendering that depends on where the budget ran out. */
typedef struct budget {
    const spw_reader *inner;
    uint64_t left;
    int spent;
} budget;

static int budget_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    budget *b = ctx;
    if (b->left == 0) {
        b->spent = 1;
        return -1;
    }
    b->left--;
    return spw_read(b->inner, addr, dst, len);
}

/* min(base + per_byte * input, max); input 0 (a live process) gives max. */
static uint64_t bound(uint64_t base, uint64_t per_byte, uint64_t max, size_t input)
{
    if (input == 0 || input > (max - base) / per_byte) return max;
    return base + per_byte * input;
}

int sw_render(const sw_view *v, sw_format fmt, sw_buf *out, sw_err *e)
{
    const uint64_t max_reads = bound(SW_READS_BASE, SW_READS_PER_BYTE, SW_READS_MAX,
                                     v->input_bytes);
    const uint64_t max_out = bound(SW_OUTPUT_BASE, SW_OUTPUT_PER_BYTE, SW_OUTPUT_MAX,
                                   v->input_bytes);
    budget b = { .inner = v->reader, .left = max_reads };
    const spw_reader reader = { budget_read, &b };
    const size_t out_start = out->len;
    spw_frame *frames = sw_xmalloc(SW_DEPTH * sizeof *frames);
    sw_names names = { 0 };
    int rc = 0;

    render_header(v->layout, v->n_threads, fmt, out);
    for (uint32_t i = 0; i < v->n_threads && rc == 0; i++) {
        spw_walk_args args = {
            .layout = v->layout,
            .code_type = v->code_type,
            .tstate = v->threads[i].tstate,
            .frames = frames,
            .max_frames = SW_DEPTH,
        };
        spw_walk_result res;
        spw_walk(&args, &reader, &res);
        /* Its name, from threading._active of its interpreter (one pass per interpreter
         * met: almost always one). */
        uint64_t interp;
        const char *name = NULL;
        if (sw_names_interp(v->layout, &reader, v->threads[i].tstate, &interp) == 0) {
            if (!names.filled || names.interp != interp)
                sw_names_fill(&names, v->layout, &reader, interp);
            name = sw_names_get(&names, v->threads[i].thread_id);
        }
        render_thread(&v->threads[i], name, &res, i, fmt, out);
        /* A dropped walk still lists the frames it emitted before it stopped: each passed
         * every check, and they show where the chain went wrong. */
        for (uint32_t k = 0; k < res.n_frames && !b.spent; k++) {
            spw_symbol sym;
            spw_sym_err err = spw_symbolize(v->layout, &reader, frames[k].code,
                                            frames[k].lasti, &sym);
            render_frame(&frames[k], &sym, err, k, fmt, out);
            if (out->len - out_start > max_out) break;
        }
        if (fmt == SW_JSON) sw_buf_puts(out, res.n_frames ? "\n    ]}" : "]}");
        if (b.spent)
            rc = sw_fail(e, "more than %llu reads of memory to render %u thread%s: not a "
                            "real capture (a real one needs far fewer)",
                         (unsigned long long)max_reads, v->n_threads,
                         v->n_threads == 1 ? "" : "s");
        else if (out->len - out_start > max_out)
            rc = sw_fail(e, "the stacks of %u thread%s would print more than %llu bytes: not "
                            "a real capture (a real one prints less than its own size)",
                         v->n_threads, v->n_threads == 1 ? "" : "s",
                         (unsigned long long)max_out);
    }
    if (rc == 0 && fmt == SW_JSON) sw_buf_puts(out, v->n_threads ? "\n  ]\n}\n" : "]\n}\n");
    free(frames);
    sw_names_free(&names);
    return rc;
}
