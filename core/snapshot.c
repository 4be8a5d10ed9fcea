/*
 * snapshot.c — encoder and decoder of snapshot files (format: docs/snapshot-format.md).
 *
 * The layout has no free offsets: every section's position follows from the counts and
 * lengths before it, so there is exactly one valid file for a given content. That is what
 * lets the decoder be strict (any byte out of place is an error, never "ignored") and what
 * makes encode(decode(f)) reproduce f byte for byte.
 *
 * The decoder treats its input as hostile. It reads only inside buf[0, len), does all size
 * arithmetic in uint64_t with explicit overflow checks, and validates in an order chosen so
 * that each kind of damage maps to one error: identity (magic, version), then the header's
 * own fields, then the declared sizes against the buffer, then the checksum, and only then
 * the contents of the tables, which are not trusted before the CRC matched.
 */
#include <string.h>

#include "snapshot.h"

/* ---- layout of format version 1 (every number here is documented in the spec) ------- */

#define HDR_SIZE 64u
#define HDR_MAGIC 0u        /* 8 bytes */
#define HDR_VERSION 8u      /* u16 */
#define HDR_HEADER_SIZE 10u /* u16 */
#define HDR_ARCH 12u        /* u8 */
#define HDR_PTR_WIDTH 13u   /* u8 */
#define HDR_FREE_THREADED 14u
#define HDR_FLAGS 15u
#define HDR_PY_VERSION 16u   /* u64 */
#define HDR_CODE_TYPE 24u    /* u64 */
#define HDR_OFFSETS_LEN 32u  /* u32 */
#define HDR_N_THREADS 36u    /* u32 */
#define HDR_N_REGIONS 40u    /* u32 */
#define HDR_EXPECTED_LEN 44u /* u32 */
#define HDR_FILE_SIZE 48u    /* u64 */
#define HDR_RESERVED 56u     /* u64 */

#define FLAG_EXPECTED 0x01u /* the expected-output section is present */
#define FLAGS_KNOWN FLAG_EXPECTED

#define THREAD_ENTRY 24u /* u64 tstate, u64 thread_id, u64 native_thread_id */
#define REGION_ENTRY 24u /* u64 addr, u64 len, u64 data_offset */
#define TRAILER_SIZE 8u  /* u32 crc, u32 zero */

#define POINTER_WIDTH 8u

/* Round up to the section alignment (8), saturating: a length so large that it cannot be
 * padded is larger than any buffer, and saturation turns it into a plain "too long". */
static uint64_t pad8(uint64_t n)
{
    if (n > UINT64_MAX - 7u) return UINT64_MAX;
    return (n + 7u) & ~(uint64_t)7u;
}

/* Saturating addition, for the same reason. */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int arch_known(unsigned a)
{
    return a == SPW_ARCH_X86_64 || a == SPW_ARCH_AARCH64;
}

/* A region must be non-empty and lie wholly below the architecture's user-space limit,
 * the same bound spw_addr_ok() applies to every address the walker asks for: memory above
 * it can never have been read from a user process, so its presence means corruption. */
static int region_in_user_space(uint64_t addr, uint64_t len, uint64_t limit)
{
    return len != 0 && addr < limit && len <= limit - addr;
}

static int all_zero(const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i] != 0) return 0;
    return 1;
}

const char *spw_snap_strerror(spw_snap_err err)
{
    switch (err) {
    case SPW_SNAP_OK: return "ok";
    case SPW_SNAP_E_EMPTY: return "empty input";
    case SPW_SNAP_E_TRUNCATED: return "truncated: shorter than the header or its declared sizes";
    case SPW_SNAP_E_MAGIC: return "not a snapshot file (bad magic)";
    case SPW_SNAP_E_VERSION: return "unsupported snapshot format version";
    case SPW_SNAP_E_HEADER: return "invalid header field";
    case SPW_SNAP_E_LIMIT: return "count or length above the decoder's limits";
    case SPW_SNAP_E_LENGTH: return "sections do not add up to the file size";
    case SPW_SNAP_E_REGION: return "empty region, or region outside user space";
    case SPW_SNAP_E_OVERLAP: return "regions not sorted or overlapping";
    case SPW_SNAP_E_PADDING: return "nonzero padding bytes";
    case SPW_SNAP_E_CHECKSUM: return "CRC-32 mismatch";
    case SPW_SNAP_E_NOSPACE: return "output buffer too small";
    case SPW_SNAP_E_INVALID: return "invalid snapshot description";
    }
    return "unknown snapshot error";
}

/* ---- decoder ------------------------------------------------------------------------ */

spw_snap_err spw_snapshot_decode(const uint8_t *buf, size_t len, spw_snapshot *out)
{
    if (out == NULL) return SPW_SNAP_E_INVALID;
    memset(out, 0, sizeof *out);
    if (buf == NULL || len == 0) return SPW_SNAP_E_EMPTY;
    if (len < HDR_SIZE) return SPW_SNAP_E_TRUNCATED;
    if (memcmp(buf + HDR_MAGIC, SPW_SNAP_MAGIC, 8) != 0) return SPW_SNAP_E_MAGIC;
    /* The version comes before every other field: a future version may move them. */
    if (spw_le16(buf + HDR_VERSION) != SPW_SNAP_VERSION) return SPW_SNAP_E_VERSION;

    const unsigned arch = buf[HDR_ARCH];
    const unsigned flags = buf[HDR_FLAGS];
    const uint32_t offsets_len = spw_le32(buf + HDR_OFFSETS_LEN);
    const uint32_t n_threads = spw_le32(buf + HDR_N_THREADS);
    const uint32_t n_regions = spw_le32(buf + HDR_N_REGIONS);
    const uint32_t expected_len = spw_le32(buf + HDR_EXPECTED_LEN);
    const uint64_t file_size = spw_le64(buf + HDR_FILE_SIZE);

    if (spw_le16(buf + HDR_HEADER_SIZE) != HDR_SIZE || !arch_known(arch) ||
        buf[HDR_PTR_WIDTH] != POINTER_WIDTH || buf[HDR_FREE_THREADED] > 1 ||
        (flags & ~FLAGS_KNOWN) != 0 ||
        /* a length for a section the flags say is absent: one of the two is wrong */
        (!(flags & FLAG_EXPECTED) && expected_len != 0) ||
        spw_le64(buf + HDR_RESERVED) != 0)
        return SPW_SNAP_E_HEADER;

    if (offsets_len > SPW_SNAP_OFFSETS_MAX || n_threads > SPW_SNAP_THREADS_MAX ||
        n_regions > SPW_SNAP_REGIONS_MAX || expected_len > SPW_SNAP_EXPECTED_MAX)
        return SPW_SNAP_E_LIMIT;

    /* Sizes. file_size exists to tell a cut-off file from a damaged one cheaply. */
    const uint64_t n = (uint64_t)len;
    if (n < file_size) return SPW_SNAP_E_TRUNCATED;

    /* With the limits above the fixed part is below 64 MiB: no overflow possible. */
    const uint64_t threads_at = HDR_SIZE + pad8(offsets_len);
    const uint64_t regions_at = threads_at + (uint64_t)n_threads * THREAD_ENTRY;
    const uint64_t data_at = regions_at + (uint64_t)n_regions * REGION_ENTRY;
    if (n < data_at) return SPW_SNAP_E_TRUNCATED;

    /* Walk the region table only far enough to learn where everything ends. Each entry's
     * data_offset is redundant with the lengths before it (it is stored so that the image
     * reader can find a region's bytes in O(1)); requiring it to equal the implied value
     * keeps the layout unique. */
    uint64_t pos = data_at;
    for (uint32_t i = 0; i < n_regions; i++) {
        const uint8_t *e = buf + regions_at + (uint64_t)i * REGION_ENTRY;
        const uint64_t rlen = spw_le64(e + 8);
        if (pad8(rlen) > n - pos) return SPW_SNAP_E_TRUNCATED;
        if (spw_le64(e + 16) != pos) return SPW_SNAP_E_LENGTH;
        pos += pad8(rlen);
    }
    const uint64_t expected_at = pos;
    if (pad8(expected_len) > n - pos) return SPW_SNAP_E_TRUNCATED;
    pos += pad8(expected_len);
    if (TRAILER_SIZE > n - pos) return SPW_SNAP_E_TRUNCATED;
    pos += TRAILER_SIZE;
    if (pos != n || file_size != n) return SPW_SNAP_E_LENGTH;

    /* Integrity before meaning: from here on, a mismatch is a writer's bug or a forgery,
     * not random damage. The trailer's zero word is outside the CRC (it follows it). */
    const uint64_t crc_at = n - TRAILER_SIZE;
    if (spw_crc32(0, buf, (size_t)crc_at) != spw_le32(buf + crc_at)) return SPW_SNAP_E_CHECKSUM;

    /* Regions: first each on its own, then their order, so that a file with both kinds of
     * damage always reports the more basic one. */
    const uint64_t limit = spw_arch_user_limit((spw_arch)arch);
    for (uint32_t i = 0; i < n_regions; i++) {
        const uint8_t *e = buf + regions_at + (uint64_t)i * REGION_ENTRY;
        if (!region_in_user_space(spw_le64(e), spw_le64(e + 8), limit))
            return SPW_SNAP_E_REGION;
    }
    /* Strictly increasing and disjoint (adjacent is fine): the image reader's binary search
     * depends on it, and disjointness makes "the byte at addr" unambiguous. */
    for (uint32_t i = 1; i < n_regions; i++) {
        const uint8_t *prev = buf + regions_at + (uint64_t)(i - 1) * REGION_ENTRY;
        const uint8_t *e = prev + REGION_ENTRY;
        /* prev's end cannot overflow: checked against the user limit above */
        if (spw_le64(e) < spw_le64(prev) + spw_le64(prev + 8)) return SPW_SNAP_E_OVERLAP;
    }

    /* Padding last: it carries no information, but a writer that leaves garbage there
     * would make two files with the same content differ. */
    if (!all_zero(buf + HDR_SIZE + offsets_len, pad8(offsets_len) - offsets_len))
        return SPW_SNAP_E_PADDING;
    for (uint32_t i = 0; i < n_regions; i++) {
        const uint8_t *e = buf + regions_at + (uint64_t)i * REGION_ENTRY;
        const uint64_t rlen = spw_le64(e + 8);
        if (!all_zero(buf + spw_le64(e + 16) + rlen, pad8(rlen) - rlen))
            return SPW_SNAP_E_PADDING;
    }
    if (!all_zero(buf + expected_at + expected_len, pad8(expected_len) - expected_len) ||
        !all_zero(buf + crc_at + 4, 4))
        return SPW_SNAP_E_PADDING;

    out->header.arch = (spw_arch)arch;
    out->header.pointer_width = buf[HDR_PTR_WIDTH];
    out->header.free_threaded = buf[HDR_FREE_THREADED];
    out->header.py_version = spw_le64(buf + HDR_PY_VERSION);
    out->header.code_type = spw_le64(buf + HDR_CODE_TYPE);
    out->offsets = buf + HDR_SIZE;
    out->offsets_len = offsets_len;
    out->n_threads = n_threads;
    out->n_regions = n_regions;
    /* Absent and present-but-empty are different statements, and both survive a round
     * trip: the flag, not the length, says which. */
    out->expected = (flags & FLAG_EXPECTED) ? buf + expected_at : NULL;
    out->expected_len = expected_len;
    out->threads_table_ = buf + threads_at;
    out->regions_table_ = buf + regions_at;
    out->base_ = buf;
    return SPW_SNAP_OK;
}

/* Out-of-range indices give a zeroed entry rather than reading past the table: a caller's
 * off-by-one must not become an out-of-bounds read. */
spw_snap_thread spw_snapshot_thread(const spw_snapshot *s, uint32_t i)
{
    spw_snap_thread t = {0, 0, 0};
    if (s == NULL || i >= s->n_threads) return t;
    const uint8_t *e = s->threads_table_ + (uint64_t)i * THREAD_ENTRY;
    t.tstate = spw_le64(e);
    t.thread_id = spw_le64(e + 8);
    t.native_thread_id = spw_le64(e + 16);
    return t;
}

spw_snap_region spw_snapshot_region(const spw_snapshot *s, uint32_t i)
{
    spw_snap_region r = {0, 0, NULL};
    if (s == NULL || i >= s->n_regions) return r;
    const uint8_t *e = s->regions_table_ + (uint64_t)i * REGION_ENTRY;
    r.addr = spw_le64(e);
    r.len = spw_le64(e + 8);
    r.data = s->base_ + spw_le64(e + 16);
    return r;
}

/* ---- encoder ------------------------------------------------------------------------ */

/* Everything the decoder would refuse is refused here first, so an encoder never produces
 * a file its own decoder rejects. Returns the encoded size, or 0 if the spec is invalid. */
static uint64_t spec_size(const spw_snap_spec *sp)
{
    const spw_snap_header *h = &sp->header;
    if (!arch_known((unsigned)h->arch) || h->pointer_width != POINTER_WIDTH ||
        h->free_threaded > 1)
        return 0;
    if (sp->offsets_len > SPW_SNAP_OFFSETS_MAX || sp->n_threads > SPW_SNAP_THREADS_MAX ||
        sp->n_regions > SPW_SNAP_REGIONS_MAX || sp->expected_len > SPW_SNAP_EXPECTED_MAX)
        return 0;
    if ((sp->offsets_len && !sp->offsets) || (sp->n_threads && !sp->threads) ||
        (sp->n_regions && !sp->regions) || (sp->expected_len && !sp->expected))
        return 0;

    const uint64_t limit = spw_arch_user_limit(h->arch);
    uint64_t size = HDR_SIZE + pad8(sp->offsets_len) + (uint64_t)sp->n_threads * THREAD_ENTRY +
                    (uint64_t)sp->n_regions * REGION_ENTRY;
    for (uint32_t i = 0; i < sp->n_regions; i++) {
        const spw_snap_region *r = &sp->regions[i];
        if (!region_in_user_space(r->addr, r->len, limit) || r->data == NULL) return 0;
        if (i > 0 && r->addr < sp->regions[i - 1].addr + sp->regions[i - 1].len) return 0;
        /* region lengths are below 2^48 each, so only the running sum can saturate */
        size = add_sat(size, pad8(r->len));
    }
    size = add_sat(size, pad8(sp->expected_len) + TRAILER_SIZE);
    if (size == UINT64_MAX || size > (uint64_t)SIZE_MAX) return 0;
    return size;
}

spw_snap_err spw_snapshot_encode(const spw_snap_spec *spec, uint8_t *out, size_t cap,
                                 size_t *size)
{
    if (size == NULL) return SPW_SNAP_E_INVALID;
    *size = 0;
    if (spec == NULL) return SPW_SNAP_E_INVALID;
    const uint64_t total = spec_size(spec);
    if (total == 0) return SPW_SNAP_E_INVALID;
    *size = (size_t)total;
    if (out == NULL || cap < total) return SPW_SNAP_E_NOSPACE;

    /* Zero first: every padding byte, the reserved word and the trailer's zero word. */
    memset(out, 0, (size_t)total);
    const spw_snap_header *h = &spec->header;
    memcpy(out + HDR_MAGIC, SPW_SNAP_MAGIC, 8);
    spw_put16(out + HDR_VERSION, SPW_SNAP_VERSION);
    spw_put16(out + HDR_HEADER_SIZE, HDR_SIZE);
    out[HDR_ARCH] = (uint8_t)h->arch;
    out[HDR_PTR_WIDTH] = h->pointer_width;
    out[HDR_FREE_THREADED] = h->free_threaded;
    out[HDR_FLAGS] = spec->expected ? FLAG_EXPECTED : 0;
    spw_put64(out + HDR_PY_VERSION, h->py_version);
    spw_put64(out + HDR_CODE_TYPE, h->code_type);
    spw_put32(out + HDR_OFFSETS_LEN, spec->offsets_len);
    spw_put32(out + HDR_N_THREADS, spec->n_threads);
    spw_put32(out + HDR_N_REGIONS, spec->n_regions);
    spw_put32(out + HDR_EXPECTED_LEN, spec->expected_len);
    spw_put64(out + HDR_FILE_SIZE, total);

    uint64_t pos = HDR_SIZE;
    if (spec->offsets_len) memcpy(out + pos, spec->offsets, spec->offsets_len);
    pos += pad8(spec->offsets_len);
    for (uint32_t i = 0; i < spec->n_threads; i++, pos += THREAD_ENTRY) {
        spw_put64(out + pos, spec->threads[i].tstate);
        spw_put64(out + pos + 8, spec->threads[i].thread_id);
        spw_put64(out + pos + 16, spec->threads[i].native_thread_id);
    }
    const uint64_t regions_at = pos;
    pos += (uint64_t)spec->n_regions * REGION_ENTRY;
    for (uint32_t i = 0; i < spec->n_regions; i++) {
        const spw_snap_region *r = &spec->regions[i];
        uint8_t *e = out + regions_at + (uint64_t)i * REGION_ENTRY;
        spw_put64(e, r->addr);
        spw_put64(e + 8, r->len);
        spw_put64(e + 16, pos);
        memcpy(out + pos, r->data, (size_t)r->len);
        pos += pad8(r->len);
    }
    if (spec->expected_len) memcpy(out + pos, spec->expected, spec->expected_len);
    pos += pad8(spec->expected_len);
    spw_put32(out + pos, spw_crc32(0, out, (size_t)pos));
    return SPW_SNAP_OK;
}
