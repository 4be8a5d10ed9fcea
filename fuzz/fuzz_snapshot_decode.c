/*
 * fuzz_snapshot_decode.c — arbitrary bytes into the snapshot decoder.
 *
 * Invariants:
 *   D1 the decoder returns one of its documented errors, and on any error leaves the view
 *      zeroed (snapshot.h);
 *   D2 an accepted file's view points only inside the input (ASan checks the bytes; this
 *      checks the pointers and lengths);
 *   D3 decode -> encode is the identity: the format has exactly one encoding per content,
 *      so re-encoding the view reproduces the input byte for byte, and decoding that
 *      again gives the same view;
 *   D4 the image reader serves exactly the region bytes: the first and last byte of each
 *      region read back equal to the table's data, and a read straddling a region's end
 *      fails (even into an adjacent region: regions are never merged).
 */
#include <stdlib.h>
#include <string.h>

#include "checked_reader.h"
#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_ORACLE static int oracle_inside(const uint8_t *buf, size_t len, const uint8_t *p, uint64_t n)
{
    return p >= buf && (uint64_t)(p - buf) <= len && n <= len - (size_t)(p - buf);
}

FZ_ORACLE static void oracle_zeroed(const spw_snapshot *v)
{
    static const spw_snapshot zero;
    FZ_CHECK(memcmp(v, &zero, sizeof zero) == 0, "view not zeroed after an error");
}

FZ_ORACLE static void oracle_same_view(const spw_snapshot *a, const spw_snapshot *b)
{
    FZ_CHECK(a->header.arch == b->header.arch && a->header.pointer_width == b->header.pointer_width &&
                 a->header.free_threaded == b->header.free_threaded &&
                 a->header.py_version == b->header.py_version &&
                 a->header.code_type == b->header.code_type,
             "headers differ after a round trip");
    FZ_CHECK(a->offsets_len == b->offsets_len && a->n_threads == b->n_threads &&
                 a->n_regions == b->n_regions && a->expected_len == b->expected_len &&
                 (a->expected == NULL) == (b->expected == NULL),
             "counts differ after a round trip");
    FZ_CHECK(a->offsets_len == 0 || memcmp(a->offsets, b->offsets, a->offsets_len) == 0,
             "offsets blob differs");
    FZ_CHECK(a->expected_len == 0 || memcmp(a->expected, b->expected, a->expected_len) == 0,
             "expected output differs");
    for (uint32_t i = 0; i < a->n_threads; i++) {
        spw_snap_thread x = spw_snapshot_thread(a, i), y = spw_snapshot_thread(b, i);
        FZ_CHECK(x.tstate == y.tstate && x.thread_id == y.thread_id &&
                     x.native_thread_id == y.native_thread_id, "thread %u differs", i);
    }
    for (uint32_t i = 0; i < a->n_regions; i++) {
        spw_snap_region x = spw_snapshot_region(a, i), y = spw_snapshot_region(b, i);
        FZ_CHECK(x.addr == y.addr && x.len == y.len && memcmp(x.data, y.data, x.len) == 0,
                 "region %u differs", i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spw_snapshot v;
    spw_snap_err err = spw_snapshot_decode(data, size, &v);
    /* D1 */
    FZ_CHECK(err <= SPW_SNAP_E_CHECKSUM && err != SPW_SNAP_E_NOSPACE,
             "decoder returned %d (%s)", (int)err, spw_snap_strerror(err));
    if (err != SPW_SNAP_OK) {
        oracle_zeroed(&v);
        return 0;
    }
    /* D2 */
    FZ_CHECK(oracle_inside(data, size, v.offsets, v.offsets_len), "offsets outside the input");
    FZ_CHECK(v.expected == NULL || oracle_inside(data, size, v.expected, v.expected_len),
             "expected output outside the input");
    FZ_CHECK(v.header.pointer_width == 8 && v.header.free_threaded <= 1 &&
                 spw_arch_user_limit(v.header.arch) != 0, "accepted a bad header");

    spw_snap_thread *threads = calloc(v.n_threads ? v.n_threads : 1, sizeof *threads);
    spw_snap_region *regions = calloc(v.n_regions ? v.n_regions : 1, sizeof *regions);
    uint8_t *again = malloc(size);
    FZ_CHECK(threads && regions && again, "out of memory");
    const uint64_t limit = spw_arch_user_limit(v.header.arch);
    for (uint32_t i = 0; i < v.n_threads; i++) threads[i] = spw_snapshot_thread(&v, i);
    for (uint32_t i = 0; i < v.n_regions; i++) {
        spw_snap_region r = regions[i] = spw_snapshot_region(&v, i);
        FZ_CHECK(r.len > 0 && r.addr < limit && r.len <= limit - r.addr &&
                     oracle_inside(data, size, r.data, r.len),
                 "region %u accepted but invalid", i);
        FZ_CHECK(i == 0 || r.addr >= regions[i - 1].addr + regions[i - 1].len,
                 "regions %u and %u overlap or are unsorted", i - 1, i);
        /* D4 */
        uint8_t b[2];
        FZ_CHECK(spw_image_read(&v, r.addr, b, 1) == 0 && b[0] == r.data[0],
                 "region %u: first byte not served", i);
        FZ_CHECK(spw_image_read(&v, r.addr + r.len - 1, b, 1) == 0 && b[0] == r.data[r.len - 1],
                 "region %u: last byte not served", i);
        /* Adjacent regions are not merged (image.c), so this holds for every region. */
        FZ_CHECK(spw_image_read(&v, r.addr + r.len - 1, b, 2) != 0,
                 "region %u: a read past its end was served", i);
    }
    FZ_CHECK(spw_snapshot_thread(&v, v.n_threads).tstate == 0 &&
                 spw_snapshot_region(&v, v.n_regions).len == 0, "out-of-range entry not zeroed");

    /* D3 */
    spw_snap_spec spec = {
        .header = v.header, .offsets = v.offsets, .offsets_len = v.offsets_len,
        .threads = threads, .n_threads = v.n_threads, .regions = regions,
        .n_regions = v.n_regions, .expected = v.expected, .expected_len = v.expected_len,
    };
    size_t out_size = 0;
    err = spw_snapshot_encode(&spec, again, size, &out_size);
    FZ_CHECK(err == SPW_SNAP_OK, "re-encoding an accepted file failed: %s", spw_snap_strerror(err));
    FZ_CHECK(out_size == size && memcmp(again, data, size) == 0,
             "re-encoding gave %zu bytes, not the %zu decoded", out_size, size);
    spw_snapshot w;
    err = spw_snapshot_decode(again, out_size, &w);
    FZ_CHECK(err == SPW_SNAP_OK, "re-encoded file refused: %s", spw_snap_strerror(err));
    oracle_same_view(&v, &w);

    free(threads);
    free(regions);
    free(again);
    return 0;
}
