/*
 * test_snapshot.c — the snapshot codec (core/snapshot.c), the image reader (core/image.c)
 * and CRC-32 (core/crc32.c), against docs/snapshot-format.md.
 *
 * The test carries its own writer of the format (raw_build), written from the spec and
 * sharing no code with the encoder. It serves two purposes: the encoder's output must equal
 * it byte for byte, and it can write files the encoder refuses to produce (empty regions,
 * overlaps, ...) so that each decoder rejection is reached with an otherwise valid file
 * whose CRC matches — proving the error comes from the check under test, not from the CRC.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapshot.h"

/* ---- the test's own writer of format v1 ------------------------------------------------ */

enum { T_HDR = 64, T_THREAD = 24, T_REGION = 24, T_TRAILER = 8 };

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static uint64_t up8(uint64_t n)
{
    return (n + 7) / 8 * 8;
}

typedef struct raw_file {
    uint8_t arch, pointer_width, free_threaded, flags;
    uint64_t py_version, code_type;
    const uint8_t *offsets;
    uint32_t offsets_len;
    const spw_snap_thread *threads;
    uint32_t n_threads;
    const spw_snap_region *regions;
    uint32_t n_regions;
    const uint8_t *expected;
    uint32_t expected_len;
} raw_file;

/* Write f into out (zeroed first), with correct file_size and CRC; return the size. */
static size_t raw_build(const raw_file *f, uint8_t *out, size_t cap)
{
    size_t n = T_HDR + up8(f->offsets_len) + (size_t)f->n_threads * T_THREAD +
               (size_t)f->n_regions * T_REGION;
    for (uint32_t i = 0; i < f->n_regions; i++) n += up8(f->regions[i].len);
    n += up8(f->expected_len) + T_TRAILER;
    assert_true(n <= cap);
    memset(out, 0, n);
    memcpy(out, "SPWSNAP", 8); /* with its NUL */
    put_le(out + 8, 1, 2);
    put_le(out + 10, 64, 2);
    out[12] = f->arch;
    out[13] = f->pointer_width;
    out[14] = f->free_threaded;
    out[15] = f->flags;
    put_le(out + 16, f->py_version, 8);
    put_le(out + 24, f->code_type, 8);
    put_le(out + 32, f->offsets_len, 4);
    put_le(out + 36, f->n_threads, 4);
    put_le(out + 40, f->n_regions, 4);
    put_le(out + 44, f->expected_len, 4);
    put_le(out + 48, n, 8);
    size_t p = T_HDR;
    if (f->offsets_len) memcpy(out + p, f->offsets, f->offsets_len);
    p += up8(f->offsets_len);
    for (uint32_t i = 0; i < f->n_threads; i++, p += T_THREAD) {
        put_le(out + p, f->threads[i].tstate, 8);
        put_le(out + p + 8, f->threads[i].thread_id, 8);
        put_le(out + p + 16, f->threads[i].native_thread_id, 8);
    }
    size_t table = p, data = p + (size_t)f->n_regions * T_REGION;
    for (uint32_t i = 0; i < f->n_regions; i++) {
        put_le(out + table + (size_t)i * T_REGION, f->regions[i].addr, 8);
        put_le(out + table + (size_t)i * T_REGION + 8, f->regions[i].len, 8);
        put_le(out + table + (size_t)i * T_REGION + 16, data, 8);
        if (f->regions[i].len) memcpy(out + data, f->regions[i].data, f->regions[i].len);
        data += up8(f->regions[i].len);
    }
    p = data;
    if (f->expected_len) memcpy(out + p, f->expected, f->expected_len);
    p += up8(f->expected_len);
    put_le(out + p, spw_crc32(0, out, p), 4);
    assert_int_equal(p + T_TRAILER, n);
    return n;
}

/* Recompute the CRC after an edit, so the decoder gets past the checksum. */
static void recrc(uint8_t *buf, size_t n)
{
    put_le(buf + n - 8, spw_crc32(0, buf, n - 8), 4);
}

/* ---- the sample: every section present, padding everywhere ----------------------------- */

static const uint8_t s_offsets[13] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
static const spw_snap_thread s_threads[2] = {
    {0x7f1200001000u, 0x7f11ffe006c0u, 4242},
    {0x7f1200042000u, 0x7f11ff5ff6c0u, 4243},
};
static const uint8_t r0[5] = {'A', 'B', 'C', 'D', 'E'};
static const uint8_t r1[16] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
                               0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
static const uint8_t r2[11] = {0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a};
static const uint8_t r3[8] = {0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe, 0xba, 0xbe};
static const spw_snap_region s_regions[4] = {
    {0x10000, sizeof r0, r0},
    {0x20000, sizeof r1, r1},
    {0x20010, sizeof r2, r2}, /* adjacent to the previous one */
    {0x7fff0000, sizeof r3, r3},
};
static const uint8_t s_expected[12] = {'m', 'a', 'i', 'n', '.', 'p', 'y', ':', '3', ' ', 'f', '\n'};

/* Layout of the sample, worked out by hand from the spec. */
enum {
    S_THREADS_AT = 64 + 16,
    S_REGIONS_AT = S_THREADS_AT + 2 * 24,
    S_DATA_AT = S_REGIONS_AT + 4 * 24,
    S_R0_AT = S_DATA_AT,
    S_R1_AT = S_R0_AT + 8,
    S_R2_AT = S_R1_AT + 16,
    S_R3_AT = S_R2_AT + 16,
    S_EXPECTED_AT = S_R3_AT + 8,
    S_CRC_AT = S_EXPECTED_AT + 16,
    S_SIZE = S_CRC_AT + 8, /* 296 */
};

static spw_snap_spec sample_spec(void)
{
    spw_snap_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.header.arch = SPW_ARCH_X86_64;
    sp.header.pointer_width = 8;
    sp.header.free_threaded = 1;
    sp.header.py_version = 0x030d05f0u;
    sp.header.code_type = 0x55d0c0a1b2c0u;
    sp.offsets = s_offsets;
    sp.offsets_len = sizeof s_offsets;
    sp.threads = s_threads;
    sp.n_threads = 2;
    sp.regions = s_regions;
    sp.n_regions = 4;
    sp.expected = s_expected;
    sp.expected_len = sizeof s_expected;
    return sp;
}

static raw_file sample_raw(void)
{
    raw_file f;
    memset(&f, 0, sizeof f);
    f.arch = SPW_ARCH_X86_64;
    f.pointer_width = 8;
    f.free_threaded = 1;
    f.flags = 1;
    f.py_version = 0x030d05f0u;
    f.code_type = 0x55d0c0a1b2c0u;
    f.offsets = s_offsets;
    f.offsets_len = sizeof s_offsets;
    f.threads = s_threads;
    f.n_threads = 2;
    f.regions = s_regions;
    f.n_regions = 4;
    f.expected = s_expected;
    f.expected_len = sizeof s_expected;
    return f;
}

/* Encode the sample into buf[S_SIZE]. */
static void sample_file(uint8_t *buf)
{
    spw_snap_spec sp = sample_spec();
    size_t size = 0;
    assert_int_equal(spw_snapshot_encode(&sp, buf, S_SIZE, &size), SPW_SNAP_OK);
    assert_int_equal(size, S_SIZE);
}

static spw_snap_err decode(const uint8_t *buf, size_t n)
{
    spw_snapshot s;
    return spw_snapshot_decode(buf, n, &s);
}

/* The decoded view must say exactly what the spec said. */
static void assert_matches(const spw_snap_spec *sp, const spw_snapshot *s)
{
    assert_int_equal(s->header.arch, sp->header.arch);
    assert_int_equal(s->header.pointer_width, sp->header.pointer_width);
    assert_int_equal(s->header.free_threaded, sp->header.free_threaded);
    assert_true(s->header.py_version == sp->header.py_version);
    assert_true(s->header.code_type == sp->header.code_type);
    assert_int_equal(s->offsets_len, sp->offsets_len);
    if (sp->offsets_len) assert_memory_equal(s->offsets, sp->offsets, sp->offsets_len);
    assert_int_equal(s->n_threads, sp->n_threads);
    for (uint32_t i = 0; i < sp->n_threads; i++) {
        spw_snap_thread t = spw_snapshot_thread(s, i);
        assert_true(t.tstate == sp->threads[i].tstate);
        assert_true(t.thread_id == sp->threads[i].thread_id);
        assert_true(t.native_thread_id == sp->threads[i].native_thread_id);
    }
    assert_int_equal(s->n_regions, sp->n_regions);
    for (uint32_t i = 0; i < sp->n_regions; i++) {
        spw_snap_region r = spw_snapshot_region(s, i);
        assert_true(r.addr == sp->regions[i].addr);
        assert_true(r.len == sp->regions[i].len);
        assert_memory_equal(r.data, sp->regions[i].data, (size_t)r.len);
    }
    assert_int_equal(s->expected == NULL, sp->expected == NULL);
    assert_int_equal(s->expected_len, sp->expected_len);
    if (sp->expected_len) assert_memory_equal(s->expected, sp->expected, sp->expected_len);
}

/* A spec that views a decoded snapshot (for re-encoding). */
static spw_snap_spec spec_of(const spw_snapshot *s, spw_snap_thread *threads,
                             spw_snap_region *regions)
{
    spw_snap_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.header = s->header;
    sp.offsets = s->offsets;
    sp.offsets_len = s->offsets_len;
    for (uint32_t i = 0; i < s->n_threads; i++) threads[i] = spw_snapshot_thread(s, i);
    for (uint32_t i = 0; i < s->n_regions; i++) regions[i] = spw_snapshot_region(s, i);
    sp.threads = threads;
    sp.n_threads = s->n_threads;
    sp.regions = regions;
    sp.n_regions = s->n_regions;
    sp.expected = s->expected;
    sp.expected_len = s->expected_len;
    return sp;
}

/* ---- CRC ----------------------------------------------------------------------------- */

static void test_crc_check_value(void **state)
{
    (void)state;
    const uint8_t check[] = "123456789";
    assert_int_equal(spw_crc32(0, check, 9), 0xCBF43926u);
    assert_int_equal(spw_crc32(0, NULL, 0), 0);
    assert_int_equal(spw_crc32(0, (const uint8_t *)"a", 1), 0xE8B7BE43u);
    /* chainable, as zlib's */
    assert_int_equal(spw_crc32(spw_crc32(0, check, 4), check + 4, 5), 0xCBF43926u);
    assert_int_equal(spw_crc32(0xCBF43926u, NULL, 0), 0xCBF43926u);
}

/* ---- encoder, round trips ------------------------------------------------------------ */

static void test_encode_matches_independent_writer(void **state)
{
    (void)state;
    uint8_t a[S_SIZE], b[S_SIZE + 8];
    sample_file(a);
    raw_file f = sample_raw();
    assert_int_equal(raw_build(&f, b, sizeof b), S_SIZE);
    assert_memory_equal(a, b, S_SIZE);
    /* spot checks of the layout the enum above derives from the spec */
    assert_int_equal(get_le(a + S_REGIONS_AT + 16, 8), S_R0_AT);
    assert_int_equal(get_le(a + S_REGIONS_AT + 3 * 24 + 16, 8), S_R3_AT);
    assert_memory_equal(a + S_R2_AT, r2, sizeof r2);
    assert_memory_equal(a + S_EXPECTED_AT, s_expected, sizeof s_expected);
    assert_int_equal(get_le(a + S_CRC_AT, 4), spw_crc32(0, a, S_CRC_AT));
}

static void test_roundtrip_full(void **state)
{
    (void)state;
    uint8_t buf[S_SIZE];
    sample_file(buf);
    spw_snapshot s;
    assert_int_equal(spw_snapshot_decode(buf, sizeof buf, &s), SPW_SNAP_OK);
    spw_snap_spec sp = sample_spec();
    assert_matches(&sp, &s);
    /* a view into the buffer, not a copy */
    assert_ptr_equal(s.offsets, buf + 64);
    assert_ptr_equal(s.expected, buf + S_EXPECTED_AT);
    assert_ptr_equal(spw_snapshot_region(&s, 2).data, buf + S_R2_AT);
}

static void roundtrip(const spw_snap_spec *sp, size_t want_size)
{
    size_t size = 0;
    assert_int_equal(spw_snapshot_encode(sp, NULL, 0, &size), SPW_SNAP_E_NOSPACE);
    assert_int_equal(size, want_size);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    assert_int_equal(spw_snapshot_encode(sp, buf, size, &size), SPW_SNAP_OK);
    spw_snapshot s;
    assert_int_equal(spw_snapshot_decode(buf, size, &s), SPW_SNAP_OK);
    assert_matches(sp, &s);
    free(buf);
}

static void test_roundtrip_without_expected(void **state)
{
    (void)state;
    spw_snap_spec sp = sample_spec();
    sp.expected = NULL;
    sp.expected_len = 0;
    roundtrip(&sp, S_SIZE - 16);
    uint8_t buf[S_SIZE];
    size_t size;
    assert_int_equal(spw_snapshot_encode(&sp, buf, sizeof buf, &size), SPW_SNAP_OK);
    assert_int_equal(buf[15], 0); /* flags */
}

static void test_roundtrip_empty_expected(void **state)
{
    (void)state;
    /* present but empty is not the same as absent */
    spw_snap_spec sp = sample_spec();
    sp.expected_len = 0;
    roundtrip(&sp, S_SIZE - 16);
    uint8_t buf[S_SIZE];
    size_t size;
    assert_int_equal(spw_snapshot_encode(&sp, buf, sizeof buf, &size), SPW_SNAP_OK);
    assert_int_equal(buf[15], 1);
    spw_snapshot s;
    assert_int_equal(spw_snapshot_decode(buf, size, &s), SPW_SNAP_OK);
    assert_non_null(s.expected);
    assert_int_equal(s.expected_len, 0);
}

static void test_roundtrip_minimal(void **state)
{
    (void)state;
    spw_snap_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.header.arch = SPW_ARCH_AARCH64;
    sp.header.pointer_width = 8;
    roundtrip(&sp, 72); /* header + trailer */
    sp.n_regions = 1;
    sp.regions = &s_regions[3];
    roundtrip(&sp, 72 + 24 + 8); /* no threads, one region */
}

static void test_roundtrip_many_regions(void **state)
{
    (void)state;
    /* lengths 1..64 (all residues mod 8), gaps of varying size, some adjacent */
    enum { N = 64 };
    static uint8_t data[N * 64];
    spw_snap_region regs[N];
    uint64_t addr = 0x400000;
    size_t used = 0, want = 72;
    for (int i = 0; i < N; i++) {
        regs[i].addr = addr;
        regs[i].len = (uint64_t)i + 1;
        for (int k = 0; k <= i; k++) data[used + (size_t)k] = (uint8_t)(i * 7 + k);
        regs[i].data = data + used;
        used += (size_t)i + 1;
        want += 24 + up8((uint64_t)i + 1);
        addr += (uint64_t)i + 1 + (i % 3 == 0 ? 0 : (uint64_t)i * 4096);
    }
    spw_snap_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.header.arch = SPW_ARCH_AARCH64;
    sp.header.pointer_width = 8;
    sp.header.py_version = 0x030e07f0u;
    sp.regions = regs;
    sp.n_regions = N;
    roundtrip(&sp, want);
}

static void test_reencode_reproduces_file(void **state)
{
    (void)state;
    uint8_t buf[S_SIZE], again[S_SIZE];
    spw_snap_thread th[2];
    spw_snap_region rg[4];
    size_t size = 0;

    /* a file from the test's own writer, not from the encoder */
    raw_file f = sample_raw();
    assert_int_equal(raw_build(&f, buf, sizeof buf), S_SIZE);
    spw_snapshot s;
    assert_int_equal(spw_snapshot_decode(buf, sizeof buf, &s), SPW_SNAP_OK);
    spw_snap_spec sp = spec_of(&s, th, rg);
    assert_int_equal(spw_snapshot_encode(&sp, again, sizeof again, &size), SPW_SNAP_OK);
    assert_int_equal(size, S_SIZE);
    assert_memory_equal(again, buf, S_SIZE);

    /* and without the expected section */
    f.flags = 0;
    f.expected = NULL;
    f.expected_len = 0;
    size_t n = raw_build(&f, buf, sizeof buf);
    assert_int_equal(spw_snapshot_decode(buf, n, &s), SPW_SNAP_OK);
    assert_null(s.expected);
    sp = spec_of(&s, th, rg);
    assert_int_equal(spw_snapshot_encode(&sp, again, sizeof again, &size), SPW_SNAP_OK);
    assert_int_equal(size, n);
    assert_memory_equal(again, buf, n);
}

static void test_encode_size_query_and_nospace(void **state)
{
    (void)state;
    spw_snap_spec sp = sample_spec();
    uint8_t buf[S_SIZE + 16];
    size_t size = 12345;
    assert_int_equal(spw_snapshot_encode(&sp, NULL, 0, &size), SPW_SNAP_E_NOSPACE);
    assert_int_equal(size, S_SIZE);

    size = 0;
    memset(buf, 0xAA, sizeof buf);
    assert_int_equal(spw_snapshot_encode(&sp, buf, S_SIZE - 1, &size), SPW_SNAP_E_NOSPACE);
    assert_int_equal(size, S_SIZE);
    for (size_t i = 0; i < sizeof buf; i++) assert_int_equal(buf[i], 0xAA); /* untouched */

    /* a larger buffer: exactly size bytes written */
    assert_int_equal(spw_snapshot_encode(&sp, buf, sizeof buf, &size), SPW_SNAP_OK);
    assert_int_equal(size, S_SIZE);
    for (size_t i = S_SIZE; i < sizeof buf; i++) assert_int_equal(buf[i], 0xAA);
    assert_int_equal(decode(buf, size), SPW_SNAP_OK);

    assert_int_equal(spw_snapshot_encode(&sp, buf, sizeof buf, NULL), SPW_SNAP_E_INVALID);
    assert_int_equal(spw_snapshot_encode(NULL, buf, sizeof buf, &size), SPW_SNAP_E_INVALID);
    assert_int_equal(size, 0);
}

static void expect_invalid(const spw_snap_spec *sp)
{
    uint8_t buf[S_SIZE + 64];
    size_t size = 999;
    assert_int_equal(spw_snapshot_encode(sp, buf, sizeof buf, &size), SPW_SNAP_E_INVALID);
    assert_int_equal(size, 0);
}

static void test_encode_rejects_invalid_spec(void **state)
{
    (void)state;
    spw_snap_spec sp;
    spw_snap_region rg[4];

    sp = sample_spec(); sp.header.arch = SPW_ARCH_UNKNOWN; expect_invalid(&sp);
    sp = sample_spec(); sp.header.arch = (spw_arch)3; expect_invalid(&sp);
    sp = sample_spec(); sp.header.arch = SPW_ARCH_UNKNOWN; sp.n_regions = 0; expect_invalid(&sp);
    sp = sample_spec(); sp.header.pointer_width = 4; expect_invalid(&sp);
    sp = sample_spec(); sp.header.free_threaded = 2; expect_invalid(&sp);
    sp = sample_spec(); sp.offsets_len = SPW_SNAP_OFFSETS_MAX + 1; expect_invalid(&sp);
    sp = sample_spec(); sp.n_threads = SPW_SNAP_THREADS_MAX + 1; expect_invalid(&sp);
    sp = sample_spec(); sp.n_regions = SPW_SNAP_REGIONS_MAX + 1; expect_invalid(&sp);
    sp = sample_spec(); sp.expected_len = SPW_SNAP_EXPECTED_MAX + 1; expect_invalid(&sp);
    sp = sample_spec(); sp.offsets = NULL; expect_invalid(&sp);
    sp = sample_spec(); sp.threads = NULL; expect_invalid(&sp);
    sp = sample_spec(); sp.regions = NULL; expect_invalid(&sp);
    sp = sample_spec(); sp.expected = NULL; expect_invalid(&sp); /* length without data */

    /* regions: empty, no data, unsorted, overlapping, outside user space, wrapping */
    static const struct { int idx; uint64_t addr, len; int null_data; } bad[] = {
        {0, 0x10000, 0, 0},
        {1, 0x20000, 16, 1},
        {1, 0x08000, 16, 0},            /* before region 0 */
        {1, 0x10004, 4, 0},             /* overlaps region 0 by one byte */
        {2, 0x20000, 11, 0},            /* same start as region 1 */
        {3, 0x20018, 8, 0},             /* inside region 2 */
        {3, (1ull << 47) - 4, 8, 0},    /* crosses the x86-64 user limit */
        {3, 1ull << 47, 8, 0},          /* starts at it */
        {3, UINT64_MAX - 3, 8, 0},      /* wraps */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        sp = sample_spec();
        memcpy(rg, s_regions, sizeof rg);
        rg[bad[k].idx].addr = bad[k].addr;
        rg[bad[k].idx].len = bad[k].len;
        if (bad[k].null_data) rg[bad[k].idx].data = NULL;
        sp.regions = rg;
        expect_invalid(&sp);
    }

    /* the same region that crosses 2^47 is fine on aarch64, whose limit is 2^48 */
    uint8_t buf[S_SIZE];
    size_t size;
    sp = sample_spec();
    memcpy(rg, s_regions, sizeof rg);
    rg[3].addr = (1ull << 47) - 4;
    sp.regions = rg;
    sp.header.arch = SPW_ARCH_AARCH64;
    assert_int_equal(spw_snapshot_encode(&sp, buf, sizeof buf, &size), SPW_SNAP_OK);
    rg[3].addr = (1ull << 48) - 8; /* ends exactly at the limit */
    assert_int_equal(spw_snapshot_encode(&sp, buf, sizeof buf, &size), SPW_SNAP_OK);
    assert_int_equal(decode(buf, size), SPW_SNAP_OK);
}

/* ---- decoder rejections ------------------------------------------------------------- */

static void test_decode_empty(void **state)
{
    (void)state;
    uint8_t buf[S_SIZE];
    sample_file(buf);
    spw_snapshot s;
    memset(&s, 0x5A, sizeof s);
    assert_int_equal(spw_snapshot_decode(buf, 0, &s), SPW_SNAP_E_EMPTY);
    assert_int_equal(s.n_regions, 0); /* zeroed on error */
    assert_null(s.base_);
    assert_int_equal(spw_snapshot_decode(NULL, 0, &s), SPW_SNAP_E_EMPTY);
    assert_int_equal(spw_snapshot_decode(buf, sizeof buf, NULL), SPW_SNAP_E_INVALID);
}

static void test_decode_every_prefix(void **state)
{
    (void)state;
    uint8_t buf[S_SIZE];
    sample_file(buf);
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_OK);
    for (size_t k = 1; k < S_SIZE; k++) {
        /* a heap copy of exactly k bytes, so ASan sees any read past the prefix */
        uint8_t *p = malloc(k);
        assert_non_null(p);
        memcpy(p, buf, k);
        assert_int_equal(decode(p, k), SPW_SNAP_E_TRUNCATED);
        free(p);
    }
}

static void test_decode_bad_magic(void **state)
{
    (void)state;
    uint8_t buf[S_SIZE];
    for (int i = 0; i < 8; i++) {
        sample_file(buf);
        buf[i] ^= 0x20;
        assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_MAGIC);
    }
    /* magic is checked before anything else but the length */
    sample_file(buf);
    buf[0] = 'X';
    buf[8] = 9;
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_MAGIC);
    assert_int_equal(decode(buf, 63), SPW_SNAP_E_TRUNCATED);
}

static void test_decode_bad_version(void **state)
{
    (void)state;
    static const uint16_t versions[] = {0, 2, 0x100, 0xffff};
    uint8_t buf[S_SIZE];
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        sample_file(buf);
        put_le(buf + 8, versions[i], 2);
        recrc(buf, S_SIZE);
        assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_VERSION);
        buf[12] = 77; /* a future version may redefine the rest: version comes first */
        assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_VERSION);
    }
}

static void test_decode_bad_header_fields(void **state)
{
    (void)state;
    static const struct { unsigned off, width; uint64_t value; } bad[] = {
        {10, 2, 0},       /* header_size */
        {10, 2, 72},
        {12, 1, 0},       /* arch unknown */
        {12, 1, 3},
        {12, 1, 0xff},
        {13, 1, 4},       /* pointer_width */
        {13, 1, 0},
        {14, 1, 2},       /* free_threaded */
        {14, 1, 0xff},
        {15, 1, 0x03},    /* unknown flag bits */
        {15, 1, 0x81},
        {15, 1, 0x00},    /* flags say absent, expected_len says 12 bytes */
        {56, 8, 1},       /* reserved */
        {56, 8, 1ull << 63},
    };
    uint8_t buf[S_SIZE];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sample_file(buf);
        put_le(buf + bad[i].off, bad[i].value, bad[i].width);
        recrc(buf, S_SIZE);
        assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_HEADER);
    }
    /* absent with length 0 is fine; absent with a length is not, even with a valid file */
    spw_snap_spec sp = sample_spec();
    sp.expected = NULL;
    sp.expected_len = 0;
    size_t size;
    assert_int_equal(spw_snapshot_encode(&sp, buf, sizeof buf, &size), SPW_SNAP_OK);
    assert_int_equal(decode(buf, size), SPW_SNAP_OK);
    put_le(buf + 44, 8, 4);
    recrc(buf, size);
    assert_int_equal(decode(buf, size), SPW_SNAP_E_HEADER);
}

static void test_decode_limits(void **state)
{
    (void)state;
    static const struct { unsigned off; uint32_t value; } bad[] = {
        {32, SPW_SNAP_OFFSETS_MAX + 1},
        {36, SPW_SNAP_THREADS_MAX + 1},
        {40, SPW_SNAP_REGIONS_MAX + 1},
        {44, SPW_SNAP_EXPECTED_MAX + 1},
        {40, UINT32_MAX},
    };
    uint8_t buf[S_SIZE];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sample_file(buf);
        put_le(buf + bad[i].off, bad[i].value, 4);
        recrc(buf, S_SIZE);
        assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_LIMIT);
    }
    /* at the limit is not over it: the file is then merely too short */
    sample_file(buf);
    put_le(buf + 40, SPW_SNAP_REGIONS_MAX, 4);
    recrc(buf, S_SIZE);
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_TRUNCATED);
}

static void test_decode_lengths(void **state)
{
    (void)state;
    uint8_t buf[S_SIZE + 16];

    /* sizes that run past the end of the buffer */
    sample_file(buf);
    put_le(buf + 48, S_SIZE + 1, 8); /* file_size */
    recrc(buf, S_SIZE);
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_TRUNCATED);

    sample_file(buf);
    put_le(buf + 44, sizeof s_expected + 8, 4); /* expected_len */
    recrc(buf, S_SIZE);
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_TRUNCATED);

    sample_file(buf);
    put_le(buf + 40, 100, 4); /* region table past the end */
    recrc(buf, S_SIZE);
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_TRUNCATED);

    static const uint64_t huge[] = {UINT64_MAX, UINT64_MAX - 7, 1ull << 63, S_SIZE};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        sample_file(buf);
        put_le(buf + S_REGIONS_AT + 24 + 8, huge[i], 8); /* region 1's length */
        recrc(buf, S_SIZE);
        assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_TRUNCATED);
    }

    /* sizes that do not add up */
    sample_file(buf);
    put_le(buf + 48, S_SIZE - 8, 8); /* file_size too small */
    recrc(buf, S_SIZE);
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_LENGTH);

    sample_file(buf);
    put_le(buf + 44, sizeof s_expected - 8, 4); /* expected_len too small: 8 bytes left over */
    recrc(buf, S_SIZE);
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_LENGTH);

    sample_file(buf);
    put_le(buf + S_REGIONS_AT + 24 + 8, 8, 8); /* region 1 shrinks: region 2's offset is off */
    recrc(buf, S_SIZE);
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_LENGTH);

    sample_file(buf);
    put_le(buf + S_REGIONS_AT + 2 * 24 + 16, S_R2_AT + 8, 8); /* a data_offset alone */
    recrc(buf, S_SIZE);
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_LENGTH);

    /* offsets_len 8 bytes longer: every table is read 8 bytes later, so region 0's length
     * is taken from its data_offset field (224), more than the 64 bytes that follow */
    sample_file(buf);
    put_le(buf + 32, sizeof s_offsets + 8, 4);
    recrc(buf, S_SIZE);
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_TRUNCATED);

    /* trailing bytes, with file_size left alone or updated to match the buffer */
    sample_file(buf);
    memset(buf + S_SIZE, 0, 16);
    assert_int_equal(decode(buf, S_SIZE + 1), SPW_SNAP_E_LENGTH);
    assert_int_equal(decode(buf, S_SIZE + 8), SPW_SNAP_E_LENGTH);
    put_le(buf + 48, S_SIZE + 8, 8);
    assert_int_equal(decode(buf, S_SIZE + 8), SPW_SNAP_E_LENGTH);
}

/* Each section's length check at its edge: a section that needs exactly 8 more bytes than
 * are left (a region, the expected output) and a trailer one byte short. The file_size
 * field is kept at or below the buffer's length, so the file-size check does not answer
 * first; a check that let the section through would leave pos past the end, and the
 * decoder would report E_LENGTH (or read past the buffer) instead of E_TRUNCATED. */
static void test_decode_section_edges(void **state)
{
    (void)state;
    uint8_t buf[S_SIZE + 16];

    /* region 3 (the last) starts S_SIZE - S_R3_AT = 32 bytes before the end */
    static const struct { uint64_t rlen; spw_snap_err want; } r3_cases[] = {
        {40, SPW_SNAP_E_TRUNCATED}, /* 8 bytes past the end */
        {33, SPW_SNAP_E_TRUNCATED}, /* pads to the same 40 */
        {32, SPW_SNAP_E_TRUNCATED}, /* exactly the rest: the expected output is then cut */
    };
    for (size_t i = 0; i < sizeof r3_cases / sizeof r3_cases[0]; i++) {
        sample_file(buf);
        put_le(buf + S_REGIONS_AT + 3 * 24 + 8, r3_cases[i].rlen, 8);
        recrc(buf, S_SIZE);
        assert_int_equal(decode(buf, S_SIZE), r3_cases[i].want);
    }

    /* the expected output starts S_SIZE - S_EXPECTED_AT = 24 bytes before the end */
    sample_file(buf);
    put_le(buf + 44, 32, 4); /* expected_len: 8 bytes past the end */
    recrc(buf, S_SIZE);
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_TRUNCATED);
    sample_file(buf);
    put_le(buf + 44, 25, 4); /* pads to the same 32 */
    recrc(buf, S_SIZE);
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_TRUNCATED);

    /* the trailer one byte short, file_size agreeing with the shorter buffer */
    sample_file(buf);
    put_le(buf + 48, S_SIZE - 1, 8);
    assert_int_equal(decode(buf, S_SIZE - 1), SPW_SNAP_E_TRUNCATED);
    /* and whole: the same edit, with the buffer's length, is only a wrong file_size */
    recrc(buf, S_SIZE);
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_LENGTH);
}

/* Build a raw sample with the given regions and return the decoder's verdict. */
static spw_snap_err decode_regions(uint8_t arch, const spw_snap_region *regs, uint32_t n)
{
    static uint8_t buf[4096];
    raw_file f = sample_raw();
    f.arch = arch;
    f.regions = regs;
    f.n_regions = n;
    size_t size = raw_build(&f, buf, sizeof buf);
    return decode(buf, size);
}

static void test_decode_bad_regions(void **state)
{
    (void)state;
    static const uint8_t d[16];
    const uint64_t l47 = 1ull << 47, l48 = 1ull << 48;
    spw_snap_region one[1] = {{0x10000, 0, d}};
    assert_int_equal(decode_regions(SPW_ARCH_X86_64, one, 1), SPW_SNAP_E_REGION); /* empty */

    const struct { uint8_t arch; uint64_t addr, len; spw_snap_err want; } cases[] = {
        {SPW_ARCH_X86_64, l47 - 8, 8, SPW_SNAP_OK},        /* ends at the limit */
        {SPW_ARCH_X86_64, l47 - 8, 16, SPW_SNAP_E_REGION}, /* crosses it */
        {SPW_ARCH_X86_64, l47 - 8, 9, SPW_SNAP_E_REGION},  /* by one byte */
        {SPW_ARCH_X86_64, l47 - 1, 1, SPW_SNAP_OK},        /* its last byte */
        {SPW_ARCH_X86_64, l47 - 1, 2, SPW_SNAP_E_REGION},
        {SPW_ARCH_X86_64, l47, 8, SPW_SNAP_E_REGION},      /* starts at it */
        {SPW_ARCH_AARCH64, l47, 8, SPW_SNAP_OK},           /* aarch64 goes higher */
        {SPW_ARCH_AARCH64, l48 - 8, 8, SPW_SNAP_OK},
        {SPW_ARCH_AARCH64, l48 - 8, 16, SPW_SNAP_E_REGION},
        {SPW_ARCH_AARCH64, l48 - 8, 9, SPW_SNAP_E_REGION},
        {SPW_ARCH_AARCH64, l48, 8, SPW_SNAP_E_REGION},
        {SPW_ARCH_AARCH64, UINT64_MAX - 3, 8, SPW_SNAP_E_REGION}, /* addr + len wraps */
        {SPW_ARCH_AARCH64, UINT64_MAX, 1, SPW_SNAP_E_REGION},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        one[0].addr = cases[i].addr;
        one[0].len = cases[i].len;
        assert_int_equal(decode_regions(cases[i].arch, one, 1), cases[i].want);
    }

    /* an empty region among good ones, and reported before an ordering problem */
    spw_snap_region three[3] = {{0x10000, 8, d}, {0x20000, 0, d}, {0x30000, 8, d}};
    assert_int_equal(decode_regions(SPW_ARCH_X86_64, three, 3), SPW_SNAP_E_REGION);
    three[0].addr = 0x40000;
    assert_int_equal(decode_regions(SPW_ARCH_X86_64, three, 3), SPW_SNAP_E_REGION);
}

static void test_decode_overlap_and_order(void **state)
{
    (void)state;
    static const uint8_t d[16];
    const struct { uint64_t a0, l0, a1, l1; spw_snap_err want; } cases[] = {
        {0x10000, 16, 0x10010, 8, SPW_SNAP_OK},         /* adjacent */
        {0x10000, 16, 0x20000, 8, SPW_SNAP_OK},         /* gap */
        {0x10000, 16, 0x1000f, 8, SPW_SNAP_E_OVERLAP},  /* one byte shared */
        {0x10000, 16, 0x10000, 8, SPW_SNAP_E_OVERLAP},  /* same start */
        {0x10000, 16, 0x10004, 4, SPW_SNAP_E_OVERLAP},  /* nested */
        {0x20000, 8, 0x10000, 8, SPW_SNAP_E_OVERLAP},   /* disjoint but unsorted */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spw_snap_region two[2] = {{cases[i].a0, cases[i].l0, d}, {cases[i].a1, cases[i].l1, d}};
        assert_int_equal(decode_regions(SPW_ARCH_X86_64, two, 2), cases[i].want);
    }
    /* order is checked across the whole table, not only the first pair */
    spw_snap_region four[4] = {
        {0x10000, 8, d}, {0x20000, 8, d}, {0x30000, 8, d}, {0x2ffff, 8, d}};
    assert_int_equal(decode_regions(SPW_ARCH_X86_64, four, 4), SPW_SNAP_E_OVERLAP);
}

static void test_decode_nonzero_padding(void **state)
{
    (void)state;
    /* every padding byte of the sample, from the layout worked out by hand */
    size_t pads[64], n = 0;
    for (size_t i = 64 + 13; i < S_THREADS_AT; i++) pads[n++] = i;          /* offsets */
    for (size_t i = S_R0_AT + 5; i < S_R1_AT; i++) pads[n++] = i;           /* region 0 */
    for (size_t i = S_R2_AT + 11; i < S_R3_AT; i++) pads[n++] = i;          /* region 2 */
    for (size_t i = S_EXPECTED_AT + 12; i < S_CRC_AT; i++) pads[n++] = i;   /* expected */
    for (size_t i = S_CRC_AT + 4; i < S_SIZE; i++) pads[n++] = i;           /* trailer */
    assert_int_equal(n, 3 + 3 + 5 + 4 + 4);

    uint8_t buf[S_SIZE];
    for (size_t k = 0; k < n; k++) {
        sample_file(buf);
        assert_int_equal(buf[pads[k]], 0);
        buf[pads[k]] = 0x01;
        if (pads[k] < S_CRC_AT) recrc(buf, S_SIZE);
        assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_PADDING);
    }
}

static void test_decode_bad_checksum(void **state)
{
    (void)state;
    uint8_t buf[S_SIZE];
    sample_file(buf);
    buf[S_CRC_AT] ^= 1;
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_CHECKSUM);
    sample_file(buf);
    buf[S_R1_AT + 3] ^= 0x40;
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_CHECKSUM);
    sample_file(buf);
    put_le(buf + S_CRC_AT, 0, 4);
    assert_int_equal(decode(buf, S_SIZE), SPW_SNAP_E_CHECKSUM);
}

static void test_decode_every_byte_flip(void **state)
{
    (void)state;
    static const uint8_t masks[] = {0x01, 0x10, 0x80, 0xff};
    uint8_t good[S_SIZE];
    sample_file(good);
    for (size_t i = 0; i < S_SIZE; i++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            uint8_t *p = malloc(S_SIZE);
            assert_non_null(p);
            memcpy(p, good, S_SIZE);
            p[i] ^= masks[m];
            spw_snap_err e = decode(p, S_SIZE);
            assert_int_not_equal(e, SPW_SNAP_OK);
            /* Bytes that carry content only (blob, thread table, region addresses, region
             * data and padding, expected output, CRC, and the header's py_version and
             * code_type) leave every size intact: only the
             * checksum can catch them. The trailer's zero word follows the CRC. */
            int content = (i >= 16 && i < 32) || (i >= 64 && i < S_REGIONS_AT) || (i >= S_DATA_AT && i < S_CRC_AT + 4) ||
                          (i >= S_REGIONS_AT && (i - S_REGIONS_AT) % 24 < 8 && i < S_DATA_AT);
            if (content)
                assert_int_equal(e, SPW_SNAP_E_CHECKSUM);
            else if (i >= S_CRC_AT + 4)
                assert_int_equal(e, SPW_SNAP_E_PADDING);
            free(p);
        }
    }
}

/* ---- image reader ------------------------------------------------------------------- */

static int img(const spw_snapshot *s, uint64_t addr, uint8_t *dst, size_t len)
{
    spw_reader r = {spw_image_read, (void *)s};
    return spw_read(&r, addr, dst, len);
}

static void test_image_reads(void **state)
{
    (void)state;
    uint8_t buf[S_SIZE], out[32];
    sample_file(buf);
    spw_snapshot s;
    assert_int_equal(spw_snapshot_decode(buf, sizeof buf, &s), SPW_SNAP_OK);

    /* inside a region, a whole region, and ending exactly at a region's end */
    assert_int_equal(img(&s, 0x10001, out, 3), 0);
    assert_memory_equal(out, "BCD", 3);
    assert_int_equal(img(&s, 0x20000, out, 16), 0);
    assert_memory_equal(out, r1, 16);
    assert_int_equal(img(&s, 0x10003, out, 2), 0);
    assert_memory_equal(out, "DE", 2);
    assert_int_equal(img(&s, 0x20010 + 3, out, 8), 0);
    assert_memory_equal(out, r2 + 3, 8);
    assert_int_equal(img(&s, 0x7fff0000 + 7, out, 1), 0);
    assert_int_equal(out[0], 0xbe);

    /* failures leave dst alone */
    static const struct { uint64_t addr; size_t len; } bad[] = {
        {0x10005, 1},            /* starts at the end of region 0 (a gap follows) */
        {0x10000, 6},            /* one byte longer than region 0 */
        {0x10004, 2},            /* runs one byte past region 0 */
        {0x2000c, 8},            /* straddles adjacent regions 1 and 2 */
        {0x20000, 27},           /* both adjacent regions whole: still two regions */
        {0x0fff, 1},             /* just before the first region */
        {0xfff8, 16},            /* runs into the first region from below */
        {0, 8},
        {0x15000, 4},            /* in a gap */
        {0x7fff0008, 1},         /* just after the last region */
        {0x7fff0004, 8},         /* runs past the last region */
        {UINT64_MAX, 1},
        {UINT64_MAX - 3, 8},     /* addr + len wraps */
        {0x10000, SIZE_MAX},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(out, 0xEE, sizeof out);
        assert_int_not_equal(img(&s, bad[i].addr, out, bad[i].len), 0);
        for (size_t k = 0; k < sizeof out; k++) assert_int_equal(out[k], 0xEE);
    }

    /* zero-length reads follow the same rule: inside a region or at its end */
    assert_int_equal(img(&s, 0x10002, NULL, 0), 0);
    assert_int_equal(img(&s, 0x10000, NULL, 0), 0);
    assert_int_equal(img(&s, 0x10005, NULL, 0), 0);
    assert_int_not_equal(img(&s, 0x10006, NULL, 0), 0);
    assert_int_not_equal(img(&s, 0x0fff, NULL, 0), 0);
    assert_int_not_equal(img(&s, 0x7fff0009, NULL, 0), 0);

    /* no regions, no snapshot */
    spw_snapshot none;
    memset(&none, 0, sizeof none);
    assert_int_not_equal(spw_image_read(&none, 0x10000, out, 1), 0);
    assert_int_not_equal(spw_image_read(NULL, 0x10000, out, 1), 0);
}

/* The binary search against a linear model, over many regions of every length mod 8. */
static void test_image_search_many_regions(void **state)
{
    (void)state;
    enum { N = 97 };
    static uint8_t data[N * 40];
    spw_snap_region regs[N];
    uint64_t addr = 0x1000;
    size_t used = 0;
    for (int i = 0; i < N; i++) {
        regs[i].addr = addr;
        regs[i].len = (uint64_t)(i % 37) + 1;
        for (uint64_t k = 0; k < regs[i].len; k++) data[used + k] = (uint8_t)(i ^ (int)k);
        regs[i].data = data + used;
        used += (size_t)regs[i].len;
        addr += regs[i].len + (uint64_t)(i % 4 == 0 ? 0 : i % 4 == 1 ? 1 : 4096 * i);
    }
    spw_snap_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.header.arch = SPW_ARCH_X86_64;
    sp.header.pointer_width = 8;
    sp.regions = regs;
    sp.n_regions = N;
    size_t size = 0;
    assert_int_equal(spw_snapshot_encode(&sp, NULL, 0, &size), SPW_SNAP_E_NOSPACE);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    assert_int_equal(spw_snapshot_encode(&sp, buf, size, &size), SPW_SNAP_OK);
    spw_snapshot s;
    assert_int_equal(spw_snapshot_decode(buf, size, &s), SPW_SNAP_OK);

    for (int i = 0; i < N; i++) {
        const uint64_t a = regs[i].addr, l = regs[i].len;
        const uint64_t probes[] = {a - 1, a, a + l / 2, a + l - 1, a + l};
        for (size_t p = 0; p < 5; p++) {
            for (size_t len = 1; len <= 3; len++) {
                /* linear model: served iff wholly inside one region */
                int want = -1;
                for (int j = 0; j < N; j++)
                    if (probes[p] >= regs[j].addr && probes[p] + len <= regs[j].addr + regs[j].len)
                        want = j;
                uint8_t out[3];
                int rc = img(&s, probes[p], out, len);
                assert_int_equal(rc == 0, want >= 0);
                if (want >= 0)
                    assert_memory_equal(out, regs[want].data + (probes[p] - regs[want].addr), len);
            }
        }
    }
    free(buf);
}

static void test_accessors_out_of_range(void **state)
{
    (void)state;
    uint8_t buf[S_SIZE];
    sample_file(buf);
    spw_snapshot s;
    assert_int_equal(spw_snapshot_decode(buf, sizeof buf, &s), SPW_SNAP_OK);
    spw_snap_thread t = spw_snapshot_thread(&s, 2);
    assert_true(t.tstate == 0 && t.thread_id == 0 && t.native_thread_id == 0);
    spw_snap_region r = spw_snapshot_region(&s, 4);
    assert_true(r.addr == 0 && r.len == 0 && r.data == NULL);
    r = spw_snapshot_region(&s, UINT32_MAX);
    assert_null(r.data);
    assert_true(spw_snapshot_thread(&s, 1).native_thread_id == 4243);
}

static void test_strerror(void **state)
{
    (void)state;
    for (int a = SPW_SNAP_OK; a <= SPW_SNAP_E_INVALID; a++) {
        const char *sa = spw_snap_strerror((spw_snap_err)a);
        assert_non_null(sa);
        assert_true(sa[0] != '\0');
        for (int b = a + 1; b <= SPW_SNAP_E_INVALID; b++)
            assert_string_not_equal(sa, spw_snap_strerror((spw_snap_err)b));
    }
    assert_string_equal(spw_snap_strerror((spw_snap_err)99), "unknown snapshot error");
}

/* ---- the example file of docs/snapshot-format.md ------------------------------------ */
/* The hex dump in the spec is this array; the encoder must produce it exactly. */

static const uint8_t tiny_file[] = {
    0x53, 0x50, 0x57, 0x53, 0x4e, 0x41, 0x50, 0x00, 0x01, 0x00, 0x40, 0x00, 0x01, 0x08, 0x01, 0x01, /* 0000 */
    0xf0, 0x05, 0x0d, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x00, 0x00, 0x55, 0x55, 0x00, 0x00, /* 0010 */
    0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, /* 0020 */
    0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0030 */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x7f, 0x00, 0x00, /* 0040 */
    0xc0, 0x06, 0xe0, 0xff, 0xff, 0x7e, 0x00, 0x00, 0x92, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0050 */
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0060 */
    0x78, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00, 0x00, 0x00, /* 0070 */
    0x6f, 0x6b, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4f, 0x7e, 0x37, 0x6f, 0x00, 0x00, 0x00, 0x00, /* 0080 */
};

static void test_tiny_example(void **state)
{
    (void)state;
    static const uint8_t blob[5] = {0x01, 0x02, 0x03, 0x04, 0x05};
    static const spw_snap_thread th = {0x7f0000001000u, 0x7effffe006c0u, 4242};
    static const uint8_t mem[5] = {0x68, 0x65, 0x6c, 0x6c, 0x6f};
    static const spw_snap_region reg = {0x10000, 5, mem};
    spw_snap_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.header.arch = SPW_ARCH_X86_64;
    sp.header.pointer_width = 8;
    sp.header.free_threaded = 1;
    sp.header.py_version = 0x030d05f0u;
    sp.header.code_type = 0x55550000a000u;
    sp.offsets = blob;
    sp.offsets_len = sizeof blob;
    sp.threads = &th;
    sp.n_threads = 1;
    sp.regions = &reg;
    sp.n_regions = 1;
    sp.expected = (const uint8_t *)"ok\n";
    sp.expected_len = 3;
    uint8_t buf[256];
    size_t size = 0;
    assert_int_equal(spw_snapshot_encode(&sp, buf, sizeof buf, &size), SPW_SNAP_OK);
    assert_int_equal(size, sizeof tiny_file);
    assert_memory_equal(buf, tiny_file, sizeof tiny_file);
    spw_snapshot s;
    assert_int_equal(spw_snapshot_decode(tiny_file, sizeof tiny_file, &s), SPW_SNAP_OK);
    assert_matches(&sp, &s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_check_value),
        cmocka_unit_test(test_encode_matches_independent_writer),
        cmocka_unit_test(test_roundtrip_full),
        cmocka_unit_test(test_roundtrip_without_expected),
        cmocka_unit_test(test_roundtrip_empty_expected),
        cmocka_unit_test(test_roundtrip_minimal),
        cmocka_unit_test(test_roundtrip_many_regions),
        cmocka_unit_test(test_reencode_reproduces_file),
        cmocka_unit_test(test_encode_size_query_and_nospace),
        cmocka_unit_test(test_encode_rejects_invalid_spec),
        cmocka_unit_test(test_decode_empty),
        cmocka_unit_test(test_decode_every_prefix),
        cmocka_unit_test(test_decode_bad_magic),
        cmocka_unit_test(test_decode_bad_version),
        cmocka_unit_test(test_decode_bad_header_fields),
        cmocka_unit_test(test_decode_limits),
        cmocka_unit_test(test_decode_lengths),
        cmocka_unit_test(test_decode_section_edges),
        cmocka_unit_test(test_decode_bad_regions),
        cmocka_unit_test(test_decode_overlap_and_order),
        cmocka_unit_test(test_decode_nonzero_padding),
        cmocka_unit_test(test_decode_bad_checksum),
        cmocka_unit_test(test_decode_every_byte_flip),
        cmocka_unit_test(test_image_reads),
        cmocka_unit_test(test_image_search_many_regions),
        cmocka_unit_test(test_accessors_out_of_range),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_tiny_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
