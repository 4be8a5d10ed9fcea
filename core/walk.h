/*
 * walk.h — the speculative frame walker.
 *
 * From a thread-state address, follow current_frame -> previous, innermost first, and emit
 * (code address, instruction offset) for each complete Python frame. Nothing stops the
 * chain from changing or being freed while we read it, so every pointer is validated before
 * it is read, each frame's fields are read once and then judged, and every walk ends in
 * exactly one status.
 */
#ifndef SPW_WALK_H
#define SPW_WALK_H

#include "layout.h"
#include "reader.h"

typedef enum spw_status {
    SPW_WALK_OK = 0,        /* reached previous == NULL */
    SPW_WALK_TRUNCATED = 1, /* depth limit or traversal budget; emitted frames are valid */
    SPW_WALK_DROPPED = 2,   /* the sample is unusable; see reason */
} spw_status;

typedef enum spw_reason {
    SPW_REASON_NONE = 0,
    SPW_REASON_CYCLE = 1,         /* the chain revisits a frame */
    SPW_REASON_INVALID_FRAME = 2, /* frame pointer or field fails validation */
    SPW_REASON_INVALID_CODE = 3,  /* executable is not a well-formed code object */
    SPW_REASON_UNREADABLE = 4,    /* the reader could not supply the bytes */
    SPW_REASON_COUNT_ = 5,
} spw_reason;

const char *spw_status_name(spw_status s); /* "ok", "truncated", "dropped" */
const char *spw_reason_name(spw_reason r); /* "", "cycle", "invalid_frame", ... */

/* One emitted frame. `lasti` is the index, in 2-byte code units, of the instruction the
 * frame is executing, relative to the bytecode copy instr_ptr points into (CPython's
 * _PyInterpreterFrame_LASTI). */
typedef struct spw_frame {
    uint64_t code;
    uint32_t lasti;
} spw_frame;

/* Frames followed per walk at most, emitted or not. Long cycles are caught well before
 * this: Brent's check reports every cycle whose frames (tail plus loop) number at most
 * SPW_WALK_BUDGET / 3. A chain still going at the budget is `truncated`. A caller can
 * lower the bound for the frames after the depth limit (spw_walk_args.max_follow). */
#define SPW_WALK_BUDGET 16384u
/* The largest depth limit a caller may ask for. */
#define SPW_WALK_DEPTH_MAX 4096u
/* A code object larger than this many code units is not believed. */
#define SPW_CODE_UNITS_MAX (1u << 28)
/* Nor a thread-local bytecode array with more copies than this. */
#define SPW_TLBC_MAX (1u << 16)
/* Reads one walk can make at most: the tstate; per followed frame previous, executable,
 * owner, instr_ptr and tlbc_index (past the first frame left out, with max_follow: previous
 * alone); per emitted frame ob_type and ob_size (not when it runs
 * the same code object as the frame emitted before it) and up to three reads of the
 * thread-local bytecode array. The fuzzers' reader holds the walker to this bound. */
#define SPW_WALK_READS_MAX (1u + 5u * SPW_WALK_BUDGET + 5u * SPW_WALK_DEPTH_MAX)

typedef struct spw_walk_result {
    spw_status status;
    spw_reason reason;   /* SPW_REASON_NONE unless dropped */
    uint32_t n_frames;   /* frames written to the output array */
    uint32_t n_visited;  /* frames followed, including skipped and unemitted ones */
} spw_walk_result;

/* Everything a walk needs besides the reader. */
typedef struct spw_walk_args {
    const spw_layout *layout;
    uint64_t code_type; /* address of PyCode_Type in the target */
    uint64_t tstate;    /* address of the PyThreadState to walk */
    spw_frame *frames;  /* output, innermost first */
    uint32_t max_frames; /* depth limit: at most this many frames are emitted */
    uint32_t max_follow; /* bound on the frames followed once the output is full (below);
                          * 0: none, every frame checked up to SPW_WALK_BUDGET */
} spw_walk_args;

/* max_follow: what a deep stack costs.
 *
 * 0 (what a caller that does not set it gets) is the walk as it was before this field:
 * every frame is followed, and checked by rules 1-4 of walk_body.h, up to SPW_WALK_BUDGET.
 * A stack deeper than that costs SPW_WALK_BUDGET frames whatever the depth limit: 16384,
 * some 45 instructions each past the limit (50-60 us in cache here, 240 us from L3).
 *
 * Any other value changes only what happens once the walk meets the first Python frame it
 * cannot emit: the output is full, and the status is `truncated` unless the walk drops.
 * Let F be max_follow clamped to [min(max_frames, SPW_WALK_DEPTH_MAX), SPW_WALK_BUDGET], and
 * p the number of frames followed before that first frame left out (p >= the frames
 * emitted; p = max_frames when no frame was skipped). From that frame on, the walk
 *   - follows at most B = min(SPW_WALK_BUDGET, max(F, 3 * p)) frames in all (n_visited
 *     counts from the first): after the B-th it stops without looking at the next
 *     pointer, `truncated` with n_visited == B;
 *   - checks each further frame pointer against rules 2 and 3 only: it must be valid
 *     (else `invalid_frame`) and not Brent's tortoise (else `cycle`; the 8-frame window
 *     is not used there), and it reads that frame's `previous` and nothing else (else
 *     `unreadable`). Owner, executable and instr_ptr are neither read nor judged: such a
 *     frame is never emitted, and a bogus owner there no longer drops the sample.
 * Until that frame nothing changes: every frame emitted has passed every rule, and a walk
 * whose output never fills follows up to SPW_WALK_BUDGET frames as before.
 *
 * What the walker promises, whatever max_follow (B = SPW_WALK_BUDGET when it is 0, or when
 * no frame is left out):
 *   - a chain that loops never ends `ok`;
 *   - a loop with a tail of T frames and L frames in the loop (as followed from the thread
 *     state) is met again by Brent's tortoise at step 2^j + L - 1 (n_visited then), 2^j the
 *     first power of two >= max(T + 1, L), or earlier by the 8-frame window (which catches
 *     every L <= 8, but only before the first frame left out); it is reported as `cycle`
 *     whenever 2^j + L <= B, so always when T + L <= B / 3 (and B >= F). A longer loop may
 *     end `truncated` after B frames;
 *   - a walk that ends `ok` or `truncated` never emits a frame twice, provided its last
 *     emitted frame is among the first SPW_WALK_BUDGET / 3 (5461) frames it followed,
 *     which holds unless more than 5461 - max_frames of those were skipped ones (owner
 *     >= 3, NULL executable): a frame emitted twice closes a loop of fewer than p frames,
 *     and B >= min(budget, 3 * p) catches that. This is what the 3 * p is for: with F
 *     alone, a stack of many skipped frames would fill its output late and could emit a
 *     loop of more than F / 3 frames as a stack.
 * So any max_follow up to 3 * max_frames gives the same walk; a deep stack with few skipped
 * frames costs max(F, 3 * max_frames) frames, those after the first left out about 9
 * instructions each (docs/core.md). The live handler passes 4 * its depth limit: 1024 for
 * 256, so 256 frames emitted and 1024 followed, about 2.4 us in cache. */

/* The part of a layout the walk reads. spw_walk() takes it from the layout at run time;
 * walk_body.h can also instantiate the walker on the shape of a known build, as constants
 * the compiler folds into every load and check (the live signal handler does). */
typedef struct spw_walk_shape {
    uint32_t tstate_current_frame;
    uint32_t frame_previous, frame_executable, frame_instr_ptr, frame_owner, frame_tlbc_index;
    uint32_t frame_span;
    uint32_t ob_type, ob_size, co_code_adaptive, co_tlbc;
    uint64_t executable_tag_mask;
    uint8_t owner_incomplete, owner_max, has_tlbc;
} spw_walk_shape;

/* Every field of a shape, named as in spw_layout (an X-macro: copy, compare, test). */
#define SPW_WALK_SHAPE_FIELDS(X)                                                               \
    X(tstate_current_frame) X(frame_previous) X(frame_executable) X(frame_instr_ptr)           \
    X(frame_owner) X(frame_tlbc_index) X(frame_span) X(ob_type) X(ob_size) X(co_code_adaptive) \
    X(co_tlbc) X(executable_tag_mask) X(owner_incomplete) X(owner_max) X(has_tlbc)

/* The walk shape of a layout. */
spw_walk_shape spw_walk_shape_of(const spw_layout *L);

/* The known build whose walk shape equals *s, or SPW_FLAVOR_COUNT_ when none does (a patch
 * release that moved a field, say: it is then walked with run-time offsets). */
spw_flavor spw_walk_shape_flavor(const spw_walk_shape *s);

/* Walk through a generic reader. Deterministic: a pure function of the bytes the reader
 * returns. Returns the status (also in res->status). */
spw_status spw_walk(const spw_walk_args *args, const spw_reader *reader, spw_walk_result *res);

/* spw_walk(), but by the walker instantiated on the layout's known shape when it has one
 * (walk_known.c; the extension does not carry it). Tests and fuzzers check the two agree. */
spw_status spw_walk_shape_instance(const spw_walk_args *args, const spw_reader *reader,
                                   spw_walk_result *res);

#endif /* SPW_WALK_H */
