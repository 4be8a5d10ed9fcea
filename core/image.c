/*
 * image.c — the image reader: target memory served from a decoded snapshot.
 *
 * A read is served only when [addr, addr+len) lies wholly inside one captured region.
 * Two adjacent regions are not merged: a capture records what the walker actually read,
 * so a read that straddles them asks for a range no single capture read covered, and a
 * replay must fail exactly where the capture would have had to read something new. The
 * rule has no special cases: a zero-length read succeeds when addr lies in a region or at
 * its end, and fails elsewhere, like any other read.
 *
 * The snapshot must come from spw_snapshot_decode(), which guarantees what the search
 * relies on: regions sorted by address, disjoint, non-empty, and each region's data offset
 * inside the buffer.
 */
#include <string.h>

#include "snapshot.h"

#define REGION_ENTRY 24u /* must match snapshot.c and docs/snapshot-format.md */

int spw_image_read(void *snapshot, uint64_t addr, void *dst, size_t len)
{
    const spw_snapshot *s = snapshot;
    if (s == NULL || s->n_regions == 0) return -1;

    /* Binary search for the number of regions starting at or below addr; the candidate is
     * the last of them (regions are disjoint, so no earlier one can contain addr). A replay
     * issues a read per field the walker and symbolizer touch, over captures of thousands
     * of regions, hence O(log n) per read, not a scan. */
    uint32_t lo = 0, hi = s->n_regions;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (spw_le64(s->regions_table_ + (uint64_t)mid * REGION_ENTRY) <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) return -1; /* below the first region */

    const uint8_t *e = s->regions_table_ + (uint64_t)(lo - 1) * REGION_ENTRY;
    const uint64_t rlen = spw_le64(e + 8);
    const uint64_t off = addr - spw_le64(e);
    /* off + len <= rlen, written so that neither side can overflow */
    if ((uint64_t)len > rlen || off > rlen - (uint64_t)len) return -1;
    if (len != 0) memcpy(dst, s->base_ + spw_le64(e + 16) + off, len);
    return 0;
}
