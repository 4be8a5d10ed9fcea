/*
 * fuzz_walk_snapshot.c — walk and symbolize every thread of a (mutated) snapshot file.
 *
 * Input: a snapshot file. Seeds: real captures (corpus/snapshots/, added by fuzz/run.sh
 * and `make fuzz-regress`) and synthetic ones (corpus/walk_snapshot/, fuzz/gen_seeds.c).
 * Decode; parse the layout from the file's debug offsets; walk every thread root through
 * the image reader; symbolize every emitted frame.
 *
 * A snapshot carries a CRC, so byte-level mutation almost never produces a file that
 * decodes. Both engines therefore use one structure-aware mutator, fz_snapshot_mutate
 * (fuzz/snapshot_mutator.c): it decodes the file, mutates what matters — bytes and
 * pointer-sized words inside regions (often replaced by another address inside the image,
 * which is what turns a valid chain into a cyclic or dangling one), region bounds, thread
 * roots, PyCode_Type, the debug-offsets blob — and re-encodes it with spw_snapshot_encode
 * so the checksum is valid. libFuzzer calls it from LLVMFuzzerCustomMutator below. AFL++'s
 * driver (libAFLDriver.a) has no such hook, so afl-fuzz loads it instead from a shared
 * library, $(BUILD)/fuzz/afl/mutator_walk_snapshot.so (fuzz/afl_snapshot_mutator.c), given
 * as AFL_CUSTOM_MUTATOR_LIBRARY by `make fuzz`; AFL++'s own havoc and splicing still run.
 *
 * Invariants: W1 one status, reason iff dropped; W2 at most the depth limit of frames,
 * at most the budget followed, `truncated` only at one of them (a follow bound, varied
 * with the thread like the limit, only applies once the output is full); W3 reads bounded, only at
 * validated addresses (naturally aligned when the layout's fields are), the walker's count
 * exact; W4 every emitted code has ob_type == the file's PyCode_Type and lasti < its size;
 * W5 purity (a second walk is identical); W6 symbolizer outputs NUL-terminated valid UTF-8
 * within their buffers, with bounded validated reads.
 */
#include <string.h>

#include "checked_reader.h"
#include "oracle.h"
#include "snapshot.h"
#include "snapshot_mutator.h"
#include "symbolize.h"
#include "walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_THREADS 64u /* threads walked per input: enough, and keeps inputs fast */
#define DEPTH 256u

static spw_frame out1[DEPTH], out2[DEPTH];

FZ_ORACLE static void oracle_walk(const spw_snapshot *v, const spw_layout *L,
                                  const spw_walk_result *r, const spw_frame *out, uint32_t max)
{
    FZ_CHECK(r->status <= SPW_WALK_DROPPED && r->reason < SPW_REASON_COUNT_ &&
                 (r->reason != SPW_REASON_NONE) == (r->status == SPW_WALK_DROPPED),
             "status %d reason %d", (int)r->status, (int)r->reason);
    FZ_CHECK(r->n_frames <= max && r->n_visited <= SPW_WALK_BUDGET, "frames %u visited %u",
             r->n_frames, r->n_visited);
    FZ_CHECK(r->status != SPW_WALK_TRUNCATED || r->n_frames == max ||
                 r->n_visited == SPW_WALK_BUDGET, "truncated early");
    for (uint32_t k = 0; k < r->n_frames; k++) {
        uint8_t hdr[16];
        FZ_CHECK(spw_image_read((void *)v, out[k].code + L->ob_type, hdr, 16) == 0,
                 "frame %u: code 0x%llx not in the image", k, (unsigned long long)out[k].code);
        uint64_t units = spw_le64(hdr + 8);
        FZ_CHECK(spw_le64(hdr) == v->header.code_type && units > 0 && out[k].lasti < units,
                 "frame %u: code 0x%llx is not a code object or lasti %u >= %llu", k,
                 (unsigned long long)out[k].code, out[k].lasti, (unsigned long long)units);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spw_snapshot v;
    spw_layout L;
    if (spw_snapshot_decode(data, size, &v) != SPW_SNAP_OK) return 0;
    if (spw_layout_parse(v.offsets, v.offsets_len, v.header.arch, &L) != SPW_LAYOUT_OK) return 0;

    /* The walker reads fields at (validated 8-aligned pointer + layout offset); with the
     * real layouts each field sits on a multiple of its width, and then every read must
     * be naturally aligned. A mutated blob may misplace them: then only validity counts. */
    int aligned = (L.tstate_current_frame | L.frame_previous | L.frame_executable |
                   L.frame_instr_ptr | L.ob_type | L.ob_size | (L.has_tlbc ? L.co_tlbc : 0)) % 8 == 0 &&
                  (!L.has_tlbc || L.frame_tlbc_index % 4 == 0);
    spw_reader inner = { spw_image_read, &v };
    fz_checked ck;
    fz_checked_init(&ck, &inner, v.header.arch, aligned ? 8 : 1, FZ_WALK_READS_MAX, "walk");
    spw_reader rd = fz_checked_reader(&ck);

    uint32_t n = v.n_threads < MAX_THREADS ? v.n_threads : MAX_THREADS;
    for (uint32_t t = 0; t < n; t++) {
        spw_snap_thread th = spw_snapshot_thread(&v, t);
        /* The depth limit varies with the thread so that both `ok` and `truncated` occur. */
        uint32_t max = (uint32_t)(th.thread_id % 2 ? DEPTH : 1 + th.native_thread_id % 8);
        /* So does the follow bound (walk.h): none, below 3 * max (the 3p floor), above. */
        static const uint32_t follows[4] = { 0, 1, 2 * DEPTH + 1, 4 * DEPTH };
        const uint32_t follow = follows[(th.thread_id / 2 + th.native_thread_id) % 4];
        spw_walk_args args = { .layout = &L, .code_type = v.header.code_type,
                               .tstate = th.tstate, .frames = out1, .max_frames = max,
                               .max_follow = follow };
        spw_walk_result r1, r2;
        fz_checked_reset(&ck, FZ_WALK_READS_MAX, "walk");
        spw_walk(&args, &rd, &r1);
        oracle_walk(&v, &L, &r1, out1, max);
        const uint32_t reads1 = ck.n_reads;
        /* again, by the walker instantiated on the build's shape (the live handler's) */
        fz_checked_reset(&ck, FZ_WALK_READS_MAX, "walk (again)");
        args.frames = out2;
        spw_walk_shape_instance(&args, &rd, &r2);
        FZ_CHECK(memcmp(&r1, &r2, sizeof r1) == 0 && ck.n_reads == reads1 &&
                     memcmp(out1, out2, r1.n_frames * sizeof out1[0]) == 0,
                 "thread %u: two walks differ", t);
        for (uint32_t k = 0; k < r1.n_frames; k++) {
            spw_symbol sym;
            /* Symbolizer reads are byte-granular (string data, table bytes). */
            fz_checked_reset(&ck, 2 * 65 + SPW_LINETABLE_MAX / SPW_READ_MAX + 16, "symbolize");
            ck.align = 1;
            spw_sym_err e = spw_symbolize(&L, &rd, out1[k].code, out1[k].lasti, &sym);
            ck.align = aligned ? 8 : 1;
            FZ_CHECK(e <= SPW_SYM_E_LINETABLE, "symbolizer returned %d", (int)e);
            oracle_utf8(sym.function, sizeof sym.function, "function");
            oracle_utf8(sym.file, sizeof sym.file, "file");
        }
    }
    return 0;
}

#ifdef FZ_LIBFUZZER
/* ---- structure-aware mutation: fuzz/snapshot_mutator.c ------------------------------- */
/* AFL++ reaches the same fz_snapshot_mutate through fuzz/afl_snapshot_mutator.c. */

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    return fz_snapshot_mutate(data, size, max_size, seed, LLVMFuzzerMutate);
}
#endif /* FZ_LIBFUZZER */
