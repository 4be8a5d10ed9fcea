/*
 * guard.c — the fault guard (guard.h).
 *
 * A guarded region publishes its recovery point in initial-exec TLS (a fixed offset from
 * the thread pointer: reading it never calls __tls_get_addr, which may allocate). The
 * SIGSEGV/SIGBUS handler, installed SA_SIGINFO|SA_NODEFER|SA_ONSTACK, jumps back to it when
 * the fault happened inside a region on this thread. SA_NODEFER means the fault signal was
 * never blocked, so nothing needs restoring after the jump.
 *
 * A fault that is not ours must end the process exactly as it would have without spprof.
 * The next handler of the chain (fault_chain below) is called directly, with the fault's own
 * siginfo and context, as the kernel would have. What it does next decides:
 *   - it fixes the cause and returns: the instruction runs again and succeeds;
 *   - it hands the fault on to "its previous handler" (faulthandler: restore its previous,
 *     raise()): if that is us, we are entered again while still forwarding, and go one step
 *     further down: to the handler below us, then to the default action;
 *   - it returns without fixing anything (faulthandler after disable() returns at once): the
 *     same fault comes back on this thread, and again we go one step further.
 * Every fault therefore reaches the default action after at most three entries: never a
 * loop, whatever order faulthandler.enable/disable and start/stop ran in. The default
 * action is reached by restoring SIG_DFL and returning, so the re-executed instruction
 * faults into it with its original siginfo (`si_addr` intact, a core dump if enabled);
 * a software-sent signal (si_code <= 0) does not recur and is raised again.
 *
 * Calls made in signal context: sigaction, sigprocmask, raise, siglongjmp, and the forwarded
 * handler itself.
 */
#include "guard.h"
#include "shim.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#define IE_TLS __thread __attribute__((tls_model("initial-exec")))

static IE_TLS sigjmp_buf *volatile t_guard; /* recovery point of the region running here */
/* Forwarding state of this thread: the step being forwarded to (0: none) and the last
 * foreign fault forwarded, so that the same fault coming back goes one step further. */
static IE_TLS int t_fwd_step;
static IE_TLS int t_last_step;
static IE_TLS uintptr_t t_last_addr;
static IE_TLS int t_last_sig, t_last_code;

/* Where we are in a signal's chain of handlers. `below` is what we forward to as the last
 * handler before the default: what was installed when we entered the chain. `above` is a
 * handler that was installed over us while we were in the chain (faulthandler.enable()
 * after start()), which we then covered again to stay on top: its own "previous" is us, so
 * it is called first and hands the fault back to us. */
typedef struct fault_chain {
    int sig;
    int in_chain;           /* we are on top, or someone's "previous" */
    struct sigaction below;
    struct sigaction above;
    int has_above;
} fault_chain;
static fault_chain g_fault[2] = { { .sig = SIGSEGV }, { .sig = SIGBUS } };
static unsigned long g_forwarded;

static void on_fault(int sig, siginfo_t *si, void *uc);

/* How we install ourselves over a handler that was put above us tells the two states apart:
 * SA_RESTART (meaningless for a synchronous fault) is set then and only then. If that
 * handler later steps down by restoring its "previous" (faulthandler.disable()), what comes
 * back is our first installation, without the mark: the handler above us is gone. */
#define ABOVE_MARK SA_RESTART

static int is_ours(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_fault;
}

static int is_function(const struct sigaction *sa)
{
    if (sa->sa_flags & SA_SIGINFO) return sa->sa_sigaction != NULL && !is_ours(sa);
    return sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN;
}

static int same_function(const struct sigaction *a, const struct sigaction *b)
{
    return (a->sa_flags & SA_SIGINFO) == (b->sa_flags & SA_SIGINFO) &&
           ((a->sa_flags & SA_SIGINFO) ? a->sa_sigaction == b->sa_sigaction
                                       : a->sa_handler == b->sa_handler);
}

/* Call a handler as the kernel would have delivered to it: its mask (and the signal itself
 * unless SA_NODEFER) blocked while it runs, SA_RESETHAND honoured. A signal it raises while
 * the mask is up is delivered when the mask comes down, still within this forwarding step. */
static void call_handler(int sig, const struct sigaction *sa, siginfo_t *si, void *uc)
{
    sigset_t block = sa->sa_mask, old;
    if (!(sa->sa_flags & SA_NODEFER)) sigaddset(&block, sig);
    if (sa->sa_flags & SA_RESETHAND) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, NULL);
    }
    sigprocmask(SIG_BLOCK, &block, &old);
    if (sa->sa_flags & SA_SIGINFO)
        sa->sa_sigaction(sig, si, uc);
    else
        sa->sa_handler(sig);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

static void to_default(int sig, const siginfo_t *si)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    if (si->si_code <= 0) raise(sig);
}

static void forget_departed_above(fault_chain *f)
{
    struct sigaction cur;
    if (f->has_above && sigaction(f->sig, NULL, &cur) == 0 && is_ours(&cur) &&
        !(cur.sa_flags & ABOVE_MARK))
        f->has_above = 0;
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    sigjmp_buf *g = t_guard;
    if (g && t_fwd_step == 0) {
        t_guard = NULL; /* a fault inside a guarded region on this thread: abandon it */
        siglongjmp(*g, 1);
    }
    __atomic_add_fetch(&g_forwarded, 1, __ATOMIC_RELAXED);
    fault_chain *f = &g_fault[sig == SIGBUS];
    forget_departed_above(f);
    const uintptr_t addr = (uintptr_t)si->si_addr;
    int step;
    if (t_fwd_step)
        step = t_fwd_step + 1; /* the handler we called passed it on to us */
    else if (t_last_step && t_last_sig == sig && t_last_code == si->si_code && t_last_addr == addr)
        step = t_last_step + 1; /* the same fault came back after that handler returned */
    else
        step = 1;
    /* The steps: the handler we covered, then the one before spprof (if it is another
     * function), then the default action. */
    const struct sigaction *steps[2];
    int n = 0;
    if (f->has_above && is_function(&f->above)) steps[n++] = &f->above;
    if (is_function(&f->below) && !(n && same_function(&f->below, steps[0])))
        steps[n++] = &f->below;
    if (step > n) {
        t_last_step = 0;
        to_default(sig, si);
        return;
    }
    const struct sigaction *to = steps[step - 1];
    const int outer = t_fwd_step;
    t_fwd_step = step;
    call_handler(sig, to, si, uc);
    t_fwd_step = outer;
    t_last_step = step;
    t_last_sig = sig;
    t_last_code = si->si_code;
    t_last_addr = addr;
}

int spp_guard_install(void)
{
    for (int i = 0; i < 2; i++) {
        fault_chain *f = &g_fault[i];
        struct sigaction cur, sa, old;
        if (sigaction(f->sig, NULL, &cur) != 0) return errno;
        if (is_ours(&cur)) {
            forget_departed_above(f);
            f->in_chain = 1;
            continue;
        }
        const int over = f->in_chain && is_function(&cur);
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | (over ? ABOVE_MARK : 0);
        sigemptyset(&sa.sa_mask);
        if (sigaction(f->sig, &sa, &old) != 0) return errno;
        if (over) {
            f->above = old; /* installed over us: it forwards to us */
            f->has_above = 1;
        } else {
            f->below = old; /* entering the chain (again): forward to what is there */
            f->has_above = 0;
        }
        f->in_chain = 1;
    }
    return 0;
}

void spp_guard_uninstall(void)
{
    for (int i = 0; i < 2; i++) {
        fault_chain *f = &g_fault[i];
        struct sigaction cur;
        if (sigaction(f->sig, NULL, &cur) != 0 || !is_ours(&cur)) continue;
        if (f->has_above) {
            sigaction(f->sig, &f->above, NULL); /* we stay below it, as its "previous" */
            f->has_above = 0;
        } else {
            sigaction(f->sig, &f->below, NULL);
            f->in_chain = 0;
        }
    }
}

/* The recovery point lives in this frame; fn runs in a frame below it, so none of the
 * caller's locals is live across the sigsetjmp. */
__attribute__((noinline)) int spp_guarded(spp_guarded_fn fn, void *arg)
{
    sigjmp_buf jb;
    sigjmp_buf *volatile saved = t_guard;
    if (sigsetjmp(jb, 0)) {
        t_guard = saved;
        return -1;
    }
    t_guard = &jb;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    fn(arg);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t_guard = saved;
    return 0;
}

int spp_guard_begin(void)
{
    struct sigaction a, b;
    if (sigaction(SIGSEGV, NULL, &a) == 0 && sigaction(SIGBUS, NULL, &b) == 0 && is_ours(&a) &&
        is_ours(&b))
        return 0;
    return spp_guard_install() == 0 ? 1 : -1;
}

void spp_guard_end(int installed)
{
    if (installed == 1 && !spp_is_active()) spp_guard_uninstall();
}

void spp_guard_atfork_child(void)
{
    t_guard = NULL;
    t_fwd_step = 0;
    t_last_step = 0;
}

unsigned long spp_guard_forwarded(void) { return __atomic_load_n(&g_forwarded, __ATOMIC_RELAXED); }
