/*
 * walk_body.h — the walker, as one inline function parameterised by its read function.
 *
 * This is libunwind's UNW_LOCAL_ONLY idea in C11: spw_walk_body() is always inlined, so a
 * caller that passes a `static inline` read function gets a walker specialised to it with
 * every read compiled in place (the live signal handler: plain loads, no indirect call),
 * while walk.c instantiates it once over the generic spw_reader for replay, fuzzing and
 * remote processes. Same source, tested by the same fuzzers. The layout can be compiled in
 * the same way: spw_walk_known() runs the walker instantiated on a known build's shape,
 * every offset a constant (the live handler does; walk_known.c lets the tests and fuzzers
 * hold it to spw_walk()'s answers).
 *
 * The rules, in the order they are applied to each frame pointer:
 *   1. budget: at most SPW_WALK_BUDGET frames are followed (with max_follow, at most B of
 *      walk.h once a frame was left out); a longer chain is `truncated`;
 *   2. validate: non-null page, 8-byte aligned, inside user space — else `invalid_frame`;
 *   3. cycle: the pointer equals one of the last 8 frames the careful loop took (below;
 *      catches a loop of up to 8 frames by the end of its second turn) or Brent's tortoise
 *      (O(1) memory, catches long loops) — `cycle`. The window is searched only when one
 *      of the last 8 steps did not go down in address: a strictly falling run cannot
 *      revisit an address, and CPython pushes a callee's frame above its caller's in the
 *      thread's data stack, so on most frames the search is skipped;
 *   4. read the frame's fields (previous, executable, owner, instr_ptr and, on 3.14t,
 *      tlbc_index), each once, then judge them: bogus owner `invalid_frame`;
 *      owner >= 3 (C stack / interpreter shim) or NULL executable: not a Python frame, skip;
 *   5. while under the depth limit: executable must be an object whose type is
 *      PyCode_Type with a sane size (`invalid_code`; judged once for a run of frames that
 *      share one code object), and instr_ptr must point inside the bytecode copy it runs
 *      (`invalid_frame`); then emit (code, lasti).
 * Frames past the depth limit are still followed, so a cycle or a broken link in the chain
 * is reported, and the status is `truncated`. With max_follow 0 they are checked by rules 1-4
 * up to the budget. With any other max_follow (walk.h), the frames after the first Python
 * frame left out go through a loop of their own, the tail: rules 1-3 (its bound B, the
 * pointer's validity, Brent's tortoise but not the window) and one read, `previous`; about
 * 9 instructions a frame where the careful loop takes some 45.
 */
#ifndef SPW_WALK_BODY_H
#define SPW_WALK_BODY_H

#include "walk.h"

#include <string.h>

/* Read a field of constant width (1, 4 or 8) into *dst. With an inline reader this compiles
 * to one load, which is why the walker reads field by field rather than copying whole
 * structs. Returns nonzero when the reader failed. (Reads are counted by readers that care,
 * not here: the counter would cost the live handler a register on every frame.) */
SPW_ALWAYS_INLINE int spw_load_(spw_read_fn read, void *ctx, uint64_t addr, size_t width,
                                uint64_t *dst)
{
    uint8_t b[8];
    if (read(ctx, addr, b, width) != 0) return 1;
    *dst = width == 8 ? spw_le64(b) : width == 4 ? spw_le32(b) : b[0];
    return 0;
}

/* What the walk needs, copied out once per walk. Stores into the output frames could alias
 * the shape as far as the compiler knows; reading offsets through a pointer would reload
 * every one of them for every frame. Inlined, this struct lives in registers, or, when the
 * shape is a compile-time constant, in the instructions themselves. */
typedef struct spw_walk_k_ {
    spw_walk_shape s;
    spw_arch arch;
    uint64_t bound;                   /* spw_span_bound() of a frame or a code header */
    uint64_t tag_keep;                /* ~executable_tag_mask */
    uint64_t code_type;
} spw_walk_k_;

SPW_ALWAYS_INLINE void spw_walk_k_init_(spw_walk_k_ *k, const spw_walk_shape *S, spw_arch arch,
                                        uint64_t code_type)
{
    k->s = *S;
    k->arch = arch;
    /* One bound serves frame and code pointers, the larger span's: one register, and a code
     * object within a frame's length of the top of user space is not one anyway. */
    const uint64_t code_span = (uint64_t)S->ob_size + 8;
    k->bound = spw_span_bound(arch, S->frame_span > code_span ? S->frame_span : code_span);
    k->tag_keep = ~S->executable_tag_mask;
    k->code_type = code_type;
}

/* Where the bytecode copy that instr_ptr points into starts, for a 3.14t thread that runs its
 * own copy: tlbc_index (not 0) selects it in co_tlbc. Copy 0 is co_code_adaptive itself, which
 * the caller works out without this. Returns the reason to drop, or SPW_REASON_NONE with
 * *base set. */
SPW_ALWAYS_INLINE spw_reason spw_walk_bytecode_(const spw_walk_k_ *k, spw_read_fn read, void *ctx,
                                                uint64_t code,
                                                int32_t tlbc_index, uint64_t *base)
{
    uint64_t arr, size;
    if (tlbc_index < 0) return SPW_REASON_INVALID_FRAME;
    if (!spw_addr_ok(k->arch, code, (uint64_t)k->s.co_tlbc + 8, 8)) return SPW_REASON_INVALID_CODE;
    if (spw_load_(read, ctx, code + k->s.co_tlbc, 8, &arr)) return SPW_REASON_UNREADABLE;
    /* _PyCodeArray: Py_ssize_t size; char *entries[size]. */
    if (!spw_addr_ok(k->arch, arr, 8 + 8 * (uint64_t)tlbc_index + 8, 8))
        return SPW_REASON_INVALID_CODE;
    if (spw_load_(read, ctx, arr, 8, &size)) return SPW_REASON_UNREADABLE;
    if (size > SPW_TLBC_MAX || (uint64_t)tlbc_index >= size) return SPW_REASON_INVALID_FRAME;
    if (spw_load_(read, ctx, arr + 8 + 8 * (uint64_t)tlbc_index, 8, base))
        return SPW_REASON_UNREADABLE;
    if (!spw_addr_ok(k->arch, *base, 2, 2)) return SPW_REASON_INVALID_CODE;
    return SPW_REASON_NONE;
}

/* The code object validated last in this walk, and its size. Recursion puts one code
 * object in many consecutive frames; it is judged once per run, from the one reading of its
 * header this walk made. (A code object freed and reused within the microseconds of a walk
 * would mean the frames naming it are stale as well; the consumer checks the type again
 * before symbolizing.) */
typedef struct spw_code_memo_ {
    uint64_t raw;     /* the executable as read: a frame that holds the same bits runs it */
    uint64_t code;    /* ... which is this code object (the tag bits cleared) */
    uint64_t n_units; /* of this size */
    uint32_t tlbc;    /* 3.14t: the thread-local copy last looked up in it (0: none) */
    uint64_t base;    /* ... which starts here */
} spw_code_memo_;

/* What spw_walk_frame_ returns for a Python frame the depth limit leaves out when the walk
 * has a tail (max_follow): not a reason to drop, and no real reason has its value. */
#define SPW_LEFT_OUT_ SPW_REASON_COUNT_

/* Rules 4 and 5 for one frame whose pointer passed rules 1-3: read its fields, each once,
 * then judge them; emit (code, lasti) through *out when it is a Python frame under the depth
 * limit, else mark the walk truncated in *res and return `left_out` (SPW_LEFT_OUT_ when the
 * walk has a tail, SPW_REASON_NONE when not: then such frames cost nothing more than they
 * did before the tail existed). *previous gets the next link. Returns the reason to drop,
 * or SPW_REASON_NONE.
 *
 * `careful` is a constant. The fast loop passes 0 and has made sure of two things itself:
 * there is room for this frame in the output, and the memo holds a code object, so a NULL
 * executable misses it and is told apart on the path that finds the pointer invalid. */
SPW_ALWAYS_INLINE spw_reason spw_walk_frame_(const spw_walk_k_ *k, spw_read_fn read, void *ctx,
                                             uint64_t frame, const int careful,
                                             spw_code_memo_ *memo, spw_frame **out,
                                             const spw_frame *end, spw_walk_result *res,
                                             const spw_reason left_out, uint64_t *previous)
{
    uint64_t raw, code, owner, instr, tlbc = 0, n_units, base = 0;
    if (spw_load_(read, ctx, frame + k->s.frame_previous, 8, previous) ||
        spw_load_(read, ctx, frame + k->s.frame_executable, 8, &raw) ||
        spw_load_(read, ctx, frame + k->s.frame_owner, 1, &owner) ||
        spw_load_(read, ctx, frame + k->s.frame_instr_ptr, 8, &instr) ||
        (k->s.has_tlbc && spw_load_(read, ctx, frame + k->s.frame_tlbc_index, 4, &tlbc)))
        return SPW_REASON_UNREADABLE;
    code = raw & k->tag_keep;
    if (SPW_UNLIKELY(owner >= k->s.owner_incomplete)) /* C stack / interpreter shim: skip */
        return owner > k->s.owner_max ? SPW_REASON_INVALID_FRAME : SPW_REASON_NONE;
    if (careful) {
        if (code == 0) return SPW_REASON_NONE; /* being set up: skip */
        if (*out == end) { /* left out by the depth limit */
            res->status = SPW_WALK_TRUNCATED;
            return left_out;
        }
    }
    /* No hint either way: recursion hits, and a stack of distinct functions (the common
     * case in real programs) misses on every frame. */
    if (raw == memo->raw) { /* the same bits: no need to clear the tag again */
        code = memo->code;
        n_units = memo->n_units;
    } else {
        uint64_t type;
        if (SPW_RARELY(!spw_span_ok(code, k->bound)))
            return code == 0 ? SPW_REASON_NONE : SPW_REASON_INVALID_CODE;
        if (spw_load_(read, ctx, code + k->s.ob_type, 8, &type) ||
            spw_load_(read, ctx, code + k->s.ob_size, 8, &n_units))
            return SPW_REASON_UNREADABLE;
#ifndef SPW_PLANT_NO_CODE_CHECK
        if (SPW_RARELY(type != k->code_type || n_units - 1 >= SPW_CODE_UNITS_MAX)) /* 0 wraps */
            return SPW_REASON_INVALID_CODE;
#else
        (void)type;
#endif
        memo->raw = raw;
        memo->code = code;
        memo->n_units = n_units;
        memo->tlbc = 0; /* copy 0 never reaches the memo: it is the code's own bytecode */
    }
    if (!k->s.has_tlbc || SPW_LIKELY((uint32_t)tlbc == 0)) { /* the code's own bytecode */
        base = code + k->s.co_code_adaptive;
    } else if (SPW_LIKELY((uint32_t)tlbc == memo->tlbc)) {
        base = memo->base; /* a thread runs one copy of each code object */
    } else {
        spw_reason why = spw_walk_bytecode_(k, read, ctx, code, (int32_t)(uint32_t)tlbc, &base);
        if (SPW_RARELY(why != SPW_REASON_NONE)) return why;
        memo->tlbc = (uint32_t)tlbc;
        memo->base = base;
    }
    /* lasti = (instr - base) / 2, rotated rather than shifted: an odd offset sets the top
     * bit and an instr below base wraps, so one compare rejects both along with the past-
     * the-end ones. */
    uint64_t off = instr - base;
    uint64_t lasti = (off >> 1) | (off << 63);
    if (SPW_RARELY(lasti >= n_units)) return SPW_REASON_INVALID_FRAME;
    (*out)->code = code;
    (*out)->lasti = (uint32_t)lasti; /* < n_units <= SPW_CODE_UNITS_MAX */
    (*out)++;
    return SPW_REASON_NONE;
}

/* The count of the first of Brent's power-of-two steps (2^j - 1) at or after n. */
SPW_ALWAYS_INLINE uint32_t spw_next_jump_(uint32_t n)
{
    n |= n >> 1;
    n |= n >> 2;
    n |= n >> 4;
    n |= n >> 8;
    return n | n >> 16;
}

/* Is `frame` one of the 8 in the window? Unrolled: one compare each, one branch in all. A
 * slot never written holds 0, which no frame pointer equals. */
SPW_ALWAYS_INLINE int spw_in_window_(const uint64_t recent[8], uint64_t frame)
{
    return (recent[0] == frame) | (recent[1] == frame) | (recent[2] == frame) |
           (recent[3] == frame) | (recent[4] == frame) | (recent[5] == frame) |
           (recent[6] == frame) | (recent[7] == frame);
}

/* The walker on a given shape and architecture; a->layout is not used.
 *
 * Two loops share one frame step (spw_walk_frame_). The careful loop applies every rule to
 * every frame. Most frames need less, and the fast loop takes those: while each step goes
 * down in address (rule 3: then the window cannot hold the frame), there is room in the
 * output and the memo holds a code object, it leaves out the window, the depth limit and the
 * NULL-executable test, and Brent's tortoise unless it lies below the run. It does not
 * write the window either: that store, to the stack, cost a fifth of a frame's time on
 * this machine's Zen 4 (1.20-1.29x the chase with it, 0.93-1.14x without; bench/live_bench.py).
 * The window therefore holds the last 8 frames the careful loop took, and a loop of L <= 8
 * frames is still caught early: each turn of it rises at least once (it comes back to an
 * address), each rise hands the next 8 steps to the careful loop, which stores them, so the
 * walk stays careful inside the loop and meets a stored frame again within L steps. A tail
 * of T frames, then: reported after at most T + 2L frames instead of T + L. (An older slot
 * can only hold a frame this walk followed, and meeting one again is a cycle too.) It hands
 * back to the careful loop
 *   - at a step that does not go down (the window is searched for the next 8);
 *   - at a power-of-two step or the last frame there is room for, where the careful loop
 *     finishes the step (`stepped`: the tortoise's jump, the budget);
 *   - at a frame pointer that fails rule 2, the end of the chain among them, which the
 *     careful loop then reports.
 * Both loops apply the rules in the same order to the same bytes, so on a chain without a
 * cycle which one took a frame changes nothing in the result, only its cost (on a cycle, at
 * most the step at which it is reported, as above): about 24 instructions a frame in the
 * fast loop when the memo holds the frame's code object, 34 when it does not (3.13t; the
 * chase takes about 20). tests/unit/test_walk.c holds the two to the same answers at every
 * kind of hand-over.
 *
 * With `tail` (max_follow not 0), a third loop takes the frames after the first Python frame
 * the depth limit leaves out: the tail (below, and walk.h). tests/unit/test_walk_follow.c
 * holds it to the bound and to Brent's exact step. */
SPW_ALWAYS_INLINE spw_status spw_walk_shaped_(const spw_walk_shape *S, spw_arch arch,
                                              const spw_walk_args *a, spw_read_fn read,
                                              void *ctx, spw_walk_result *res, const int tail)
{
    spw_walk_k_ k;
    spw_walk_k_init_(&k, S, arch, a->code_type);
    spw_frame *out = a->frames;
    const uint32_t depth = a->max_frames < SPW_WALK_DEPTH_MAX ? a->max_frames : SPW_WALK_DEPTH_MAX;
    spw_frame *const end = out + depth;
    uint32_t n_visited = 0;
    spw_reason why = SPW_REASON_NONE;
    uint64_t frame = 0, previous = 0;
    res->status = SPW_WALK_OK; /* or truncated, as the walk finds; dropped is decided at the end */

    uint64_t recent[8] = { 0 };       /* the last 8 frames the careful loop took */
    uint32_t search_until = 0;        /* search the window while n_visited is below this */
    uint64_t tortoise = 0;            /* Brent: the frame at the last power-of-two step */
    uint32_t event = 0;               /* the fast loop hands this step to the careful one */
    uint64_t key = 0;                 /* spw_span_key() of the fast loop's frame */
    uint32_t tail_last = 0;           /* the tail: its last step, B - 1 of walk.h */
    spw_code_memo_ memo = { 0, 0, 0, 0, 0 }; /* empty: the careful loop tests NULL first */

    if (!spw_addr_ok(k.arch, a->tstate, (uint64_t)k.s.tstate_current_frame + 8, 8)) {
        why = SPW_REASON_INVALID_FRAME;
        goto done;
    }
    if (spw_load_(read, ctx, a->tstate + k.s.tstate_current_frame, 8, &frame)) {
        why = SPW_REASON_UNREADABLE;
        goto done;
    }

careful:
    while (frame != 0) {
        if (SPW_UNLIKELY(!spw_span_ok(frame, k.bound))) {
            why = SPW_REASON_INVALID_FRAME;
            goto done;
        }
#ifndef SPW_PLANT_NO_CYCLE_CHECK
        if (SPW_UNLIKELY(frame == tortoise) ||
            SPW_UNLIKELY(n_visited < search_until && spw_in_window_(recent, frame))) {
            why = SPW_REASON_CYCLE;
            goto done;
        }
#else
        (void)tortoise;
#endif
        recent[n_visited & 7] = frame;
        why = spw_walk_frame_(&k, read, ctx, frame, 1, &memo, &out, end, res,
                              tail ? SPW_LEFT_OUT_ : SPW_REASON_NONE, &previous);
        if (SPW_UNLIKELY(why != SPW_REASON_NONE)) {
            if (!tail || why != SPW_LEFT_OUT_) goto drop_visited;
            why = SPW_REASON_NONE;
            goto tail_enter; /* the first frame left out: the tail takes the rest */
        }
    stepped:
        /* Every power-of-two step (2^j - 1 frames before this one): Brent's teleporting
         * tortoise jumps to this frame. With a tail of T frames and a loop of L, the first
         * jump at a step 2^j > T with 2^j >= L lands in the loop, and the walk meets it again
         * L steps later, before the next jump: the cycle is reported by step 2^j + L <
         * 3 * (T + L) (see walk.h). The budget is a power of two too: its step is a jump. */
        if (SPW_UNLIKELY((n_visited & (n_visited + 1)) == 0)) {
            if (n_visited == SPW_WALK_BUDGET - 1 && previous != 0) {
                n_visited++;
                res->status = SPW_WALK_TRUNCATED;
                goto done;
            }
            tortoise = frame;
        }
        n_visited++;
        /* A run of strictly falling addresses never repeats one, so the window can only
         * hold a frame if one of the last 8 steps, the one to it included, did not go down:
         * the next 8 searches follow a step that does not. */
        if (SPW_UNLIKELY(previous >= frame)) search_until = n_visited + 8;
        frame = previous;
        /* The fast loop takes over when nothing it leaves out can apply: no search of the
         * window pending, room in the output, a code object in the memo. `event` is the
         * step it hands back at: the next power-of-two one, or the last frame with room. */
        if (SPW_LIKELY(n_visited >= search_until && out < end && memo.code != 0)) {
            const uint32_t jump = spw_next_jump_(n_visited);
            const uint32_t last = n_visited + (uint32_t)(end - out) - 1;
            event = jump < last ? jump : last;
            goto fast;
        }
    }
    goto done;

fast:
    /* The frame the careful loop hands over has not been validated yet. */
    key = spw_span_key(frame);
    if (SPW_RARELY(key >= k.bound)) goto careful; /* the end of the chain, or a bad pointer */
    /* One step of the fast loop, written twice in it: unrolled, the compiler can alternate
     * registers between the two instead of copying values back at the end of each step.
     * T: compare the frame with Brent's tortoise. A fast run only goes down, so when the
     * tortoise lies above the run's first frame (or there is none yet) no frame of the run
     * can be it, and the loop without the compare takes the run. */
#ifndef SPW_PLANT_NO_CYCLE_CHECK
#define SPW_FAST_TORTOISE_(T)                                                                  \
    if (T && SPW_RARELY(frame == tortoise)) {                                                  \
        why = SPW_REASON_CYCLE;                                                                \
        goto done;                                                                             \
    }
#else
#define SPW_FAST_TORTOISE_(T)
#endif
#define SPW_FAST_STEP_(T)                                                                      \
    {                                                                                          \
        SPW_FAST_TORTOISE_(T)                                                                  \
        why = spw_walk_frame_(&k, read, ctx, frame, 0, &memo, &out, end, res, SPW_REASON_NONE, \
                              &previous);                                                      \
        if (SPW_RARELY(why != SPW_REASON_NONE)) goto drop_visited;                             \
        if (SPW_RARELY(n_visited == event)) goto fast_stepped;                                 \
        n_visited++;                                                                           \
        const uint64_t next_key = spw_span_key(previous);                                      \
        if (SPW_RARELY(next_key >= key)) goto fast_left;                                       \
        frame = previous;                                                                      \
        key = next_key;                                                                        \
    }
    if (SPW_LIKELY(tortoise - 1 >= frame)) { /* above the run, or 0: none yet */
        for (;;) {
            SPW_FAST_STEP_(0)
            SPW_FAST_STEP_(0)
        }
    }
    for (;;) {
        SPW_FAST_STEP_(1)
        SPW_FAST_STEP_(1)
    }
#undef SPW_FAST_STEP_
#undef SPW_FAST_TORTOISE_
fast_stepped:
    search_until = 0; /* no change in effect (the count is past it), but the compiler */
    goto stepped;     /* need not keep it in a register in the fast loop */
fast_left:
    /* One compare said the next frame pointer is valid (rule 2) and below this one (the run
     * still falls): its key below this frame's, which is below the bound. Not both, here. */
    search_until = previous >= frame ? n_visited + 8 : 0; /* a rise: search after it */
    frame = previous;
    goto careful; /* which also reports a bad pointer, or ends the chain */

tail_enter:
    /* The tail (walk.h, max_follow): `frame` is the first Python frame left out, and
     * n_visited frames were followed before it (p). Every loop of at most p frames, and so
     * every repeat among the frames emitted, is caught by step 3 * p; the walk stops after
     * step B - 1 of B = min(budget, max(F, 3 * p)), which is at least p (p < budget, and
     * 3 * p > p unless p = 0 < F): this frame's own step is not past it. */
    {
        /* F: max_follow (not 0 here) clamped to [depth, budget]; read only now, so that it
         * takes no register in the loops before. */
        const uint32_t follow = a->max_follow < depth ? depth : a->max_follow;
        const uint32_t p3 = 3 * n_visited; /* < 3 * 2^14: no overflow */
        const uint32_t bound = p3 > follow ? p3 : follow;
        tail_last = (bound < SPW_WALK_BUDGET ? bound : SPW_WALK_BUDGET) - 1;
    }
    goto tail_step; /* which finishes this frame's step and sets the next event */
tail:
    /* Rules 2 and 3 for `frame`, and one read: `previous`. While the run falls, one compare
     * says the next pointer is valid and below this one (as in the fast loop), and the
     * tortoise is compared only when it lies at or below the run's first frame. */
    key = spw_span_key(frame);
    if (SPW_RARELY(key >= k.bound)) { /* the end of the chain, or a bad pointer */
        if (frame != 0) why = SPW_REASON_INVALID_FRAME;
        goto done;
    }
#ifndef SPW_PLANT_NO_CYCLE_CHECK
#define SPW_TAIL_TORTOISE_(T)                                                                  \
    if (T && SPW_RARELY(frame == tortoise)) {                                                  \
        why = SPW_REASON_CYCLE;                                                                \
        goto done;                                                                             \
    }
#else
#define SPW_TAIL_TORTOISE_(T)
#endif
#define SPW_TAIL_STEP_(T)                                                                      \
    {                                                                                          \
        SPW_TAIL_TORTOISE_(T)                                                                  \
        if (SPW_RARELY(spw_load_(read, ctx, frame + k.s.frame_previous, 8, &previous))) {      \
            why = SPW_REASON_UNREADABLE;                                                       \
            goto drop_visited;                                                                 \
        }                                                                                      \
        if (SPW_RARELY(n_visited == event)) goto tail_step;                                    \
        n_visited++;                                                                           \
        const uint64_t next_key = spw_span_key(previous);                                      \
        if (SPW_RARELY(next_key >= key)) { /* a rise, the end, or a bad pointer */             \
            frame = previous;                                                                  \
            goto tail;                                                                         \
        }                                                                                      \
        frame = previous;                                                                      \
        key = next_key;                                                                        \
    }
    if (SPW_LIKELY(tortoise - 1 >= frame)) { /* above the run, or 0: none yet */
        for (;;) {
            SPW_TAIL_STEP_(0)
            SPW_TAIL_STEP_(0)
        }
    }
    for (;;) {
        SPW_TAIL_STEP_(1)
        SPW_TAIL_STEP_(1)
    }
#undef SPW_TAIL_STEP_
#undef SPW_TAIL_TORTOISE_
tail_step:
    /* The step of `frame`, whose `previous` was read, at an event: the bound, or one of
     * Brent's power-of-two steps (the tortoise jumps here, as in the other loops). */
    if (n_visited == tail_last) { /* the chain goes on, or ends here: truncated either way */
        n_visited++;
        goto done;
    }
    if ((n_visited & (n_visited + 1)) == 0) tortoise = frame;
    n_visited++;
    event = spw_next_jump_(n_visited);
    event = event < tail_last ? event : tail_last;
    frame = previous;
    goto tail;
drop_visited:
    n_visited++;
done:
    /* The one exit: counters kept in registers during the walk reach the caller here. */
    if (why != SPW_REASON_NONE) res->status = SPW_WALK_DROPPED;
    res->reason = why;
    res->n_frames = (uint32_t)(out - a->frames);
    res->n_visited = n_visited;
    return res->status;
}

/* The walker on a given shape and architecture, with or without the tail (max_follow 0):
 * two instances, so that a walk without one runs exactly the code it ran before the tail
 * existed (the test of `tail` at the first frame left out would cost every frame after the
 * depth limit a few instructions of register shuffling; measured, 43 -> 48). */
SPW_ALWAYS_INLINE spw_status spw_walk_shaped(const spw_walk_shape *S, spw_arch arch,
                                             const spw_walk_args *a, spw_read_fn read, void *ctx,
                                             spw_walk_result *res)
{
    if (a->max_follow != 0) return spw_walk_shaped_(S, arch, a, read, ctx, res, 1);
    return spw_walk_shaped_(S, arch, a, read, ctx, res, 0);
}

/* The walker on the layout in a->layout, offsets read at run time. */
SPW_ALWAYS_INLINE spw_status spw_walk_body(const spw_walk_args *a, spw_read_fn read, void *ctx,
                                           spw_walk_result *res)
{
    const spw_walk_shape S = spw_walk_shape_of(a->layout);
    return spw_walk_shaped(&S, a->layout->arch, a, read, ctx, res);
}

/* The walk shapes of the known builds, as constants (the same on x86-64 and ARM64: LP64, and
 * nothing before these fields depends on the architecture). Called with a constant flavour
 * it folds away. tests/unit/test_walk.c checks each against its build's real blob. */
SPW_ALWAYS_INLINE spw_walk_shape spw_walk_shape_known(spw_flavor f)
{
    /* Every build: _PyInterpreterFrame starts with f_executable, previous; instr_ptr at 56;
     * PyThreadState.current_frame at 72. */
    spw_walk_shape S = { .tstate_current_frame = 72, .frame_previous = 8,
                         .frame_executable = 0, .frame_instr_ptr = 56, .owner_incomplete = 3 };
    const int ft = f == SPW_FLAVOR_313T || f == SPW_FLAVOR_314T;
    S.ob_type = ft ? 24 : 8; /* the free-threaded object header is 32 bytes, not 16 */
    S.ob_size = S.ob_type + 8;
    if (f == SPW_FLAVOR_313 || f == SPW_FLAVOR_313T) {
        S.frame_owner = 70;
        S.owner_max = 3; /* FRAME_OWNED_BY_CSTACK */
        S.co_code_adaptive = ft ? 216 : 200;
    } else {
        S.frame_owner = ft ? 78 : 74;
        S.owner_max = 4; /* FRAME_OWNED_BY_INTERPRETER, FRAME_OWNED_BY_CSTACK */
        S.executable_tag_mask = 3; /* _PyStackRef tag bits */
        S.co_code_adaptive = ft ? 232 : 208;
        if (ft) {
            S.frame_tlbc_index = 72;
            S.co_tlbc = 224;
            S.has_tlbc = 1;
        }
    }
    S.frame_span = S.frame_owner + 1;
    return S;
}

/* Every known build, for instantiating something once per shape (an X-macro). */
#define SPW_EACH_KNOWN_FLAVOR_(X) \
    X(SPW_FLAVOR_313) X(SPW_FLAVOR_313T) X(SPW_FLAVOR_314) X(SPW_FLAVOR_314T)

/* Walk with the walker instantiated on the known build `f` — every offset an immediate, no
 * register spent on one — or, for SPW_FLAVOR_COUNT_, on a->layout's run-time offsets. The
 * choice is one switch per walk; `f` comes from spw_walk_shape_flavor() of a->layout. */
#define SPW_WALK_KNOWN_CASE_(F)                                                               \
    case F: {                                                                                  \
        const spw_walk_shape S = spw_walk_shape_known(F);                                      \
        return spw_walk_shaped(&S, arch, a, read, ctx, res);                                   \
    }
SPW_ALWAYS_INLINE spw_status spw_walk_known(spw_flavor f, spw_arch arch, const spw_walk_args *a,
                                            spw_read_fn read, void *ctx, spw_walk_result *res)
{
    switch (f) {
        SPW_EACH_KNOWN_FLAVOR_(SPW_WALK_KNOWN_CASE_)
    case SPW_FLAVOR_COUNT_: break;
    }
    return spw_walk_body(a, read, ctx, res);
}
#undef SPW_WALK_KNOWN_CASE_

#endif /* SPW_WALK_BODY_H */
