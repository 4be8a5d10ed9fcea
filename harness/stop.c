/*
 * stop.c — hold a process still while it is captured, and always let it go.
 *
 * ptrace(PTRACE_SEIZE) + PTRACE_INTERRUPT on every thread, rather than SIGSTOP/SIGCONT:
 *   - the stop is invisible to the target and its parent (no job-control stop, no SIGCHLD
 *     to a shell or supervisor, no SIGCONT a program might act on);
 *   - it is released even if spwalk dies: when a tracer exits, the kernel detaches its
 *     tracees and they continue, so no exit path (crash, kill -9, out of memory) can leave
 *     the target stopped;
 *   - a signal that arrives while a thread is held is reported to us instead of being
 *     delivered; it is remembered and handed back at detach, so nothing is lost.
 * Threads created while we attach are caught by re-reading /proc/PID/task until a pass
 * finds no new thread: once every thread is stopped, no new one can start.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spwalk.h"

/* Give up looking for new threads after this many passes (a process spawning threads
 * faster than we can stop them); the capture still proceeds with those stopped. */
#define MAX_PASSES 64

static int attached(const sw_stopper *s, pid_t tid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->tids[i] == tid) return 1;
    return 0;
}

/* State letter of a thread from /proc/PID/task/TID/stat, or '?' */
static char thread_state(pid_t pid, pid_t tid)
{
    char path[96], buf[512];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    FILE *f = fopen(path, "re");
    if (!f) return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "tid (comm) S ...": comm may contain anything, so look after the last ')'. */
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] ? p[2] : '?';
}

/* One pass over /proc/PID/task: seize and interrupt every thread not yet held. Returns the
 * number of new threads, or -1 with e set. */
static int attach_pass(sw_stopper *s, sw_err *e)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)s->pid);
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT) return sw_fail(e, "no such process: %d", (int)s->pid);
        return sw_fail(e, "cannot list the threads of process %d: %s", (int)s->pid,
                       strerror(errno));
    }
    int added = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end;
        long v = strtol(de->d_name, &end, 10);
        if (*end || v <= 0) continue;
        pid_t tid = (pid_t)v;
        if (attached(s, tid)) continue;
        if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0) {
            int err = errno;
            if (err == ESRCH) continue; /* exited since the listing */
            /* A zombie thread leader (it called pthread_exit) cannot be traced and runs
             * no code: nothing to stop. */
            if (thread_state(s->pid, tid) == 'Z') continue;
            closedir(d);
            if (err == EPERM)
                return sw_fail(e, "permission denied: cannot stop process %d (ptrace: %s; "
                                  "is it already being traced? --nonblocking reads without "
                                  "stopping)", (int)s->pid, strerror(err));
            return sw_fail(e, "cannot stop thread %d of process %d: %s", (int)tid,
                           (int)s->pid, strerror(err));
        }
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 64;
            s->tids = sw_xrealloc(s->tids, s->cap * sizeof *s->tids);
            s->signals = sw_xrealloc(s->signals, s->cap * sizeof *s->signals);
        }
        s->tids[s->n] = tid;
        s->signals[s->n] = 0;
        s->n++;
        added++;
        if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0 && errno != ESRCH) {
            int err = errno;
            closedir(d);
            return sw_fail(e, "cannot interrupt thread %d: %s", (int)tid, strerror(err));
        }
    }
    closedir(d);
    return added;
}

/* Wait until thread i reports its stop. A thread that exits instead is forgotten. */
static void wait_stopped(sw_stopper *s, size_t i)
{
    for (;;) {
        int st;
        pid_t r = waitpid(s->tids[i], &st, __WALL);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 || WIFEXITED(st) || WIFSIGNALED(st)) {
            s->tids[i] = 0; /* gone: nothing to detach */
            return;
        }
        if (WIFSTOPPED(st)) {
            /* PTRACE_EVENT_STOP in the high bits: our interrupt (or a group stop). Anything
             * else is a signal caught on its way in: keep it for the detach. */
            if ((st >> 16) != PTRACE_EVENT_STOP) s->signals[i] = WSTOPSIG(st);
            return;
        }
    }
}

int sw_stop(sw_stopper *s, pid_t pid, sw_err *e)
{
    memset(s, 0, sizeof *s);
    s->pid = pid;
    int pass, added = 0;
    for (pass = 0; pass < MAX_PASSES; pass++) {
        size_t before = s->n;
        added = attach_pass(s, e);
        if (added < 0) {
            sw_resume(s);
            return -1;
        }
        /* Make sure the threads of this pass are really stopped before the next listing,
         * so a stopped thread cannot be creating the ones we have not seen yet. */
        for (size_t i = before; i < s->n; i++) wait_stopped(s, i);
        if (added == 0) break;
    }
    size_t alive = 0;
    for (size_t i = 0; i < s->n; i++) alive += s->tids[i] != 0;
    if (alive == 0) {
        sw_resume(s);
        return sw_fail(e, "process %d exited before it could be stopped", (int)pid);
    }
    return 0;
}

void sw_resume(sw_stopper *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->tids[i] == 0) continue;
        /* Detaching with a signal number delivers that signal: a signal that arrived
         * while we held the thread reaches it now. ESRCH: it died meanwhile. */
        ptrace(PTRACE_DETACH, s->tids[i], NULL, (void *)(intptr_t)s->signals[i]);
        s->tids[i] = 0;
    }
    free(s->tids);
    free(s->signals);
    s->tids = NULL;
    s->signals = NULL;
    s->n = s->cap = 0;
}
