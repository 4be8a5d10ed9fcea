/*
 * timers.c — one interface over the two timer sources (timers.h): a slot gets a perf_event
 * counter while the session's fd budget allows and the kernel agrees, else a POSIX timer.
 */
#include "timers.h"

int spp_timer_create(spp_slot *s, uint32_t idx, spp_timer_kind kind, uint64_t first_ns)
{
    s->fd = -1;
    s->has_timer = 0;
    /* perf's first (random) period is set when it is opened */
    if (kind == SPP_TIMER_PERF && spp_perf_create(s, idx, first_ns) == 0) return 0;
    return spp_posix_create(s, idx);
}

int spp_timer_start(spp_slot *s, uint64_t first_ns, uint64_t interval_ns)
{
    return s->fd >= 0 ? spp_perf_start(s, first_ns, interval_ns)
                      : spp_posix_start(s, first_ns, interval_ns);
}

void spp_timer_stop(spp_slot *s)
{
    if (s->has_timer) spp_posix_stop(s);
    if (s->fd >= 0) spp_perf_stop(s);
}

void spp_timer_destroy(spp_slot *s)
{
    spp_timer_stop(s);
    if (s->fd >= 0) spp_perf_destroy(s);
}

int spp_timer_slot_of(const siginfo_t *si, int *fd)
{
    *fd = -1;
    if (si->si_code == SI_TIMER) {
        const unsigned idx = (unsigned)si->si_value.sival_int;
        return idx < SPP_MAX_SLOTS ? (int)idx : -1;
    }
    if (si->si_code > 0) {
        const int idx = spp_perf_slot_of(si->si_fd);
        if (idx >= 0) *fd = si->si_fd;
        return idx;
    }
    return -1; /* a SIGPROF sent by kill() or sigqueue(): not a timer expiry */
}
