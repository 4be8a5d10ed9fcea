/*
 * elfcore.c — parse an ELF core file from a byte buffer; serve reads from its PT_LOADs.
 *
 * Fields are loaded with spw_le*() at checked offsets rather than through <elf.h> structs:
 * the buffer may be misaligned and is hostile, and the same code must give the same answer
 * on every host (the unit tests also run under qemu-aarch64). The constants below are the
 * System V ABI's and Linux's (<elf.h>, <linux/elfcore.h>, <sys/procfs.h>).
 *
 * Everything is bounded by the buffer: the segment and note loops cannot run longer than
 * the file has bytes for, and no count read from the file is trusted before it is compared
 * with the bytes that would hold it.
 */
#include <string.h>

#include "elfcore.h"

#define EHDR_SIZE 64u
#define PHDR_SIZE 56u
#define SHDR_SIZE 64u
#define ET_CORE 4u
#define EM_X86_64 62u
#define EM_AARCH64 183u
#define PN_XNUM 0xffffu /* e_phnum escape: the real count is section 0's sh_info */
#define PT_LOAD 1u
#define PT_NOTE 4u
#define NT_PRSTATUS 1u
#define NT_AUXV 6u
#define NT_FILE 0x46494c45u
#define AT_NULL 0u
#define AT_ENTRY 9u
/* struct elf_prstatus is the same up to pr_pid on x86-64 and AArch64: elf_siginfo (12
 * bytes), pr_cursig (2, then 2 of padding), pr_sigpend (8), pr_sighold (8), pr_pid. */
#define PRSTATUS_CURSIG 12u
#define PRSTATUS_PID 32u
#define NT_FILE_ENTRY 24u /* start, end, file offset in pages */

/* off + n <= len, without overflow. */
static int fits(uint64_t off, uint64_t n, uint64_t len)
{
    return off <= len && n <= len - off;
}

static uint64_t align4(uint64_t v)
{
    return (v + 3u) & ~(uint64_t)3u;
}

const char *spw_core_strerror(spw_core_err err)
{
    switch (err) {
    case SPW_CORE_OK: return "ok";
    case SPW_CORE_E_TRUNCATED: return "truncated (a header or table runs past the end of the file)";
    case SPW_CORE_E_NOT_ELF: return "not an ELF file";
    case SPW_CORE_E_CLASS: return "not a 64-bit little-endian ELF file";
    case SPW_CORE_E_NOT_CORE: return "an ELF file, but not a core file";
    case SPW_CORE_E_MACHINE: return "a core of an unsupported architecture (x86-64 and "
                                    "AArch64 are)";
    case SPW_CORE_E_PHDR: return "bad program header table";
    case SPW_CORE_E_SEGMENT: return "a memory segment runs past the end of the file or is "
                                    "malformed (truncated core?)";
    case SPW_CORE_E_OVERLAP: return "memory segments overlap";
    case SPW_CORE_E_NOTE: return "a note runs past the end of its segment";
    case SPW_CORE_E_FILE_NOTE: return "malformed NT_FILE table of mapped files";
    case SPW_CORE_E_LIMIT: return "more segments, threads or mapped files than allowed";
    default: return "unknown error";
    }
}

static spw_core_err fail(spw_core *c, spw_core_err err, uint64_t at)
{
    c->err_at = at;
    return err;
}

/* The program header table: where it is and how many entries. */
static spw_core_err phdr_table(spw_core *c, uint64_t *phoff, uint64_t *phnum)
{
    const uint8_t *b = c->buf;
    if (c->len < EHDR_SIZE) {
        if (c->len >= 4 && memcmp(b, "\177ELF", 4) != 0) return fail(c, SPW_CORE_E_NOT_ELF, 0);
        return fail(c, c->len < 4 ? SPW_CORE_E_NOT_ELF : SPW_CORE_E_TRUNCATED, 0);
    }
    if (memcmp(b, "\177ELF", 4) != 0) return fail(c, SPW_CORE_E_NOT_ELF, 0);
    if (b[4] != 2 || b[5] != 1) return fail(c, SPW_CORE_E_CLASS, 4); /* ELFCLASS64, LSB */
    if (spw_le16(b + 16) != ET_CORE) return fail(c, SPW_CORE_E_NOT_CORE, 16);
    const uint16_t machine = spw_le16(b + 18);
    if (machine == EM_X86_64) c->arch = SPW_ARCH_X86_64;
    else if (machine == EM_AARCH64) c->arch = SPW_ARCH_AARCH64;
    else return fail(c, SPW_CORE_E_MACHINE, 18);

    *phoff = spw_le64(b + 32);
    *phnum = spw_le16(b + 56);
    if (spw_le16(b + 54) != PHDR_SIZE) return fail(c, SPW_CORE_E_PHDR, 54);
    if (*phnum == PN_XNUM) {
        /* More than 65534 segments (a process with that many mappings): the count lives
         * in the first section header, which must then exist. */
        const uint64_t shoff = spw_le64(b + 40);
        if (spw_le16(b + 58) != SHDR_SIZE || spw_le16(b + 60) == 0)
            return fail(c, SPW_CORE_E_PHDR, 58);
        if (!fits(shoff, SHDR_SIZE, c->len)) return fail(c, SPW_CORE_E_TRUNCATED, 40);
        *phnum = spw_le32(b + shoff + 44);
    }
    if (*phnum > (c->len / PHDR_SIZE) || !fits(*phoff, *phnum * PHDR_SIZE, c->len))
        return fail(c, SPW_CORE_E_TRUNCATED, 32);
    return SPW_CORE_OK;
}

/* Heap sort of the segment table by vaddr (no allocation, O(n log n) even for a hostile
 * table; a kernel or gdb core is already sorted and skips it). */
static void sift(spw_core_segment *s, uint32_t root, uint32_t n)
{
    for (;;) {
        uint32_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && s[child + 1].vaddr > s[child].vaddr) child++;
        if (s[root].vaddr >= s[child].vaddr) return;
        spw_core_segment t = s[root];
        s[root] = s[child];
        s[child] = t;
        root = child;
    }
}

static void sort_segments(spw_core_segment *s, uint32_t n)
{
    int sorted = 1;
    for (uint32_t i = 1; i < n && sorted; i++) sorted = s[i - 1].vaddr <= s[i].vaddr;
    if (sorted) return;
    for (uint32_t i = n / 2; i-- > 0;) sift(s, i, n);
    for (uint32_t end = n; end-- > 1;) {
        spw_core_segment t = s[0];
        s[0] = s[end];
        s[end] = t;
        sift(s, 0, end);
    }
}

/* NT_FILE: count, page size, count x (start, end, offset in pages), then count names. */
static spw_core_err file_note(spw_core *c, const uint8_t *d, uint64_t dlen, uint64_t at,
                              const spw_core_tables *t, spw_core_counts *n)
{
    if (dlen < 16) return fail(c, SPW_CORE_E_FILE_NOTE, at);
    const uint64_t count = spw_le64(d), page = spw_le64(d + 8);
    if (page == 0 || (page & (page - 1)) != 0 || page > ((uint64_t)1 << 30))
        return fail(c, SPW_CORE_E_FILE_NOTE, at + 8);
    if (count > (dlen - 16) / NT_FILE_ENTRY) return fail(c, SPW_CORE_E_FILE_NOTE, at);
    if (t && count > t->max_files) return fail(c, SPW_CORE_E_LIMIT, at);
    uint64_t name = 16 + count * NT_FILE_ENTRY;
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *e = d + 16 + i * NT_FILE_ENTRY;
        const uint64_t start = spw_le64(e), end = spw_le64(e + 8), pgoff = spw_le64(e + 16);
        if (end < start || pgoff > UINT64_MAX / page)
            return fail(c, SPW_CORE_E_FILE_NOTE, at + 16 + i * NT_FILE_ENTRY);
        const uint8_t *nul = name < dlen ? memchr(d + name, 0, (size_t)(dlen - name)) : NULL;
        if (!nul) return fail(c, SPW_CORE_E_FILE_NOTE, at + name);
        if (t) {
            spw_core_file *f = &t->files[i];
            f->start = start;
            f->end = end;
            f->offset = pgoff * page;
            f->name = (const char *)(d + name);
        }
        name = (uint64_t)(nul - d) + 1;
    }
    n->files = (uint32_t)count;
    c->page_size = page;
    return SPW_CORE_OK;
}

/* The "CORE" notes of one PT_NOTE segment's data d[0,len), at file offset base. */
static spw_core_err notes(spw_core *c, uint64_t base, uint64_t len, const spw_core_tables *t,
                          spw_core_counts *n, int *seen_file)
{
    const uint8_t *d = c->buf + base;
    uint64_t pos = 0;
    while (pos < len) {
        if (len - pos < 12) return fail(c, SPW_CORE_E_NOTE, base + pos);
        const uint64_t namesz = spw_le32(d + pos), descsz = spw_le32(d + pos + 4);
        const uint32_t type = spw_le32(d + pos + 8);
        const uint64_t name_at = pos + 12, desc_at = name_at + align4(namesz);
        if (!fits(name_at, align4(namesz), len) || !fits(desc_at, descsz, len))
            return fail(c, SPW_CORE_E_NOTE, base + pos);
        const int core = namesz == 5 && memcmp(d + name_at, "CORE", 5) == 0;
        const uint8_t *desc = d + desc_at;
        if (core && type == NT_PRSTATUS) {
            if (descsz < PRSTATUS_PID + 4) return fail(c, SPW_CORE_E_NOTE, base + pos);
            if (t) {
                if (n->threads >= t->max_threads) return fail(c, SPW_CORE_E_LIMIT, base + pos);
                t->threads[n->threads].tid = spw_le32(desc + PRSTATUS_PID);
                t->threads[n->threads].signal = spw_le16(desc + PRSTATUS_CURSIG);
            }
            if (n->threads == UINT32_MAX) return fail(c, SPW_CORE_E_LIMIT, base + pos);
            n->threads++;
        } else if (core && type == NT_FILE) {
            if (*seen_file) return fail(c, SPW_CORE_E_FILE_NOTE, base + pos);
            *seen_file = 1;
            spw_core_err err = file_note(c, desc, descsz, base + desc_at, t, n);
            if (err != SPW_CORE_OK) return err;
        } else if (core && type == NT_AUXV) {
            /* (type, value) pairs up to AT_NULL; a short or odd vector just has no entry. */
            for (uint64_t k = 0; k + 16 <= descsz; k += 16) {
                const uint64_t key = spw_le64(desc + k);
                if (key == AT_NULL) break;
                if (key == AT_ENTRY) c->entry = spw_le64(desc + k + 8);
            }
        }
        /* Notes this reader has no use for (NT_PRPSINFO, registers of other kinds, the
         * "LINUX" notes) are stepped over. The last note's padding may be absent. */
        pos = desc_at + descsz;
        pos = align4(pos) <= len ? align4(pos) : len;
    }
    return SPW_CORE_OK;
}

spw_core_err spw_core_parse(spw_core *c, const uint8_t *buf, size_t len,
                            const spw_core_tables *t, spw_core_counts *counts)
{
    memset(c, 0, sizeof *c);
    c->buf = buf;
    c->len = len;
    spw_core_counts n = { 0, 0, 0 };
    uint64_t phoff = 0, phnum = 0;
    spw_core_err err = phdr_table(c, &phoff, &phnum);
    if (err != SPW_CORE_OK) return err;

    int seen_file = 0;
    for (uint64_t i = 0; i < phnum; i++) {
        const uint64_t at = phoff + i * PHDR_SIZE;
        const uint8_t *p = buf + at;
        const uint32_t type = spw_le32(p);
        const uint64_t off = spw_le64(p + 8), vaddr = spw_le64(p + 16);
        const uint64_t filesz = spw_le64(p + 32), memsz = spw_le64(p + 40);
        if (type == PT_NOTE) {
            if (!fits(off, filesz, len)) return fail(c, SPW_CORE_E_TRUNCATED, at);
            err = notes(c, off, filesz, t, &n, &seen_file);
            if (err != SPW_CORE_OK) return err;
        } else if (type == PT_LOAD) {
            if (filesz > memsz || (filesz && !fits(off, filesz, len)) ||
                vaddr > UINT64_MAX - memsz)
                return fail(c, SPW_CORE_E_SEGMENT, at);
            if (memsz == 0) continue;
            if (t) {
                if (n.segments >= t->max_segments) return fail(c, SPW_CORE_E_LIMIT, at);
                t->segments[n.segments] = (spw_core_segment){
                    .vaddr = vaddr, .memsz = memsz, .offset = off, .filesz = filesz,
                    .flags = spw_le32(p + 4) };
            }
            n.segments++; /* at most phnum < 2^32 */
        }
    }
    if (counts) *counts = n;
    if (!t) return SPW_CORE_OK;

    sort_segments(t->segments, n.segments);
    for (uint32_t i = 1; i < n.segments; i++) {
        const spw_core_segment *a = &t->segments[i - 1];
        if (a->vaddr + a->memsz > t->segments[i].vaddr)
            return fail(c, SPW_CORE_E_OVERLAP, phoff);
    }
    c->segments = t->segments;
    c->n_segments = n.segments;
    c->threads = t->threads;
    c->n_threads = n.threads;
    c->files = t->files;
    c->n_files = n.files;
    return SPW_CORE_OK;
}

/* The number of segments starting at or below addr (binary search: sorted table). */
static uint32_t starting_at_or_below(const spw_core *c, uint64_t addr)
{
    uint32_t lo = 0, hi = c->n_segments;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (c->segments[mid].vaddr <= addr) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

uint32_t spw_core_segment_of(const spw_core *c, uint64_t addr)
{
    /* The last segment starting at or below addr is the only candidate, the segments
     * being disjoint. */
    const uint32_t lo = starting_at_or_below(c, addr);
    if (lo == 0) return UINT32_MAX;
    const spw_core_segment *s = &c->segments[lo - 1];
    return addr - s->vaddr < s->memsz ? lo - 1 : UINT32_MAX;
}

int spw_core_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    const spw_core *c = ctx;
    uint8_t *out = dst;
    if (c == NULL || (uint64_t)len > UINT64_MAX - addr) return -1;
    if (len == 0) {
        const uint32_t i = spw_core_segment_of(c, addr);
        return i != UINT32_MAX && addr - c->segments[i].vaddr < c->segments[i].filesz ? 0 : -1;
    }
    /* Piece by piece: each piece lies in one segment's file bytes (copied), or in bytes the
     * file lacks (asked of the fallback). */
    while (len) {
        const uint32_t i = spw_core_segment_of(c, addr);
        uint64_t piece = len;
        int in_file = 0;
        if (i != UINT32_MAX) {
            const spw_core_segment *s = &c->segments[i];
            const uint64_t rel = addr - s->vaddr;
            in_file = rel < s->filesz;
            const uint64_t room = in_file ? s->filesz - rel : s->memsz - rel;
            if (room < piece) piece = room;
            if (in_file) memcpy(out, c->buf + s->offset + rel, (size_t)piece);
        } else {
            /* Up to the next segment's start, if one starts inside the range. */
            const uint32_t lo = starting_at_or_below(c, addr);
            if (lo < c->n_segments && c->segments[lo].vaddr - addr < piece)
                piece = c->segments[lo].vaddr - addr;
        }
        if (!in_file &&
            (c->fallback.read == NULL || c->fallback.read(c->fallback.ctx, addr, out,
                                                          (size_t)piece) != 0))
            return -1;
        out += piece;
        addr += piece;
        len -= (size_t)piece;
    }
    return 0;
}
