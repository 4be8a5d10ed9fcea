/*
 * synth_core.h — synthetic ELF core files, for the unit tests and the fuzz seeds.
 *
 * Writes the shape the Linux kernel and gdb's gcore write (elfcore.h): ELF64 header of
 * type ET_CORE, one PT_NOTE segment first (NT_PRSTATUS per thread, NT_AUXV with AT_ENTRY,
 * NT_FILE), then one PT_LOAD per memory segment with its file bytes. Tests then corrupt
 * the result byte by byte; the writer itself only produces well-formed files.
 *
 * Pure like the rest of the core: it writes into the caller's buffer and never allocates.
 */
#ifndef SPW_SYNTH_CORE_H
#define SPW_SYNTH_CORE_H

#include "spw.h"

typedef struct spw_synth_seg {
    uint64_t vaddr, memsz;
    const uint8_t *data; /* filesz bytes; NULL writes zeros */
    uint64_t filesz;     /* <= memsz; fewer: the rest left out of the file */
    uint32_t flags;      /* PF_R 4, PF_W 2, PF_X 1 */
} spw_synth_seg;

typedef struct spw_synth_map {
    uint64_t start, end, pgoff; /* NT_FILE: file offset in pages */
    const char *name;
} spw_synth_map;

typedef struct spw_synth_core_spec {
    spw_arch arch;
    const spw_synth_seg *segs;
    uint32_t n_segs;
    const uint32_t *tids; /* one NT_PRSTATUS each, pr_cursig = signal for the first */
    uint32_t n_tids;
    uint32_t signal;
    const spw_synth_map *maps; /* NT_FILE when n_maps > 0 or page_size != 0 */
    uint32_t n_maps;
    uint64_t page_size;
    uint64_t entry; /* NT_AUXV's AT_ENTRY when nonzero */
} spw_synth_core_spec;

/* Bytes the core needs; when cap is at least that, the core is written to out. */
size_t spw_synth_core(const spw_synth_core_spec *spec, uint8_t *out, size_t cap);

/* File offsets of parts of a written core (for tests that corrupt them). */
#define SPW_SYNTH_CORE_PHDR 64u   /* program headers; the PT_NOTE one is first */
#define SPW_SYNTH_CORE_NOTES(n_segs) (64u + 56u * (1u + (n_segs))) /* first note */

#endif /* SPW_SYNTH_CORE_H */
