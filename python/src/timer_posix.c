/*
 * timer_posix.c — the POSIX source of timers.h: timer_create on the thread's CPU clock,
 * SIGEV_THREAD_ID to the thread, sigev_value = slot index. They fire on scheduler ticks and
 * report expiries in between as overruns; under load the kernel may let one fall silent, so
 * the consumer sets silent ones again (consumer.c).
 */
#include "timers.h"

#include <string.h>

int spp_posix_create(spp_slot *s, uint32_t idx)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_value.sival_int = (int)idx;
    sev._sigev_un._tid = s->tid;
    if (timer_create(spp_thread_cpu_clock(s->tid), &sev, &s->timer) != 0) return -1;
    s->has_timer = 1;
    return 0;
}

static struct itimerspec its_of(uint64_t first, uint64_t iv)
{
    struct itimerspec its = {
        .it_interval = { (time_t)(iv / 1000000000u), (long)(iv % 1000000000u) },
        .it_value = { (time_t)(first / 1000000000u), (long)(first % 1000000000u) },
    };
    return its;
}

int spp_posix_start(spp_slot *s, uint64_t first_ns, uint64_t interval_ns)
{
    const struct itimerspec its = its_of(first_ns, interval_ns);
    return timer_settime(s->timer, 0, &its, NULL);
}

int spp_timer_restart(spp_slot *s, uint64_t interval_ns)
{
    if (!s->has_timer) return -1;
    return spp_posix_start(s, interval_ns, interval_ns);
}

void spp_posix_stop(spp_slot *s)
{
    timer_delete(s->timer); /* also discards its pending signal */
    s->has_timer = 0;
}
