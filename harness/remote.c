/*
 * remote.c — reading another process: process_vm_readv, and the recording reader.
 *
 * The recording reader is what turns a capture into a snapshot. It wraps any reader (the
 * remote one, a core file's) and is a read-through cache: a read wholly inside bytes already recorded is served from them; anything else
 * is read from the target once, the bytes already recorded win over the fresh ones, and
 * the union is kept. Two consequences matter:
 *   - every byte the walker and symbolizer saw is in the snapshot, and only those bytes;
 *   - each byte has one value for the whole capture, even when the target runs
 *     (--nonblocking), so the replay of the snapshot reproduces the capture exactly.
 * A read that crosses into memory the target cannot supply fails and records nothing, so
 * it fails again on replay (the image reader only serves ranges inside one region).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "spwalk.h"

int sw_remote_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    sw_remote *r = ctx;
    struct iovec local = { .iov_base = dst, .iov_len = len };
    struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
    ssize_t n = process_vm_readv(r->pid, &local, 1, &remote, 1, 0);
    if (n == (ssize_t)len) return 0;
    /* A short read means the range runs into an unmapped page: as unreadable as EFAULT. */
    int err = n < 0 ? errno : EFAULT;
    if (!r->first_errno) r->first_errno = err;
    if (err == ESRCH) r->gone = 1;
    return -1;
}

/* Index of the first region that ends at or after addr (so it overlaps or touches a range
 * starting at addr), or r->n. */
static size_t first_touching(const sw_recorder *r, uint64_t addr)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->regions[mid].addr + r->regions[mid].len < addr) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int sw_recorder_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    sw_recorder *r = ctx;
    r->n_reads++;
    /* A zero-length read is made to mean "addr is readable" by recording its first byte:
     * the image reader accepts an empty read only at an address inside a region. */
    size_t want = len ? len : 1;
    if (addr > UINT64_MAX - want) return -1;
    uint64_t end = addr + want;

    size_t i = first_touching(r, addr);
    if (i < r->n && r->regions[i].addr <= addr && end <= r->regions[i].addr + r->regions[i].len) {
        if (len) memcpy(dst, r->regions[i].data + (addr - r->regions[i].addr), len);
        return 0;
    }
    if (r->overflow || r->bytes + want > SW_FILE_MAX) {
        r->overflow = 1;
        return -1;
    }

    uint8_t *fresh = sw_xmalloc(want);
    r->n_remote++;
    if (spw_read(&r->source, addr, fresh, want) != 0) {
        free(fresh);
        return -1;
    }
    /* Regions i..j-1 overlap or touch [addr, end): merge them all with the new bytes. */
    size_t j = i;
    uint64_t lo = addr, hi = end;
    while (j < r->n && r->regions[j].addr <= end) {
        if (r->regions[j].addr < lo) lo = r->regions[j].addr;
        if (r->regions[j].addr + r->regions[j].len > hi)
            hi = r->regions[j].addr + r->regions[j].len;
        j++;
    }
    uint8_t *merged = sw_xmalloc(hi - lo);
    memcpy(merged + (addr - lo), fresh, want);
    uint64_t old_bytes = 0;
    for (size_t k = i; k < j; k++) {
        /* Copied after the fresh bytes: what the capture saw first stays the truth. */
        memcpy(merged + (r->regions[k].addr - lo), r->regions[k].data, r->regions[k].len);
        old_bytes += r->regions[k].len;
        free(r->regions[k].data);
    }
    free(fresh);
    if (j == i) { /* insert a new region at i */
        if (r->n == r->cap) {
            r->cap = r->cap ? 2 * r->cap : 256;
            r->regions = sw_xrealloc(r->regions, r->cap * sizeof *r->regions);
        }
        memmove(&r->regions[i + 1], &r->regions[i], (r->n - i) * sizeof *r->regions);
        r->n++;
    } else if (j > i + 1) { /* regions i+1..j-1 are absorbed into i */
        memmove(&r->regions[i + 1], &r->regions[j], (r->n - j) * sizeof *r->regions);
        r->n -= j - i - 1;
    }
    r->regions[i].addr = lo;
    r->regions[i].len = hi - lo;
    r->regions[i].data = merged;
    r->bytes += (hi - lo) - old_bytes;
    if (len) memcpy(dst, merged + (addr - lo), len);
    return 0;
}

void sw_recorder_free(sw_recorder *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->regions[i].data);
    free(r->regions);
    r->regions = NULL;
    r->n = r->cap = 0;
}
