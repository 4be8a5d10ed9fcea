/*
 * snapshot_mutator.c — the structure-aware snapshot mutator both engines use (see
 * snapshot_mutator.h for who calls it).
 *
 * It decodes the file, copies everything out (the encoder overwrites the input buffer),
 * mutates what matters — bytes and pointer-sized words inside regions (often replaced by
 * another address inside the image, which is what turns a valid chain into a cyclic or
 * dangling one), region bounds, thread roots, PyCode_Type, the debug-offsets blob — and
 * re-encodes it with spw_snapshot_encode so the checksum is valid. One call in eight, and
 * any file that does not decode, gets the engine's byte-level mutation instead, so damage
 * to the container itself still happens.
 */
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "snapshot_mutator.h"

#define MUT_REGIONS_MAX 4096u

size_t fz_snapshot_mutate(uint8_t *data, size_t size, size_t max_size, unsigned int seed,
                          fz_bytes_mutator bytes)
{
    spw_snapshot v;
    uint64_t x = 0x9e3779b97f4a7c15ull ^ seed; /* the mutation is a function of the seed */
    if (fz_rnd(&x) % 8 == 0 || spw_snapshot_decode(data, size, &v) != SPW_SNAP_OK ||
        v.n_regions == 0 || v.n_regions > MUT_REGIONS_MAX)
        return bytes(data, size, max_size);

    /* Copy everything out: the input buffer is about to be overwritten by the encoder. */
    size_t total = 0;
    for (uint32_t i = 0; i < v.n_regions; i++) total += spw_snapshot_region(&v, i).len;
    uint8_t *copy = malloc(total + v.offsets_len + 1);
    spw_snap_region *regions = malloc(v.n_regions * sizeof *regions);
    spw_snap_thread *threads = malloc((v.n_threads + 1) * sizeof *threads);
    uint8_t *offsets = copy ? copy + total : NULL;
    if (!copy || !regions || !threads) {
        free(copy), free(regions), free(threads);
        return bytes(data, size, max_size);
    }
    size_t at = 0;
    for (uint32_t i = 0; i < v.n_regions; i++) {
        regions[i] = spw_snapshot_region(&v, i);
        memcpy(copy + at, regions[i].data, regions[i].len);
        regions[i].data = copy + at;
        at += regions[i].len;
    }
    memcpy(offsets, v.offsets, v.offsets_len);
    for (uint32_t i = 0; i < v.n_threads; i++) threads[i] = spw_snapshot_thread(&v, i);
    /* The expected replay output does not describe a mutated image: it is dropped. */
    spw_snap_spec spec = { .header = v.header, .offsets = offsets, .offsets_len = v.offsets_len,
                           .threads = threads, .n_threads = v.n_threads, .regions = regions,
                           .n_regions = v.n_regions, .expected = NULL, .expected_len = 0 };

    /* An address somewhere in the image, 8-aligned most of the time. */
    spw_snap_region *pick = &regions[fz_rnd(&x) % v.n_regions];
    uint64_t somewhere = pick->addr + fz_rnd(&x) % pick->len;
    if (fz_rnd(&x) % 4) somewhere &= ~(uint64_t)7;

    uint8_t *mine = (uint8_t *)(uintptr_t)pick->data; /* our own copy */
    switch (fz_rnd(&x) % 7) {
    case 0: /* a pointer-sized word inside a region becomes another address in the image */
    case 1:
        if (pick->len >= 8) {
            size_t off = (size_t)(fz_rnd(&x) % (pick->len - 7)) & ~(size_t)7;
            spw_put64(mine + off, somewhere);
        }
        break;
    case 2: /* byte-level mutation of one region's contents, length kept */
        bytes(mine, pick->len, pick->len);
        break;
    case 3: { /* region bounds: shrink from either end (never empty, stays sorted) */
        uint64_t cut = pick->len > 1 ? fz_rnd(&x) % pick->len : 0;
        if (fz_rnd(&x) & 1) {
            pick->addr += cut;
            pick->data += cut;
        }
        pick->len -= cut;
        break;
    }
    case 4: /* a thread root: another address, a duplicate, or off by a little */
        if (spec.n_threads && fz_rnd(&x) & 1)
            threads[fz_rnd(&x) % spec.n_threads].tstate = somewhere;
        else if (spec.n_threads) {
            threads[spec.n_threads] = threads[fz_rnd(&x) % spec.n_threads];
            threads[spec.n_threads].tstate += 8 * (fz_rnd(&x) % 16) - 64;
            spec.n_threads++;
        }
        break;
    case 5: /* PyCode_Type: another object */
        spec.header.code_type = fz_rnd(&x) & 1 ? somewhere
                                               : spec.header.code_type + 8 * (fz_rnd(&x) % 5) - 16;
        break;
    default: /* the debug offsets (a layout the parser accepts turns every walk around) */
        if (v.offsets_len) {
            size_t slot = (size_t)(fz_rnd(&x) % (v.offsets_len / 8 ? v.offsets_len / 8 : 1)) * 8;
            if (slot + 8 <= v.offsets_len)
                spw_put64(offsets + slot, spw_le64(offsets + slot) + 8 * (fz_rnd(&x) % 9) - 32);
        }
        break;
    }
    size_t out_size = 0;
    spw_snap_err err = spw_snapshot_encode(&spec, data, max_size, &out_size);
    free(copy), free(regions), free(threads);
    if (err != SPW_SNAP_OK) return bytes(data, size, max_size);
    return out_size;
}
