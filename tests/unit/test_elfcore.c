/*
 * test_elfcore.c — the ELF core parser and reader (core/elfcore.h) over cores written by
 * core/synth_core.c: segments, threads, mapped files and the entry point as written; reads
 * inside, across and outside segments, with and without a fallback; every kind of hostile
 * file refused with its own error (every truncation, overlapping segments, notes past the
 * end, huge counts, bad NT_FILE tables, tables too small).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "elfcore.h"
#include "synth_core.h"

#define MAXT 16

typedef struct parsed {
    spw_core c;
    spw_core_segment segs[MAXT];
    spw_core_thread threads[MAXT];
    spw_core_file files[MAXT];
} parsed;

/* Both passes, as the harness runs them: count, then fill tables of exactly that size. */
static spw_core_err parse(parsed *p, const uint8_t *buf, size_t len)
{
    spw_core_counts n;
    spw_core_err err = spw_core_parse(&p->c, buf, len, NULL, &n);
    if (err != SPW_CORE_OK) return err;
    if (n.segments > MAXT || n.threads > MAXT || n.files > MAXT) return SPW_CORE_E_LIMIT;
    spw_core_tables t = { p->segs, n.segments, p->threads, n.threads, p->files, n.files };
    spw_core_counts again;
    err = spw_core_parse(&p->c, buf, len, &t, &again);
    if (err == SPW_CORE_OK) assert_memory_equal(&n, &again, sizeof n);
    return err;
}

static uint8_t data_a[64], data_b[32], data_c[16];
static const uint32_t tids[3] = { 1001, 1002, 1003 };
static const spw_synth_map maps[2] = {
    { 0x400000, 0x402000, 0, "/usr/bin/python3.13t" },
    { 0x7f0000000000, 0x7f0000003000, 2, "/usr/lib/libpython3.13t.so.1.0" },
};

/* A core with three segments: A (0x10000, all in the file), B (0x10040, adjacent to A,
 * 32 of 64 bytes in the file), C (0x20000, all in the file), listed out of order. */
static uint8_t *make_core(spw_arch arch, size_t *len)
{
    for (size_t i = 0; i < sizeof data_a; i++) data_a[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof data_b; i++) data_b[i] = (uint8_t)(0x80 + i);
    for (size_t i = 0; i < sizeof data_c; i++) data_c[i] = (uint8_t)(0xc0 + i);
    const spw_synth_seg segs[3] = {
        { 0x20000, 16, data_c, 16, 4 },
        { 0x10000, 64, data_a, 64, 6 },
        { 0x10040, 64, data_b, 32, 4 },
    };
    spw_synth_core_spec spec = { .arch = arch, .segs = segs, .n_segs = 3, .tids = tids,
                                 .n_tids = 3, .signal = 6, .maps = maps, .n_maps = 2,
                                 .page_size = 4096, .entry = 0x401234 };
    size_t need = spw_synth_core(&spec, NULL, 0);
    uint8_t *buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(spw_synth_core(&spec, buf, need), need);
    *len = need;
    return buf;
}

static void test_parse_what_was_written(void **state)
{
    (void)state;
    const spw_arch arches[2] = { SPW_ARCH_X86_64, SPW_ARCH_AARCH64 };
    for (int a = 0; a < 2; a++) {
        size_t len;
        uint8_t *buf = make_core(arches[a], &len);
        parsed p;
        assert_int_equal(parse(&p, buf, len), SPW_CORE_OK);
        assert_int_equal(p.c.arch, arches[a]);
        assert_int_equal(p.c.n_segments, 3);
        /* Sorted by address. */
        assert_int_equal(p.c.segments[0].vaddr, 0x10000);
        assert_int_equal(p.c.segments[0].flags, 6);
        assert_int_equal(p.c.segments[1].vaddr, 0x10040);
        assert_int_equal(p.c.segments[1].filesz, 32);
        assert_int_equal(p.c.segments[1].memsz, 64);
        assert_int_equal(p.c.segments[2].vaddr, 0x20000);
        assert_int_equal(p.c.n_threads, 3);
        for (int i = 0; i < 3; i++) assert_int_equal(p.c.threads[i].tid, tids[i]);
        assert_int_equal(p.c.threads[0].signal, 6);
        assert_int_equal(p.c.threads[1].signal, 0);
        assert_int_equal(p.c.n_files, 2);
        assert_int_equal(p.c.page_size, 4096);
        assert_int_equal(p.c.files[1].start, 0x7f0000000000);
        assert_int_equal(p.c.files[1].end, 0x7f0000003000);
        assert_int_equal(p.c.files[1].offset, 2 * 4096);
        assert_string_equal(p.c.files[0].name, "/usr/bin/python3.13t");
        assert_string_equal(p.c.files[1].name, "/usr/lib/libpython3.13t.so.1.0");
        assert_int_equal(p.c.entry, 0x401234);
        free(buf);
    }
}

static void test_reads(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = make_core(SPW_ARCH_X86_64, &len), got[128];
    parsed p;
    assert_int_equal(parse(&p, buf, len), SPW_CORE_OK);
    /* Inside one segment. */
    assert_int_equal(spw_core_read(&p.c, 0x10008, got, 8), 0);
    assert_memory_equal(got, data_a + 8, 8);
    assert_int_equal(spw_core_read(&p.c, 0x20000, got, 16), 0);
    assert_memory_equal(got, data_c, 16);
    /* Across A into B's file bytes: one read, two segments. */
    assert_int_equal(spw_core_read(&p.c, 0x10038, got, 16), 0);
    assert_memory_equal(got, data_a + 56, 8);
    assert_memory_equal(got + 8, data_b, 8);
    /* B's bytes past its filesz are not in the file: no fallback, the read fails. */
    assert_int_equal(spw_core_read(&p.c, 0x10060, got, 1), -1);
    assert_int_equal(spw_core_read(&p.c, 0x10058, got, 16), -1);
    /* Outside every segment, past the end, wrapping. */
    assert_int_equal(spw_core_read(&p.c, 0x0fff8, got, 8), -1);
    assert_int_equal(spw_core_read(&p.c, 0x0fffc, got, 8), -1);
    assert_int_equal(spw_core_read(&p.c, 0x20010, got, 1), -1);
    assert_int_equal(spw_core_read(&p.c, 0x2000f, got, 2), -1);
    assert_int_equal(spw_core_read(&p.c, UINT64_MAX - 2, got, 8), -1);
    /* Zero-length reads: inside file bytes only. */
    assert_int_equal(spw_core_read(&p.c, 0x10000, got, 0), 0);
    assert_int_equal(spw_core_read(&p.c, 0x10070, got, 0), -1);
    assert_int_equal(spw_core_read(&p.c, 0x30000, got, 0), -1);
    assert_int_equal(spw_core_segment_of(&p.c, 0x1007f), 1);
    assert_int_equal(spw_core_segment_of(&p.c, 0x10080), UINT32_MAX);
    assert_int_equal(spw_core_segment_of(&p.c, 0x0), UINT32_MAX);
    free(buf);
}

/* A fallback that records what it was asked and serves 0xee. */
typedef struct fb {
    uint64_t addr[8];
    size_t len[8];
    int n, refuse;
} fb;

static int fallback_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    fb *f = ctx;
    if (f->n < 8) {
        f->addr[f->n] = addr;
        f->len[f->n] = len;
    }
    f->n++;
    if (f->refuse) return -1;
    memset(dst, 0xee, len);
    return 0;
}

static void test_fallback(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = make_core(SPW_ARCH_X86_64, &len), got[0x20];
    parsed p;
    fb f = { .n = 0 };
    assert_int_equal(parse(&p, buf, len), SPW_CORE_OK);
    p.c.fallback = (spw_reader){ fallback_read, &f };
    /* B's last file bytes, then the part of B the file lacks: one fallback call for it. */
    assert_int_equal(spw_core_read(&p.c, 0x1005c, got, 8), 0);
    assert_memory_equal(got, data_b + 28, 4);
    assert_int_equal(got[4], 0xee);
    assert_int_equal(got[7], 0xee);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.addr[0], 0x10060);
    assert_int_equal(f.len[0], 4);
    /* Before A and running into it: the fallback gets only the gap. */
    f.n = 0;
    assert_int_equal(spw_core_read(&p.c, 0xfff0, got, 0x18), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.addr[0], 0xfff0);
    assert_int_equal(f.len[0], 0x10);
    assert_memory_equal(got + 0x10, data_a, 8);
    /* A refusing fallback fails the read. */
    f.n = 0;
    f.refuse = 1;
    assert_int_equal(spw_core_read(&p.c, 0x10060, got, 4), -1);
    assert_int_equal(f.n, 1);
    assert_int_equal(spw_core_read(&p.c, 0x10000, got, 8), 0); /* file bytes: not asked */
    assert_int_equal(f.n, 1);
    /* A range reaching 2^64 or wrapping past it is refused before anyone is asked, even
     * with a fallback that would serve it; one ending at UINT64_MAX - 1 goes to it. */
    f.n = 0;
    f.refuse = 0;
    assert_int_equal(spw_core_read(&p.c, UINT64_MAX - 3, got, 8), -1);
    assert_int_equal(spw_core_read(&p.c, UINT64_MAX - 7, got, 8), -1);
    assert_int_equal(spw_core_read(&p.c, UINT64_MAX, got, 2), -1);
    assert_int_equal(f.n, 0);
    assert_int_equal(spw_core_read(&p.c, UINT64_MAX - 8, got, 8), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.addr[0], UINT64_MAX - 8);
    assert_int_equal(f.len[0], 8);
    free(buf);
}

/* A fallback for the read below: it records each piece and refuses an empty one (the
 * reader never asks for one). */
static int pieces_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    fb *f = ctx;
    if (f->n < 8) {
        f->addr[f->n] = addr;
        f->len[f->n] = len;
    }
    f->n++;
    if (len == 0 || f->n > 8) return -1;
    memset(dst, 0xee, len);
    return 0;
}

/* A read above the last segment is one piece for the fallback: whatever lies after the
 * segment table in the caller's memory (here an entry that would start inside the range)
 * is not a segment. */
static void test_read_past_the_last_segment(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = make_core(SPW_ARCH_X86_64, &len), got[0x20];
    parsed p;
    fb f = { .n = 0 };
    assert_int_equal(parse(&p, buf, len), SPW_CORE_OK);
    assert_int_equal(p.c.n_segments, 3);
    assert_ptr_equal(p.c.segments, p.segs);
    p.segs[3] = (spw_core_segment){ .vaddr = 0x30010, .memsz = 16, .offset = 0, .filesz = 16 };
    p.c.fallback = (spw_reader){ pieces_read, &f };
    assert_int_equal(spw_core_read(&p.c, 0x30000, got, 0x20), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.addr[0], 0x30000);
    assert_int_equal(f.len[0], 0x20);
    assert_int_equal(got[0x1f], 0xee);
    free(buf);
}

static void test_every_truncation_refused(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = make_core(SPW_ARCH_AARCH64, &len);
    parsed p;
    /* Every prefix of the file is refused (the last segment's bytes end the file), each
     * with a truncation-kind error, and never reads past its end (ASan would say so). */
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, buf, n);
        spw_core_err err = parse(&p, copy, n);
        assert_true(err == SPW_CORE_E_TRUNCATED || err == SPW_CORE_E_NOT_ELF ||
                    err == SPW_CORE_E_NOTE || err == SPW_CORE_E_SEGMENT);
        free(copy);
    }
    free(buf);
}

static void test_header_errors(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = make_core(SPW_ARCH_X86_64, &len);
    parsed p;
    uint8_t *m = malloc(len);
    struct { size_t at; uint8_t v; spw_core_err want; } cases[] = {
        { 0, 0x7e, SPW_CORE_E_NOT_ELF },
        { 4, 1, SPW_CORE_E_CLASS },         /* ELFCLASS32 */
        { 5, 2, SPW_CORE_E_CLASS },         /* big-endian */
        { 16, 2, SPW_CORE_E_NOT_CORE },     /* ET_EXEC */
        { 18, 40, SPW_CORE_E_MACHINE },     /* EM_ARM */
        { 54, 32, SPW_CORE_E_PHDR },        /* e_phentsize */
        { 57, 0x7f, SPW_CORE_E_TRUNCATED }, /* e_phnum huge */
        { 39, 0x01, SPW_CORE_E_TRUNCATED }, /* e_phoff far past the end */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(m, buf, len);
        m[cases[i].at] = cases[i].v;
        assert_int_equal(parse(&p, m, len), cases[i].want);
        assert_string_not_equal(spw_core_strerror(cases[i].want), "unknown error");
    }
    /* PN_XNUM without a section header to hold the count. */
    memcpy(m, buf, len);
    m[56] = m[57] = 0xff;
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_PHDR);
    free(m);
    free(buf);
}

/* Offset of program header i (0 is the PT_NOTE). */
#define PH(i) (SPW_SYNTH_CORE_PHDR + 56u * (i))

static void test_segment_errors(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = make_core(SPW_ARCH_X86_64, &len), *m = malloc(len);
    parsed p;
    /* C (phdr 1) moved onto A: overlap, although the table was out of order. */
    memcpy(m, buf, len);
    spw_put64(m + PH(1) + 16, 0x10020);
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_OVERLAP);
    /* Exactly adjacent is fine (A ends where B starts, already). Identical starts overlap. */
    memcpy(m, buf, len);
    spw_put64(m + PH(1) + 16, 0x10040);
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_OVERLAP);
    /* filesz > memsz */
    memcpy(m, buf, len);
    spw_put64(m + PH(2) + 32, 65);
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_SEGMENT);
    /* file bytes past the end, and an offset that wraps */
    memcpy(m, buf, len);
    spw_put64(m + PH(2) + 8, len - 8);
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_SEGMENT);
    memcpy(m, buf, len);
    spw_put64(m + PH(2) + 8, UINT64_MAX - 4);
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_SEGMENT);
    /* vaddr + memsz wraps */
    memcpy(m, buf, len);
    spw_put64(m + PH(3) + 40, UINT64_MAX);
    spw_put64(m + PH(3) + 32, 0);
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_SEGMENT);
    /* A zero-sized PT_LOAD is dropped, not an error. */
    memcpy(m, buf, len);
    spw_put64(m + PH(1) + 32, 0);
    spw_put64(m + PH(1) + 40, 0);
    assert_int_equal(parse(&p, m, len), SPW_CORE_OK);
    assert_int_equal(p.c.n_segments, 2);
    free(m);
    free(buf);
}

static void test_note_errors(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = make_core(SPW_ARCH_X86_64, &len), *m = malloc(len);
    const size_t n0 = SPW_SYNTH_CORE_NOTES(3);
    parsed p;
    /* The first note's descsz past its segment; its namesz too; huge values. */
    const uint32_t bad[] = { 100000, 0xffffffffu, 0xfffffffdu };
    for (size_t i = 0; i < 3; i++) {
        memcpy(m, buf, len);
        spw_put32(m + n0 + 4, bad[i]);
        assert_int_equal(parse(&p, m, len), SPW_CORE_E_NOTE);
        memcpy(m, buf, len);
        spw_put32(m + n0, bad[i]);
        assert_int_equal(parse(&p, m, len), SPW_CORE_E_NOTE);
    }
    /* The PT_NOTE segment itself past the end of the file (a core cut short). */
    memcpy(m, buf, len);
    spw_put64(m + PH(0) + 32, len);
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_TRUNCATED);
    /* NT_PRSTATUS too short to hold pr_pid: shrink it and shift nothing (the following
     * notes misparse, but the first error is the short prstatus). */
    memcpy(m, buf, len);
    spw_put32(m + n0 + 4, 20);
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_NOTE);
    free(m);
    free(buf);
}

static void test_file_note_errors(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = make_core(SPW_ARCH_X86_64, &len), *m = malloc(len);
    /* NT_FILE is last: after 3 prstatus notes (20 + 336) and the auxv note (20 + 32). */
    const size_t desc = SPW_SYNTH_CORE_NOTES(3) + 3 * (20 + 336) + (20 + 32) + 20;
    parsed p;
    assert_int_equal(spw_le64(buf + desc), 2);
    const uint64_t counts[] = { 3, 1000000, UINT64_MAX, UINT64_MAX / 24 + 1 };
    for (size_t i = 0; i < 4; i++) {
        memcpy(m, buf, len);
        spw_put64(m + desc, counts[i]);
        assert_int_equal(parse(&p, m, len), SPW_CORE_E_FILE_NOTE);
    }
    const uint64_t pages[] = { 0, 3, 4097, (uint64_t)1 << 40 };
    for (size_t i = 0; i < 4; i++) {
        memcpy(m, buf, len);
        spw_put64(m + desc + 8, pages[i]);
        assert_int_equal(parse(&p, m, len), SPW_CORE_E_FILE_NOTE);
    }
    /* end < start; a page offset whose byte offset overflows. */
    memcpy(m, buf, len);
    spw_put64(m + desc + 16 + 8, 0x3fffff);
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_FILE_NOTE);
    memcpy(m, buf, len);
    spw_put64(m + desc + 16 + 16, UINT64_MAX / 2);
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_FILE_NOTE);
    /* The last name's NUL overwritten: it would run past the note. */
    const size_t names = desc + 16 + 2 * 24;
    const size_t last_nul = names + strlen(maps[0].name) + 1 + strlen(maps[1].name);
    memcpy(m, buf, len);
    assert_int_equal(m[last_nul], 0);
    m[last_nul] = 'x';
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_FILE_NOTE);
    free(m);
    free(buf);
}

/* A core of one segment whose only note is an NT_FILE of no files and the given page
 * size: the note starts at SPW_SYNTH_CORE_NOTES(1), its 16-byte desc 20 bytes later. */
enum { E_NOTE = SPW_SYNTH_CORE_NOTES(1), E_DESC = E_NOTE + 20 };
static uint8_t *make_bare_core(uint64_t page, size_t *len)
{
    static uint8_t d[16];
    const spw_synth_seg seg = { 0x10000, 16, d, 16, 4 };
    spw_synth_core_spec spec = { .arch = SPW_ARCH_X86_64, .segs = &seg, .n_segs = 1,
                                 .page_size = page };
    size_t need = spw_synth_core(&spec, NULL, 0);
    uint8_t *buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(spw_synth_core(&spec, buf, need), need);
    assert_int_equal(spw_le32(buf + E_NOTE + 4), 16); /* descsz */
    assert_int_equal(spw_le32(buf + E_NOTE + 8), 0x46494c45); /* NT_FILE */
    *len = need;
    return buf;
}

/* Each bound of the header, the section header, the notes and NT_FILE at its edge. */
static void test_bounds_at_their_edges(void **state)
{
    (void)state;
    parsed p;
    size_t len;

    /* The ELF header: 63 bytes of a header with no program headers are still a cut-off
     * file; 64 are a (segment-less) core. */
    uint8_t *buf = make_bare_core(4096, &len), *m = malloc(len + 64);
    memcpy(m, buf, 64);
    spw_put16(m + 56, 0); /* e_phnum */
    spw_put64(m + 32, 0); /* e_phoff: an empty table inside the 63 bytes */
    assert_int_equal(parse(&p, m, 63), SPW_CORE_E_TRUNCATED);
    assert_int_equal(parse(&p, m, 64), SPW_CORE_OK);
    assert_int_equal(p.c.n_segments, 0);

    /* PN_XNUM: the count in a section header appended at the end of the file, or starting
     * one byte later (63 bytes left: cut off, though its sh_info would be in the buffer). */
    const uint16_t phnum = spw_le16(buf + 56);
    memcpy(m, buf, len);
    memset(m + len, 0, 64);
    spw_put16(m + 56, 0xffff);
    spw_put16(m + 58, 64); /* e_shentsize */
    spw_put16(m + 60, 1);  /* e_shnum */
    spw_put64(m + 40, len);
    spw_put32(m + len + 44, phnum);
    assert_int_equal(parse(&p, m, len + 64), SPW_CORE_OK);
    assert_int_equal(p.c.n_segments, 1);
    spw_put64(m + 40, len + 1);
    spw_put32(m + len + 1 + 44, phnum);
    assert_int_equal(parse(&p, m, len + 64), SPW_CORE_E_TRUNCATED);
    assert_int_equal(p.c.err_at, 40);

    /* An empty PT_NOTE segment exactly at the end of the file is no note; one byte past it
     * is a cut-off file. */
    memcpy(m, buf, len);
    spw_put64(m + SPW_SYNTH_CORE_PHDR + 8, len);
    spw_put64(m + SPW_SYNTH_CORE_PHDR + 32, 0);
    assert_int_equal(parse(&p, m, len), SPW_CORE_OK);
    assert_int_equal(p.c.n_segments, 1);
    assert_int_equal(p.c.page_size, 0);
    spw_put64(m + SPW_SYNTH_CORE_PHDR + 8, len + 1);
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_TRUNCATED);

    /* A PT_LOAD with no file bytes has no file offset to check, whatever it says */
    memcpy(m, buf, len);
    spw_put64(m + SPW_SYNTH_CORE_PHDR + 56 + 32, 0);          /* filesz */
    spw_put64(m + SPW_SYNTH_CORE_PHDR + 56 + 8, UINT64_MAX); /* offset */
    assert_int_equal(parse(&p, m, len), SPW_CORE_OK);
    assert_int_equal(p.c.n_segments, 1);
    assert_int_equal(p.c.segments[0].filesz, 0);

    /* NT_FILE's desc: 16 bytes hold count and page size, 15 do not */
    memcpy(m, buf, len);
    assert_int_equal(parse(&p, m, len), SPW_CORE_OK);
    assert_int_equal(p.c.page_size, 4096);
    assert_int_equal(p.c.n_files, 0);
    spw_put32(m + E_NOTE + 4, 15);
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_FILE_NOTE);
    assert_int_equal(p.c.err_at, E_DESC);
    /* one file more than the desc has room for: refused at the count, before its entry
     * (which would lie past the desc) is read */
    memcpy(m, buf, len);
    spw_put64(m + E_DESC, 1);
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_FILE_NOTE);
    assert_int_equal(p.c.err_at, E_DESC);
    free(m);
    free(buf);

    /* the page size: 2^30 is the largest accepted, 2^31 is refused */
    buf = make_bare_core((uint64_t)1 << 30, &len);
    assert_int_equal(parse(&p, buf, len), SPW_CORE_OK);
    assert_int_equal(p.c.page_size, (uint64_t)1 << 30);
    spw_put64(buf + E_DESC + 8, (uint64_t)1 << 31);
    assert_int_equal(parse(&p, buf, len), SPW_CORE_E_FILE_NOTE);
    assert_int_equal(p.c.err_at, E_DESC + 8);
    free(buf);
}

/* The notes' contents at their edges: a name one byte longer than "CORE", a prstatus
 * one byte short of pr_pid, a second NT_FILE, auxv pairs after AT_NULL and a half pair. */
static void test_note_contents_at_their_edges(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = make_core(SPW_ARCH_X86_64, &len), *m = malloc(len);
    const size_t n0 = SPW_SYNTH_CORE_NOTES(3);
    const size_t auxv = n0 + 3 * (20 + 336) + 20; /* the auxv note's desc */
    parsed p;
    assert_int_equal(spw_le64(buf + auxv), 9); /* AT_ENTRY */

    /* "CORE" then 'X' in a 5-byte name is another owner's note: its prstatus is no thread */
    memcpy(m, buf, len);
    assert_int_equal(m[n0 + 12 + 4], 0);
    m[n0 + 12 + 4] = 'X';
    assert_int_equal(parse(&p, m, len), SPW_CORE_OK);
    assert_int_equal(p.c.n_threads, 2);
    assert_int_equal(p.c.threads[0].tid, tids[1]);

    /* a prstatus of 35 bytes (pr_pid is at 32..35) is refused at that note */
    memcpy(m, buf, len);
    spw_put32(m + n0 + 4, 35);
    assert_int_equal(parse(&p, m, len), SPW_CORE_E_NOTE);
    assert_int_equal(p.c.err_at, n0);

    /* auxv: pairs after AT_NULL are not read */
    memcpy(m, buf, len);
    spw_put64(m + auxv, 0);
    spw_put64(m + auxv + 8, 0);
    spw_put64(m + auxv + 16, 9);
    spw_put64(m + auxv + 24, 0x5555);
    assert_int_equal(parse(&p, m, len), SPW_CORE_OK);
    assert_int_equal(p.c.entry, 0);
    free(m);
    free(buf);

    /* two NT_FILE notes (the bare core's PT_LOAD turned into a second PT_NOTE over the
     * same note): refused at the second */
    buf = make_bare_core(4096, &len);
    memcpy(buf + SPW_SYNTH_CORE_PHDR + 56, buf + SPW_SYNTH_CORE_PHDR, 56);
    assert_int_equal(parse(&p, buf, len), SPW_CORE_E_FILE_NOTE);
    assert_int_equal(p.c.err_at, E_NOTE);
    free(buf);

    /* auxv as the last note, cut to 24 bytes (a pair and a half) with its segment: the
     * half pair's key says AT_ENTRY, its value would lie past the note */
    static uint8_t d[16];
    const spw_synth_seg seg = { 0x10000, 16, d, 16, 4 };
    spw_synth_core_spec spec = { .arch = SPW_ARCH_X86_64, .segs = &seg, .n_segs = 1,
                                 .entry = 0x401234 };
    len = spw_synth_core(&spec, NULL, 0);
    buf = malloc(len);
    assert_non_null(buf);
    assert_int_equal(spw_synth_core(&spec, buf, len), len);
    const size_t a1 = E_DESC;
    assert_int_equal(spw_le32(buf + E_NOTE + 8), 6); /* NT_AUXV */
    assert_int_equal(spw_le64(buf + SPW_SYNTH_CORE_PHDR + 32), 20 + 32);
    assert_int_equal(parse(&p, buf, len), SPW_CORE_OK);
    assert_int_equal(p.c.entry, 0x401234);
    spw_put64(buf + a1, 3); /* AT_PHDR */
    spw_put64(buf + a1 + 16, 9);
    spw_put64(buf + a1 + 24, 0x5555);
    spw_put32(buf + E_NOTE + 4, 24);
    spw_put64(buf + SPW_SYNTH_CORE_PHDR + 32, 20 + 24);
    assert_int_equal(parse(&p, buf, len), SPW_CORE_OK);
    assert_int_equal(p.c.entry, 0);
    free(buf);
}

static void test_tables_too_small(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = make_core(SPW_ARCH_X86_64, &len);
    spw_core c;
    spw_core_segment segs[3];
    spw_core_thread threads[3];
    spw_core_file files[2];
    spw_core_tables ok = { segs, 3, threads, 3, files, 2 };
    assert_int_equal(spw_core_parse(&c, buf, len, &ok, NULL), SPW_CORE_OK);
    spw_core_tables t = ok;
    t.max_segments = 2;
    assert_int_equal(spw_core_parse(&c, buf, len, &t, NULL), SPW_CORE_E_LIMIT);
    t = ok;
    t.max_threads = 2;
    assert_int_equal(spw_core_parse(&c, buf, len, &t, NULL), SPW_CORE_E_LIMIT);
    t = ok;
    t.max_files = 1;
    assert_int_equal(spw_core_parse(&c, buf, len, &t, NULL), SPW_CORE_E_LIMIT);
    free(buf);
}

static void test_strerror(void **state)
{
    (void)state;
    for (int e = 0; e < SPW_CORE_E_COUNT_; e++)
        assert_string_not_equal(spw_core_strerror((spw_core_err)e), "unknown error");
    assert_string_equal(spw_core_strerror((spw_core_err)99), "unknown error");
    assert_string_equal(spw_core_strerror(SPW_CORE_E_OVERLAP), "memory segments overlap");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_what_was_written),
        cmocka_unit_test(test_reads),
        cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_read_past_the_last_segment),
        cmocka_unit_test(test_every_truncation_refused),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_segment_errors),
        cmocka_unit_test(test_note_errors),
        cmocka_unit_test(test_file_note_errors),
        cmocka_unit_test(test_bounds_at_their_edges),
        cmocka_unit_test(test_note_contents_at_their_edges),
        cmocka_unit_test(test_tables_too_small),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
