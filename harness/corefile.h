/*
 * corefile.h — spwalk's side of core files, and the pieces capture shares with it.
 *
 * A core file is read through core/elfcore.h (the pure parser and reader). This part of
 * the harness maps the file, finds the interpreter in it with the same code that finds one
 * in a live process (proc.c: the core's NT_FILE table stands in for /proc/PID/maps),
 * serves the bytes a core leaves out from the mapped files themselves, and hands capture.c
 * an sw_source, so `dump --core` and `capture --core` are the live commands over another
 * reader.
 */
#ifndef SW_COREFILE_H
#define SW_COREFILE_H

#include "elfcore.h"
#include "spwalk.h"

/* ---- finding the interpreter from a list of file mappings (proc.c) ------------------ */
/* One file mapping of a process: `path` mapped at `start` from file offset `offset`. */
typedef struct sw_mapping {
    uint64_t start, offset;
    uint64_t page; /* the process's page size; 0: this machine's */
    const char *path;
    int is_exe; /* the main executable */
} sw_mapping;

/* Map the ELF file behind a candidate mapping read-only (the caller munmaps it), or NULL. */
typedef const uint8_t *(*sw_open_object)(void *ctx, const sw_mapping *m, size_t *len);

/* Given a process's file mappings, find the interpreter: the executable first, then every
 * file whose name contains "python", each opened with open_object; fills py->runtime,
 * code_type, bias and object. 0 found, -1 not. */
int sw_python_in_mappings(const sw_mapping *maps, size_t n, sw_open_object open_object,
                          void *ctx, sw_python *py);
/* The interpreter in the executable at `path` whose entry point was loaded at `entry`
 * (a core's AT_ENTRY, when it has no NT_FILE table: qemu-user's cores of its guest). */
int sw_python_at_entry(const char *path, uint64_t entry, sw_python *py);
/* Whether a mapped file's name makes it a libpython candidate. */
int sw_python_is_candidate(const char *path);
/* Map a whole regular file read-only (munmap it), or NULL. */
const uint8_t *sw_map_file(const char *path, size_t *len);

/* ---- capture from any source (capture.c) ------------------------------------------- */
/* Where a capture reads from: a reader, the architecture of its memory, _PyRuntime and
 * PyCode_Type in it, and a name for messages ("process 123", "core FILE"). */
typedef struct sw_source {
    spw_reader reader;
    spw_arch arch;
    uint64_t runtime, code_type;
    char name[4200];
    /* Why a read of `what` at addr failed, as the error; NULL: a generic message. */
    int (*failure)(void *ctx, sw_err *e, const char *what, uint64_t addr);
    void *failure_ctx;
} sw_source;

/* Read and parse _Py_DebugOffsets at src->runtime (blob: SPW_SNAP_OFFSETS_MAX bytes). */
int sw_source_layout(const sw_source *src, uint8_t *blob, size_t *blob_len, spw_layout *L,
                     sw_err *e);
/* Every thread state of every interpreter, in list order (core/threads.h); free *out. */
int sw_source_threads(const sw_source *src, const spw_layout *L, spw_snap_thread **out,
                      uint32_t *n_out, sw_err *e);
/* Capture a source that holds still (a core file) into an encoded snapshot, exactly as
 * sw_capture() does a process: recorded, replayed, checked, expected output embedded. */
int sw_capture_source(const sw_source *src, sw_buf *out, sw_capture_stats *stats, sw_err *e);

/* ---- core files (corefile.c) ------------------------------------------------------- */
/* A file the core maps, opened on first use to serve the bytes the core left out. */
typedef struct sw_core_object {
    const char *name;    /* as the core recorded it (points into the core) */
    const char *path;    /* where it is read from: name, or --exe / --lib */
    const uint8_t *data; /* mmapped, or NULL */
    size_t len;
    int state; /* 0 not tried, 1 open, -1 missing or not the file the process mapped */
} sw_core_object;

typedef struct sw_corefile {
    char path[4096];
    const uint8_t *map; /* the whole core file, mmapped read-only */
    size_t len;
    spw_core core;
    spw_core_segment *segments;
    spw_core_thread *threads;
    spw_core_file *files;
    sw_core_object *objects; /* one per NT_FILE entry */
    const char *exe_path, *lib_path; /* --exe, --lib, or NULL */
    const char *exe_name;            /* NT_FILE name of the executable, or NULL */
    sw_python py;                    /* the interpreter found */
    uint64_t n_fallback_reads;       /* reads served from mapped files */
} sw_corefile;

/* Map and parse a core file and find the interpreter in it; exe and lib (may be NULL)
 * say where the executable and libpython are when they are no longer where the core
 * says. One clear error for each way this can fail. */
int sw_corefile_open(sw_corefile *cf, const char *path, const char *exe, const char *lib,
                     sw_err *e);
void sw_corefile_close(sw_corefile *cf);
/* The core as a capture source (its reader serves the core, then the mapped files). */
void sw_corefile_source(sw_corefile *cf, sw_source *src);
/* Compare Python's thread states with the core's threads; when they disagree, describe
 * how in note (one line, no newline) and return 1, else 0. */
int sw_corefile_check_threads(const sw_corefile *cf, const spw_snap_thread *t, uint32_t n,
                              char *note, size_t cap);

#endif /* SW_COREFILE_H */
