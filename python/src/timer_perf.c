/*
 * timer_perf.c — the perf_event source of timers.h: a task-clock counter per thread.
 *
 * The counter counts kernel time too where the kernel allows it (perf_event_paranoid <= 1,
 * or CAP_PERFMON): an overflow inside a system call is then signalled on the way back to
 * user space, so the stack that made the call gets the time. Where only user time may be
 * counted, overflows fall in user mode only and kernel time is carried by the next sample.
 *
 * File descriptors: a perf fd per thread would eat the application's descriptors, so the
 * session takes at most an eighth of RLIMIT_NOFILE (none below 256), moves each fd to the
 * top of the range (F_DUPFD_CLOEXEC), and every thread beyond that budget, or whose fd the
 * kernel refuses, gets a POSIX timer instead.
 */
#include "timers.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static uint32_t g_fd_map[SPP_FD_MAP]; /* perf fd -> slot index + 1 (handlers read it) */
static int g_exclude_kernel = 1;
static uint32_t g_budget, g_in_use;
static int g_fd_floor; /* fds are moved to this number or above */

static long perf_open(int tid, uint64_t period_ns, int exclude_kernel)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_TASK_CLOCK;
    attr.sample_period = period_ns;
    attr.disabled = 1;
    attr.exclude_kernel = (unsigned)exclude_kernel;
    attr.exclude_hv = 1;
    attr.wakeup_events = 1;
    return syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

int spp_perf_probe(uint64_t interval_ns, int user_only, int *counts_kernel)
{
    for (int ek = user_only ? 1 : 0; ek <= 1; ek++) {
        long fd = perf_open(0, interval_ns, ek);
        if (fd >= 0) {
            close((int)fd);
            g_exclude_kernel = ek;
            *counts_kernel = !ek;
            return 0;
        }
    }
    return -1;
}

void spp_perf_budget_reset(void)
{
    struct rlimit rl;
    uint64_t lim = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) lim = rl.rlim_cur;
    if (lim > SPP_FD_MAP) lim = SPP_FD_MAP;
    g_budget = lim < 256 ? 0 : (uint32_t)(lim / 8);
    g_fd_floor = (int)(lim - g_budget);
    g_in_use = 0;
}

uint32_t spp_perf_fds_in_use(void) { return g_in_use; }

static int perf_route(int fd, int tid)
{
    struct f_owner_ex owner = { F_OWNER_TID, tid };
    if (fcntl(fd, F_SETFL, O_ASYNC | O_NONBLOCK) != 0) return -1;
    if (fcntl(fd, F_SETSIG, SIGPROF) != 0) return -1;
    if (fcntl(fd, F_SETOWN_EX, &owner) != 0) return -1;
    return 0;
}

/* A perf fd for `tid`, moved to the top of the descriptor range; -1 if over budget or
 * refused. */
int spp_perf_create(spp_slot *s, uint32_t idx, uint64_t first_ns)
{
    if (g_in_use >= g_budget) return -1;
    long fd = perf_open(s->tid, first_ns, g_exclude_kernel);
    if (fd < 0) return -1;
    int hi = fcntl((int)fd, F_DUPFD_CLOEXEC, g_fd_floor);
    close((int)fd);
    if (hi < 0 || hi >= (int)SPP_FD_MAP || perf_route(hi, s->tid) != 0) {
        if (hi >= 0) close(hi);
        return -1;
    }
    s->fd = hi;
    g_in_use++;
    __atomic_store_n(&g_fd_map[hi], idx + 1, __ATOMIC_RELEASE);
    return 0;
}

int spp_perf_start(spp_slot *s, uint64_t first_ns, uint64_t interval_ns)
{
    uint64_t p = first_ns;
    s->perf_first = first_ns != interval_ns;
    if (ioctl(s->fd, PERF_EVENT_IOC_PERIOD, &p) != 0) return -1;
    return ioctl(s->fd, PERF_EVENT_IOC_REFRESH, 1);
}

void spp_perf_stop(spp_slot *s) { ioctl(s->fd, PERF_EVENT_IOC_DISABLE, 0); }

void spp_perf_destroy(spp_slot *s)
{
    __atomic_store_n(&g_fd_map[s->fd], 0, __ATOMIC_RELEASE);
    close(s->fd);
    s->fd = -1;
    g_in_use--;
}

int spp_perf_slot_of(int fd)
{
    if (fd < 0 || (unsigned)fd >= SPP_FD_MAP) return -1;
    const uint32_t v = __atomic_load_n(&g_fd_map[fd], __ATOMIC_ACQUIRE);
    return v && v <= SPP_MAX_SLOTS ? (int)v - 1 : -1;
}

void spp_timer_rearm_perf(spp_slot *s, int fd, uint64_t interval_ns)
{
    if (s->perf_first) {
        uint64_t p = interval_ns;
        s->perf_first = 0;
        ioctl(fd, PERF_EVENT_IOC_PERIOD, &p);
    }
    ioctl(fd, PERF_EVENT_IOC_REFRESH, 1);
}

void spp_timers_atfork_child(void)
{
    for (uint32_t i = 0; i < SPP_FD_MAP; i++) {
        if (!g_fd_map[i]) continue;
        g_fd_map[i] = 0;
        close((int)i);
    }
    g_in_use = 0;
}
