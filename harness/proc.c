/*
 * proc.c — find a CPython interpreter inside another process.
 *
 * _PyRuntime (whose first bytes are _Py_DebugOffsets) and PyCode_Type are exported data
 * symbols of whichever ELF object holds the interpreter: the python executable itself, or
 * libpython3.X[t].so for a --enable-shared build or an embedding program. We look at the
 * main executable and every mapped file whose name contains "python", read the symbol
 * tables of the file on disk (.symtab when the binary is not stripped, .dynsym otherwise),
 * and add the load bias computed from /proc/PID/maps and the file's program headers.
 *
 * Both a live process (/proc/PID/maps) and a core file (its NT_FILE table, corefile.c)
 * feed their file mappings to one function, sw_python_in_mappings(); only the way a
 * candidate file is opened differs.
 *
 * The ELF file is parsed defensively (every offset and count checked against the file
 * size): it is a file from another process's view of the filesystem, not ours to trust.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corefile.h"

/* Does [off, off+size) lie inside a file of `len` bytes? */
static int in_file(uint64_t off, uint64_t size, size_t len)
{
    return off <= len && size <= len - off;
}

/* The machines whose interpreters the walker reads. Not only the host's: an aarch64 Python
 * under qemu-user on an x86-64 host is a host process (qemu) that maps the guest's ELF
 * objects, and with qemu's guest base 0 the guest's addresses are the host's
 * (docs/spwalk.md, "Under qemu-user"). */
static spw_arch elf_arch(const Elf64_Ehdr *h)
{
    return h->e_machine == EM_X86_64    ? SPW_ARCH_X86_64
           : h->e_machine == EM_AARCH64 ? SPW_ARCH_AARCH64
                                        : SPW_ARCH_UNKNOWN;
}

static const Elf64_Ehdr *elf_header(const uint8_t *elf, size_t len)
{
    if (len < sizeof(Elf64_Ehdr)) return NULL;
    const Elf64_Ehdr *h = (const Elf64_Ehdr *)(const void *)elf;
    if (memcmp(h->e_ident, ELFMAG, SELFMAG) != 0 || h->e_ident[EI_CLASS] != ELFCLASS64 ||
        h->e_ident[EI_DATA] != ELFDATA2LSB || elf_arch(h) == SPW_ARCH_UNKNOWN)
        return NULL;
    return h;
}

/* Look for `name` in the symbol table section `sec`. */
static uint64_t find_in_table(const uint8_t *elf, size_t len, const Elf64_Shdr *sh, uint16_t shnum,
                              const Elf64_Shdr *sec, const char *name)
{
    if (sec->sh_entsize != sizeof(Elf64_Sym) || !in_file(sec->sh_offset, sec->sh_size, len) ||
        sec->sh_link >= shnum || sec->sh_offset % 8 != 0)
        return 0;
    const Elf64_Shdr *str = &sh[sec->sh_link];
    if (!in_file(str->sh_offset, str->sh_size, len)) return 0;
    const char *strtab = (const char *)elf + str->sh_offset;
    const Elf64_Sym *syms = (const Elf64_Sym *)(const void *)(elf + sec->sh_offset);
    size_t n = sec->sh_size / sizeof(Elf64_Sym), nlen = strlen(name);
    for (size_t i = 0; i < n; i++) {
        const Elf64_Sym *s = &syms[i];
        if (s->st_shndx == SHN_UNDEF || s->st_name >= str->sh_size) continue;
        if (str->sh_size - s->st_name <= nlen) continue;
        if (memcmp(strtab + s->st_name, name, nlen + 1) == 0 && s->st_value != 0)
            return s->st_value;
    }
    return 0;
}

uint64_t sw_elf_symbol(const uint8_t *elf, size_t len, const char *name)
{
    const Elf64_Ehdr *h = elf_header(elf, len);
    if (!h || h->e_shentsize != sizeof(Elf64_Shdr) || h->e_shoff % 8 != 0 ||
        !in_file(h->e_shoff, (uint64_t)h->e_shnum * sizeof(Elf64_Shdr), len))
        return 0;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(const void *)(elf + h->e_shoff);
    /* .symtab first: it is complete; .dynsym holds only what is exported, which is
     * enough for both symbols in every CPython build, stripped or not. */
    const uint32_t kinds[2] = { SHT_SYMTAB, SHT_DYNSYM };
    for (int k = 0; k < 2; k++)
        for (uint16_t i = 0; i < h->e_shnum; i++)
            if (sh[i].sh_type == kinds[k]) {
                uint64_t v = find_in_table(elf, len, sh, h->e_shnum, &sh[i], name);
                if (v) return v;
            }
    return 0;
}

/* Load bias of an object whose file offset `off` is mapped at `start` (pages of `page`
 * bytes): the PT_LOAD segment containing that page says which virtual address the page has
 * in the file. */
static int elf_bias(const uint8_t *elf, size_t len, uint64_t start, uint64_t off, uint64_t page,
                    uint64_t *bias)
{
    const Elf64_Ehdr *h = elf_header(elf, len);
    if (!h || h->e_phentsize != sizeof(Elf64_Phdr) || h->e_phoff % 8 != 0 ||
        !in_file(h->e_phoff, (uint64_t)h->e_phnum * sizeof(Elf64_Phdr), len))
        return -1;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(const void *)(elf + h->e_phoff);
    for (uint16_t i = 0; i < h->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD) continue;
        uint64_t seg_off = ph[i].p_offset & ~(page - 1);
        if (off < seg_off || off - seg_off >= ph[i].p_filesz + (ph[i].p_offset - seg_off))
            continue;
        /* vaddr and file offset are congruent modulo the page size inside a segment. */
        uint64_t vaddr = (ph[i].p_vaddr & ~(page - 1)) + (off - seg_off);
        *bias = start - vaddr;
        return 0;
    }
    return -1;
}

/* Map a whole file read-only; NULL if it cannot be (missing, not a regular file, empty). */
const uint8_t *sw_map_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    void *p = MAP_FAILED;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return NULL;
    *len = (size_t)st.st_size;
    return p;
}

/* The interpreter in one ELF object loaded with `bias`: both symbols, and its machine. */
static int python_in_object(const uint8_t *elf, size_t len, uint64_t bias, const char *path,
                            sw_python *py)
{
    const uint64_t runtime = sw_elf_symbol(elf, len, "_PyRuntime");
    const uint64_t code_type = sw_elf_symbol(elf, len, "PyCode_Type");
    if (!runtime || !code_type) return -1;
    py->arch = elf_arch(elf_header(elf, len)); /* a header, or no symbol was found */
    py->runtime = runtime + bias;
    py->code_type = code_type + bias;
    py->bias = bias;
    snprintf(py->object, sizeof py->object, "%s", path);
    return 0;
}

/* Try one candidate object: find both symbols in its file, the bias from where its lowest
 * mapped page went. */
static int try_object(const sw_mapping *m, sw_open_object open_object, void *ctx, sw_python *py)
{
    size_t len = 0;
    const uint8_t *elf = open_object(ctx, m, &len);
    if (!elf) return -1;
    uint64_t bias = 0;
    const int found = elf_bias(elf, len, m->start, m->offset,
                               m->page ? m->page : (uint64_t)sysconf(_SC_PAGESIZE), &bias) == 0 &&
                      python_in_object(elf, len, bias, m->path, py) == 0;
    munmap((void *)(uintptr_t)elf, len);
    return found ? 0 : -1;
}

int sw_python_at_entry(const char *path, uint64_t entry, sw_python *py)
{
    size_t len = 0;
    const uint8_t *elf = sw_map_file(path, &len);
    if (!elf) return -1;
    const Elf64_Ehdr *h = elf_header(elf, len);
    const int found = h && h->e_entry && python_in_object(elf, len, entry - h->e_entry, path, py) == 0;
    munmap((void *)(uintptr_t)elf, len);
    return found ? 0 : -1;
}

int sw_python_is_candidate(const char *path)
{
    const char *base = strrchr(path, '/');
    return strstr(base ? base + 1 : path, "python") != NULL;
}

int sw_python_in_mappings(const sw_mapping *maps, size_t n, sw_open_object open_object,
                          void *ctx, sw_python *py)
{
    /* One candidate per file: the mapping with the lowest file offset gives the bias. */
    sw_mapping *files = sw_xmalloc((n ? n : 1) * sizeof *files);
    size_t n_files = 0;
    for (size_t k = 0; k < n; k++) {
        if (!maps[k].is_exe && !sw_python_is_candidate(maps[k].path)) continue;
        size_t i;
        for (i = 0; i < n_files; i++)
            if (strcmp(files[i].path, maps[k].path) == 0) break;
        if (i == n_files) files[n_files++] = maps[k];
        else if (maps[k].offset < files[i].offset) {
            files[i].start = maps[k].start;
            files[i].offset = maps[k].offset;
        }
        files[i].is_exe |= maps[k].is_exe;
    }
    /* The executable first: a statically linked interpreter is the common case. */
    int found = -1;
    for (int pass = 0; pass < 2 && found != 0; pass++)
        for (size_t i = 0; i < n_files && found != 0; i++)
            if (files[i].is_exe == (pass == 0)) found = try_object(&files[i], open_object, ctx, py);
    free(files);
    return found;
}

/* How a live process's objects are opened: as the target sees them. The target may live
 * in another mount namespace, or its binary may have been replaced since it started:
 * /proc/PID/exe and /proc/PID/root/<path> see the file the target mapped; the plain path
 * is the last resort. */
static const uint8_t *open_in_process(void *ctx, const sw_mapping *m, size_t *len)
{
    const pid_t pid = *(const pid_t *)ctx;
    char path[4200];
    const uint8_t *elf = NULL;
    if (m->is_exe) {
        snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
        elf = sw_map_file(path, len);
    }
    if (!elf) {
        snprintf(path, sizeof path, "/proc/%d/root%s", (int)pid, m->path);
        elf = sw_map_file(path, len);
    }
    if (!elf) elf = sw_map_file(m->path, len);
    return elf;
}

int sw_find_python(pid_t pid, sw_python *py, sw_err *e)
{
    memset(py, 0, sizeof *py);
    py->pid = pid;
    if (kill(pid, 0) != 0 && errno == ESRCH) return sw_fail(e, "no such process: %d", (int)pid);

    char path[64], exe[4096] = "";
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    if (n > 0) exe[n] = '\0';
    else if (errno == EACCES || errno == EPERM)
        return sw_fail(e, "permission denied: cannot inspect process %d", (int)pid);

    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT) return sw_fail(e, "no such process: %d", (int)pid);
        return sw_fail(e, "cannot read %s: %s", path, strerror(errno));
    }
    /* Every file mapping, with its path copied (the line buffer is reused). */
    sw_mapping *maps = NULL;
    char **paths = NULL;
    size_t n_maps = 0, cap = 0;
    char line[4096 + 256];
    while (fgets(line, sizeof line, f)) {
        unsigned long long start, end, off;
        int name_at = -1;
        if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n", &start, &end, &off, &name_at) < 3 ||
            name_at < 0)
            continue;
        char *name = line + name_at;
        name[strcspn(name, "\n")] = '\0';
        if (name[0] != '/') continue; /* anonymous, [heap], [stack], ... */
        int is_exe = exe[0] && strcmp(name, exe) == 0;
        if (!is_exe && !sw_python_is_candidate(name)) continue;
        if (n_maps == cap) {
            cap = cap ? 2 * cap : 16;
            maps = sw_xrealloc(maps, cap * sizeof *maps);
            paths = sw_xrealloc(paths, cap * sizeof *paths);
        }
        paths[n_maps] = sw_xmalloc(strlen(name) + 1);
        memcpy(paths[n_maps], name, strlen(name) + 1);
        maps[n_maps] = (sw_mapping){ .start = start, .offset = off, .path = paths[n_maps],
                                     .is_exe = is_exe };
        n_maps++;
    }
    int read_error = ferror(f);
    fclose(f);
    int found = -1;
    if (!read_error && (n_maps || exe[0]))
        found = sw_python_in_mappings(maps, n_maps, open_in_process, &pid, py);
    for (size_t i = 0; i < n_maps; i++) free(paths[i]);
    free(paths);
    free(maps);
    if (read_error) return sw_fail(e, "cannot read %s", path);
    if (n_maps == 0 && exe[0] == '\0') {
        /* An empty maps file: a zombie, or a process we may not look into. */
        return sw_fail(e, "process %d has no readable memory map (exited, or permission "
                          "denied)", (int)pid);
    }
    if (found != 0)
        return sw_fail(e, "process %d (%s) is not a supported Python: no _PyRuntime and "
                          "PyCode_Type symbols in its executable or a mapped libpython",
                       (int)pid, exe[0] ? exe : "?");
    return 0;
}
