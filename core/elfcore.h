/*
 * elfcore.h — an ELF core file as a reader: the memory of a dead (or gcore'd) process.
 *
 * A core file is another implementation of the reader seam (reader.h), not another walker:
 * the walker, thread iterator and symbolizer read a core's PT_LOAD segments exactly as they
 * read a live process or a snapshot.
 *
 * What a Linux core holds (the kernel's fs/binfmt_elf.c and gdb's gcore write the same
 * shape): an ELF64 header of type ET_CORE, one PT_LOAD per memory mapping (p_vaddr,
 * p_memsz; p_filesz bytes of it at p_offset in the file, fewer than p_memsz when the dumper
 * left the mapping's contents out — read-only file-backed text usually), and PT_NOTE
 * segments with "CORE" notes: one NT_PRSTATUS per thread (its tid), NT_AUXV (the program's
 * entry point, which says which mapping is the executable), and one NT_FILE table of the
 * file-backed mappings (start, end, file offset, path).
 *
 * Like the rest of the core the parser is pure: it reads a caller-provided buffer (the
 * mmapped file) into caller-provided tables, allocates nothing, performs no I/O and keeps
 * no global state. Every offset, length and count in the file is checked against the
 * buffer with overflow-safe arithmetic before it is used: a core file is hostile input.
 *
 *     spw_core_counts n;                        // pass 1: how big the tables must be
 *     spw_core_parse(&c, buf, len, NULL, &n);
 *     ... allocate n.segments, n.threads, n.files entries ...
 *     spw_core_parse(&c, buf, len, &tables, NULL);   // pass 2: fill them
 *     spw_reader r = { spw_core_read, &c };
 *
 * Bytes of a mapping that are not in the file (past p_filesz, or an address no PT_LOAD
 * covers) go to c.fallback when the caller set one — the harness serves them from the
 * mapped file named in NT_FILE — and otherwise the read fails, so the walk reports
 * `unreadable`. They are never invented as zeros.
 */
#ifndef SPW_ELFCORE_H
#define SPW_ELFCORE_H

#include "reader.h"

typedef enum spw_core_err {
    SPW_CORE_OK = 0,
    SPW_CORE_E_TRUNCATED,  /* shorter than an ELF header, or a table past the end */
    SPW_CORE_E_NOT_ELF,    /* no ELF magic */
    SPW_CORE_E_CLASS,      /* not 64-bit little-endian */
    SPW_CORE_E_NOT_CORE,   /* an ELF file, but not ET_CORE */
    SPW_CORE_E_MACHINE,    /* neither x86-64 nor AArch64 */
    SPW_CORE_E_PHDR,       /* program header table: bad entry size or numbering */
    SPW_CORE_E_SEGMENT,    /* a PT_LOAD's data past the end, filesz > memsz, or wrapping */
    SPW_CORE_E_OVERLAP,    /* two PT_LOAD segments overlap */
    SPW_CORE_E_NOTE,       /* a note's header, name or data runs past its segment */
    SPW_CORE_E_FILE_NOTE,  /* NT_FILE malformed (count, page size, range, names), or two */
    SPW_CORE_E_LIMIT,      /* more entries than the caller's tables hold */
    SPW_CORE_E_COUNT_,
} spw_core_err;

/* One PT_LOAD: [vaddr, vaddr+memsz) in the process, its first filesz bytes at file offset
 * `offset`. Zero-sized segments are dropped. */
typedef struct spw_core_segment {
    uint64_t vaddr, memsz, offset, filesz;
    uint32_t flags; /* PF_R 4, PF_W 2, PF_X 1 */
} spw_core_segment;

/* One NT_PRSTATUS: a thread of the process when it was dumped. */
typedef struct spw_core_thread {
    uint32_t tid;    /* pr_pid: the kernel thread id (CPython's native_thread_id) */
    uint32_t signal; /* pr_cursig: the signal being delivered (the crash), or 0 */
} spw_core_thread;

/* One NT_FILE entry: [start, end) maps `name` from byte `offset` on. name points into the
 * caller's buffer and is NUL-terminated there. */
typedef struct spw_core_file {
    uint64_t start, end, offset;
    const char *name;
} spw_core_file;

/* What pass 1 counts (the sizes pass 2's tables need). */
typedef struct spw_core_counts {
    uint32_t segments, threads, files;
} spw_core_counts;

/* Caller-provided tables for pass 2. */
typedef struct spw_core_tables {
    spw_core_segment *segments;
    uint32_t max_segments;
    spw_core_thread *threads;
    uint32_t max_threads;
    spw_core_file *files;
    uint32_t max_files;
} spw_core_tables;

typedef struct spw_core {
    const uint8_t *buf;
    size_t len;
    spw_arch arch;
    const spw_core_segment *segments; /* sorted by vaddr, disjoint */
    uint32_t n_segments;
    const spw_core_thread *threads; /* in note order: the kernel puts the crashing one first */
    uint32_t n_threads;
    const spw_core_file *files; /* in NT_FILE order */
    uint32_t n_files;
    uint64_t page_size; /* NT_FILE's page size, 0 without NT_FILE */
    uint64_t entry;     /* AT_ENTRY from NT_AUXV (the executable's entry point), or 0 */
    uint64_t err_at;    /* after a failed parse: file offset of the offending structure */
    /* For bytes the file does not hold; read == NULL means none. Set after parsing. */
    spw_reader fallback;
} spw_core;

/* Parse buf[0,len) as an ELF core. With tables == NULL only count (into *counts); with
 * tables, fill them (counts may be NULL) and point c at them. A segment table is sorted in
 * place. On failure c->err_at says where. Either way c->buf and c->len are set. */
spw_core_err spw_core_parse(spw_core *c, const uint8_t *buf, size_t len,
                            const spw_core_tables *tables, spw_core_counts *counts);

/* spw_read_fn over a parsed core (ctx is the spw_core). A range may span adjacent
 * segments; every byte must come from the file or from the fallback, or the read fails.
 * A zero-length read succeeds when addr lies inside a segment's file bytes. */
int spw_core_read(void *ctx, uint64_t addr, void *dst, size_t len);

/* Index of the segment containing addr, or UINT32_MAX. */
uint32_t spw_core_segment_of(const spw_core *c, uint64_t addr);

const char *spw_core_strerror(spw_core_err err);

#endif /* SPW_ELFCORE_H */
