/*
 * spwalk.c — command line: capture, dump, record, replay, show, verify.
 *
 * capture and dump read a live process (--pid) or an ELF core file (--core, corefile.c).
 *
 * Exit status: 0 success, 1 any failure (with one "spwalk: error: ..." line on stderr),
 * 2 usage error. docs/spwalk.md documents every command.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corefile.h"

#define EXIT_USAGE 2

static const char USAGE[] =
    "usage: spwalk capture --pid PID -o FILE|- [--nonblocking]\n"
    "       spwalk capture --core CORE [--exe PATH] [--lib PATH] -o FILE|-\n"
    "       spwalk dump --pid PID [--json] [--nonblocking]\n"
    "       spwalk dump --core CORE [--exe PATH] [--lib PATH] [--json]\n"
    "       spwalk record --pid PID [--duration S] [--rate HZ] [-o FILE|-] [--every S]\n"
    "                     [--blocking]\n"
    "       spwalk replay FILE [--json]\n"
    "       spwalk show FILE [--regions]\n"
    "       spwalk verify FILE\n"
    "\n"
    "  capture   stop a running CPython 3.13/3.14 (free-threaded or not), walk and\n"
    "            symbolize every thread, and save the memory read as a snapshot FILE\n"
    "  dump      capture into memory and print the stacks (no file)\n"
    "  record    sample every thread HZ times a second (default 100) for S seconds (default:\n"
    "            until the target exits or SIGINT/SIGTERM); write an spprof profile (JSON)\n"
    "  replay    walk and symbolize every thread of a snapshot; same output on every run\n"
    "  show      print a snapshot's header, threads, regions and sizes\n"
    "  verify    replay a snapshot and compare with the expected output stored in it\n"
    "\n"
    "  --core CORE    capture, dump: read an ELF core file (gcore, or a crash) instead of a\n"
    "                 process; --exe / --lib name the interpreter or libpython when the\n"
    "                 files the core maps have moved\n"
    "  --json         print JSON (docs/stack-json.md) instead of text\n"
    "  --nonblocking  capture, dump: read the target while it runs instead of stopping it\n"
    "  --blocking     record: stop the target for each sample (default: read it while it\n"
    "                 runs, a walk whose memory changed under it retried, then dropped as torn)\n"
    "  --every S      record: also write the profile so far every S seconds (one per line)\n"
    "exit status: 0 ok, 1 error, 2 usage\n";

static int usage_error(const char *fmt, ...) SW_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("spwalk: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (try 'spwalk --help')\n", stderr);
    return EXIT_USAGE;
}

static int fail(const sw_err *e)
{
    fprintf(stderr, "spwalk: error: %s\n", e->msg);
    return 1;
}

/* Write all of b to stdout; a closed pipe or full disk is an error like any other. */
static int emit(const sw_buf *b)
{
    if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len) return -1;
    return fflush(stdout) == 0 ? 0 : -1;
}

typedef struct options {
    const char *file;   /* positional FILE */
    const char *output; /* -o */
    const char *duration, *rate, *every;
    const char *core, *exe, *lib; /* --core, --exe, --lib */
    pid_t pid;
    int have_pid, json, nonblocking, blocking, regions;
} options;

static int parse_pid(const char *s, pid_t *pid)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > INT_MAX) return -1;
    *pid = (pid_t)v;
    return 0;
}

/* Parse argv[2..] for a command. `allowed` lists the options it accepts. Returns 0 or the
 * usage exit status after printing the message. */
static int parse(int argc, char **argv, const char *allowed, int want_file, options *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        char name[32];
        if (a[0] != '-' || a[1] == '\0') {
            if (!want_file || o->file) return usage_error("unexpected argument '%s'", a);
            o->file = a;
            continue;
        }
        /* --opt=value or --opt value */
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        if (nlen >= sizeof name) return usage_error("unknown option '%s'", a);
        memcpy(name, a, nlen);
        name[nlen] = '\0';
        int takes_value = !strcmp(name, "--pid") || !strcmp(name, "-o") ||
                          !strcmp(name, "--output") || !strcmp(name, "--duration") ||
                          !strcmp(name, "--rate") || !strcmp(name, "--every") ||
                          !strcmp(name, "--core") || !strcmp(name, "--exe") ||
                          !strcmp(name, "--lib");
        char key[40];
        snprintf(key, sizeof key, " %s ", name);
        if (!strstr(allowed, key)) return usage_error("unknown option '%s'", a);
        if (takes_value) {
            if (eq) val = eq + 1;
            else if (i + 1 < argc) val = argv[++i];
            else return usage_error("option '%s' needs a value", name);
        } else if (eq) {
            return usage_error("option '%s' takes no value", name);
        }
        if (!strcmp(name, "--pid")) {
            if (parse_pid(val, &o->pid)) return usage_error("invalid process id '%s'", val);
            o->have_pid = 1;
        } else if (!strcmp(name, "-o") || !strcmp(name, "--output")) {
            o->output = val;
        } else if (!strcmp(name, "--json")) {
            o->json = 1;
        } else if (!strcmp(name, "--nonblocking")) {
            o->nonblocking = 1;
        } else if (!strcmp(name, "--blocking")) {
            o->blocking = 1;
        } else if (!strcmp(name, "--regions")) {
            o->regions = 1;
        } else if (!strcmp(name, "--duration")) {
            o->duration = val;
        } else if (!strcmp(name, "--rate")) {
            o->rate = val;
        } else if (!strcmp(name, "--every")) {
            o->every = val;
        } else if (!strcmp(name, "--core")) {
            o->core = val;
        } else if (!strcmp(name, "--exe")) {
            o->exe = val;
        } else if (!strcmp(name, "--lib")) {
            o->lib = val;
        }
    }
    if (want_file && !o->file) return usage_error("%s needs a snapshot FILE", argv[1]);
    if (o->core && o->have_pid) return usage_error("%s", "--core and --pid exclude each other");
    if (o->core && o->nonblocking)
        return usage_error("%s", "--nonblocking is for a process; a core holds still");
    if ((o->exe || o->lib) && !o->core)
        return usage_error("%s", "--exe and --lib go with --core");
    return 0;
}

/* Load and open a snapshot named on the command line. */
static int open_file(const char *path, uint8_t **data, size_t *len, sw_snap *s, sw_err *e)
{
    if (sw_read_file(path, data, len, e)) return -1;
    if (sw_snap_open(s, *data, *len, e)) {
        sw_err inner = *e;
        sw_fail(e, "%s: %s", path, inner.msg);
        sw_snap_close(s);
        free(*data);
        *data = NULL;
        return -1;
    }
    return 0;
}

static int cmd_replay(const options *o)
{
    uint8_t *data;
    size_t len;
    sw_snap s;
    sw_err e;
    sw_buf out = { 0 };
    if (open_file(o->file, &data, &len, &s, &e)) return fail(&e);
    int rc = sw_snap_render(&s, o->json ? SW_JSON : SW_TEXT, &out, &e);
    sw_snap_close(&s);
    free(data);
    if (rc) {
        sw_buf_free(&out);
        return fail(&e);
    }
    rc = emit(&out);
    sw_buf_free(&out);
    if (rc) return fail(&(sw_err){ "cannot write to standard output" });
    return 0;
}

/* Line `n` (1-based) of text[0,len) as [*start, *end), or 0 if there is none. */
static int nth_line(const char *text, size_t len, size_t n, size_t *start, size_t *end)
{
    size_t pos = 0;
    for (size_t i = 1; i < n; i++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl) return 0;
        pos = (size_t)(nl - text) + 1;
    }
    if (pos >= len) return 0;
    const char *nl = memchr(text + pos, '\n', len - pos);
    *start = pos;
    *end = nl ? (size_t)(nl - text) : len;
    return 1;
}

static void show_lines(const char *sign, const char *text, size_t len, size_t from, size_t count)
{
    for (size_t n = from; n < from + count; n++) {
        size_t a, b;
        if (!nth_line(text, len, n, &a, &b)) {
            if (n == from) fprintf(stderr, "%s<end of output>\n", sign);
            break;
        }
        fprintf(stderr, "%s%.*s\n", sign, (int)(b - a), text + a);
    }
}

static int cmd_verify(const options *o)
{
    uint8_t *data;
    size_t len;
    sw_snap s;
    sw_err e = { "" };
    sw_buf out = { 0 };
    int status = 0;
    if (open_file(o->file, &data, &len, &s, &e)) return fail(&e);
    /* The expected output a capture stores is the JSON rendering (docs/spwalk.md). */
    if (!s.snap.expected) {
        sw_fail(&e, "%s: no expected output stored in the file", o->file);
        status = fail(&e);
    } else if (sw_snap_render(&s, SW_JSON, &out, &e)) {
        status = fail(&e);
    } else {
        const char *exp = (const char *)s.snap.expected;
        size_t elen = s.snap.expected_len;
        if (elen == out.len && memcmp(exp, out.data, elen) == 0) {
            printf("%s: ok, replay matches the expected output (%u threads, %zu bytes)\n",
                   o->file, s.snap.n_threads, elen);
        } else {
            /* The first differing line, then a few lines of each side from there. */
            size_t line = 1, i = 0, common = elen < out.len ? elen : out.len;
            for (; i < common && exp[i] == out.data[i]; i++)
                if (exp[i] == '\n') line++;
            fprintf(stderr,
                    "spwalk: error: %s: replay differs from the expected output at line %zu\n",
                    o->file, line);
            fprintf(stderr, "--- expected\n+++ replay\n@@ line %zu @@\n", line);
            show_lines("-", exp, elen, line, 3);
            show_lines("+", out.data, out.len, line, 3);
            status = 1;
        }
    }
    sw_snap_close(&s);
    free(data);
    sw_buf_free(&out);
    return status;
}

static int cmd_show(const options *o)
{
    uint8_t *data;
    size_t len;
    sw_err e;
    spw_snapshot s;
    if (sw_read_file(o->file, &data, &len, &e)) return fail(&e);
    /* show decodes but does not require a replayable layout: it is the tool for looking
     * at a file that does not replay. */
    spw_snap_err se = spw_snapshot_decode(data, len, &s);
    if (se != SPW_SNAP_OK) {
        free(data);
        sw_fail(&e, "%s: bad snapshot: %s", o->file, spw_snap_strerror(se));
        return fail(&e);
    }
    char version[32];
    spw_layout L;
    spw_layout_err le = spw_layout_parse(s.offsets, s.offsets_len, s.header.arch, &L);
    sw_version_string(s.header.py_version, version, sizeof version);
    printf("file:          %s (%zu bytes, format %u)\n", o->file, len, SPW_SNAP_VERSION);
    printf("architecture:  %s, %u-byte pointers\n", spw_arch_name(s.header.arch),
           s.header.pointer_width);
    printf("python:        %s%s (PY_VERSION_HEX 0x%08llx)\n", version,
           s.header.free_threaded ? " free-threaded" : "",
           (unsigned long long)s.header.py_version);
    printf("PyCode_Type:   0x%llx\n", (unsigned long long)s.header.code_type);
    printf("debug offsets: %u bytes, %s\n", s.offsets_len,
           le == SPW_LAYOUT_OK ? "parse ok" : spw_layout_strerror(le));
    printf("threads:       %u\n", s.n_threads);
    for (uint32_t i = 0; i < s.n_threads; i++) {
        spw_snap_thread t = spw_snapshot_thread(&s, i);
        printf("  [%u] tstate 0x%llx  thread_id %llu  native %llu\n", i,
               (unsigned long long)t.tstate, (unsigned long long)t.thread_id,
               (unsigned long long)t.native_thread_id);
    }
    uint64_t total = 0, largest = 0;
    for (uint32_t i = 0; i < s.n_regions; i++) {
        spw_snap_region r = spw_snapshot_region(&s, i);
        total += r.len;
        if (r.len > largest) largest = r.len;
    }
    printf("regions:       %u, %llu bytes of target memory (largest %llu)\n", s.n_regions,
           (unsigned long long)total, (unsigned long long)largest);
    if (o->regions) {
        for (uint32_t i = 0; i < s.n_regions; i++) {
            spw_snap_region r = spw_snapshot_region(&s, i);
            printf("  0x%012llx  %llu\n", (unsigned long long)r.addr, (unsigned long long)r.len);
        }
    }
    if (s.expected)
        printf("expected:      %u bytes of JSON output\n", s.expected_len);
    else
        printf("expected:      none\n");
    free(data);
    if (fflush(stdout) != 0) return fail(&(sw_err){ "cannot write to standard output" });
    return 0;
}

/* capture --core: the core's memory through the recording reader, encoded as capture does. */
static int capture_core(const options *o)
{
    sw_err e;
    sw_corefile cf;
    sw_source src;
    sw_buf snap = { 0 };
    sw_capture_stats st;
    if (sw_corefile_open(&cf, o->core, o->exe, o->lib, &e)) return fail(&e);
    sw_corefile_source(&cf, &src);
    int rc = sw_capture_source(&src, &snap, &st, &e);
    if (rc == 0) rc = sw_write_file(o->output, snap.data, snap.len, &e);
    if (rc == 0)
        fprintf(stderr, "spwalk: captured %u thread%s of core %s (%zu bytes): %zu bytes, %u "
                        "regions, %llu bytes of target memory\n",
                st.n_threads, st.n_threads == 1 ? "" : "s", o->core, cf.len, snap.len,
                st.n_regions, (unsigned long long)st.bytes_recorded);
    sw_corefile_close(&cf);
    sw_buf_free(&snap);
    return rc ? fail(&e) : 0;
}

/* dump --core: every thread rendered straight over the core reader. */
static int dump_core(const options *o)
{
    sw_err e;
    sw_corefile cf;
    sw_source src;
    spw_layout L;
    uint8_t blob[SPW_SNAP_OFFSETS_MAX];
    size_t blob_len;
    spw_snap_thread *threads = NULL;
    uint32_t n = 0;
    sw_buf out = { 0 };
    char note[256];
    if (sw_corefile_open(&cf, o->core, o->exe, o->lib, &e)) return fail(&e);
    sw_corefile_source(&cf, &src);
    int rc = sw_source_layout(&src, blob, &blob_len, &L, &e);
    if (rc == 0) rc = sw_source_threads(&src, &L, &threads, &n, &e);
    if (rc == 0) {
        /* Not an error: a thread without a thread state is ordinary, and a core may hold
         * fewer threads than Python had (a dump cut short). */
        if (sw_corefile_check_threads(&cf, threads, n, note, sizeof note))
            fprintf(stderr, "spwalk: note: %s\n", note);
        sw_view v = { .layout = &L, .reader = &src.reader, .code_type = src.code_type,
                      .threads = threads, .n_threads = n };
        rc = sw_render(&v, o->json ? SW_JSON : SW_TEXT, &out, &e);
    }
    if (rc == 0 && emit(&out)) rc = sw_fail(&e, "cannot write to standard output");
    free(threads);
    sw_buf_free(&out);
    sw_corefile_close(&cf);
    return rc ? fail(&e) : 0;
}

static int cmd_capture(const options *o)
{
    sw_err e;
    sw_buf snap = { 0 };
    sw_capture_stats st;
    if (o->core && !o->output) return usage_error("%s needs -o FILE", "capture");
    if (o->core) return capture_core(o);
    if (!o->have_pid) return usage_error("%s needs --pid PID or --core CORE", "capture");
    if (!o->output) return usage_error("%s needs -o FILE", "capture");
    if (sw_capture(o->pid, o->nonblocking, &snap, &st, &e)) {
        sw_buf_free(&snap);
        return fail(&e);
    }
    int rc = sw_write_file(o->output, snap.data, snap.len, &e);
    if (rc == 0) {
        /* On stderr: stdout may be the snapshot itself (-o -). */
        fprintf(stderr, "spwalk: captured %u thread%s of process %d: %zu bytes, %u regions, "
                        "%llu bytes of target memory",
                st.n_threads, st.n_threads == 1 ? "" : "s", (int)o->pid, snap.len,
                st.n_regions, (unsigned long long)st.bytes_recorded);
        if (o->nonblocking) fprintf(stderr, " (read while running)\n");
        else fprintf(stderr, " (target stopped %.1f ms)\n", st.stopped_ms);
    }
    sw_buf_free(&snap);
    return rc ? fail(&e) : 0;
}

static int cmd_dump(const options *o)
{
    sw_err e;
    sw_buf snap = { 0 }, out = { 0 };
    sw_capture_stats st;
    sw_snap s;
    if (o->core) return dump_core(o);
    if (!o->have_pid) return usage_error("%s needs --pid PID or --core CORE", "dump");
    /* dump is capture + replay: what it prints is exactly what `spwalk replay` would
     * print for the file `capture` would have written. */
    if (sw_capture(o->pid, o->nonblocking, &snap, &st, &e) ||
        sw_snap_open(&s, (const uint8_t *)snap.data, snap.len, &e)) {
        sw_buf_free(&snap);
        return fail(&e);
    }
    int rc = sw_snap_render(&s, o->json ? SW_JSON : SW_TEXT, &out, &e);
    sw_snap_close(&s);
    sw_buf_free(&snap);
    if (rc == 0 && emit(&out)) rc = sw_fail(&e, "cannot write to standard output");
    sw_buf_free(&out);
    return rc ? fail(&e) : 0;
}

/* A number in (0, max] for option `name`, or the default when the option is absent. */
static int parse_positive(const char *name, const char *s, double dflt, double max, double *out)
{
    char *end;
    if (!s) {
        *out = dflt;
        return 0;
    }
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > max)
        return usage_error("invalid %s '%s' (a number above 0, at most %g)", name, s, max);
    *out = v;
    return 0;
}

static int cmd_record(const options *o)
{
    sw_err e;
    sw_record_opts r = { .pid = o->pid, .nonblocking = !o->blocking,
                         .output = o->output ? o->output : "-" };
    int rc;
    if (!o->have_pid) return usage_error("%s needs --pid PID", "record");
    if ((rc = parse_positive("--rate", o->rate, 100, 10000, &r.rate_hz)) ||
        (rc = parse_positive("--duration", o->duration, 0, 1e9, &r.duration_s)) ||
        (rc = parse_positive("--every", o->every, 0, 1e9, &r.every_s)))
        return rc;
    return sw_record(&r, &e) ? fail(&e) : 0;
}

int main(int argc, char **argv)
{
    options o;
    int rc;
    if (argc < 2) return usage_error("%s", "no command given");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (!strcmp(cmd, "replay")) {
        if ((rc = parse(argc, argv, " --json ", 1, &o))) return rc;
        return cmd_replay(&o);
    }
    if (!strcmp(cmd, "verify")) {
        if ((rc = parse(argc, argv, " ", 1, &o))) return rc;
        return cmd_verify(&o);
    }
    if (!strcmp(cmd, "show")) {
        if ((rc = parse(argc, argv, " --regions ", 1, &o))) return rc;
        return cmd_show(&o);
    }
    if (!strcmp(cmd, "capture")) {
        if ((rc = parse(argc, argv, " --pid --core --exe --lib -o --output --nonblocking ", 0,
                        &o)))
            return rc;
        return cmd_capture(&o);
    }
    if (!strcmp(cmd, "dump")) {
        if ((rc = parse(argc, argv, " --pid --core --exe --lib --json --nonblocking ", 0, &o)))
            return rc;
        return cmd_dump(&o);
    }
    if (!strcmp(cmd, "record")) {
        if ((rc = parse(argc, argv, " --pid --duration --rate --every -o --output --blocking ",
                        0, &o)))
            return rc;
        return cmd_record(&o);
    }
    return usage_error("unknown command '%s'", cmd);
}
