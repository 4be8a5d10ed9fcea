/*
 * slots.c — the slot table, its consumer-side index and the disarm handshake (slots.h).
 */
#include "slots.h"

#include <sched.h>
#include <string.h>

spp_slot spp_slots[SPP_MAX_SLOTS];
uint64_t spp_dirty[SPP_MAX_SLOTS / 64];

/* Index: the active list (dense, for iteration), the free list, and an open-addressing hash
 * tid -> slot index + 1 with linear probing and backward-shift deletion (no tombstones, so
 * lookups stay short however many threads come and go). */
#define HASH_CAP (2u * SPP_MAX_SLOTS)
static uint32_t g_active[SPP_MAX_SLOTS], g_n_active;
static uint32_t g_pos[SPP_MAX_SLOTS]; /* slot -> position in g_active */
static uint32_t g_free[SPP_MAX_SLOTS], g_n_free;
static uint32_t g_hash[HASH_CAP];
static uint32_t g_high;

static uint32_t bucket(int tid)
{
    uint32_t h = (uint32_t)tid * 0x9e3779b1u;
    return h >> (32 - __builtin_ctz(HASH_CAP));
}

void spp_slot_quiesce(spp_slot *s)
{
    __atomic_store_n(&s->state, SPP_SLOT_DISARMING, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&s->inside, __ATOMIC_SEQ_CST)) sched_yield();
}

void spp_slots_reset(void)
{
    g_n_active = g_n_free = 0;
    __atomic_store_n(&g_high, 0, __ATOMIC_RELEASE);
    memset(g_hash, 0, sizeof g_hash);
    for (uint32_t i = SPP_MAX_SLOTS; i-- > 0;)
        if (__atomic_load_n(&spp_slots[i].state, __ATOMIC_SEQ_CST) == SPP_SLOT_FREE)
            g_free[g_n_free++] = i;
}

int spp_slots_take(uint32_t *idx)
{
    if (g_n_free == 0) return -1;
    *idx = g_free[g_n_free - 1];
    return 0;
}

void spp_slots_activate(uint32_t idx)
{
    /* idx is the slot spp_slots_take() gave */
    g_n_free--;
    g_pos[idx] = g_n_active;
    g_active[g_n_active++] = idx;
    uint32_t b = bucket(spp_slots[idx].tid);
    while (g_hash[b]) b = (b + 1) & (HASH_CAP - 1);
    g_hash[b] = idx + 1;
    if (idx + 1 > g_high) __atomic_store_n(&g_high, idx + 1, __ATOMIC_RELEASE);
}

uint32_t spp_slots_high(void) { return __atomic_load_n(&g_high, __ATOMIC_ACQUIRE); }

static void hash_remove(uint32_t idx)
{
    uint32_t b = bucket(spp_slots[idx].tid);
    while (g_hash[b] != idx + 1) {
        if (!g_hash[b]) return;
        b = (b + 1) & (HASH_CAP - 1);
    }
    /* backward shift: pull later entries of the run into the hole when their home allows */
    for (uint32_t j = (b + 1) & (HASH_CAP - 1);; j = (j + 1) & (HASH_CAP - 1)) {
        if (!g_hash[j]) break;
        uint32_t home = bucket(spp_slots[g_hash[j] - 1].tid);
        /* may the entry at j move to b? only if b lies cyclically in [home, j) */
        if (((j - home) & (HASH_CAP - 1)) >= ((j - b) & (HASH_CAP - 1))) {
            g_hash[b] = g_hash[j];
            b = j;
        }
    }
    g_hash[b] = 0;
}

void spp_slots_release(uint32_t idx)
{
    hash_remove(idx);
    uint32_t p = g_pos[idx], last = g_active[--g_n_active];
    g_active[p] = last;
    g_pos[last] = p;
    g_free[g_n_free++] = idx;
}

uint32_t spp_slots_find(int tid)
{
    for (uint32_t b = bucket(tid); g_hash[b]; b = (b + 1) & (HASH_CAP - 1))
        if (spp_slots[g_hash[b] - 1].tid == tid) return g_hash[b] - 1;
    return SPP_MAX_SLOTS;
}

uint32_t spp_slots_n_active(void) { return g_n_active; }
uint32_t spp_slots_active(uint32_t k) { return g_active[k]; }
uint32_t spp_slots_pos(uint32_t idx) { return g_pos[idx]; }

void spp_slot_read_counts(spp_slot *s, spp_counts *out)
{
    for (;;) {
        uint32_t s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1) {
            sched_yield();
            continue;
        }
        uint64_t *dst = (uint64_t *)out;
        const uint64_t *src = (const uint64_t *)&s->counts;
        for (size_t i = 0; i < sizeof *out / 8; i++) dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == s1) return;
    }
}

void spp_counts_add(spp_counts *to, const spp_counts *from)
{
    uint64_t *d = (uint64_t *)to;
    const uint64_t *s = (const uint64_t *)from;
    for (size_t i = 0; i < sizeof *to / 8; i++) d[i] += s[i];
}
