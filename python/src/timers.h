/*
 * timers.h — a thread's CPU-time timer, one interface over two sources:
 *   perf_event  task-clock counter of the thread, overflow signal routed to it (F_SETOWN_EX,
 *               F_SETSIG); the handler re-arms it through si_fd;
 *   POSIX       timer_create on the thread's CPU clock, SIGEV_THREAD_ID to the thread.
 * Every expiry is a SIGPROF on the thread that spent the CPU. A slot uses one source; a
 * session prefers perf_event and falls back to POSIX per thread (perf fds capped so the
 * application keeps its file descriptors, see timer_perf.c).
 *
 * Life of a timer: create (nothing fires yet) -> the caller marks the slot ARMED -> start
 * (first expiry after `first_ns` of the thread's CPU, then every interval) -> stop (no new
 * expiry) -> the caller waits for the handlers to leave (spp_slot_quiesce) -> destroy.
 */
#ifndef SPP_TIMERS_H
#define SPP_TIMERS_H

#include "slots.h"

#include <signal.h>

/* Once per session, before any create: choose what perf_event may do here. Returns 0, or -1
 * if perf_event is refused (errno set). */
int spp_perf_probe(uint64_t interval_ns, int user_only, int *counts_kernel);
/* perf fds this session may hold (from RLIMIT_NOFILE), and how many it holds now. */
void spp_perf_budget_reset(void);
uint32_t spp_perf_fds_in_use(void);

int spp_timer_create(spp_slot *s, uint32_t idx, spp_timer_kind kind, uint64_t first_ns);
int spp_timer_start(spp_slot *s, uint64_t first_ns, uint64_t interval_ns);
void spp_timer_stop(spp_slot *s);
void spp_timer_destroy(spp_slot *s);
/* POSIX: set the timer again after the kernel let it fall silent. */
int spp_timer_restart(spp_slot *s, uint64_t interval_ns);

/* Handler side (async-signal-safe): the slot a SIGPROF names, or -1 when it is not a timer
 * expiry of ours (a kill(), a stale fd); `*fd` is the perf fd or -1. */
int spp_timer_slot_of(const siginfo_t *si, int *fd);
/* Handler side: let the perf counter signal its next overflow (and, after the first, random
 * period, switch to the interval). */
void spp_timer_rearm_perf(spp_slot *s, int fd, uint64_t interval_ns);

/* The two sources behind the interface (timer_perf.c, timer_posix.c). */
int spp_perf_create(spp_slot *s, uint32_t idx, uint64_t first_ns); /* -1: over budget, refused */
int spp_perf_start(spp_slot *s, uint64_t first_ns, uint64_t interval_ns);
void spp_perf_stop(spp_slot *s);
void spp_perf_destroy(spp_slot *s);
int spp_perf_slot_of(int fd); /* handler side */
int spp_posix_create(spp_slot *s, uint32_t idx);
int spp_posix_start(spp_slot *s, uint64_t first_ns, uint64_t interval_ns);
void spp_posix_stop(spp_slot *s);

/* In a forked child: close the inherited perf fds (they count the parent's threads). */
void spp_timers_atfork_child(void);

/* The kernel's MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED): any thread of this process can
 * name another's CPU clock without its pthread_t (which may dangle once it exits). */
static inline clockid_t spp_thread_cpu_clock(int tid)
{
    return (clockid_t)((~(unsigned)tid << 3) | 6u);
}

#endif /* SPP_TIMERS_H */
