/*
 * corefile.c — a core file as a capture source: map it, parse it, find CPython in it.
 *
 *   1. mmap the core read-only and parse it (core/elfcore.c) in two passes: count, then
 *      fill tables of exactly that size;
 *   2. turn its NT_FILE table into the file mappings proc.c's sw_python_in_mappings()
 *      takes, the executable being the file whose mapping holds AT_ENTRY, and let it find
 *      _PyRuntime and PyCode_Type in the files on disk (or in --exe / --lib);
 *   3. serve reads from the core's PT_LOAD bytes, and the bytes the core left out
 *      (read-only text and data of mapped files, which the kernel does not dump) from the
 *      mapped file itself, at file offset + (addr - start) — only when the file is the
 *      one the process mapped: large enough, and equal to the core in the bytes of it the
 *      core does hold (the ELF header page, which the kernel dumps by default).
 *
 * Nothing in a core is trusted: the parser checks every structure, and a read the core and
 * the files cannot supply fails, so the walk reports `unreadable` as for a live process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corefile.h"

/* Table sizes a core may ask for. A process with more mappings, threads or mapped files
 * than this is not one spwalk was meant for; the limit keeps a forged NT_FILE count from
 * making the harness allocate gigabytes. */
#define CORE_MAX_SEGMENTS (1u << 20)
#define CORE_MAX_THREADS (1u << 16)
#define CORE_MAX_FILES (1u << 20)

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Where the file the core calls `name` is read from: --exe for the executable, --lib for
 * a libpython, else the recorded path. */
static const char *object_path(const sw_corefile *cf, const char *name)
{
    if (cf->exe_path && cf->exe_name && strcmp(name, cf->exe_name) == 0) return cf->exe_path;
    if (cf->lib_path && sw_python_is_candidate(name) &&
        !(cf->exe_name && strcmp(name, cf->exe_name) == 0))
        return cf->lib_path;
    return name;
}

/* The core's copy of the first bytes of `name` (a mapping of it at file offset 0 whose
 * bytes the core holds) agrees with the file: it is the file the process mapped. A core
 * without such bytes cannot tell, and the file is taken on trust, as gdb does. */
static int same_file(const sw_corefile *cf, const char *name, const uint8_t *data, size_t len)
{
    for (uint32_t i = 0; i < cf->core.n_files; i++) {
        const spw_core_file *f = &cf->files[i];
        if (f->offset != 0 || strcmp(f->name, name) != 0) continue;
        size_t n = len < 4096 ? len : 4096;
        if (f->end - f->start < n) n = (size_t)(f->end - f->start);
        const uint32_t s = spw_core_segment_of(&cf->core, f->start);
        if (s == UINT32_MAX) continue;
        const spw_core_segment *g = &cf->segments[s];
        const uint64_t rel = f->start - g->vaddr;
        if (rel > g->filesz || g->filesz - rel < n) continue; /* the core left it out */
        /* Straight from the core's bytes, not through the fallback (which would be us). */
        if (memcmp(cf->map + g->offset + rel, data, n) != 0) return 0;
    }
    return 1;
}

static const sw_core_object *object_of(sw_corefile *cf, uint32_t file)
{
    sw_core_object *o = &cf->objects[file];
    if (o->state) return o;
    /* Entries of one file share one mapping of it: the first entry's object. */
    for (uint32_t i = 0; i < file; i++)
        if (cf->objects[i].state && strcmp(cf->files[i].name, cf->files[file].name) == 0) {
            *o = cf->objects[i];
            return o;
        }
    o->name = cf->files[file].name;
    o->path = object_path(cf, o->name);
    o->data = sw_map_file(o->path, &o->len);
    o->state = o->data ? 1 : -1;
    if (o->data && !same_file(cf, o->name, o->data, o->len)) {
        munmap((void *)(uintptr_t)o->data, o->len);
        o->data = NULL;
        o->state = -1;
    }
    return o;
}

/* The fallback reader: bytes the core left out, from the file mapped there. */
static int file_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    sw_corefile *cf = ctx;
    for (uint32_t i = 0; i < cf->core.n_files; i++) {
        const spw_core_file *f = &cf->files[i];
        if (addr < f->start || addr >= f->end) continue;
        if ((uint64_t)len > f->end - addr) return -1; /* a range past the mapping */
        const sw_core_object *o = object_of(cf, i);
        const uint64_t rel = addr - f->start;
        if (o->state != 1 || f->offset > o->len || rel > o->len - f->offset ||
            (uint64_t)len > o->len - f->offset - rel)
            return -1;
        memcpy(dst, o->data + f->offset + rel, len);
        cf->n_fallback_reads++;
        return 0;
    }
    return -1;
}

/* proc.c's way in to the files: open a candidate as corefile.c would serve it. */
static const uint8_t *open_from_core(void *ctx, const sw_mapping *m, size_t *len)
{
    const sw_corefile *cf = ctx;
    return sw_map_file(object_path(cf, m->path), len);
}

static int parse(sw_corefile *cf, sw_err *e)
{
    spw_core_counts n;
    spw_core_err err = spw_core_parse(&cf->core, cf->map, cf->len, NULL, &n);
    if (err == SPW_CORE_OK &&
        (n.segments > CORE_MAX_SEGMENTS || n.threads > CORE_MAX_THREADS || n.files > CORE_MAX_FILES))
        err = SPW_CORE_E_LIMIT;
    if (err == SPW_CORE_OK) {
        cf->segments = sw_xmalloc((n.segments ? n.segments : 1) * sizeof *cf->segments);
        cf->threads = sw_xmalloc((n.threads ? n.threads : 1) * sizeof *cf->threads);
        cf->files = sw_xmalloc((n.files ? n.files : 1) * sizeof *cf->files);
        cf->objects = calloc(n.files ? n.files : 1, sizeof *cf->objects);
        if (!cf->objects) return sw_fail(e, "out of memory");
        spw_core_tables t = { cf->segments, n.segments, cf->threads, n.threads,
                              cf->files, n.files };
        err = spw_core_parse(&cf->core, cf->map, cf->len, &t, NULL);
    }
    if (err != SPW_CORE_OK) {
        if (err == SPW_CORE_E_NOT_ELF || err == SPW_CORE_E_NOT_CORE || err == SPW_CORE_E_CLASS)
            return sw_fail(e, "%s is not an ELF core file (%s)", cf->path, spw_core_strerror(err));
        return sw_fail(e, "%s: bad core file: %s (at file offset 0x%llx)", cf->path,
                       spw_core_strerror(err), (unsigned long long)cf->core.err_at);
    }
    /* Any supported machine on any host: the walk reads the core's bytes, not this host's
     * (an aarch64 core on x86-64 needs the files it maps: --exe, --lib). */
    cf->core.fallback = (spw_reader){ file_read, cf };
    return 0;
}

/* The interpreter, from the NT_FILE mappings; the error says what to do when the files
 * the core names are gone. */
static int find_python(sw_corefile *cf, sw_err *e)
{
    const spw_core *c = &cf->core;
    memset(&cf->py, 0, sizeof cf->py);
    if (c->n_files == 0) {
        /* qemu-user writes its guest's cores so: every page in the core, no file table,
         * the entry point in NT_AUXV. The executable is then the one the user names. */
        if (cf->exe_path && c->entry && sw_python_at_entry(cf->exe_path, c->entry, &cf->py) == 0)
            return 0;
        if (cf->exe_path)
            return sw_fail(e, "no CPython found in %s by --exe %s: %s", cf->path, cf->exe_path,
                           c->entry ? "no _PyRuntime and PyCode_Type symbols in it"
                                    : "the core has no entry point (AT_ENTRY) to place it");
        return sw_fail(e, "%s has no table of mapped files (NT_FILE): pass --exe PATH (the "
                          "interpreter the process ran) to find it from the entry point",
                       cf->path);
    }
    for (uint32_t i = 0; i < c->n_files && c->entry; i++)
        if (c->entry >= cf->files[i].start && c->entry < cf->files[i].end)
            cf->exe_name = cf->files[i].name;
    sw_mapping *maps = sw_xmalloc(c->n_files * sizeof *maps);
    for (uint32_t i = 0; i < c->n_files; i++)
        maps[i] = (sw_mapping){ .start = cf->files[i].start, .offset = cf->files[i].offset,
                                .page = c->page_size, .path = cf->files[i].name,
                                .is_exe = cf->exe_name && !strcmp(cf->files[i].name, cf->exe_name) };
    int found = sw_python_in_mappings(maps, c->n_files, open_from_core, cf, &cf->py);
    free(maps);
    if (found == 0) return 0;

    /* Why not: a candidate whose file is missing is the likely reason. */
    if (cf->exe_name && !exists(object_path(cf, cf->exe_name)))
        return sw_fail(e, "the core maps %s, which is missing; pass --exe PATH (the "
                          "interpreter the process ran)", object_path(cf, cf->exe_name));
    for (uint32_t i = 0; i < c->n_files; i++) {
        const char *name = cf->files[i].name;
        if (!sw_python_is_candidate(name) || exists(object_path(cf, name))) continue;
        return sw_fail(e, "the core maps %s, which is missing; pass %s PATH", object_path(cf, name),
                       cf->exe_name && !strcmp(name, cf->exe_name) ? "--exe" : "--lib");
    }
    return sw_fail(e, "no CPython found in %s: no _PyRuntime and PyCode_Type symbols in "
                      "its executable (%s) or a mapped libpython", cf->path,
                   cf->exe_name ? object_path(cf, cf->exe_name) : "unknown");
}

int sw_corefile_open(sw_corefile *cf, const char *path, const char *exe, const char *lib,
                     sw_err *e)
{
    memset(cf, 0, sizeof *cf);
    snprintf(cf->path, sizeof cf->path, "%s", path);
    cf->exe_path = exe;
    cf->lib_path = lib;
    if (exe && !exists(exe)) return sw_fail(e, "--exe %s: %s", exe, strerror(errno));
    if (lib && !exists(lib)) return sw_fail(e, "--lib %s: %s", lib, strerror(errno));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sw_fail(e, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sw_fail(e, "%s is not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return sw_fail(e, "%s is not an ELF core file (empty)", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED) return sw_fail(e, "cannot map %s: %s", path, strerror(err));
    cf->map = p;
    cf->len = (size_t)st.st_size;
    if (parse(cf, e) || find_python(cf, e)) {
        sw_corefile_close(cf);
        return -1;
    }
    return 0;
}

void sw_corefile_close(sw_corefile *cf)
{
    for (uint32_t i = 0; cf->objects && i < cf->core.n_files; i++) {
        sw_core_object *o = &cf->objects[i];
        int shared = 0; /* a copy of an earlier entry's object */
        for (uint32_t k = 0; k < i && !shared; k++) shared = cf->objects[k].data == o->data;
        if (o->data && !shared) munmap((void *)(uintptr_t)o->data, o->len);
    }
    if (cf->map) munmap((void *)(uintptr_t)cf->map, cf->len);
    free(cf->segments);
    free(cf->threads);
    free(cf->files);
    free(cf->objects);
    memset(cf, 0, sizeof *cf);
}

static int core_failure(void *ctx, sw_err *e, const char *what, uint64_t addr)
{
    const sw_corefile *cf = ctx;
    return sw_fail(e, "%s: cannot read %s at 0x%llx: not in the core, nor in a file it maps",
                   cf->path, what, (unsigned long long)addr);
}

void sw_corefile_source(sw_corefile *cf, sw_source *src)
{
    memset(src, 0, sizeof *src);
    src->reader = (spw_reader){ spw_core_read, &cf->core };
    /* The interpreter's machine: the core's, or aarch64 in a core of qemu-user running an
     * aarch64 Python (docs/spwalk.md, "Under qemu-user"). */
    src->arch = cf->py.arch != SPW_ARCH_UNKNOWN ? cf->py.arch : cf->core.arch;
    src->runtime = cf->py.runtime;
    src->code_type = cf->py.code_type;
    snprintf(src->name, sizeof src->name, "core %s", cf->path);
    src->failure = core_failure;
    src->failure_ctx = cf;
}

int sw_corefile_check_threads(const sw_corefile *cf, const spw_snap_thread *t, uint32_t n,
                              char *note, size_t cap)
{
    uint32_t missing = 0;
    for (uint32_t i = 0; i < n; i++) {
        int seen = 0;
        for (uint32_t k = 0; k < cf->core.n_threads && !seen; k++)
            seen = cf->core.threads[k].tid == t[i].native_thread_id;
        missing += !seen;
    }
    if (missing == 0 && n == cf->core.n_threads) return 0;
    snprintf(note, cap, "the core has %u thread%s, Python %u thread state%s", cf->core.n_threads,
             cf->core.n_threads == 1 ? "" : "s", n, n == 1 ? "" : "s");
    if (missing)
        snprintf(note + strlen(note), cap - strlen(note),
                 " (%u with a native thread id the core has no thread for)", missing);
    return 1;
}
