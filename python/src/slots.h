/*
 * slots.h — the table of sampled threads and the handshake between a thread's handler and
 * the consumer that disarms it.
 *
 * A slot is found by the handler from its signal (a timer's si_value, a perf fd's si_fd):
 * slots live in a static array that is never freed, so a late or stale signal can always
 * look at the slot it names. Only the slot's own thread (tid check) ever touches its ring.
 *
 * The handshake is a count, not a flag: a handler increments `inside` before it reads
 * `state` and decrements it when it leaves; the consumer sets `state = DISARMING` before it
 * reads `inside` (all sequentially consistent, Dekker style). Either the consumer sees the
 * handler inside and waits, or the handler sees DISARMING and leaves without touching the
 * slot. A stale signal on another thread (a reused fd number or timer index) only adds and
 * removes its own 1, so it can never hide the owner's handler from the consumer.
 */
#ifndef SPP_SLOTS_H
#define SPP_SLOTS_H

#include "ring.h"
#include "shim.h"

#include <time.h>

enum { SPP_SLOT_FREE = 0, SPP_SLOT_ARMED = 1, SPP_SLOT_DISARMING = 2 };

typedef struct spp_slot {
    /* the handshake */
    int state;
    int inside; /* handlers inside this slot right now */
    /* configuration, written by the consumer before state becomes ARMED */
    int tid;
    int fd;             /* perf_event fd, or -1 */
    timer_t timer;      /* POSIX timer, if has_timer */
    int has_timer;
    uint64_t tstate;    /* may be updated while armed (atomic) */
    int pinned;         /* tstate set by a test entry: the scan leaves it alone */
    uint64_t ident;     /* tstate.thread_id when armed */
    spw_frame *scratch; /* `depth` frames for the walk */
    uint32_t depth;     /* frames kept per sample */
    struct spp_droprec *drops; /* keep_drops only: the recorder of a dropped walk (drops.h) */
    /* written by the handler only */
    spp_ring ring;      /* head: handler; tail: consumer */
    uint64_t cpu_base;  /* the thread's CPU clock (ns) at which accounting starts */
    uint64_t periods;   /* whole intervals since cpu_base accounted so far */
    uint32_t user_sigs; /* perf, user time only: overflows not yet matched by a weight */
#define SPP_USER_SIGS_MAX 4u /* of them, the most carried (early signals come one at a time) */
    uint32_t perf_first;/* perf: the first (random) period is running */
    uint32_t seq;       /* seqlock over counts */
    spp_counts counts;
    uint32_t index;     /* this slot's place in spp_slots */
    /* sampler-thread-private (its mode only; set by the consumer before ARMED) */
    uint64_t last_cpu;     /* the thread's CPU clock at the last tick */
    uint64_t last_tstate;  /* the thread state the last stack was walked from ... */
    int have_last;         /* ... when it was recorded: a thread that did not run reuses it */
    uint32_t idle_ticks;   /* wall mode: reused ticks not yet published (sampler.c) */
    uint64_t idle_ts;      /* the first of them */
    /* consumer-private */
    uint64_t set_cpu;      /* the thread's CPU clock when its POSIX timer was last set */
    uint32_t seen_gen;
    uint32_t agg_thread;
    uint32_t *last_syms;   /* the symbols of the slot's last stack (for SPP_REC_REPEAT) */
    uint32_t last_n;       /* how many; UINT32_MAX when that stack could not be kept */
} spp_slot;

extern spp_slot spp_slots[SPP_MAX_SLOTS];

/* One bit per slot, set by its handler when it published a record: the consumer drains only
 * the slots that have something (touching thousands of idle slots each round is cache
 * misses). */
extern uint64_t spp_dirty[SPP_MAX_SLOTS / 64];
static inline void spp_slot_mark_dirty(uint32_t idx)
{
    __atomic_fetch_or(&spp_dirty[(idx / 64) % (SPP_MAX_SLOTS / 64)], 1ull << (idx % 64),
                      __ATOMIC_RELEASE);
}

/* Handler side of the handshake: enter (always), then check it may sample. */
static inline void spp_slot_enter(spp_slot *s) { __atomic_add_fetch(&s->inside, 1, __ATOMIC_SEQ_CST); }
static inline void spp_slot_leave(spp_slot *s) { __atomic_sub_fetch(&s->inside, 1, __ATOMIC_SEQ_CST); }
static inline int spp_slot_owned_by(const spp_slot *s, int tid)
{
    return __atomic_load_n(&s->state, __ATOMIC_SEQ_CST) == SPP_SLOT_ARMED && s->tid == tid;
}

/* Consumer side: no handler can start using the slot after this returns. */
void spp_slot_quiesce(spp_slot *s);

/* --- the consumer's index of slots (not used by handlers) --------------------------------
 * The active list, the free list and a hash tid -> slot: lookups in O(1) so a scan costs
 * O(threads), not O(threads^2). All under the consumer (and spp_start/spp_stop). */
void spp_slots_reset(void);               /* at start(): every FREE slot on the free list */
int spp_slots_take(uint32_t *idx);        /* 0, or -1 when every slot is in use */
void spp_slots_activate(uint32_t idx);    /* put an armed slot on the active list + hash */
void spp_slots_release(uint32_t idx);     /* off the active list + hash, back on the free list */
uint32_t spp_slots_find(int tid);         /* slot index, or SPP_MAX_SLOTS if none */
uint32_t spp_slots_n_active(void);
uint32_t spp_slots_active(uint32_t k);    /* k < n_active */
uint32_t spp_slots_pos(uint32_t idx);     /* position of an active slot in the list */
/* One past the highest slot index activated this session: the sampler thread looks at
 * slots below it (any thread may call it; the slots themselves are never freed). */
uint32_t spp_slots_high(void);

/* Counters: the handler's seqlock writer side and a consistent reader. */
void spp_slot_read_counts(spp_slot *s, spp_counts *out);
void spp_counts_add(spp_counts *to, const spp_counts *from);

#endif /* SPP_SLOTS_H */
