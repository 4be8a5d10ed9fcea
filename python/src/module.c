/*
 * module.c — spprof._native: the Python face of the shim (shim.c) and the core.
 *
 * Multi-phase init; declares Py_MOD_GIL_NOT_USED so importing it keeps a free-threaded
 * interpreter's GIL disabled. Nothing here runs in a signal handler.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "agg.h"
#include "shim.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- this interpreter's layout ------------------------------------------------------------- */
static uint64_t code_type_addr(void) { return (uint64_t)(uintptr_t)&PyCode_Type; }
static spp_target g_target; /* this interpreter: its layout, &PyCode_Type, walker instance */
static int g_layout_ok;
static uint64_t g_runtime;

/* Test only (_test_pretend): make load_layout() see another interpreter version and/or
 * another debug-offsets blob, to prove what start() says to an interpreter it cannot
 * handle. Cleared by _test_pretend(None). */
static struct {
    int on;
    unsigned long long version; /* PY_VERSION_HEX to pretend */
    PyObject *blob;             /* bytes to parse instead of _PyRuntime, or NULL */
} g_pretend;

/* Fill g_target from this interpreter's own _Py_DebugOffsets, or raise RuntimeError naming
 * the version. */
static int load_layout(void)
{
    if (g_layout_ok && !g_pretend.on) return 0;
    uint64_t hex = g_pretend.on ? g_pretend.version : (uint64_t)Py_Version;
    char vbuf[64];
    const char *ver = Py_GetVersion();
    if (g_pretend.on) {
        snprintf(vbuf, sizeof vbuf, "%u.%u.%u (pretended)", (unsigned)(hex >> 24),
                 (unsigned)((hex >> 16) & 0xff), (unsigned)((hex >> 8) & 0xff));
        ver = vbuf;
    }
    unsigned minor = (unsigned)((hex >> 16) & 0xff), major = (unsigned)(hex >> 24);
    const void *rt = dlsym(RTLD_DEFAULT, "_PyRuntime");
    if (!rt) {
        PyErr_Format(PyExc_RuntimeError,
                     "spprof: cannot find _PyRuntime in Python %s: %s", ver, dlerror());
        return -1;
    }
    size_t need = major == 3 ? spw_layout_blob_size(minor) : 0;
    if (need == 0) {
        PyErr_Format(PyExc_RuntimeError,
                     "spprof does not support Python %u.%u (this is %s); supported: 3.13, 3.14",
                     major, minor, ver);
        return -1;
    }
    size_t have = need;
    if (g_pretend.on && g_pretend.blob) {
        rt = PyBytes_AS_STRING(g_pretend.blob);
        if ((size_t)PyBytes_GET_SIZE(g_pretend.blob) < have) have = (size_t)PyBytes_GET_SIZE(g_pretend.blob);
    }
    spw_layout L;
    spw_layout_err e = spw_layout_parse(rt, have, SPW_ARCH_HOST, &L);
    if (e != SPW_LAYOUT_OK) {
        PyErr_Format(PyExc_RuntimeError,
                     "spprof cannot read the debug offsets of Python %s: %s", ver,
                     spw_layout_strerror(e));
        return -1;
    }
    if (L.py_version != hex) {
        PyErr_Format(PyExc_RuntimeError,
                     "spprof: _Py_DebugOffsets says version 0x%llx but Python %s is running",
                     (unsigned long long)L.py_version, ver);
        return -1;
    }
#ifdef Py_GIL_DISABLED
    if (!L.free_threaded) {
#else
    if (L.free_threaded) {
#endif
        PyErr_Format(PyExc_RuntimeError,
                     "spprof: extension and interpreter disagree on free threading (Python %s)", ver);
        return -1;
    }
    if (g_pretend.on) return 0; /* a pretend run never replaces the real layout */
    spp_target_init(&g_target, &L, code_type_addr());
    g_runtime = (uint64_t)(uintptr_t)rt;
    g_layout_ok = 1;
    return 0;
}

/* _test_pretend(version_hex, blob=None) / _test_pretend(None) */
static PyObject *py_test_pretend(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *version = Py_None, *blob = Py_None;
    if (!PyArg_ParseTuple(args, "|OO:_test_pretend", &version, &blob)) return NULL;
    if (blob != Py_None && !PyBytes_Check(blob)) {
        PyErr_SetString(PyExc_TypeError, "blob must be bytes or None");
        return NULL;
    }
    unsigned long long v = 0;
    if (version != Py_None) {
        v = PyLong_AsUnsignedLongLong(version);
        if (PyErr_Occurred()) return NULL;
    }
    Py_CLEAR(g_pretend.blob);
    g_pretend.on = version != Py_None;
    g_pretend.version = v;
    if (g_pretend.on && blob != Py_None) g_pretend.blob = Py_NewRef(blob);
    Py_RETURN_NONE;
}

/* _test_walker("runtime") / _test_walker(None): make every walk after it (the test entries
 * now, the handler's from the next start()) read this interpreter's offsets at run time, as
 * for an interpreter whose frame layout matches no compiled-in shape, or go back to the
 * compiled-in one. */
static PyObject *py_test_walker(PyObject *self, PyObject *arg)
{
    (void)self;
    if (load_layout() != 0) return NULL;
    if (spp_is_active()) {
        PyErr_SetString(PyExc_RuntimeError, "spprof: _test_walker while profiling");
        return NULL;
    }
    if (arg == Py_None) {
        spp_target_init(&g_target, &g_target.layout, code_type_addr());
    } else if (PyUnicode_Check(arg) && PyUnicode_CompareWithASCIIString(arg, "runtime") == 0) {
        g_target.flavor = SPW_FLAVOR_COUNT_;
    } else {
        PyErr_SetString(PyExc_ValueError, "_test_walker takes 'runtime' or None");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The audit hook: `threading` and `_thread` raise these events just before a new thread
 * gets its thread state. Installed once, at the first start(); a no-op when not profiling. */
static int audit_hook(const char *event, PyObject *args, void *data)
{
    (void)args;
    (void)data;
    if (event[0] == '_' && spp_is_active() &&
        (!strcmp(event, "_thread.start_new_thread") ||
         !strcmp(event, "_thread.start_joinable_thread")))
        spp_thread_starting();
    return 0;
}

static int g_audit_installed;

static uint64_t my_tstate(void) { return (uint64_t)(uintptr_t)PyThreadState_Get(); }

/* ---- start / stop / stats ------------------------------------------------------------------ */
static PyObject *py_start(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned long long interval_ns;
    const char *timer = "auto";
    unsigned long long scan_ns = 0; /* benchmarks only: the consumer's period */
    if (!PyArg_ParseTuple(args, "K|sK:_start", &interval_ns, &timer, &scan_ns)) return NULL;
    /* spprof.start() takes 1 ms and up; below that only bench/live_bench.py goes, to
     * measure the cost of one sample by taking many. */
    if (interval_ns < SPP_INTERVAL_MIN_NS) {
        PyErr_SetString(PyExc_ValueError, "interval must be at least 10 us");
        return NULL;
    }
    spp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (!strcmp(timer, "auto")) cfg.timer = SPP_TIMER_AUTO;
    else if (!strcmp(timer, "perf_event") || !strcmp(timer, "perf")) cfg.timer = SPP_TIMER_PERF;
    else if (!strcmp(timer, "posix_cpu_timer") || !strcmp(timer, "posix")) cfg.timer = SPP_TIMER_POSIX;
    else {
        PyErr_Format(PyExc_ValueError, "unknown timer source %R (auto, perf_event, posix_cpu_timer)",
                     PyTuple_GET_ITEM(args, 1));
        return NULL;
    }
    if (load_layout() != 0) return NULL;
    if (g_pretend.on) {
        PyErr_SetString(PyExc_RuntimeError, "spprof: _test_pretend is on");
        return NULL;
    }
    if (!g_audit_installed) {
        /* Hooks cannot be removed; another hook may veto this one (then new threads are
         * found by the consumer's periodic scan instead). */
        if (PySys_AddAuditHook(audit_hook, NULL) == 0) g_audit_installed = 1;
        PyErr_Clear();
    }
    cfg.target = g_target;
    cfg.runtime = g_runtime;
    cfg.interval_ns = interval_ns;
    cfg.scan_ns = scan_ns;
    char err[256] = "";
    int rc;
    Py_BEGIN_ALLOW_THREADS
    spp_api_lock();
    rc = spp_start(&cfg, err, sizeof err);
    spp_api_unlock();
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_Format(PyExc_RuntimeError, "spprof: %s", err);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Build (start_ns, stop_ns, symbols, threads, stacks) from the consumer's tables:
 * symbols = [(function, file, line)], threads = [(ident, native_id)],
 * stacks = [(thread index, (symbol ids innermost first), count)]. */
static PyObject *results_tuple(const spp_agg *a, uint64_t t0, uint64_t t1)
{
    PyObject *syms = NULL, *threads = NULL, *stacks = NULL;
    size_t ns = a ? spp_agg_n_syms(a) : 0, nt = a ? spp_agg_n_threads(a) : 0,
           nk = a ? spp_agg_n_stacks(a) : 0;
    if (!(syms = PyList_New((Py_ssize_t)ns)) || !(threads = PyList_New((Py_ssize_t)nt)) ||
        !(stacks = PyList_New((Py_ssize_t)nk)))
        goto fail;
    for (size_t i = 0; i < ns; i++) {
        char *fn, *file;
        int32_t line;
        spp_agg_sym(a, i, &fn, &file, &line);
        PyObject *f = PyUnicode_DecodeUTF8(fn, (Py_ssize_t)strlen(fn), "replace");
        PyObject *fi = f ? PyUnicode_DecodeUTF8(file, (Py_ssize_t)strlen(file), "replace") : NULL;
        if (!fi) {
            Py_XDECREF(f);
            goto fail;
        }
        PyObject *t = Py_BuildValue("(NNi)", f, fi, (int)line);
        if (!t) goto fail;
        PyList_SET_ITEM(syms, (Py_ssize_t)i, t);
    }
    for (size_t i = 0; i < nt; i++) {
        uint64_t ident, nid;
        spp_agg_thread_ids(a, i, &ident, &nid);
        PyObject *t = Py_BuildValue("(KK)", (unsigned long long)ident, (unsigned long long)nid);
        if (!t) goto fail;
        PyList_SET_ITEM(threads, (Py_ssize_t)i, t);
    }
    for (size_t i = 0; i < nk; i++) {
        uint32_t th, n;
        const uint32_t *ids;
        uint64_t count;
        spp_agg_stack(a, i, &th, &ids, &n, &count);
        PyObject *fr = PyTuple_New((Py_ssize_t)n);
        if (!fr) goto fail;
        for (uint32_t j = 0; j < n; j++) {
            PyObject *v = PyLong_FromUnsignedLong(ids[j]);
            if (!v) {
                Py_DECREF(fr);
                goto fail;
            }
            PyTuple_SET_ITEM(fr, j, v);
        }
        PyObject *t = Py_BuildValue("(INK)", (unsigned)th, fr, (unsigned long long)count);
        if (!t) goto fail;
        PyList_SET_ITEM(stacks, (Py_ssize_t)i, t);
    }
    return Py_BuildValue("(KKNNN)", (unsigned long long)t0, (unsigned long long)t1, syms, threads,
                         stacks);
fail:
    Py_XDECREF(syms);
    Py_XDECREF(threads);
    Py_XDECREF(stacks);
    return NULL;
}

static PyObject *py_stop(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    spp_api_lock();
    rc = spp_stop();
    spp_api_unlock();
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_SetString(PyExc_RuntimeError, "spprof: the profiler is not running");
        return NULL;
    }
    uint64_t t0, t1;
    spp_api_lock();
    const spp_agg *a = spp_results(&t0, &t1);
    PyObject *r = results_tuple(a, t0, t1);
    spp_results_free();
    spp_api_unlock();
    return r;
}

static PyObject *py_is_active(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(spp_is_active());
}

static PyObject *py_stats(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    spp_stats st;
    spp_get_stats(&st);
    uint64_t dropped = 0, validation = 0;
    PyObject *reasons = PyDict_New();
    if (!reasons) return NULL;
    for (int i = 0; i < SPP_DROP_COUNT_; i++) {
        dropped += st.c.dropped[i];
        if (i <= SPP_DROP_INVALID_CODE) validation += st.c.dropped[i];
        PyObject *v = PyLong_FromUnsignedLongLong(st.c.dropped[i]);
        if (!v || PyDict_SetItemString(reasons, spp_drop_names[i], v) != 0) {
            Py_XDECREF(v);
            Py_DECREF(reasons);
            return NULL;
        }
        Py_DECREF(v);
    }
    return Py_BuildValue(
        "{s:K,s:K,s:N,s:K,s:K,s:s,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:O}",
        "samples_captured", (unsigned long long)st.c.captured,
        "samples_dropped", (unsigned long long)dropped,
        "dropped_by_reason", reasons,
        "validation_drops", (unsigned long long)validation,
        "timer_expirations", (unsigned long long)st.c.expirations,
        "timer", spp_timer_name(st.timer),
        "interval_ns", (unsigned long long)st.interval_ns,
        "samples_truncated", (unsigned long long)st.c.truncated,
        "signals", (unsigned long long)st.c.signals,
        "threads_armed", (unsigned long long)st.threads_armed,
        "threads_active", (unsigned long long)st.threads_active,
        "arm_failures", (unsigned long long)st.arm_failures,
        "timer_rearms", (unsigned long long)st.timer_rearms,
        "symbolize_errors", (unsigned long long)st.symbolize_errors,
        "records", (unsigned long long)st.records,
        "consumer_rounds", (unsigned long long)st.consumer_rounds,
        "active", st.active ? Py_True : Py_False);
}

/* ---- test and benchmark entry points ------------------------------------------------------- */
static PyObject *frames_list(const spw_frame *fr, uint32_t n)
{
    PyObject *out = PyList_New(n);
    if (!out) return NULL;
    for (uint32_t i = 0; i < n; i++) {
        spw_symbol sym;
        spw_sym_err e = spp_symbolize_guarded(&g_target.layout, fr[i].code, fr[i].lasti, &sym);
        PyObject *t = e == SPW_SYM_OK
                          ? Py_BuildValue("(ssi)", sym.function, sym.file, (int)sym.line)
                          : Py_BuildValue("(ssi)", "<unknown>", "<unknown>", -1);
        if (!t) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, t);
    }
    return out;
}

static PyObject *walk_result(spw_status st, const spw_walk_result *r, const spw_frame *fr)
{
    PyObject *frames = frames_list(fr, r->n_frames);
    if (!frames) return NULL;
    return Py_BuildValue("(ssN)", spw_status_name(st), spw_reason_name(r->reason), frames);
}

/* _walk_self(max_frames=256) -> (status, reason, [(function, file, line), ...]): walk the
 * calling thread now, as the signal handler would, innermost first. */
static PyObject *py_walk_self(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned int max = 256;
    if (!PyArg_ParseTuple(args, "|I:_walk_self", &max)) return NULL;
    if (max > 4096) max = 4096;
    if (load_layout() != 0) return NULL;
    spw_frame *fr = PyMem_Malloc(sizeof *fr * (max ? max : 1));
    if (!fr) return PyErr_NoMemory();
    spw_walk_result r;
    int gi = spp_guard_begin();
    spw_status st = spp_walk_now(&g_target, my_tstate(), fr, max, &r);
    PyObject *res = walk_result(st, &r, fr);
    spp_guard_end(gi);
    PyMem_Free(fr);
    return res;
}

/* A crafted thread state whose frame chain runs into a PROT_NONE page:
 *   tstate.current_frame -> frame1 (owner 0, no executable: skipped)
 *   frame1.previous      -> an address inside the PROT_NONE page.
 * Only the second read faults, so the guard is exercised mid-walk. */
static uint64_t crafted_tstate(int tid)
{
    static unsigned char *mem;
    long page = sysconf(_SC_PAGESIZE);
    if (!mem) {
        void *m = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return 0;
        if (mprotect((char *)m + page, (size_t)page, PROT_NONE) != 0) return 0;
        mem = m;
    }
    const spw_layout *L = &g_target.layout;
    memset(mem, 0, (size_t)page);
    uint64_t ts = (uint64_t)(uintptr_t)mem;
    uint64_t frame1 = ts + ((L->tstate_size + 63u) & ~63u);
    if (frame1 + L->frame_size > ts + (uint64_t)page) frame1 = ts + (uint64_t)page / 2;
    uint64_t bad = ts + (uint64_t)page + 64; /* inside the PROT_NONE page */
    uint64_t nid = (uint64_t)(unsigned)tid;
    memcpy(mem + L->tstate_current_frame, &frame1, 8);
    memcpy(mem + L->tstate_native_thread_id, &nid, 8);
    memcpy(mem + (frame1 - ts) + L->frame_previous, &bad, 8);
    return ts;
}

/* _walk_crafted() -> (status, reason): a synchronous guarded walk of the crafted chain. */
static PyObject *py_walk_crafted(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (load_layout() != 0) return NULL;
    uint64_t ts = crafted_tstate(spp_gettid());
    if (!ts) return PyErr_SetFromErrno(PyExc_OSError);
    spw_frame fr[8];
    spw_walk_result r;
    int gi = spp_guard_begin();
    if (gi < 0) return PyErr_SetFromErrno(PyExc_OSError);
    spw_status st = spp_walk_now(&g_target, ts, fr, 8, &r);
    spp_guard_end(gi);
    return Py_BuildValue("(ss)", spw_status_name(st), spw_reason_name(r.reason));
}

/* _feed_crafted(on): while on, SIGPROF samples of the calling thread walk the crafted chain
 * instead of the thread's own, through the real handler and guard. */
static PyObject *py_feed_crafted(PyObject *self, PyObject *arg)
{
    (void)self;
    int on = PyObject_IsTrue(arg);
    if (on < 0) return NULL;
    if (load_layout() != 0) return NULL;
    if (on) {
        uint64_t ts = crafted_tstate(spp_gettid());
        if (!ts) return PyErr_SetFromErrno(PyExc_OSError);
        spp_test_override(ts, spp_gettid());
    } else {
        spp_test_override(0, 0);
    }
    Py_RETURN_NONE;
}

static double elapsed_ns(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e9 + (double)(b->tv_nsec - a->tv_nsec);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Touch `n` bytes so that what ran before is out of L1 and L2, as it is for a thread's
 * older frames after a period of running Python code. */
static uint64_t scrub(const volatile uint8_t *buf, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i += 64) s += buf[i];
    return s;
}

#define BENCH_ROUNDS 15
#define BENCH_SCRUB (4u << 20)

/* _bench(n) -> dict: on the calling thread's current stack, ns per call of the unvalidated
 * chase (the yardstick), of the guarded live walk, and of a full handler sample (walk +
 * record + counters). "hot": n calls back to back, best of BENCH_ROUNDS interleaved
 * rounds. "cold": each call timed alone after 4 MiB of other memory traffic, median. */
static PyObject *py_bench(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned int n = 10000;
    if (!PyArg_ParseTuple(args, "|I:_bench", &n)) return NULL;
    if (n == 0) n = 1;
    if (load_layout() != 0) return NULL;
    uint8_t *buf = malloc(BENCH_SCRUB);
    if (!buf) return PyErr_NoMemory();
    memset(buf, 1, BENCH_SCRUB);
    uint64_t ts = my_tstate(), acc = 0;
    spw_frame fr[SPP_MAX_DEPTH];
    spw_walk_result r;
    struct timespec a, b;
    uint32_t emitted = 0;
    double chase = 1e300, walk = 1e300, sample = 1e300;
    double cold_chase[BENCH_ROUNDS * 8], cold_walk[BENCH_ROUNDS * 8], cold_empty[BENCH_ROUNDS * 8];
    int gi = spp_guard_begin();
    for (int round = 0; round < BENCH_ROUNDS; round++) {
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (unsigned i = 0; i < n; i++) emitted = spp_chase_unchecked(&g_target, ts, fr, SPP_MAX_DEPTH);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (elapsed_ns(&a, &b) / n < chase) chase = elapsed_ns(&a, &b) / n;
        acc += fr[0].code;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (unsigned i = 0; i < n; i++) {
            spp_walk_now(&g_target, ts, fr, SPP_MAX_DEPTH, &r);
            acc += r.n_frames;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (elapsed_ns(&a, &b) / n < walk) walk = elapsed_ns(&a, &b) / n;
        double s = spp_bench_sample(&g_target, ts, n);
        if (s >= 0 && s < sample) sample = s;
        for (int k = 0; k < 8; k++) {
            int j = round * 8 + k;
            acc += scrub(buf, BENCH_SCRUB);
            clock_gettime(CLOCK_MONOTONIC, &a);
            acc += spp_chase_unchecked(&g_target, ts, fr, SPP_MAX_DEPTH);
            clock_gettime(CLOCK_MONOTONIC, &b);
            cold_chase[j] = elapsed_ns(&a, &b);
            acc += scrub(buf, BENCH_SCRUB);
            clock_gettime(CLOCK_MONOTONIC, &a);
            spp_walk_now(&g_target, ts, fr, SPP_MAX_DEPTH, &r);
            clock_gettime(CLOCK_MONOTONIC, &b);
            cold_walk[j] = elapsed_ns(&a, &b);
            acc += r.n_frames;
            acc += scrub(buf, BENCH_SCRUB);
            clock_gettime(CLOCK_MONOTONIC, &a);
            clock_gettime(CLOCK_MONOTONIC, &b);
            cold_empty[j] = elapsed_ns(&a, &b);
        }
    }
    spp_guard_end(gi);
    free(buf);
    if (r.status != SPW_WALK_OK || r.n_frames != emitted) {
        PyErr_Format(PyExc_RuntimeError, "walk (%s, %u frames) and chase (%u frames) disagree",
                     spw_status_name(r.status), r.n_frames, emitted);
        return NULL;
    }
    size_t m = BENCH_ROUNDS * 8;
    qsort(cold_chase, m, sizeof(double), cmp_double);
    qsort(cold_walk, m, sizeof(double), cmp_double);
    qsort(cold_empty, m, sizeof(double), cmp_double);
    double clock = cold_empty[m / 2];
    return Py_BuildValue("{s:I,s:I,s:d,s:d,s:d,s:d,s:d,s:K}", "frames_followed", r.n_visited,
                         "frames_emitted", r.n_frames, "chase_ns", chase, "walk_ns", walk,
                         "sample_ns", sample, "cold_chase_ns", cold_chase[m / 2] - clock,
                         "cold_walk_ns", cold_walk[m / 2] - clock,
                         "checksum", (unsigned long long)acc);
}

static PyObject *py_layout_info(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (load_layout() != 0) return NULL;
    /* walker: the build whose frame layout the handler's walker has compiled in, or
     * "runtime" when it reads this interpreter's offsets at run time */
    const char *walker = g_target.flavor == SPW_FLAVOR_COUNT_ ? "runtime"
                                                              : spw_flavor_name(g_target.flavor);
    return Py_BuildValue("{s:K,s:i,s:i,s:s,s:K,s:K,s:s}", "py_version",
                         (unsigned long long)g_target.layout.py_version, "py_minor", g_target.layout.py_minor,
                         "free_threaded", g_target.layout.free_threaded, "arch",
                         spw_arch_name(g_target.layout.arch), "runtime", (unsigned long long)g_runtime,
                         "code_type", (unsigned long long)code_type_addr(), "walker", walker);
}

/* _test_silence_timer(): stop this thread's POSIX timer behind the shim's back, as the kernel
 * sometimes does under load; the consumer must notice and set it again. */
static PyObject *py_test_silence_timer(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (spp_test_silence_timer(spp_gettid()) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "spprof: this thread has no POSIX timer");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    { "_start", py_start, METH_VARARGS, "_start(interval_ns, timer='auto'): begin sampling." },
    { "_stop", py_stop, METH_NOARGS, "_stop() -> (start_ns, stop_ns, symbols, threads, stacks)." },
    { "is_active", py_is_active, METH_NOARGS, "True while profiling." },
    { "stats", py_stats, METH_NOARGS, "Counters of the current or last session." },
    { "layout_info", py_layout_info, METH_NOARGS, "This interpreter's layout, from _Py_DebugOffsets." },
    { "_walk_self", py_walk_self, METH_VARARGS, "Test: walk the calling thread now." },
    { "_walk_crafted", py_walk_crafted, METH_NOARGS, "Test: walk a chain into a PROT_NONE page." },
    { "_feed_crafted", py_feed_crafted, METH_O, "Test: make this thread's samples walk the crafted chain." },
    { "_bench", py_bench, METH_VARARGS, "Benchmark: chase / walk / sample costs on this stack." },
    { "_test_walker", py_test_walker, METH_O,
      "Test: _test_walker('runtime') walks with run-time offsets; _test_walker(None) undoes it." },
    { "_test_silence_timer", py_test_silence_timer, METH_NOARGS,
      "Test: stop this thread's POSIX timer behind the shim's back." },
    { "_test_pretend", py_test_pretend, METH_VARARGS,
      "Test: _test_pretend(version_hex, blob=None) makes start() judge another interpreter." },
    { NULL, NULL, 0, NULL },
};

static int exec_module(PyObject *m)
{
    if (PyModule_AddIntConstant(m, "MAX_DEPTH", SPP_MAX_DEPTH) != 0) return -1;
    return 0;
}

static PyModuleDef_Slot slots[] = {
    { Py_mod_exec, (void *)exec_module },
#ifdef Py_mod_multiple_interpreters
    { Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED },
#endif
#ifdef Py_mod_gil
    { Py_mod_gil, Py_MOD_GIL_NOT_USED },
#endif
    { 0, NULL },
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "spprof._native",
    "The spprof sampling shim and core (see docs/live-shim.md).", 0, methods, slots,
    NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModuleDef_Init(&moduledef); }
