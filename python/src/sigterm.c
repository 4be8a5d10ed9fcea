/*
 * sigterm.c — SIGTERM for a command-line session (spprof.cli.session): a process that is
 * ended by SIGTERM still writes its profile, then dies of SIGTERM as it would have.
 *
 * Why not a Python handler (signal.signal): Python runs it on the main thread, between
 * bytecodes, after a blocking call returns with EINTR. A SIGTERM that arrives while the main
 * thread is between its last check and the blocking call, or that the kernel hands to
 * another thread, leaves the main thread blocked for good: multiprocessing.Pool ends its
 * workers with SIGTERM just as they go to wait on the task queue's lock, and a profiled
 * worker then never exited (its parent's join() hung). Without spprof, SIGTERM's default
 * action kills the worker at once. So the handler here is C: it writes one byte to a pipe,
 * and a thread of the session, blocked reading it, finishes the session and calls
 * _sigterm_die().
 *
 * The handler is installed only while SIGTERM's disposition is the default, and the program
 * stays in charge: signal.getsignal() still says SIG_DFL, and a handler the program installs
 * replaces this one. A forked child inherits the handler but not the thread: there (pid
 * check) the handler restores the default action and raises SIGTERM again, so the child
 * dies as it would have, unless it started a session of its own (which calls _sigterm_watch
 * again).
 *
 * When the session ends and the program runs on (--duration), _sigterm_unwatch puts the
 * default action back and ends the thread.
 *
 * Signal context (on_sigterm) calls: getpid, write, sigaction, raise. Nothing else.
 */
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "module.h"

static int g_pipe[2] = { -1, -1 }; /* read end: the session's thread; write end: the handler */
static volatile pid_t g_owner;     /* the process whose session has that thread */

static void on_sigterm(int sig)
{
    const int saved = errno;
    if (getpid() == g_owner) {
        const char b = 1;
        if (write(g_pipe[1], &b, 1) == 1) {
            errno = saved;
            return;
        }
    }
    /* A forked child without a session, or the pipe is gone: die as without spprof. */
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig);
    errno = saved;
}

/* _sigterm_watch() -> fd: install the handler if SIGTERM has its default action, and return
 * the descriptor the session's thread reads (one byte per SIGTERM); -1 when the program has
 * a disposition of its own (then SIGTERM is the program's business). */
static PyObject *py_sigterm_watch(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    struct sigaction cur;
    if (sigaction(SIGTERM, NULL, &cur) != 0) return PyErr_SetFromErrno(PyExc_OSError);
    const int ours = (cur.sa_flags & SA_SIGINFO) == 0 && cur.sa_handler == on_sigterm;
    if (!ours && ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_DFL))
        return PyLong_FromLong(-1);
    /* A new pipe per session: a forked child's session must not read its parent's. */
    if (g_pipe[0] >= 0) {
        close(g_pipe[0]);
        close(g_pipe[1]);
        g_pipe[0] = g_pipe[1] = -1;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return PyErr_SetFromErrno(PyExc_OSError);
    /* The handler's write must never block: one byte already says "SIGTERM came". */
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    g_pipe[0] = p[0];
    g_pipe[1] = p[1];
    g_owner = getpid();
    struct sigaction sa = { .sa_handler = on_sigterm, .sa_flags = SA_RESTART };
    sigfillset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0) return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromLong(p[0]);
}

/* _sigterm_unwatch(): the session is over (its profile is written) and the program may run
 * on: SIGTERM's default action again if the handler is still ours, and a 0 byte that ends
 * the session's thread (the pipe stays open: closing it under a handler that is running on
 * another thread could let its write land in a file that reused the number). */
static PyObject *py_sigterm_unwatch(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (g_pipe[1] < 0 || g_owner != getpid()) Py_RETURN_NONE;
    struct sigaction cur;
    if (sigaction(SIGTERM, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) == 0 &&
        cur.sa_handler == on_sigterm) {
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        sigemptyset(&dfl.sa_mask);
        sigaction(SIGTERM, &dfl, NULL);
    }
    const char stop = 0;
    if (write(g_pipe[1], &stop, 1) != 1) return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* _sigterm_die(): SIGTERM's default action again, then SIGTERM to this process: it ends as
 * it would have without spprof (exit status "killed by SIGTERM"). */
static PyObject *py_sigterm_die(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGTERM, &dfl, NULL);
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &term, NULL);
    Py_BEGIN_ALLOW_THREADS
    kill(getpid(), SIGTERM);
    /* Delivered to this thread (it does not block it) or another, which ends the process. */
    for (;;) pause();
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

PyMethodDef spp_sigterm_methods[] = {
    { "_sigterm_watch", py_sigterm_watch, METH_NOARGS,
      "_sigterm_watch() -> fd to read, or -1 when SIGTERM is not at its default action." },
    { "_sigterm_unwatch", py_sigterm_unwatch, METH_NOARGS,
      "_sigterm_unwatch(): default action for SIGTERM again, and the watching thread ends." },
    { "_sigterm_die", py_sigterm_die, METH_NOARGS,
      "_sigterm_die(): default action for SIGTERM, then SIGTERM to this process." },
    { NULL, NULL, 0, NULL },
};
