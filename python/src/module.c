/*
 * module.c — spprof._native: the Python face of the shim (shim.c) and the core.
 *
 * Multi-phase init; declares Py_MOD_GIL_NOT_USED so importing it keeps a free-threaded
 * interpreter's GIL disabled. Nothing here runs in a signal handler.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "agg.h"
#include "module.h"
#include "shim.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- this interpreter's layout ------------------------------------------------------------- */
uint64_t spp_mod_code_type(void) { return (uint64_t)(uintptr_t)&PyCode_Type; }
uint64_t spp_mod_my_tstate(void) { return (uint64_t)(uintptr_t)PyThreadState_Get(); }
spp_target spp_mod_target;
uint64_t spp_mod_runtime;
spp_pretend spp_mod_pretend;
static int g_layout_ok;

/* Fill spp_mod_target from this interpreter's own _Py_DebugOffsets, or raise RuntimeError naming
 * the version. */
int spp_mod_load_layout(void)
{
    if (g_layout_ok && !spp_mod_pretend.on) return 0;
    uint64_t hex = spp_mod_pretend.on ? spp_mod_pretend.version : (uint64_t)Py_Version;
    char vbuf[64];
    const char *ver = Py_GetVersion();
    if (spp_mod_pretend.on) {
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
    if (spp_mod_pretend.on && spp_mod_pretend.blob) {
        rt = PyBytes_AS_STRING(spp_mod_pretend.blob);
        if ((size_t)PyBytes_GET_SIZE(spp_mod_pretend.blob) < have) have = (size_t)PyBytes_GET_SIZE(spp_mod_pretend.blob);
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
    if (spp_mod_pretend.on) return 0; /* a pretend run never replaces the real layout */
    spp_target_init(&spp_mod_target, &L, spp_mod_code_type());
    spp_mod_runtime = (uint64_t)(uintptr_t)rt;
    g_layout_ok = 1;
    return 0;
}

/* The audit hook: `threading` and `_thread` raise these events just before a new thread
 * gets its thread state; os.exec* raise "os.exec" just before the exec. Installed once, at the first start(); a no-op when not profiling. */
static int audit_hook(const char *event, PyObject *args, void *data)
{
    (void)args;
    (void)data;
    if (!spp_is_active()) return 0;
    if (event[0] == '_' && (!strcmp(event, "_thread.start_new_thread") ||
                            !strcmp(event, "_thread.start_joinable_thread")))
        spp_thread_starting();
    else if (event[0] == 'o' && !strcmp(event, "os.exec"))
        spp_before_exec(); /* a SIGPROF pending at exec would kill the new program */
    return 0;
}

static int g_audit_installed;


/* ---- start / stop / stats ------------------------------------------------------------------ */
static PyObject *py_start(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned long long interval_ns;
    const char *timer = "auto";
    unsigned long long scan_ns = 0; /* benchmarks only: the consumer's period */
    unsigned int max_depth = 0;
    const char *mode = "cpu";
    const char *drops_dir = NULL; /* keep_drops: None, or the directory */
    unsigned int max_drops = 0;
    if (!PyArg_ParseTuple(args, "K|sKIszI:_start", &interval_ns, &timer, &scan_ns, &max_depth,
                          &mode, &drops_dir, &max_drops))
        return NULL;
    if (drops_dir && (!drops_dir[0] || strlen(drops_dir) >= sizeof ((spp_config *)0)->drops_dir)) {
        PyErr_SetString(PyExc_ValueError, "keep_drops must be a directory path of 1 to 1023 bytes");
        return NULL;
    }
    if (max_depth > SPP_MAX_DEPTH) {
        PyErr_Format(PyExc_ValueError, "max_depth must be at most %u", SPP_MAX_DEPTH);
        return NULL;
    }
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
    else if (!strcmp(timer, "perf_event_user")) { /* tests: as where kernel time may not be counted */
        cfg.timer = SPP_TIMER_PERF;
        cfg.perf_user_only = 1;
    }
    else if (!strcmp(timer, "posix_cpu_timer") || !strcmp(timer, "posix")) cfg.timer = SPP_TIMER_POSIX;
    else if (!strcmp(timer, "sampler")) cfg.timer = SPP_TIMER_SAMPLER;
    else {
        PyErr_Format(PyExc_ValueError,
                     "unknown timer source %R (auto, perf_event, posix_cpu_timer, sampler)",
                     PyTuple_GET_ITEM(args, 1));
        return NULL;
    }
    if (!strcmp(mode, "wall")) {
        cfg.wall = 1;
        if (cfg.timer == SPP_TIMER_AUTO) cfg.timer = SPP_TIMER_SAMPLER;
        if (cfg.timer != SPP_TIMER_SAMPLER) {
            PyErr_SetString(PyExc_ValueError, "spprof: wall mode needs the sampler thread "
                                              "(timer 'sampler'): CPU timers fire only on CPU");
            return NULL;
        }
    } else if (strcmp(mode, "cpu") != 0) {
        PyErr_Format(PyExc_ValueError, "unknown mode %R (cpu, wall)", PyTuple_GET_ITEM(args, 4));
        return NULL;
    }
    if (spp_mod_load_layout() != 0) return NULL;
    if (spp_mod_pretend.on) {
        PyErr_SetString(PyExc_RuntimeError, "spprof: _test_pretend is on");
        return NULL;
    }
    if (!g_audit_installed) {
        /* Hooks cannot be removed; another hook may veto this one (then new threads are
         * found by the consumer's periodic scan instead). */
        if (PySys_AddAuditHook(audit_hook, NULL) == 0) g_audit_installed = 1;
        PyErr_Clear();
    }
    cfg.target = spp_mod_target;
    cfg.runtime = spp_mod_runtime;
    cfg.interval_ns = interval_ns;
    cfg.scan_ns = scan_ns;
    cfg.max_depth = max_depth;
    if (drops_dir) strcpy(cfg.drops_dir, drops_dir);
    cfg.max_drops = max_drops;
    char err[1400] = "";
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

/* Stop and read the results under one hold of the API lock, so another thread's start()
 * cannot free them in between. */
static PyObject *py_stop(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    spp_api_lock();
    rc = spp_stop();
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        spp_api_unlock();
        PyErr_SetString(PyExc_RuntimeError, "spprof: the profiler is not running");
        return NULL;
    }
    uint64_t t0, t1;
    const spp_agg *a = spp_results(&t0, &t1);
    PyObject *r = results_tuple(a, t0, t1);
    spp_results_free();
    spp_api_unlock();
    return r;
}

/* The same tuple as _stop(), of the samples aggregated so far, without stopping: for a
 * live view (spprof top). The consumer pauses while the tuple is built. */
static PyObject *py_snapshot(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_BEGIN_ALLOW_THREADS
    spp_api_lock();
    Py_END_ALLOW_THREADS
    uint64_t t0, t1;
    const spp_agg *a = spp_snapshot_begin(&t0, &t1);
    if (!a) {
        spp_api_unlock();
        PyErr_SetString(PyExc_RuntimeError, "spprof: the profiler is not running");
        return NULL;
    }
    PyObject *r = results_tuple(a, t0, t1);
    spp_snapshot_end();
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
    const struct {
        const char *name;
        unsigned long long v;
    } counts[] = {
        { "samples_captured", st.c.captured },
        { "samples_dropped", dropped },
        { "validation_drops", validation },
        { "timer_expirations", st.c.expirations },
        { "interval_ns", st.interval_ns },
        { "max_depth", st.max_depth },
        { "samples_truncated", st.c.truncated },
        { "samples_unsampled", st.c.unsampled },
        { "samples_lost", st.samples_lost },
        { "signals", st.c.signals },
        { "threads_armed", st.threads_armed },
        { "threads_active", st.threads_active },
        { "threads_unsampled", st.threads_unsampled },
        { "arm_failures", st.arm_failures },
        { "posix_fallbacks", st.posix_fallbacks },
        { "perf_fds", st.perf_fds },
        { "timer_rearms", st.timer_rearms },
        { "symbolize_errors", st.symbolize_errors },
        { "freed_code", st.freed_code },
        { "records", st.records },
        { "consumer_rounds", st.consumer_rounds },
        { "partial_scans", st.partial_scans },
        { "threads_merged", st.threads_merged },
        { "faults_forwarded", st.faults_forwarded },
        { "sampler_ticks", st.ticks },
        { "sampler_ticks_late", st.ticks_late },
        { "sampler_cpu_ns", st.sampler_cpu_ns },
        { "walk_retries", st.c.retries },
        { "samples_reused", st.c.reused },
        { "drops_kept", st.drops_kept },
        { "drops_not_kept", st.drops_not_kept },
        { "drop_recorders", st.drop_recorders },
    };
    PyObject *d = PyDict_New();
    if (!d || PyDict_SetItemString(d, "dropped_by_reason", reasons) != 0) goto fail;
    Py_CLEAR(reasons);
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(counts[i].v);
        if (!v || PyDict_SetItemString(d, counts[i].name, v) != 0) {
            Py_XDECREF(v);
            goto fail;
        }
        Py_DECREF(v);
    }
    PyObject *timer = PyUnicode_FromString(spp_timer_name(st.timer));
    if (!timer || PyDict_SetItemString(d, "timer", timer) != 0) {
        Py_XDECREF(timer);
        goto fail;
    }
    Py_DECREF(timer);
    if (PyDict_SetItemString(d, "timer_counts_kernel", st.counts_kernel ? Py_True : Py_False) ||
        PyDict_SetItemString(d, "sigprof_replaced", st.sigprof_stolen ? Py_True : Py_False) ||
        PyDict_SetItemString(d, "active", st.active ? Py_True : Py_False))
        goto fail;
    PyObject *mode = PyUnicode_FromString(st.wall ? "wall" : "cpu");
    if (!mode || PyDict_SetItemString(d, "mode", mode) != 0) {
        Py_XDECREF(mode);
        goto fail;
    }
    Py_DECREF(mode);
    return d;
fail:
    Py_XDECREF(reasons);
    Py_XDECREF(d);
    return NULL;
}

static PyObject *py_layout_info(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (spp_mod_load_layout() != 0) return NULL;
    /* walker: the build whose frame layout the handler's walker has compiled in, or
     * "runtime" when it reads this interpreter's offsets at run time */
    const char *walker = spp_mod_target.flavor == SPW_FLAVOR_COUNT_ ? "runtime"
                                                              : spw_flavor_name(spp_mod_target.flavor);
    return Py_BuildValue("{s:K,s:i,s:i,s:s,s:K,s:K,s:s}", "py_version",
                         (unsigned long long)spp_mod_target.layout.py_version, "py_minor", spp_mod_target.layout.py_minor,
                         "free_threaded", spp_mod_target.layout.free_threaded, "arch",
                         spw_arch_name(spp_mod_target.layout.arch), "runtime", (unsigned long long)spp_mod_runtime,
                         "code_type", (unsigned long long)spp_mod_code_type(), "walker", walker);
}

/* _run_thread(fn, *args, **kwargs): what a thread started during a session runs first
 * (spprof/_names.py puts it in front of Thread._bootstrap): wait until this thread is
 * sampled, so its CPU time from its first Python instruction is counted, then fn(...), then
 * account its last whole intervals. A C function, so it adds no frame to the thread's
 * stacks. */
static PyObject *py_run_thread(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    if (PyTuple_GET_SIZE(args) < 1) {
        PyErr_SetString(PyExc_TypeError, "_run_thread(fn, *args, **kwargs)");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    spp_thread_begin();
    Py_END_ALLOW_THREADS
    PyObject *rest = PyTuple_GetSlice(args, 1, PyTuple_GET_SIZE(args));
    if (!rest) return NULL;
    PyObject *r = PyObject_Call(PyTuple_GET_ITEM(args, 0), rest, kwargs);
    Py_DECREF(rest);
    Py_BEGIN_ALLOW_THREADS
    spp_thread_end();
    Py_END_ALLOW_THREADS
    return r;
}

static PyMethodDef methods[] = {
    { "_run_thread", (PyCFunction)(void (*)(void))py_run_thread, METH_VARARGS | METH_KEYWORDS,
      "_run_thread(fn, *args, **kwargs): wait until this new thread is sampled, then fn()." },
    { "_start", py_start, METH_VARARGS,
      "_start(interval_ns, timer='auto', scan_ns=0, max_depth=0, mode='cpu', keep_drops=None, max_drops=0): begin sampling." },
    { "_stop", py_stop, METH_NOARGS, "_stop() -> (start_ns, stop_ns, symbols, threads, stacks)." },
    { "_snapshot", py_snapshot, METH_NOARGS, "_snapshot() -> the same tuple as _stop(), so far, still running." },
    { "is_active", py_is_active, METH_NOARGS, "True while profiling." },
    { "stats", py_stats, METH_NOARGS, "Counters of the current or last session." },
    { "layout_info", py_layout_info, METH_NOARGS, "This interpreter's layout, from _Py_DebugOffsets." },
    { NULL, NULL, 0, NULL },
};

static int exec_module(PyObject *m)
{
    if (PyModule_AddIntConstant(m, "MAX_DEPTH", SPP_MAX_DEPTH) != 0) return -1;
    if (PyModule_AddIntConstant(m, "DEFAULT_DEPTH", SPP_DEPTH_DEFAULT) != 0) return -1;
    if (PyModule_AddFunctions(m, spp_test_methods) != 0) return -1;
    if (PyModule_AddFunctions(m, spp_sigterm_methods) != 0) return -1;
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
