/*
 * spwalk.h — internal interfaces of the spwalk tool (harness/), not part of the core.
 *
 * The tool is a thin shell around the core: it finds a CPython in another process
 * (proc.c), reads its memory through process_vm_readv while recording every byte it was
 * given (remote.c), keeps the target stopped meanwhile (stop.c), and renders walks as text
 * or JSON (render.c). A capture (capture.c) and a replay (replay.c) go through exactly the
 * same rendering code over different readers, which is what makes a recorded snapshot
 * replay to the very output the capture saw. A recording (record.c) samples a process
 * over time into a profile.
 *
 * Unlike the core, the harness allocates and does I/O; it still never trusts a byte that
 * came from a file or from another process.
 */
#ifndef SPWALK_H
#define SPWALK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "layout.h"
#include "reader.h"
#include "snapshot.h"
#include "symbolize.h"
#include "walk.h"

#if defined(__GNUC__) || defined(__clang__)
#define SW_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SW_PRINTF(f, a)
#endif

/* Depth limit of every walk. It is a constant of the tool, not an option, because a
 * snapshot replays to its expected output only when replayed with the depth it was
 * captured with (a deeper replay would need bytes the capture never read). */
#define SW_DEPTH SPW_WALK_DEPTH_MAX
/* Largest snapshot file spwalk reads or writes. */
#define SW_FILE_MAX ((size_t)256 << 20)
/* The work and output of one rendering (replay, verify, capture, dump) are bounded, so
 * that a small forged file cannot make spwalk run for minutes or print gigabytes (every
 * thread entry of a file can point at the same deep chain of frames with the longest
 * names). Real captures stay far below both bounds: their replay output is 0.25-0.6 times
 * the file's size, and they need fewer reads than SW_READS_PER_BYTE per byte of the file.
 *   reads of target memory   at most SW_READS_BASE + SW_READS_PER_BYTE x the input's size,
 *                            and never more than SW_READS_MAX
 *   output bytes             at most SW_OUTPUT_BASE + SW_OUTPUT_PER_BYTE x the input's size,
 *                            and never more than SW_OUTPUT_MAX (the largest expected output
 *                            a snapshot can hold, so nothing larger could be verified)
 * A live process (capture, dump) has no input size: only the absolute bounds apply. */
#define SW_READS_BASE (1u << 20)
#define SW_READS_PER_BYTE 4u
#define SW_READS_MAX (1u << 24)
#define SW_OUTPUT_BASE ((size_t)1 << 20)
#define SW_OUTPUT_PER_BYTE 4u
#define SW_OUTPUT_MAX ((size_t)SPW_SNAP_EXPECTED_MAX)

/* ---- errors: one line of text, printed by main() as "spwalk: error: <msg>" ---------- */
typedef struct sw_err {
    char msg[512];
} sw_err;

/* Format the message into e and return -1, so callers can `return sw_fail(e, ...)`. */
int sw_fail(sw_err *e, const char *fmt, ...) SW_PRINTF(2, 3);

/* ---- growable byte buffer ---------------------------------------------------------- */
typedef struct sw_buf {
    char *data;
    size_t len, cap;
} sw_buf;

/* Allocation failure calls sw_out_of_memory(), which never returns. spwalk's (oom.c) ends
 * the program with "out of memory" (a CLI cannot do better, and a stopped target is
 * released by the kernel when a ptrace tracer exits); the extension, which writes drop
 * files with this code inside a program it must never end, has its own (drop_file.c). */
void sw_out_of_memory(void) __attribute__((noreturn));
void *sw_xmalloc(size_t n);
void *sw_xrealloc(void *p, size_t n);
void sw_buf_put(sw_buf *b, const void *p, size_t n);
void sw_buf_puts(sw_buf *b, const char *s);
void sw_buf_printf(sw_buf *b, const char *fmt, ...) SW_PRINTF(2, 3);
void sw_buf_free(sw_buf *b);

/* ---- rendering (render.c) ---------------------------------------------------------- */
typedef enum sw_format { SW_TEXT = 0, SW_JSON = 1 } sw_format;

/* Everything a rendering needs: the same struct describes a live process (recording
 * reader) and a snapshot (image reader). */
typedef struct sw_view {
    const spw_layout *layout;
    const spw_reader *reader;
    uint64_t code_type;
    const spw_snap_thread *threads;
    uint32_t n_threads;
    size_t input_bytes; /* size of the file rendered; 0 for a live process */
} sw_view;

/* Walk and symbolize every thread of v in order and append the rendering to out.
 * Deterministic: depends only on the bytes the reader returns. Fails, with out holding a
 * partial rendering, when the rendering would pass the bounds above. */
int sw_render(const sw_view *v, sw_format fmt, sw_buf *out, sw_err *e);

/* "3.13.5", "3.14.0rc1" from PY_VERSION_HEX, into buf[cap]. */
void sw_version_string(uint64_t hex, char *buf, size_t cap);

/* JSON string literal (with quotes) of s[0,n): control characters escaped, invalid UTF-8
 * bytes replaced by \ufffd, so the result is always valid JSON. */
void sw_json_string(sw_buf *b, const char *s, size_t n);

/* ---- snapshots (replay.c) ---------------------------------------------------------- */

/* Read a whole file (at most SW_FILE_MAX bytes; "-" is stdin) into a fresh allocation. */
int sw_read_file(const char *path, uint8_t **data, size_t *len, sw_err *e);
/* Write data to path atomically (temporary file in the same directory, then rename); "-"
 * and existing non-regular files (devices, pipes) are written in place. */
int sw_write_file(const char *path, const void *data, size_t len, sw_err *e);

/* Encode spec with `expected` as its expected output (NULL: none) into out, sized first.
 * Shared by capture and the extension's drop files (python/src/drop_file.c). */
int sw_snap_encode(const spw_snap_spec *spec, const sw_buf *expected, sw_buf *out, sw_err *e);

/* A decoded, cross-checked snapshot ready to replay. reader.ctx points at snap inside the
 * struct itself, so an sw_snap must stay where sw_snap_open() filled it. */
typedef struct sw_snap {
    spw_snapshot snap;
    spw_layout layout;
    spw_snap_thread *threads; /* copy of the thread table */
    spw_reader reader;        /* the image reader over snap */
    size_t input_bytes;       /* the encoded file's size: bounds a replay's work */
} sw_snap;

/* Decode buf (which must outlive s) and check it can be replayed: the header agrees with
 * the debug offsets it carries. */
int sw_snap_open(sw_snap *s, const uint8_t *buf, size_t len, sw_err *e);
void sw_snap_close(sw_snap *s);
/* Replay into out. */
int sw_snap_render(const sw_snap *s, sw_format fmt, sw_buf *out, sw_err *e);

/* ---- the target process (proc.c) --------------------------------------------------- */
typedef struct sw_python {
    pid_t pid;
    uint64_t runtime;   /* &_PyRuntime in the target (start of _Py_DebugOffsets) */
    uint64_t code_type; /* &PyCode_Type in the target */
    uint64_t bias;      /* load bias of the ELF object that defines them */
    spw_arch arch;      /* that object's machine: the host's, or aarch64 under qemu-user */
    char object[4096];  /* path of that object, as mapped */
} sw_python;

/* Find the interpreter mapped in pid: the main executable or a mapped libpython. */
int sw_find_python(pid_t pid, sw_python *py, sw_err *e);

/* Symbol lookup in an ELF file image (exposed for tests): value of a defined symbol from
 * .symtab or .dynsym, 0 if absent. */
uint64_t sw_elf_symbol(const uint8_t *elf, size_t len, const char *name);

/* ---- remote memory (remote.c) ------------------------------------------------------ */
typedef struct sw_remote {
    pid_t pid;
    int first_errno; /* errno of the first failed read, 0 if none */
    int gone;        /* a read said the process no longer exists */
} sw_remote;

/* spw_read_fn over process_vm_readv; ctx is an sw_remote. */
int sw_remote_read(void *ctx, uint64_t addr, void *dst, size_t len);

typedef struct sw_rec_region {
    uint64_t addr, len;
    uint8_t *data;
} sw_rec_region;

/* The recording reader: a read-through cache over another reader (a remote process, a core
 * file). Every byte the source handed out is kept, in sorted disjoint regions (touching
 * ones merged), and served again from the cache: a byte is read from the source at most
 * once, so even a capture of a running process is self-consistent and replays exactly. */
typedef struct sw_recorder {
    spw_reader source;
    sw_rec_region *regions;
    size_t n, cap;
    uint64_t bytes;    /* total recorded */
    uint64_t n_reads;  /* reads served */
    uint64_t n_remote; /* reads that went to the source */
    int overflow;      /* recording stopped: more than SW_FILE_MAX bytes */
} sw_recorder;

int sw_recorder_read(void *ctx, uint64_t addr, void *dst, size_t len);
void sw_recorder_free(sw_recorder *r);

/* ---- stopping the target (stop.c) -------------------------------------------------- */
typedef struct sw_stopper {
    pid_t pid;
    pid_t *tids;   /* threads we attached to */
    int *signals;  /* signal each thread stopped with, to deliver again at detach */
    size_t n, cap;
} sw_stopper;

/* Attach to every thread of pid with PTRACE_SEIZE and interrupt it; returns once all are
 * stopped. On failure everything already attached is released. */
int sw_stop(sw_stopper *s, pid_t pid, sw_err *e);
/* Detach from every thread (they continue). Safe to call twice. */
void sw_resume(sw_stopper *s);

/* ---- capture (capture.c) ----------------------------------------------------------- */
typedef struct sw_capture_stats {
    uint32_t n_threads, n_regions;
    uint64_t bytes_recorded, n_reads, n_remote_reads;
    double stopped_ms; /* how long the target was held stopped */
} sw_capture_stats;

/* Capture pid into an encoded snapshot (with its expected output embedded) in out. */
int sw_capture(pid_t pid, int nonblocking, sw_buf *out, sw_capture_stats *stats, sw_err *e);

/* ---- record (record.c) ------------------------------------------------------------- */
typedef struct sw_record_opts {
    pid_t pid;
    int nonblocking;
    double rate_hz;     /* ticks per second */
    double duration_s;  /* 0: until the target exits, SIGINT or SIGTERM */
    double every_s;     /* 0: only the final document */
    const char *output; /* "-": standard output */
} sw_record_opts;

/* Sample every thread of o->pid until the duration ends, the target exits or SIGINT or
 * SIGTERM arrives, then write the profile document (docs/spwalk.md). */
int sw_record(const sw_record_opts *o, sw_err *e);

#endif /* SPWALK_H */
