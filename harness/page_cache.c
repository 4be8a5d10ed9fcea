/*
 * page_cache.c — spwalk record's reads of the target: a cache of whole pages, so one
 * process_vm_readv serves every field of a thread state or a run of frames on one page (a
 * tick's walks read the same few pages over and over), emptied by a new generation; and the
 * torn check's re-read of every page a walk touched in one system call.
 */
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "mix.h"
#include "record.h"

static const uint8_t *pc_line(pcache *c, uint64_t page)
{
    const uint32_t slot = (uint32_t)(spw_mix64(page) & (PC_SLOTS - 1));
    pc_tag *t = &c->tags[slot];
    uint8_t *line = c->data[slot];
    if (t->gen != c->gen || t->page != page) {
        t->gen = c->gen;
        t->page = page;
        t->ok = sw_remote_read(c->remote, page, line, PC_LINE) == 0;
    }
    return t->ok ? line : NULL;
}

int pc_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    pcache *c = ctx;
    /* An empty read asks whether addr is readable. */
    size_t left = len ? len : 1;
    if (addr > UINT64_MAX - left) return -1;
    uint8_t *out = dst;
    while (left) {
        const uint64_t page = addr & ~(uint64_t)(PC_LINE - 1);
        const size_t off = (size_t)(addr - page);
        const size_t n = PC_LINE - off < left ? PC_LINE - off : left;
        const uint8_t *line = pc_line(c, page);
        if (!line) return -1;
        if (len) {
            memcpy(out, line + off, n);
            out += n;
        }
        addr += n;
        left -= n;
    }
    return 0;
}

/* Every page a walk's log read, read again by one process_vm_readv into the cache (a new
 * generation): the re-read the torn check compares against is then one pass of the kernel
 * over those pages, not one system call per page microseconds apart. Pages past PC_BATCH,
 * sharing a cache slot with another of the batch, or after one that failed, are read one
 * by one as the check meets them. */
#define PC_BATCH 64u
void pc_reread(pcache *c, const spw_read_log *log)
{
    struct iovec local[PC_BATCH], remote[PC_BATCH];
    uint32_t slots[PC_BATCH], n = 0;
    c->gen++;
    for (uint32_t i = 0; i < log->n && n < PC_BATCH; i++) {
        const uint64_t a = log->e[i].addr, last = a + (log->e[i].len ? log->e[i].len - 1 : 0);
        for (uint64_t page = a & ~(uint64_t)(PC_LINE - 1); page <= last && n < PC_BATCH;
             page += PC_LINE) {
            const uint32_t slot = (uint32_t)(spw_mix64(page) & (PC_SLOTS - 1));
            pc_tag *t = &c->tags[slot];
            if (t->gen == c->gen) continue; /* this page already, or another in its slot */
            t->gen = c->gen;
            t->page = page;
            t->ok = 0;
            slots[n] = slot;
            local[n] = (struct iovec){ c->data[slot], PC_LINE };
            remote[n] = (struct iovec){ (void *)(uintptr_t)page, PC_LINE };
            n++;
        }
    }
    if (!n) return;
    const ssize_t got = process_vm_readv(c->remote->pid, local, n, remote, n, 0);
    const uint32_t whole = got > 0 ? (uint32_t)((size_t)got / PC_LINE) : 0;
    for (uint32_t k = 0; k < n; k++) {
        pc_tag *t = &c->tags[slots[k]];
        if (k < whole) t->ok = 1;
        else t->gen = c->gen - 1; /* not read: pc_line reads it alone */
    }
}
