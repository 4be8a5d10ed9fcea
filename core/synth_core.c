/*
 * synth_core.c — write a synthetic ELF core file (synth_core.h).
 *
 * Layout: ELF header, program headers (PT_NOTE, then the PT_LOADs in the caller's order),
 * the notes, then each segment's file bytes at a 16-byte aligned offset. Notes follow the
 * ELF note format: namesz, descsz, type, "CORE\0" padded to 8, desc padded to 4.
 */
#include <string.h>

#include "reader.h"
#include "synth_core.h"

#define PRSTATUS_SIZE 336u /* x86-64's struct elf_prstatus; only pr_cursig, pr_pid matter */

typedef struct writer {
    uint8_t *out;
    size_t cap, pos;
} writer;

/* Each put advances pos; bytes are written only when the whole core fits (cap known). */
static void put(writer *w, const void *p, size_t n)
{
    if (w->out && w->pos + n <= w->cap) {
        if (p) memcpy(w->out + w->pos, p, n);
        else memset(w->out + w->pos, 0, n);
    }
    w->pos += n;
}

static void put32(writer *w, uint32_t v)
{
    uint8_t b[4];
    spw_put32(b, v);
    put(w, b, 4);
}

static void put64(writer *w, uint64_t v)
{
    uint8_t b[8];
    spw_put64(b, v);
    put(w, b, 8);
}

static void pad(writer *w, size_t align)
{
    while (w->pos % align) put(w, "", 1);
}

static void note_head(writer *w, uint32_t descsz, uint32_t type)
{
    put32(w, 5);
    put32(w, descsz);
    put32(w, type);
    put(w, "CORE\0\0\0", 8);
}

/* Bytes of the notes: a 20-byte head each ("CORE" padded to 8), descs padded to 4. */
static size_t notes_size(const spw_synth_core_spec *s)
{
    size_t names = 0, n = (size_t)s->n_tids * (20 + PRSTATUS_SIZE);
    for (uint32_t i = 0; i < s->n_maps; i++) names += strlen(s->maps[i].name) + 1;
    if (s->entry) n += 20 + 32;
    if (s->n_maps || s->page_size)
        n += 20 + ((16 + 24 * (size_t)s->n_maps + names + 3) & ~(size_t)3);
    return n;
}

size_t spw_synth_core(const spw_synth_core_spec *s, uint8_t *out, size_t cap)
{
    const size_t notes_at = 64 + 56 * ((size_t)s->n_segs + 1), notes_len = notes_size(s);
    /* Where each segment's bytes go: after the notes, 16-byte aligned. */
    size_t data_end = (notes_at + notes_len + 15) & ~(size_t)15;
    for (uint32_t i = 0; i < s->n_segs; i++)
        data_end = (data_end + s->segs[i].filesz + 15) & ~(size_t)15;
    writer w = { data_end <= cap ? out : NULL, cap, 0 };
    if (!w.out) return data_end;

    /* ELF header */
    const uint8_t ident[16] = { 0x7f, 'E', 'L', 'F', 2, 1, 1, 0 };
    put(&w, ident, 16);
    uint8_t h[48] = { 0 };
    spw_put16(h + 0, 4); /* ET_CORE */
    spw_put16(h + 2, s->arch == SPW_ARCH_AARCH64 ? 183 : 62);
    spw_put32(h + 4, 1);
    spw_put64(h + 16, 64);                          /* e_phoff */
    spw_put16(h + 36, 64);                          /* e_ehsize */
    spw_put16(h + 38, 56);                          /* e_phentsize */
    spw_put16(h + 40, (uint16_t)(s->n_segs + 1));   /* e_phnum */
    spw_put16(h + 42, 64);                          /* e_shentsize */
    put(&w, h, sizeof h);

    /* program headers */
    put32(&w, 4); /* PT_NOTE */
    put32(&w, 0);
    put64(&w, notes_at);
    put64(&w, 0);
    put64(&w, 0);
    put64(&w, notes_len);
    put64(&w, 0);
    put64(&w, 4);
    size_t data = (notes_at + notes_len + 15) & ~(size_t)15;
    for (uint32_t i = 0; i < s->n_segs; i++) {
        const spw_synth_seg *g = &s->segs[i];
        put32(&w, 1); /* PT_LOAD */
        put32(&w, g->flags);
        put64(&w, g->filesz ? data : 0);
        put64(&w, g->vaddr);
        put64(&w, 0);
        put64(&w, g->filesz);
        put64(&w, g->memsz);
        put64(&w, 4096);
        data = (data + g->filesz + 15) & ~(size_t)15;
    }

    /* notes */
    for (uint32_t i = 0; i < s->n_tids; i++) {
        uint8_t pr[PRSTATUS_SIZE] = { 0 };
        spw_put16(pr + 12, (uint16_t)(i == 0 ? s->signal : 0));
        spw_put32(pr + 32, s->tids[i]);
        note_head(&w, PRSTATUS_SIZE, 1);
        put(&w, pr, sizeof pr);
    }
    if (s->entry) {
        note_head(&w, 32, 6);
        put64(&w, 9);
        put64(&w, s->entry);
        put64(&w, 0);
        put64(&w, 0);
    }
    if (s->n_maps || s->page_size) {
        size_t names = 0;
        for (uint32_t i = 0; i < s->n_maps; i++) names += strlen(s->maps[i].name) + 1;
        note_head(&w, (uint32_t)(16 + 24 * (size_t)s->n_maps + names), 0x46494c45);
        put64(&w, s->n_maps);
        put64(&w, s->page_size);
        for (uint32_t i = 0; i < s->n_maps; i++) {
            put64(&w, s->maps[i].start);
            put64(&w, s->maps[i].end);
            put64(&w, s->maps[i].pgoff);
        }
        for (uint32_t i = 0; i < s->n_maps; i++)
            put(&w, s->maps[i].name, strlen(s->maps[i].name) + 1);
        pad(&w, 4);
    }

    /* segment bytes */
    pad(&w, 16);
    for (uint32_t i = 0; i < s->n_segs; i++) {
        put(&w, s->segs[i].data, s->segs[i].filesz);
        pad(&w, 16);
    }
    return w.pos;
}
