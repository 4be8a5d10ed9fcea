/*
 * checked_reader.c — see checked_reader.h.
 */
#include "checked_reader.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Filled into the destination of a failed read: if the core ever used bytes from a read
 * that failed, it would see this pattern rather than stale stack contents, so the results
 * would differ between runs and the purity checks would notice. */
#define FZ_POISON 0xa5

int fz_addr_plausible(spw_arch arch, uint64_t addr, uint64_t len, uint64_t align)
{
    uint64_t limit;
    switch (arch) {
    case SPW_ARCH_X86_64: limit = (uint64_t)1 << 47; break;
    case SPW_ARCH_AARCH64: limit = (uint64_t)1 << 48; break;
    default: return 0;
    }
    if (align == 0 || (align & (align - 1)) != 0) return 0;
    return addr >= 0x1000 && addr % align == 0 && len <= limit && addr <= limit - len;
}

void fz_checked_init(fz_checked *c, const spw_reader *inner, spw_arch arch, uint64_t align,
                     uint32_t max_reads, const char *what)
{
    memset(c, 0, sizeof *c);
    c->inner = *inner;
    c->arch = arch;
    c->align = align;
    c->max_reads = max_reads;
    c->what = what;
}

void fz_checked_reset(fz_checked *c, uint32_t max_reads, const char *what)
{
    c->n_reads = 0;
    c->max_reads = max_reads;
    c->what = what;
}

int fz_checked_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    fz_checked *c = ctx;
    c->n_reads++;
    if (c->n_reads > c->max_reads)
        fz_fail(__FILE__, __LINE__, "%s: more than %u reads (unbounded traversal?)", c->what,
                c->max_reads);
    if (len > SPW_READ_MAX)
        fz_fail(__FILE__, __LINE__, "%s: read of %zu bytes at 0x%llx exceeds SPW_READ_MAX",
                c->what, len, (unsigned long long)addr);
    uint64_t need = c->align; /* natural alignment: 8-byte fields on 8, a byte anywhere */
    while (need > 1 && need > len) need >>= 1;
    if (!fz_addr_plausible(c->arch, addr, len, need))
        fz_fail(__FILE__, __LINE__,
                "%s: read of %zu bytes at unvalidated address 0x%llx (arch %d, align %llu)",
                c->what, len, (unsigned long long)addr, (int)c->arch, (unsigned long long)need);
    /* A cut image: the read reaches past the end (addr + len cannot overflow, checked). */
    if (c->serve_end != 0 && addr + len > c->serve_end) {
        memset(dst, FZ_POISON, len);
        return -1;
    }
    if (spw_read(&c->inner, addr, dst, len) != 0) {
        memset(dst, FZ_POISON, len);
        return -1;
    }
    return 0;
}

spw_reader fz_checked_reader(fz_checked *c)
{
    spw_reader r = { fz_checked_read, c };
    return r;
}

void fz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "\n==spw-fuzz== INVARIANT BROKEN at %s:%d\n==spw-fuzz== ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

int fz_verbose(void)
{
    /* Looked up on every call: cheap next to a walk, and no hidden state to reset. */
    const char *v = getenv("SPW_FUZZ_VERBOSE");
    return v && *v && *v != '0';
}

void fz_log(const char *fmt, ...)
{
    va_list ap;
    if (!fz_verbose()) return;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}
