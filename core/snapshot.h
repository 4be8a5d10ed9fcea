/*
 * snapshot.h — the snapshot file: target memory frozen, plus what is needed to walk it.
 *
 * A snapshot holds exactly the bytes a capture's walks and symbolizations read, so a replay
 * reproduces the capture bit for bit on any machine. The byte format is specified in
 * docs/snapshot-format.md. The decoder treats every file as hostile and never allocates:
 * a decoded snapshot is a view into the caller's buffer.
 */
#ifndef SPW_SNAPSHOT_H
#define SPW_SNAPSHOT_H

#include "spw.h"
#include "reader.h"

#define SPW_SNAP_MAGIC "SPWSNAP\0" /* 8 bytes */
#define SPW_SNAP_VERSION 1u

/* Limits the decoder enforces (a file past them is refused, not truncated). */
#define SPW_SNAP_OFFSETS_MAX 4096u      /* debug-offsets blob bytes */
#define SPW_SNAP_THREADS_MAX 65536u
#define SPW_SNAP_REGIONS_MAX (1u << 20)
#define SPW_SNAP_EXPECTED_MAX (64u << 20) /* expected replay output bytes */

typedef enum spw_snap_err {
    SPW_SNAP_OK = 0,
    SPW_SNAP_E_EMPTY,     /* zero-length input */
    SPW_SNAP_E_TRUNCATED, /* shorter than the header, or than the sizes it declares */
    SPW_SNAP_E_MAGIC,     /* not a snapshot */
    SPW_SNAP_E_VERSION,   /* a format version this decoder does not know */
    SPW_SNAP_E_HEADER,    /* a header field out of its domain (arch, pointer width, flags...) */
    SPW_SNAP_E_LIMIT,     /* a count or length above the decoder's limits */
    SPW_SNAP_E_LENGTH,    /* sections do not add up to the file size (trailing bytes, ...) */
    SPW_SNAP_E_REGION,    /* an empty region, or one that wraps or leaves user space */
    SPW_SNAP_E_OVERLAP,   /* regions not sorted or overlapping */
    SPW_SNAP_E_PADDING,   /* nonzero padding bytes (after a section, or after the CRC) */
    SPW_SNAP_E_CHECKSUM,  /* CRC-32 mismatch */
    SPW_SNAP_E_NOSPACE,   /* encoder: output buffer too small */
    SPW_SNAP_E_INVALID,   /* encoder: the description itself is invalid; or a NULL
                             out-parameter (decoder's `out`, encoder's `size`) */
} spw_snap_err;

const char *spw_snap_strerror(spw_snap_err err);

typedef struct spw_snap_thread {
    uint64_t tstate;           /* PyThreadState address */
    uint64_t thread_id;        /* threading.get_ident() of the thread */
    uint64_t native_thread_id; /* the kernel's tid */
} spw_snap_thread;

typedef struct spw_snap_region {
    uint64_t addr;
    uint64_t len;
    const uint8_t *data; /* len bytes */
} spw_snap_region;

/* What an encoder writes, and what a decoder's view gives back. */
typedef struct spw_snap_header {
    spw_arch arch;
    uint8_t pointer_width; /* 8 */
    uint8_t free_threaded;
    uint64_t py_version;   /* PY_VERSION_HEX */
    uint64_t code_type;    /* &PyCode_Type in the target */
} spw_snap_header;

/* A decoded snapshot: a validated view into the caller's buffer, which must outlive it. */
typedef struct spw_snapshot {
    spw_snap_header header;
    const uint8_t *offsets; /* raw _Py_DebugOffsets blob */
    uint32_t offsets_len;
    uint32_t n_threads;
    uint32_t n_regions;
    const uint8_t *expected; /* expected replay output, NULL if none */
    uint32_t expected_len;
    const uint8_t *threads_table_; /* internal: encoded tables inside the buffer */
    const uint8_t *regions_table_;
    const uint8_t *base_;
} spw_snapshot;

/* Validate buf[len] completely and fill *out (zeroed on any error). The order of the checks
 * and what triggers each error are specified in docs/snapshot-format.md. */
spw_snap_err spw_snapshot_decode(const uint8_t *buf, size_t len, spw_snapshot *out);

/* Entry i of the thread or region table (i < n_threads / n_regions; a larger i gives a
 * zeroed entry). */
spw_snap_thread spw_snapshot_thread(const spw_snapshot *s, uint32_t i);
spw_snap_region spw_snapshot_region(const spw_snapshot *s, uint32_t i);

/* What to encode. Regions must be sorted by address and must not overlap. */
typedef struct spw_snap_spec {
    spw_snap_header header;
    const uint8_t *offsets;
    uint32_t offsets_len;
    const spw_snap_thread *threads;
    uint32_t n_threads;
    const spw_snap_region *regions;
    uint32_t n_regions;
    const uint8_t *expected; /* may be NULL */
    uint32_t expected_len;
} spw_snap_spec;

/* Encode into out[cap]. *size receives the encoded size even when SPW_SNAP_E_NOSPACE is
 * returned, so a caller can size its buffer with a first call using cap = 0 (out may then
 * be NULL); it is 0 after SPW_SNAP_E_INVALID. The spec is validated as the decoder would
 * validate the file (known arch, pointer width 8, limits, regions non-empty, inside user
 * space, sorted and disjoint), so the encoder never writes a file its decoder refuses.
 * `expected` non-NULL with expected_len 0 encodes "present but empty", which decodes back
 * to a non-NULL `expected`; NULL encodes "absent". */
spw_snap_err spw_snapshot_encode(const spw_snap_spec *spec, uint8_t *out, size_t cap,
                                 size_t *size);

/* The image reader: serves a read only when it lies wholly inside one captured region
 * (binary search); anything else fails. Use with spw_reader{spw_image_read, &snapshot}. */
int spw_image_read(void *snapshot, uint64_t addr, void *dst, size_t len);

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32) — the snapshot's integrity check. */
uint32_t spw_crc32(uint32_t crc, const uint8_t *p, size_t len);

#endif /* SPW_SNAPSHOT_H */
