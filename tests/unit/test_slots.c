/*
 * test_slots.c — the live shim's slot table (python/src/slots.c), which is pure C: the
 * consumer's tid -> slot hash under random arming and disarming against a plain reference,
 * and the handler/consumer handshake as a count.
 */
#include "../../python/src/slots.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static void reset_all(void)
{
    memset(spp_slots, 0, sizeof spp_slots);
    spp_slots_reset();
}

static uint32_t arm(int tid)
{
    uint32_t idx = SPP_MAX_SLOTS;
    assert_int_equal(spp_slots_take(&idx), 0);
    spp_slots[idx].tid = tid;
    spp_slots[idx].state = SPP_SLOT_ARMED;
    spp_slots_activate(idx);
    return idx;
}

static void disarm(uint32_t idx)
{
    spp_slots_release(idx);
    spp_slots[idx].state = SPP_SLOT_FREE;
}

/* Random arming and disarming, with tids drawn from a small range so that hash runs
 * collide and wrap, checked after every step against a plain array. */
static void test_hash_matches_a_reference(void **state)
{
    (void)state;
    reset_all();
    static uint32_t ref[65536]; /* tid -> slot + 1 */
    memset(ref, 0, sizeof ref);
    uint32_t live = 0;
    for (int step = 0; step < 200000; step++) {
        /* tids that share hash buckets: multiples of a power of two, and a dense range */
        const int tid = (int)((next_rand() & 1) ? (next_rand() % 4096) * 16 : next_rand() % 30000) + 1;
        if (ref[tid]) {
            disarm(ref[tid] - 1);
            ref[tid] = 0;
            live--;
        } else if (live < SPP_MAX_SLOTS) {
            ref[tid] = arm(tid) + 1;
            live++;
        }
        if (step % 997 == 0) {
            for (int t = 1; t < 65536; t++)
                assert_int_equal(spp_slots_find(t), ref[t] ? ref[t] - 1 : SPP_MAX_SLOTS);
        } else {
            assert_int_equal(spp_slots_find(tid), ref[tid] ? ref[tid] - 1 : SPP_MAX_SLOTS);
        }
        assert_int_equal(spp_slots_n_active(), live);
    }
}

/* Every slot in use: taking one more fails; each active position names its slot. */
static void test_full_table_and_positions(void **state)
{
    (void)state;
    reset_all();
    for (int t = 1; t <= (int)SPP_MAX_SLOTS; t++) arm(t);
    uint32_t idx = 0;
    assert_int_equal(spp_slots_take(&idx), -1);
    for (uint32_t k = 0; k < spp_slots_n_active(); k++)
        assert_int_equal(spp_slots_pos(spp_slots_active(k)), k);
    for (int t = 1; t <= (int)SPP_MAX_SLOTS; t += 2) disarm(spp_slots_find(t));
    for (int t = 1; t <= (int)SPP_MAX_SLOTS; t++)
        assert_true((spp_slots_find(t) == SPP_MAX_SLOTS) == (t % 2 == 1));
    for (uint32_t k = 0; k < spp_slots_n_active(); k++)
        assert_int_equal(spp_slots_pos(spp_slots_active(k)), k);
}

/* The handshake counts: a stale handler on another thread entering and leaving the owner's
 * slot leaves the owner counted inside, so a disarm would still wait for it. */
static void test_handshake_is_a_count(void **state)
{
    (void)state;
    reset_all();
    spp_slot *s = &spp_slots[arm(1234)];
    spp_slot_enter(s); /* the owner, mid-sample */
    assert_true(spp_slot_owned_by(s, 1234));
    spp_slot_enter(s); /* a stale signal on thread 99 */
    assert_false(spp_slot_owned_by(s, 99));
    spp_slot_leave(s);
    assert_int_equal(s->inside, 1); /* a flag would say 0 here */
    spp_slot_leave(s);
    spp_slot_quiesce(s); /* returns: nobody inside */
    assert_int_equal(s->state, SPP_SLOT_DISARMING);
    assert_false(spp_slot_owned_by(s, 1234));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_matches_a_reference),
        cmocka_unit_test(test_full_table_and_positions),
        cmocka_unit_test(test_handshake_is_a_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
