/*
 * threads.c — the thread-list iterator (threads.h).
 *
 * Two nested lists, one state machine: `interp` is the interpreter whose thread list is
 * being followed and `tstate` the next element of that list, 0 once it has ended; then the
 * interpreter's `next` is read and the following interpreter entered. Every element of
 * either list goes through one judgement (take_): validate, Brent, limit, in that order.
 */
#include "threads.h"

_Static_assert(SPW_THREADS_MAX_INTERP < UINT32_MAX && SPW_THREADS_MAX < UINT32_MAX / 3u,
               "the counters and the read bound fit in 32 bits");

void spw_threads_begin_limits(spw_threads_iter *it, const spw_layout *L, const spw_reader *rd,
                              uint64_t runtime, uint32_t max_interp, uint32_t max_threads)
{
    *it = (spw_threads_iter){
        .rd = *rd,
        .arch = L->arch,
        .runtime_size = L->runtime_size,
        .runtime_interpreters_head = L->runtime_interpreters_head,
        .interp_size = L->interp_size,
        .interp_next = L->interp_next,
        .interp_threads_head = L->interp_threads_head,
        .tstate_size = L->tstate_size,
        .tstate_next = L->tstate_next,
        .tstate_thread_id = L->tstate_thread_id,
        .tstate_native_thread_id = L->tstate_native_thread_id,
        .max_interp = max_interp < SPW_THREADS_MAX_INTERP ? max_interp : SPW_THREADS_MAX_INTERP,
        .max_threads = max_threads < SPW_THREADS_MAX ? max_threads : SPW_THREADS_MAX,
        .runtime = runtime,
        .status = SPW_THREADS_MORE,
    };
}

void spw_threads_begin(spw_threads_iter *it, const spw_layout *L, const spw_reader *rd,
                       uint64_t runtime)
{
    spw_threads_begin_limits(it, L, rd, runtime, SPW_THREADS_MAX_INTERP, SPW_THREADS_MAX);
}

/* End the iteration; returns -1, for `return stop_(...)` in the helpers below. */
static int stop_(spw_threads_iter *it, spw_threads_status st, uint64_t addr)
{
    it->status = st;
    it->fail_addr = addr;
    return -1;
}

/* One 8-byte field: 0, or -1 with the failure recorded (UNREADABLE at addr). */
static int load_(spw_threads_iter *it, uint64_t addr, uint64_t *v)
{
    uint8_t b[8];
    if (spw_read(&it->rd, addr, b, 8) != 0) return stop_(it, SPW_THREADS_UNREADABLE, addr);
    *v = spw_le64(b);
    return 0;
}

/* Judge element number `step` (from 0) of a list, `p` != 0, before anything is read
 * through it: a struct of `size` bytes in user space; not the tortoise; not over the limit
 * (`count` taken so far of at most `max`). Then Brent's teleporting tortoise: at each
 * power-of-two step (2^j - 1) it jumps to this element. With a tail of T and a loop of L,
 * the first jump at a step 2^j - 1 >= T with 2^j >= L lands in the loop and the list
 * comes back to it L steps later, before the next jump (threads.h). Returns 0, or -1 and
 * the iteration has ended. */
static int take_(spw_threads_iter *it, uint64_t p, uint64_t size, uint64_t *tortoise,
                 uint32_t step, uint32_t count, uint32_t max)
{
    if (!spw_addr_ok(it->arch, p, size, 8)) return stop_(it, SPW_THREADS_INVALID, p);
    if (p == *tortoise) return stop_(it, SPW_THREADS_CYCLE, p);
    if (count >= max) return stop_(it, SPW_THREADS_LIMIT, p);
    if ((step & (step + 1)) == 0) *tortoise = p;
    return 0;
}

/* Enter the interpreter at p (element number it->n_interp of its list): 0, or -1 and the
 * iteration has ended (DONE when p is 0). */
static int enter_(spw_threads_iter *it, uint64_t p)
{
    if (p == 0) return stop_(it, SPW_THREADS_DONE, 0);
    if (take_(it, p, it->interp_size, &it->interp_tortoise, it->n_interp, it->n_interp,
              it->max_interp))
        return -1;
    it->n_interp++;
    it->interp = p;
    it->tstate_tortoise = 0;
    it->tstate_steps = 0;
    return load_(it, p + it->interp_threads_head, &it->tstate);
}

int spw_threads_next(spw_threads_iter *it, spw_thread_info *out)
{
    if (it->status != SPW_THREADS_MORE) return 0;
    uint64_t p;
    if (!it->started) {
        it->started = 1;
        if (!spw_addr_ok(it->arch, it->runtime, it->runtime_size, 8)) {
            stop_(it, SPW_THREADS_INVALID, it->runtime);
            return 0;
        }
        if (load_(it, it->runtime + it->runtime_interpreters_head, &p) || enter_(it, p))
            return 0;
    }
    /* Interpreters with an empty list are passed in this loop; there are at most
     * max_interp of them, and an interpreter list that loops is caught as any list is. */
    while (it->tstate == 0)
        if (load_(it, it->interp + it->interp_next, &p) || enter_(it, p)) return 0;

    const uint64_t ts = it->tstate;
    uint64_t native, ident, next;
    if (take_(it, ts, it->tstate_size, &it->tstate_tortoise, it->tstate_steps, it->n_threads,
              it->max_threads) ||
        load_(it, ts + it->tstate_native_thread_id, &native) ||
        load_(it, ts + it->tstate_thread_id, &ident) || load_(it, ts + it->tstate_next, &next))
        return 0;
    it->tstate_steps++;
    it->n_threads++;
    it->tstate = next;
    out->interp = it->interp;
    out->tstate = ts;
    out->thread_id = ident;
    out->native_thread_id = native;
    return 1;
}

spw_threads_status spw_threads_status_of(const spw_threads_iter *it)
{
    return it->status;
}

uint64_t spw_threads_fail_addr(const spw_threads_iter *it)
{
    return it->fail_addr;
}

const char *spw_threads_status_name(spw_threads_status s)
{
    switch (s) {
    case SPW_THREADS_MORE: return "more";
    case SPW_THREADS_DONE: return "done";
    case SPW_THREADS_UNREADABLE: return "unreadable";
    case SPW_THREADS_INVALID: return "invalid";
    case SPW_THREADS_CYCLE: return "cycle";
    case SPW_THREADS_LIMIT: return "limit";
    }
    return "unknown";
}
