/*
 * fuzz_core_file.c — arbitrary bytes as an ELF core file: the parser (core/elfcore.h) and
 * reads from whatever it accepted.
 *
 * Input: the core file itself. Seeds: synthetic cores (corpus/core_file/synth-*, written
 * by fuzz/gen_seeds.c) and real cores cut down to their headers and notes (real-*).
 *
 * Invariants:
 *   C1 parsing returns one of its documented errors, the counting pass and the filling
 *      pass agree (on the error, or on the counts), and parsing is pure: the input buffer
 *      is the only thing it reads (ASan: the input is an exact-size heap copy);
 *   C2 an accepted core has segments sorted, disjoint and non-empty, with their file bytes
 *      inside the input, NT_FILE entries with start <= end and names NUL-terminated
 *      inside the input, and as many threads as the counting pass said;
 *   C3 every read at an address derived from the input (each segment's and mapping's
 *      edges, one byte either side, and addresses taken from the input's last bytes),
 *      of lengths 0..SPW_READ_MAX, equals a byte-by-byte reference: a byte inside a
 *      segment's file bytes is that byte of the input, any other byte comes from the
 *      fallback, which serves a known pattern inside NT_FILE mappings and fails elsewhere;
 *      the same without a fallback fails exactly when some byte is not in the file.
 */
#include <stdlib.h>
#include <string.h>

#include "elfcore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_T 512u /* table entries; more is SPW_CORE_E_LIMIT, which C1 allows */

static spw_core_segment segs[MAX_T];
static spw_core_thread threads[MAX_T];
static spw_core_file files[MAX_T];

static uint8_t pattern(uint64_t addr)
{
    return (uint8_t)(addr * 0x9e3779b97f4a7c15ull >> 56);
}

static int in_files(const spw_core *c, uint64_t addr)
{
    for (uint32_t i = 0; i < c->n_files; i++)
        if (addr >= c->files[i].start && addr < c->files[i].end) return 1;
    return 0;
}

/* The fallback: every byte of the range must lie in some NT_FILE mapping. */
static int fallback_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    const spw_core *c = ctx;
    uint8_t *out = dst;
    if (len == 0 || len > SPW_READ_MAX || addr > UINT64_MAX - len) abort(); /* pieces only */
    for (size_t i = 0; i < len; i++) {
        if (!in_files(c, addr + i)) return -1;
        out[i] = pattern(addr + i);
    }
    return 0;
}

/* The byte-by-byte reference of spw_core_read: one linear pass finds the segments the
 * range touches (few), then each byte is looked up among them. */
static int reference(const spw_core *c, int with_fallback, uint64_t addr, uint8_t *dst, size_t len)
{
    if ((uint64_t)len > UINT64_MAX - addr) return -1;
    const uint64_t end = addr + (len ? len : 1);
    uint32_t touch[SPW_READ_MAX + 1], n = 0;
    for (uint32_t i = 0; i < c->n_segments; i++) {
        const spw_core_segment *s = &c->segments[i];
        /* Disjoint and non-empty: at most SPW_READ_MAX + 1 of them touch the range (C2). */
        if (s->vaddr < end && addr < s->vaddr + s->memsz) touch[n++] = i;
    }
    if (len == 0) {
        for (uint32_t k = 0; k < n; k++) {
            const spw_core_segment *s = &c->segments[touch[k]];
            if (addr >= s->vaddr && addr - s->vaddr < s->filesz) return 0;
        }
        return -1;
    }
    for (size_t b = 0; b < len; b++) {
        const uint64_t a = addr + b;
        int done = 0;
        for (uint32_t k = 0; k < n && !done; k++) {
            const spw_core_segment *s = &c->segments[touch[k]];
            if (a >= s->vaddr && a - s->vaddr < s->filesz) {
                dst[b] = c->buf[s->offset + (a - s->vaddr)];
                done = 1;
            }
        }
        if (done) continue;
        if (!with_fallback || !in_files(c, a)) return -1;
        dst[b] = pattern(a);
    }
    return 0;
}

static void check_read(spw_core *c, uint64_t addr, size_t len)
{
    uint8_t got[SPW_READ_MAX], want[SPW_READ_MAX];
    for (int fb = 0; fb < 2; fb++) {
        c->fallback = fb ? (spw_reader){ fallback_read, c } : (spw_reader){ NULL, NULL };
        memset(got, 0, sizeof got);
        memset(want, 0, sizeof want);
        const int rg = spw_core_read(c, addr, got, len);
        const int rw = reference(c, fb, addr, want, len);
        if ((rg == 0) != (rw == 0)) abort();                           /* C3 */
        if (rg == 0 && len && memcmp(got, want, len) != 0) abort();    /* C3 */
    }
}

static void check_reads(spw_core *c, const uint8_t *data, size_t size)
{
    static const size_t lens[] = { 0, 1, 7, 8, 64, SPW_READ_MAX };
    /* Edges of every segment and mapping (bounded: at most the first 16 of each). */
    for (uint32_t i = 0; i < c->n_segments && i < 16; i++) {
        const spw_core_segment *s = &c->segments[i];
        const uint64_t at[] = { s->vaddr - 1, s->vaddr, s->vaddr + s->filesz - 1,
                                s->vaddr + s->filesz, s->vaddr + s->memsz - 1,
                                s->vaddr + s->memsz - 8 };
        for (size_t a = 0; a < sizeof at / sizeof at[0]; a++)
            for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) check_read(c, at[a], lens[l]);
    }
    for (uint32_t i = 0; i < c->n_files && i < 16; i++) {
        const uint64_t at[] = { c->files[i].start - 3, c->files[i].start, c->files[i].end - 5 };
        for (size_t a = 0; a < 3; a++)
            for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) check_read(c, at[a], lens[l]);
    }
    /* Addresses the input names in its last bytes, with a length byte each. */
    for (size_t k = 0; k + 9 <= size && k < 9 * 8; k += 9) {
        const uint8_t *p = data + size - 9 - k;
        check_read(c, spw_le64(p), (size_t)(p[8] % (SPW_READ_MAX + 1)));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so that ASan sees any read past the end of the input. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);

    spw_core c;
    spw_core_counts n = { 0, 0, 0 }, n2 = { 0, 0, 0 };
    const spw_core_err e1 = spw_core_parse(&c, buf, size, NULL, &n);
    if ((unsigned)e1 >= SPW_CORE_E_COUNT_) abort(); /* C1 */
    spw_core_tables t = { segs, MAX_T, threads, MAX_T, files, MAX_T };
    const spw_core_err e2 = spw_core_parse(&c, buf, size, &t, &n2);
    if ((unsigned)e2 >= SPW_CORE_E_COUNT_) abort(); /* C1 */
    const int fits = n.segments <= MAX_T && n.threads <= MAX_T && n.files <= MAX_T;
    /* C1: pass 2 fails where pass 1 did, or on the tables' size, or on overlap (which
     * only pass 2, with the segments in hand, can see). */
    if (e1 != SPW_CORE_OK && e2 != e1) abort();
    if (e1 == SPW_CORE_OK && fits && e2 != SPW_CORE_OK && e2 != SPW_CORE_E_OVERLAP) abort();
    if (e1 == SPW_CORE_OK && !fits && e2 != SPW_CORE_E_LIMIT) abort();
    if (e2 == SPW_CORE_OK) {
        if (memcmp(&n, &n2, sizeof n) != 0) abort(); /* C1 */
        if (c.n_segments != n.segments || c.n_threads != n.threads || c.n_files != n.files)
            abort(); /* C2 */
        for (uint32_t i = 0; i < c.n_segments; i++) {
            const spw_core_segment *s = &c.segments[i];
            if (s->memsz == 0 || s->filesz > s->memsz || s->vaddr > UINT64_MAX - s->memsz)
                abort(); /* C2 */
            if (s->filesz && (s->offset > size || s->filesz > size - s->offset)) abort();
            if (i && c.segments[i - 1].vaddr + c.segments[i - 1].memsz > s->vaddr) abort();
        }
        for (uint32_t i = 0; i < c.n_files; i++) {
            const spw_core_file *f = &c.files[i];
            const uint8_t *name = (const uint8_t *)f->name;
            if (f->end < f->start || name < buf || name >= buf + size) abort(); /* C2 */
            if (!memchr(name, 0, (size_t)(buf + size - name))) abort();
        }
        check_reads(&c, buf, size);
    }
    free(buf);
    return 0;
}
