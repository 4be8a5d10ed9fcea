/*
 * fuzz_walk_snapshot.c — walk and symbolize every thread of a (mutated) snapshot file.
 *
 * Input: a snapshot file. Seeds: real captures (corpus/snapshots/, added by fuzz/run.sh
 * and `make fuzz-regress`) and synthetic ones (corpus/walk_snapshot/, fuzz/gen_seeds.c).
 * Decode; parse the layout from the file's debug offsets; walk every thread root through
 * the image reader; symbolize every emitted frame.
 *
 * A snapshot carries a CRC, so byte-level mutation almost never produces a file that
 * decodes. Under libFuzzer, LLVMFuzzerCustomMutator therefore decodes the file, mutates
 * what matters — bytes and pointer-sized words inside regions (often replaced by another
 * address inside the image, which is what turns a valid chain into a cyclic or dangling
 * one), region bounds, thread roots, PyCode_Type, the debug-offsets blob — and re-encodes
 * it with spw_snapshot_encode so the checksum is valid. AFL++ uses its own mutators only
 * (its driver has no custom-mutator hook); it still reaches the decoder's checks.
 *
 * Invariants: W1 one status, reason iff dropped; W2 at most the depth limit of frames,
 * at most the budget followed, `truncated` only at one of them; W3 reads bounded, only at
 * validated addresses (naturally aligned when the layout's fields are), the walker's count
 * exact; W4 every emitted code has ob_type == the file's PyCode_Type and lasti < its size;
 * W5 purity (a second walk is identical); W6 symbolizer outputs NUL-terminated valid UTF-8
 * within their buffers, with bounded validated reads.
 */
#include <stdlib.h>
#include <string.h>

#include "checked_reader.h"
#include "oracle.h"
#include "snapshot.h"
#include "symbolize.h"
#include "walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_THREADS 64u /* threads walked per input: enough, and keeps inputs fast */
#define DEPTH 256u

static spw_frame out1[DEPTH], out2[DEPTH];

FZ_ORACLE static void oracle_walk(const spw_snapshot *v, const spw_layout *L,
                                  const fz_checked *ck, const spw_walk_result *r,
                                  const spw_frame *out, uint32_t max)
{
    FZ_CHECK(r->status <= SPW_WALK_DROPPED && r->reason < SPW_REASON_COUNT_ &&
                 (r->reason != SPW_REASON_NONE) == (r->status == SPW_WALK_DROPPED),
             "status %d reason %d", (int)r->status, (int)r->reason);
    FZ_CHECK(r->n_frames <= max && r->n_visited <= SPW_WALK_BUDGET, "frames %u visited %u",
             r->n_frames, r->n_visited);
    FZ_CHECK(r->status != SPW_WALK_TRUNCATED || r->n_frames == max ||
                 r->n_visited == SPW_WALK_BUDGET, "truncated early");
    FZ_CHECK(r->n_reads == ck->n_reads, "walker counted %u reads, reader saw %u", r->n_reads,
             ck->n_reads);
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
        spw_walk_args args = { .layout = &L, .code_type = v.header.code_type,
                               .tstate = th.tstate, .frames = out1, .max_frames = max };
        spw_walk_result r1, r2;
        fz_checked_reset(&ck, FZ_WALK_READS_MAX, "walk");
        spw_walk(&args, &rd, &r1);
        oracle_walk(&v, &L, &ck, &r1, out1, max);
        fz_checked_reset(&ck, FZ_WALK_READS_MAX, "walk (again)");
        args.frames = out2;
        spw_walk(&args, &rd, &r2);
        FZ_CHECK(memcmp(&r1, &r2, sizeof r1) == 0 &&
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
/* ---- structure-aware mutation (libFuzzer only) --------------------------------------- */

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

/* A small deterministic generator: the mutation must be a function of the seed. */
static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

#define MUT_REGIONS_MAX 4096u

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    spw_snapshot v;
    uint64_t x = 0x9e3779b97f4a7c15ull ^ seed;
    /* One mutation in eight stays byte-level, so damage to the container still happens. */
    if (rnd(&x) % 8 == 0 || spw_snapshot_decode(data, size, &v) != SPW_SNAP_OK ||
        v.n_regions == 0 || v.n_regions > MUT_REGIONS_MAX)
        return LLVMFuzzerMutate(data, size, max_size);

    /* Copy everything out: the input buffer is about to be overwritten by the encoder. */
    size_t total = 0;
    for (uint32_t i = 0; i < v.n_regions; i++) total += spw_snapshot_region(&v, i).len;
    uint8_t *bytes = malloc(total + v.offsets_len + 1);
    spw_snap_region *regions = malloc(v.n_regions * sizeof *regions);
    spw_snap_thread *threads = malloc((v.n_threads + 1) * sizeof *threads);
    uint8_t *offsets = bytes ? bytes + total : NULL;
    if (!bytes || !regions || !threads) {
        free(bytes), free(regions), free(threads);
        return LLVMFuzzerMutate(data, size, max_size);
    }
    size_t at = 0;
    for (uint32_t i = 0; i < v.n_regions; i++) {
        regions[i] = spw_snapshot_region(&v, i);
        memcpy(bytes + at, regions[i].data, regions[i].len);
        regions[i].data = bytes + at;
        at += regions[i].len;
    }
    memcpy(offsets, v.offsets, v.offsets_len);
    for (uint32_t i = 0; i < v.n_threads; i++) threads[i] = spw_snapshot_thread(&v, i);
    /* The expected replay output does not describe a mutated image: it is dropped. */
    spw_snap_spec spec = { .header = v.header, .offsets = offsets, .offsets_len = v.offsets_len,
                           .threads = threads, .n_threads = v.n_threads, .regions = regions,
                           .n_regions = v.n_regions, .expected = NULL, .expected_len = 0 };

    /* An address somewhere in the image, 8-aligned most of the time. */
    spw_snap_region *pick = &regions[rnd(&x) % v.n_regions];
    uint64_t somewhere = pick->addr + rnd(&x) % pick->len;
    if (rnd(&x) % 4) somewhere &= ~(uint64_t)7;

    uint8_t *mine = (uint8_t *)(uintptr_t)pick->data; /* our own copy */
    switch (rnd(&x) % 7) {
    case 0: /* a pointer-sized word inside a region becomes another address in the image */
    case 1:
        if (pick->len >= 8) {
            size_t off = (size_t)(rnd(&x) % (pick->len - 7)) & ~(size_t)7;
            spw_put64(mine + off, somewhere);
        }
        break;
    case 2: /* byte-level mutation of one region's contents, length kept */
        LLVMFuzzerMutate(mine, pick->len, pick->len);
        break;
    case 3: { /* region bounds: shrink from either end (never empty, stays sorted) */
        uint64_t cut = pick->len > 1 ? rnd(&x) % pick->len : 0;
        if (rnd(&x) & 1) {
            pick->addr += cut;
            pick->data += cut;
        }
        pick->len -= cut;
        break;
    }
    case 4: /* a thread root: another address, a duplicate, or off by a little */
        if (spec.n_threads && rnd(&x) & 1)
            threads[rnd(&x) % spec.n_threads].tstate = somewhere;
        else if (spec.n_threads) {
            threads[spec.n_threads] = threads[rnd(&x) % spec.n_threads];
            threads[spec.n_threads].tstate += 8 * (rnd(&x) % 16) - 64;
            spec.n_threads++;
        }
        break;
    case 5: /* PyCode_Type: another object */
        spec.header.code_type = rnd(&x) & 1 ? somewhere : spec.header.code_type + 8 * (rnd(&x) % 5) - 16;
        break;
    default: /* the debug offsets (a layout the parser accepts turns every walk around) */
        if (v.offsets_len) {
            size_t slot = (size_t)(rnd(&x) % (v.offsets_len / 8 ? v.offsets_len / 8 : 1)) * 8;
            if (slot + 8 <= v.offsets_len) spw_put64(offsets + slot, spw_le64(offsets + slot) + 8 * (rnd(&x) % 9) - 32);
        }
        break;
    }
    size_t out_size = 0;
    spw_snap_err err = spw_snapshot_encode(&spec, data, max_size, &out_size);
    free(bytes), free(regions), free(threads);
    if (err != SPW_SNAP_OK) return LLVMFuzzerMutate(data, size, max_size);
    return out_size;
}
#endif /* FZ_LIBFUZZER */
