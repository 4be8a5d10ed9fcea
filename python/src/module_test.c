/*
 * module_test.c — spprof._native's test and benchmark entries (docs/live-shim.md lists
 * them). Kept apart from module.c so that nothing a test needs sits on a production path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "drops.h"
#include "guard.h"
#include "module.h"
#include "shim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

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
    Py_CLEAR(spp_mod_pretend.blob);
    spp_mod_pretend.on = version != Py_None;
    spp_mod_pretend.version = v;
    if (spp_mod_pretend.on && blob != Py_None) spp_mod_pretend.blob = Py_NewRef(blob);
    Py_RETURN_NONE;
}

/* _test_walker("runtime") / _test_walker(None): make every walk after it (the test entries
 * now, the handler's from the next start()) read this interpreter's offsets at run time, as
 * for an interpreter whose frame layout matches no compiled-in shape, or go back to the
 * compiled-in one. */
static PyObject *py_test_walker(PyObject *self, PyObject *arg)
{
    (void)self;
    if (spp_mod_load_layout() != 0) return NULL;
    if (spp_is_active()) {
        PyErr_SetString(PyExc_RuntimeError, "spprof: _test_walker while profiling");
        return NULL;
    }
    if (arg == Py_None) {
        spp_target_init(&spp_mod_target, &spp_mod_target.layout, spp_mod_code_type());
    } else if (PyUnicode_Check(arg) && PyUnicode_CompareWithASCIIString(arg, "runtime") == 0) {
        spp_mod_target.flavor = SPW_FLAVOR_COUNT_;
    } else {
        PyErr_SetString(PyExc_ValueError, "_test_walker takes 'runtime' or None");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---- test and benchmark entry points ------------------------------------------------------- */
static PyObject *frames_list(const spw_frame *fr, uint32_t n)
{
    PyObject *out = PyList_New(n);
    if (!out) return NULL;
    for (uint32_t i = 0; i < n; i++) {
        spw_symbol sym;
        spw_sym_err e = spp_symbolize_guarded(&spp_mod_target.layout, fr[i].code, fr[i].lasti, &sym);
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
    if (spp_mod_load_layout() != 0) return NULL;
    spw_frame *fr = PyMem_Malloc(sizeof *fr * (max ? max : 1));
    if (!fr) return PyErr_NoMemory();
    spw_walk_result r;
    int gi = spp_guard_begin();
    spw_status st = spp_walk_now(&spp_mod_target, spp_mod_my_tstate(), fr, max, &r);
    PyObject *res = walk_result(st, &r, fr);
    spp_guard_end(gi);
    PyMem_Free(fr);
    return res;
}

/* Crafted thread states, one pair of pages each (the second PROT_NONE), for the drops the
 * tests provoke through the real handler:
 *   unreadable:   tstate.current_frame -> frame1 (owner 0, no executable: skipped),
 *                 frame1.previous -> an address inside the PROT_NONE page; only the second
 *                 read faults, so the guard is exercised mid-walk;
 *   cycle:        frame1.previous -> frame1;
 *   invalid_code: frame1's executable is a zeroed object (its type is not PyCode_Type);
 *   torn:         frame1.previous -> frame2 or NULL, and frame1's instr_ptr, rewritten all
 *                 the time by a C thread (_test_torn_feed) while the sampler walks it. */
enum { CRAFT_UNREADABLE, CRAFT_CYCLE, CRAFT_INVALID_CODE, CRAFT_TORN, CRAFT_COUNT_ };
static const char *const craft_names[CRAFT_COUNT_] = { "unreadable", "cycle", "invalid_code",
                                                       "torn" };
static unsigned char *craft_mem[CRAFT_COUNT_];
static uint64_t craft_frame1[CRAFT_COUNT_], craft_frame2[CRAFT_COUNT_];

static uint64_t crafted_tstate(int tid, int kind)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *mem = craft_mem[kind];
    if (!mem) {
        void *m = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return 0;
        if (mprotect((char *)m + page, (size_t)page, PROT_NONE) != 0) return 0;
        craft_mem[kind] = mem = m;
    }
    const spw_layout *L = &spp_mod_target.layout;
    memset(mem, 0, (size_t)page);
    uint64_t ts = (uint64_t)(uintptr_t)mem;
    uint64_t frame1 = ts + ((L->tstate_size + 63u) & ~63u);
    if (frame1 + L->frame_size > ts + (uint64_t)page) frame1 = ts + (uint64_t)page / 2;
    const uint64_t frame2 = ts + (uint64_t)page / 2 + 64; /* all zero: skipped, the end */
    const uint64_t object = ts + (uint64_t)page * 3 / 4;  /* all zero: not a code object */
    uint64_t prev = ts + (uint64_t)page + 64; /* inside the PROT_NONE page */
    if (kind == CRAFT_CYCLE) prev = frame1;
    if (kind == CRAFT_INVALID_CODE || kind == CRAFT_TORN) prev = frame2;
    uint64_t nid = (uint64_t)(unsigned)tid;
    memcpy(mem + L->tstate_current_frame, &frame1, 8);
    memcpy(mem + L->tstate_native_thread_id, &nid, 8);
    memcpy(mem + (frame1 - ts) + L->frame_previous, &prev, 8);
    if (kind == CRAFT_INVALID_CODE) memcpy(mem + (frame1 - ts) + L->frame_executable, &object, 8);
    craft_frame1[kind] = frame1;
    craft_frame2[kind] = frame2;
    return ts;
}

/* _walk_crafted() -> (status, reason): a synchronous guarded walk of the crafted chain. */
static PyObject *py_walk_crafted(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (spp_mod_load_layout() != 0) return NULL;
    uint64_t ts = crafted_tstate(spp_gettid(), CRAFT_UNREADABLE);
    if (!ts) return PyErr_SetFromErrno(PyExc_OSError);
    spw_frame fr[8];
    spw_walk_result r;
    int gi = spp_guard_begin();
    if (gi < 0) return PyErr_SetFromErrno(PyExc_OSError);
    spw_status st = spp_walk_now(&spp_mod_target, ts, fr, 8, &r);
    spp_guard_end(gi);
    return Py_BuildValue("(ss)", spw_status_name(st), spw_reason_name(r.reason));
}

/* _feed_crafted(on): while on, SIGPROF samples of the calling thread walk the crafted chain
 * instead of the thread's own, through the real handler and guard. `on` is a bool (True:
 * the unreadable chain) or the name of a chain: "unreadable", "cycle", "invalid_code". */
static PyObject *py_feed_crafted(PyObject *self, PyObject *arg)
{
    (void)self;
    int kind = CRAFT_UNREADABLE, on = 1;
    if (PyUnicode_Check(arg)) {
        const char *name = PyUnicode_AsUTF8(arg);
        if (!name) return NULL;
        for (kind = 0; kind < CRAFT_TORN && strcmp(name, craft_names[kind]) != 0; kind++) {}
        if (kind == CRAFT_TORN) {
            PyErr_Format(PyExc_ValueError, "unknown crafted chain %R", arg);
            return NULL;
        }
    } else if ((on = PyObject_IsTrue(arg)) < 0) {
        return NULL;
    }
    if (spp_mod_load_layout() != 0) return NULL;
    uint64_t ts = 0;
    if (on && !(ts = crafted_tstate(spp_gettid(), kind))) return PyErr_SetFromErrno(PyExc_OSError);
    if (spp_test_pin_tstate(spp_gettid(), ts) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "spprof: this thread is not being sampled");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The torn chain's writer: frame1's `previous` and instr_ptr change every few nanoseconds,
 * so a walk of them by the sampler thread and its re-reads (read_log.h) see different
 * values, and the sample is retried, then dropped as torn. */
static pthread_t g_torn_thread;
static int g_torn_on;

static void *torn_writer(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "spprof-torn"); /* the test keeps it off the sampler's CPU */
    const spw_layout *L = &spp_mod_target.layout;
    unsigned char *mem = craft_mem[CRAFT_TORN];
    const uint64_t ts = (uint64_t)(uintptr_t)mem, f1 = craft_frame1[CRAFT_TORN];
    uint64_t *prev = (uint64_t *)(void *)(mem + (f1 - ts) + L->frame_previous);
    uint64_t *instr = (uint64_t *)(void *)(mem + (f1 - ts) + L->frame_instr_ptr);
    for (uint64_t i = 0; __atomic_load_n(&g_torn_on, __ATOMIC_RELAXED); i++) {
        __atomic_store_n(prev, (i & 1) ? craft_frame2[CRAFT_TORN] : 0, __ATOMIC_RELAXED);
        __atomic_store_n(instr, i, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* _test_torn_feed(on): pin the calling thread's slot to the torn chain and start its
 * writer (sampler engine); off: stop the writer, unpin. */
static PyObject *py_test_torn_feed(PyObject *self, PyObject *arg)
{
    (void)self;
    const int on = PyObject_IsTrue(arg);
    if (on < 0) return NULL;
    if (spp_mod_load_layout() != 0) return NULL;
    if (on == g_torn_on) Py_RETURN_NONE;
    if (!on) {
        __atomic_store_n(&g_torn_on, 0, __ATOMIC_RELAXED);
        Py_BEGIN_ALLOW_THREADS
        pthread_join(g_torn_thread, NULL);
        Py_END_ALLOW_THREADS
        spp_test_pin_tstate(spp_gettid(), 0);
        Py_RETURN_NONE;
    }
    const uint64_t ts = crafted_tstate(spp_gettid(), CRAFT_TORN);
    if (!ts) return PyErr_SetFromErrno(PyExc_OSError);
    g_torn_on = 1;
    if (pthread_create(&g_torn_thread, NULL, torn_writer, NULL) != 0) {
        g_torn_on = 0;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (spp_test_pin_tstate(spp_gettid(), ts) != 0) {
        __atomic_store_n(&g_torn_on, 0, __ATOMIC_RELAXED);
        pthread_join(g_torn_thread, NULL);
        PyErr_SetString(PyExc_RuntimeError, "spprof: this thread is not being sampled");
        return NULL;
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
    unsigned int n = 10000, depth = SPP_DEPTH_DEFAULT;
    if (!PyArg_ParseTuple(args, "|II:_bench", &n, &depth)) return NULL;
    if (depth == 0 || depth > SPP_MAX_DEPTH) {
        PyErr_SetString(PyExc_ValueError, "depth must be 1..4096");
        return NULL;
    }
    if (n == 0) n = 1;
    if (spp_mod_load_layout() != 0) return NULL;
    uint8_t *buf = malloc(BENCH_SCRUB);
    if (!buf) return PyErr_NoMemory();
    memset(buf, 1, BENCH_SCRUB);
    uint64_t ts = spp_mod_my_tstate(), acc = 0;
    spw_frame *fr = malloc(sizeof *fr * depth);
    if (!fr) {
        free(buf);
        return PyErr_NoMemory();
    }
    spw_walk_result r;
    struct timespec a, b;
    uint32_t emitted = 0;
    double chase = 1e300, walk = 1e300, sample = 1e300;
    double cold_chase[BENCH_ROUNDS * 8], cold_walk[BENCH_ROUNDS * 8], cold_empty[BENCH_ROUNDS * 8];
    int gi = spp_guard_begin();
    for (int round = 0; round < BENCH_ROUNDS; round++) {
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (unsigned i = 0; i < n; i++) emitted = spp_chase_unchecked(&spp_mod_target, ts, fr, depth);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (elapsed_ns(&a, &b) / n < chase) chase = elapsed_ns(&a, &b) / n;
        acc += fr[0].code;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (unsigned i = 0; i < n; i++) {
            spp_walk_now(&spp_mod_target, ts, fr, depth, &r);
            acc += r.n_frames;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (elapsed_ns(&a, &b) / n < walk) walk = elapsed_ns(&a, &b) / n;
        double s = spp_bench_sample(&spp_mod_target, ts, n, depth);
        if (s >= 0 && s < sample) sample = s;
        for (int k = 0; k < 8; k++) {
            int j = round * 8 + k;
            acc += scrub(buf, BENCH_SCRUB);
            clock_gettime(CLOCK_MONOTONIC, &a);
            acc += spp_chase_unchecked(&spp_mod_target, ts, fr, depth);
            clock_gettime(CLOCK_MONOTONIC, &b);
            cold_chase[j] = elapsed_ns(&a, &b);
            acc += scrub(buf, BENCH_SCRUB);
            clock_gettime(CLOCK_MONOTONIC, &a);
            spp_walk_now(&spp_mod_target, ts, fr, depth, &r);
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
    free(fr);
    if ((r.status != SPW_WALK_OK && !(r.status == SPW_WALK_TRUNCATED && r.n_frames == depth)) ||
        r.n_frames != emitted) {
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


/* _test_stale_signal(to_tid) -> int: hold this thread's slot as a mid-sample handler does,
 * make thread `to_tid` take a SIGPROF naming this slot (a stale timer signal), and return
 * how many handlers the slot then counts as inside (1 when the handshake is exact). */
static PyObject *py_test_stale_signal(PyObject *self, PyObject *arg)
{
    (void)self;
    long to = PyLong_AsLong(arg);
    if (to == -1 && PyErr_Occurred()) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = spp_test_stale_signal(spp_gettid(), (int)to);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyErr_SetString(PyExc_RuntimeError, "spprof: no slot for this thread, or the signal was not handled");
        return NULL;
    }
    return PyLong_FromLong(rc);
}

/* _test_scan_limit(n): every scan reads at most n thread states (0: no limit). */
static PyObject *py_test_scan_limit(PyObject *self, PyObject *arg)
{
    (void)self;
    unsigned long n = PyLong_AsUnsignedLong(arg);
    if (n == (unsigned long)-1 && PyErr_Occurred()) return NULL;
    spp_test_scan_limit((uint32_t)n);
    Py_RETURN_NONE;
}

/* _test_hold_agg(ms): a C thread holds the aggregate's lock for ms (as a consumer round). */
static PyObject *py_test_hold_agg(PyObject *self, PyObject *arg)
{
    (void)self;
    unsigned long ms = PyLong_AsUnsignedLong(arg);
    if (ms == (unsigned long)-1 && PyErr_Occurred()) return NULL;
    if (spp_test_hold_agg((uint32_t)ms) != 0) return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* _test_harness_oom() -> False: the harness code in the extension ran out of memory (asked
 * for more than any buffer may hold) and the extension gave that work up, still running. */
static PyObject *py_test_harness_oom(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(spp_drops_oom_check());
}

/* _bench_drops(n) -> (sample ns, sample ns with a recorder, ns per recorded drop, bytes) */
static PyObject *py_bench_drops(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned int n = 2000;
    if (!PyArg_ParseTuple(args, "|I:_bench_drops", &n)) return NULL;
    if (spp_mod_load_layout() != 0) return NULL;
    double out[4];
    int gi = spp_guard_begin();
    if (gi < 0) return PyErr_SetFromErrno(PyExc_OSError);
    const int rc = spp_bench_drops(&spp_mod_target, spp_mod_my_tstate(), n, out);
    spp_guard_end(gi);
    if (rc != 0) {
        PyErr_SetString(PyExc_RuntimeError, "spprof: _bench_drops failed (profiling?)");
        return NULL;
    }
    return Py_BuildValue("(dddd)", out[0], out[1], out[2], out[3]);
}

PyMethodDef spp_test_methods[] = {
    { "_test_harness_oom", py_test_harness_oom, METH_NOARGS,
      "_test_harness_oom() -> False: an allocation failure in the harness code is survived." },
    { "_bench_drops", py_bench_drops, METH_VARARGS,
      "Benchmark: keep_drops' cost per sample (no drop) and per recorded drop, this stack." },
    { "_test_hold_agg", py_test_hold_agg, METH_O,
      "Test: a C thread holds the aggregate's lock for ms milliseconds." },
    { "_test_scan_limit", py_test_scan_limit, METH_O,
      "Test: scans stop after n thread states (0: no limit)." },
    { "_walk_self", py_walk_self, METH_VARARGS, "Test: walk the calling thread now." },
    { "_walk_crafted", py_walk_crafted, METH_NOARGS, "Test: walk a chain into a PROT_NONE page." },
    { "_feed_crafted", py_feed_crafted, METH_O, "Test: make this thread's samples walk the crafted chain." },
    { "_test_torn_feed", py_test_torn_feed, METH_O,
      "Test: this thread's samples walk a chain a C thread rewrites all the time (sampler)." },
    { "_bench", py_bench, METH_VARARGS, "Benchmark: chase / walk / sample costs on this stack." },
    { "_test_walker", py_test_walker, METH_O,
      "Test: _test_walker('runtime') walks with run-time offsets; _test_walker(None) undoes it." },
    { "_test_silence_timer", py_test_silence_timer, METH_NOARGS,
      "Test: stop this thread's POSIX timer behind the shim's back." },
    { "_test_pretend", py_test_pretend, METH_VARARGS,
      "Test: _test_pretend(version_hex, blob=None) makes start() judge another interpreter." },
    { "_test_stale_signal", py_test_stale_signal, METH_O,
      "Test: a stale SIGPROF naming this thread's slot, handled by thread to_tid." },
    { NULL, NULL, 0, NULL },
};
