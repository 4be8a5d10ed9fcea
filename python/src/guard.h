/*
 * guard.h — the fault guard: SIGSEGV/SIGBUS inside a guarded region on this thread end that
 * region (the work it did is abandoned); every other fault goes on as if spprof were not
 * there. See docs/live-shim.md, "The fault guard".
 */
#ifndef SPP_GUARD_H
#define SPP_GUARD_H

/* Put the guard on top of SIGSEGV/SIGBUS unless it already is: 0, or an errno value.
 * Called at start() and by the consumer each round (faulthandler.enable() after start()
 * puts itself above us). */
int spp_guard_install(void);
/* At stop(): step down if we are on top; if someone sits above us, stay in the chain as
 * their "previous" handler (the guard keeps forwarding correctly without a session). */
void spp_guard_uninstall(void);

/* Run fn(arg) under a recovery point on the calling thread: 0 if it ran to the end, -1 if
 * it faulted (fn was abandoned at the fault). Regions nest. Async-signal-safe: one
 * sigsetjmp(…, 0) (no signal mask saved, no syscall) and two stores to initial-exec TLS. */
typedef void (*spp_guarded_fn)(void *arg);
int spp_guarded(spp_guarded_fn fn, void *arg);

/* Test entries run outside a session too: spp_guard_begin() installs the guard if it is not
 * on top (returns 1: pass it to spp_guard_end, which then takes it down unless a session
 * started meanwhile), 0 if it already was, -1 on failure. */
int spp_guard_begin(void);
void spp_guard_end(int installed);

/* In a forked child: this thread has no guarded region. */
void spp_guard_atfork_child(void);

/* Counts of faults that were not ours, forwarded (diagnostics for stats()). */
unsigned long spp_guard_forwarded(void);

#endif /* SPP_GUARD_H */
