/*
 * walk_oracle.c — the walk fuzzer's judge (fuzz_walk.c's header states invariants I1-I6):
 * what any walk result must satisfy, and, when the chain the walk follows is exactly as
 * generated, the answer it must give, worked out by following that chain independently
 * (a differential oracle).
 */
#include <stdint.h>
#include <string.h>

#include "walk_gen.h"

/* oracle_stack's path through the chain, and the stack it expects */
static uint32_t seen[MAX_FRAMES];    /* stamp of a frame's last visit (cycle finding) */
static uint32_t seen_at[MAX_FRAMES]; /* ... and its position on the path */
static uint32_t path[MAX_FRAMES];    /* frame index by position */
static uint32_t stamp;
static spw_frame expect[SPW_WALK_DEPTH_MAX];

/* The image holds at addr what was generated there. */
FZ_ORACLE static int oracle_same(const gen *g, uint64_t addr, size_t len)
{
    const uint8_t *now = spw_synth_ptr(&g->s, addr, len);
    return now && memcmp(now, g->pristine + (addr - g->s.base), len) == 0;
}

/* The walker would read exactly what was generated for this code object. */
FZ_ORACLE static int oracle_code_clean(const gen *g, const gen_code *c)
{
    const spw_layout *L = &g->s.layout;
    if (!oracle_same(g, c->addr + L->ob_type, L->ob_size + 8 - L->ob_type)) return 0;
    if (L->has_tlbc) {
        if (!oracle_same(g, c->addr + L->co_tlbc, 8)) return 0;
        if (c->tlbc && !oracle_same(g, c->tlbc, 8 + 8 * (size_t)c->n_copies)) return 0;
    }
    return 1;
}

/* The frame's bytes are as generated, except `previous` (followed by the oracle) and the
 * executable's tag bits (which the layout says to ignore). */
FZ_ORACLE static int oracle_frame_clean(const gen *g, uint32_t i)
{
    const spw_synth *s = &g->s;
    const spw_layout *L = &s->layout;
    const uint8_t *now = spw_synth_ptr(s, g->frames[i], L->frame_span);
    const uint8_t *was = g->pristine + (g->frames[i] - s->base);
    uint8_t mine[SPW_FRAME_SPAN_MAX];
    if (!now) return 0;
    uint64_t x = spw_le64(now + L->frame_executable), y = spw_le64(was + L->frame_executable);
    if ((x & ~L->executable_tag_mask) != (y & ~L->executable_tag_mask)) return 0;
    /* Compare everything else in one go, with the two free fields copied over. */
    memcpy(mine, now, L->frame_span);
    memcpy(mine + L->frame_previous, was + L->frame_previous, 8);
    memcpy(mine + L->frame_executable, was + L->frame_executable, 8);
    if (memcmp(mine, was, L->frame_span) != 0) return 0;
    return g->gframes[i].code == 0xff || oracle_code_clean(g, &g->codes[g->gframes[i].code]);
}

FZ_ORACLE static int32_t oracle_frame_index(const gen *g, uint64_t addr)
{
    uint32_t lo = 0, hi = g->n_frames; /* g->by_address[] is ascending: allocated in order */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (g->frames[g->by_address[mid]] < addr) lo = mid + 1;
        else hi = mid;
    }
    return lo < g->n_frames && g->frames[g->by_address[lo]] == addr ? (int32_t)g->by_address[lo] : -1;
}

/* Brent's step for a tail of T frames and a loop of L: the walk meets the loop again by
 * step 2^j + L - 1, 2^j the first power of two >= max(T + 1, L) (its own count, not the
 * walker's). */
FZ_ORACLE static uint32_t oracle_brent(uint32_t T, uint32_t L)
{
    uint64_t p2 = 1;
    while (p2 < (uint64_t)T + 1 || p2 < L) p2 *= 2;
    return (uint32_t)(p2 - 1 + L);
}

/* B of walk.h: what the walk may follow, given p, the position of the first Python frame
 * left out (NONE: none within the budget, so no tail). */
#define NONE UINT32_MAX
FZ_ORACLE static uint32_t oracle_bound(uint32_t max, uint32_t follow, uint32_t p)
{
    if (follow == 0 || p == NONE) return SPW_WALK_BUDGET;
    uint64_t F = follow < max ? max : follow; /* max is already at most SPW_WALK_DEPTH_MAX */
    if (3 * (uint64_t)p > F) F = 3 * (uint64_t)p;
    return F < SPW_WALK_BUDGET ? (uint32_t)F : SPW_WALK_BUDGET;
}

FZ_ORACLE void oracle_stack(const gen *g, const spw_walk_result *r, const spw_frame *out,
                         uint32_t max)
{
    const spw_synth *s = &g->s;
    const spw_layout *L = &s->layout;
    if (g->walk_tstate != g->tstate || g->walk_code_type != s->code_type) return;
    if (g->serve_end && g->serve_end < s->base + s->used) return;
    const uint8_t *cf = spw_synth_ptr(s, g->tstate + L->tstate_current_frame, 8);
    uint64_t cur = spw_le64(cf);

    /* Follow the chain as the walker must: len frames so far, the Python frames among the
     * first SPW_WALK_BUDGET of them (the first `max` expected in the output), p the first
     * one left out, last_emit the position of the last one emitted. */
    uint32_t len = 0, n_python = 0, p = NONE, last_emit = NONE;
    int cut = 0; /* the walk stops at its bound before the chain ends */
    if (++stamp == 0) { memset(seen, 0, sizeof seen); stamp = 1; }
#define ORACLE_PYTHON_(fi, at)                                                                 \
    do {                                                                                       \
        const gen_frame *gf_ = &g->gframes[fi];                                                   \
        if ((at) < SPW_WALK_BUDGET && gf_->owner < L->owner_incomplete && gf_->code != 0xff) { \
            if (n_python < max) {                                                              \
                expect[n_python].code = g->codes[gf_->code].addr;                              \
                expect[n_python].lasti = gf_->lasti;                                           \
                last_emit = (at);                                                              \
            } else if (p == NONE) {                                                            \
                p = (at);                                                                      \
            }                                                                                  \
            n_python++;                                                                        \
        }                                                                                      \
    } while (0)
    while (cur != 0) {
        if (len >= oracle_bound(max, g->follow, p)) { /* the walk looks no further */
            cut = 1;
            break;
        }
        int32_t i = oracle_frame_index(g, cur);
        if (i < 0) return; /* left the generated world */
        if (seen[i] == stamp) {
            /* A loop through frames the walker judges as generated: only the cycle check or
             * the bound can end this walk. Go round the loop while no frame was left out
             * yet (the frames met again were all clean then). */
            const uint32_t T = seen_at[i], Lp = len - T;
            for (uint32_t at = len; at < SPW_WALK_BUDGET && p == NONE; at++)
                ORACLE_PYTHON_(path[T + (at - T) % Lp], at);
            const uint32_t B = oracle_bound(max, g->follow, p), d = oracle_brent(T, Lp);
            if (d <= B - 1) {
                FZ_CHECK(r->status == SPW_WALK_DROPPED && r->reason == SPW_REASON_CYCLE &&
                             r->n_visited <= d,
                         "a loop (tail %u, loop %u, bound %u) gave %s/%s after %u frames, "
                         "Brent's step is %u", T, Lp, B, spw_status_name(r->status),
                         spw_reason_name(r->reason), r->n_visited, d);
                return;
            }
            FZ_CHECK((r->status == SPW_WALK_DROPPED && r->reason == SPW_REASON_CYCLE &&
                      r->n_visited < B) ||
                         (r->status == SPW_WALK_TRUNCATED && r->n_visited == B),
                     "a long loop (tail %u, loop %u, bound %u) gave %s/%s after %u frames", T,
                     Lp, B, spw_status_name(r->status), spw_reason_name(r->reason),
                     r->n_visited);
            if (r->status == SPW_WALK_DROPPED) return;
            const uint32_t n_want = n_python < max ? n_python : max;
            FZ_CHECK(r->n_frames == n_want, "a long loop: %u frames emitted, %u expected",
                     r->n_frames, n_want);
            for (uint32_t k = 0; k < n_want; k++)
                FZ_CHECK(out[k].code == expect[k].code && out[k].lasti == expect[k].lasti,
                         "a long loop, frame %u: got (0x%llx, %u), expected (0x%llx, %u)", k,
                         (unsigned long long)out[k].code, out[k].lasti,
                         (unsigned long long)expect[k].code, expect[k].lasti);
            /* walk.h: no frame emitted twice when the last one emitted is among the first
             * budget / 3 followed. */
            FZ_CHECK(last_emit == NONE || last_emit + 1 > SPW_WALK_BUDGET / 3 || last_emit < len,
                     "a loop (tail %u, loop %u) emitted as a stack: the last frame emitted is "
                     "number %u on the path", T, Lp, last_emit);
            return;
        }
        /* After the first frame left out, a walk with a follow bound reads only `previous`:
         * the rest of the frame may be anything. Before it, and always without one, the
         * frame must be exactly as generated for the oracle to know the answer. */
        const int tail = g->follow != 0 && p != NONE;
        if (!tail && !oracle_frame_clean(g, (uint32_t)i)) return;
        seen[i] = stamp;
        seen_at[i] = len;
        path[len] = (uint32_t)i;
        if (!tail) ORACLE_PYTHON_((uint32_t)i, len);
        len++;
        cur = spw_le64(spw_synth_ptr(s, cur + L->frame_previous, 8));
    }
#undef ORACLE_PYTHON_
    /* A chain that ends, every frame as the walker sees it as generated: the exact stack. */
    const uint32_t B = oracle_bound(max, g->follow, p);
    const uint32_t n_want = n_python < max ? n_python : max;
    spw_status want = p != NONE || cut ? SPW_WALK_TRUNCATED : SPW_WALK_OK;
    FZ_CHECK(r->status == want, "clean chain of %u frames (%u Python, limit %u, bound %u) gave %s/%s",
             len, n_python, max, B, spw_status_name(r->status), spw_reason_name(r->reason));
    FZ_CHECK(r->n_frames == n_want, "clean chain: %u frames emitted, %u expected", r->n_frames,
             n_want);
    FZ_CHECK(r->n_visited == len, "clean chain of %u frames (bound %u%s): %u visited", len, B,
             cut ? ", cut" : "", r->n_visited);
    for (uint32_t k = 0; k < n_want; k++)
        FZ_CHECK(out[k].code == expect[k].code && out[k].lasti == expect[k].lasti,
                 "frame %u: got (0x%llx, %u), expected (0x%llx, %u)", k,
                 (unsigned long long)out[k].code, out[k].lasti,
                 (unsigned long long)expect[k].code, expect[k].lasti);
}

FZ_ORACLE void oracle_result(const gen *g, const fz_checked *ck, const spw_walk_result *r,
                         const spw_frame *out, uint32_t max)
{
    const spw_synth *s = &g->s;
    const spw_layout *L = &s->layout;
    /* I1 */
    FZ_CHECK(r->status == SPW_WALK_OK || r->status == SPW_WALK_TRUNCATED ||
                 r->status == SPW_WALK_DROPPED, "status %d", (int)r->status);
    FZ_CHECK((r->reason != SPW_REASON_NONE) == (r->status == SPW_WALK_DROPPED) &&
                 r->reason < SPW_REASON_COUNT_, "status %s with reason %d",
             spw_status_name(r->status), (int)r->reason);
    /* I2 */
    FZ_CHECK(r->n_frames <= max, "%u frames emitted, limit %u", r->n_frames, max);
    FZ_CHECK(r->n_visited <= SPW_WALK_BUDGET, "%u frames followed", r->n_visited);
    FZ_CHECK(r->status != SPW_WALK_TRUNCATED || r->n_frames == max ||
                 r->n_visited == SPW_WALK_BUDGET,
             "truncated with %u of %u frames after %u followed", r->n_frames, max, r->n_visited);
    /* I3: the checked reader already aborted on a bad address or too many reads. */
    (void)ck;
    /* I4 */
    for (uint32_t k = 0; k < r->n_frames; k++) {
        const uint8_t *hdr = spw_synth_ptr(s, out[k].code + L->ob_type, 16);
        FZ_CHECK(hdr != NULL, "frame %u: code 0x%llx is not in the image", k,
                 (unsigned long long)out[k].code);
        uint64_t type = spw_le64(hdr), units = spw_le64(hdr + (L->ob_size - L->ob_type));
        FZ_CHECK(type == g->walk_code_type, "frame %u: emitted 0x%llx whose type is 0x%llx, not code",
                 k, (unsigned long long)out[k].code, (unsigned long long)type);
        FZ_CHECK(units > 0 && units <= SPW_CODE_UNITS_MAX && out[k].lasti < units,
                 "frame %u: lasti %u of a code with %llu units", k, out[k].lasti,
                 (unsigned long long)units);
        /* Only the generator's own code objects have PyCode_Type as their type, unless a raw
         * poke forged one or the walk was told another type is PyCode_Type (impostors
         * carry other_type or None as their type). */
        if (!g->poked && g->walk_code_type == s->code_type) {
            int known = 0;
            for (uint32_t c = 0; c < g->n_codes; c++) known |= g->codes[c].addr == out[k].code;
            FZ_CHECK(known, "frame %u: 0x%llx is not a code object the generator made", k,
                     (unsigned long long)out[k].code);
        }
    }
}

