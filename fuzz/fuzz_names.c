/*
 * fuzz_names.c — structure-aware fuzzing of the thread-name reader (core/thread_names.h)
 * and the dict, int and attribute reader under it (core/dict.h).
 *
 * The input is a recipe. It picks a flavour, an architecture and where the image lives,
 * the name buffer's size (mostly SPW_NAME_MAX, as the harness passes; sometimes down to 8),
 * then builds an interpreter and, with spw_synth_threading(), sys.modules -> threading ->
 * _active with up to SPW_SYNTH_THREADS_MAX Threads: idents of every size, names of ASCII,
 * Latin-1, BMP (lone surrogates too) and astral code points, long (to SPW_SYNTH_STR_MAX
 * code points), empty and none (no `_name`), attributes inline or, every third Thread, in
 * a managed dict; or no sys.modules, no threading in it, no _active in threading. Then
 * changes. Corruptions: any pointer of the graph (imports.modules, the "threading" value,
 * md_dict, "_active", a Thread, a `_name`, an int key, ma_keys, ma_values, ht_cached_keys,
 * ob_type, the managed-dict pointer before an instance, every key and value of every
 * table) set to a bad address (fz_bad_address), NULL or another object of the graph; keys
 * and PyDictValues headers, tp_flags and tp_basicsize, int lv_tag and digits, str state and
 * length, raw pokes, a bad interpreter, a cut-off image or a hole in it. Faults of known
 * effect in one Thread (a tp_flags bit, inline values invalid or short, tp_basicsize, a
 * deleted entry, a misaligned key, a bad ident). Re-tablings, which change no answer: a
 * keys object copied into a table of another size (1-, 2-, 4-byte indices; Py_EMPTY_KEYS's
 * shape when empty). Then, through the checked reader, spw_names_open and spw_names_entry
 * for each i < active.n (at most SPW_DICT_SCAN_MAX).
 *
 * Invariants (each violation aborts; names_oracle.c checks most):
 *   N1 reads only at validated addresses, 8-byte fields 8-aligned (the checked reader), at
 *      most OPEN_READS() for the open and ENTRY_READS() an entry (names_gen.h derives them
 *      from the code) for SPW_DICT_SCAN_MAX-entry tables, the real sizes for an exact image;
 *   N2 an exact image (no corruption; faults and re-tablings allowed) gives the recipe: the
 *      open OK (ABSENT without sys.modules, threading or _active), active.n the Threads,
 *      each entry OK with its ident and name converted as spw_read_unicode converts
 *      (surrogates as U+FFFD; cut at a character boundary to leave room for SPW_TRUNC_MARK
 *      when over cap - 1 bytes, then the mark), ABSENT without a name; a faulted entry the
 *      answer dict.h gives its fault (CORRUPT, ABSENT, E_ADDR, or as built if not read);
 *   N3 on any image, every result is an spw_obj_err; an OK name is NUL-terminated valid
 *      UTF-8 inside cap, nothing past cap written; an OK _active is a table CPython could
 *      have made: kind at most SPLIT, values iff split, entries in user space, and a keys
 *      header before them in the image (at entries - 32 - 2^log2_index) with that kind and
 *      nentries, log2_size <= SPW_DICT_LOG2_MAX, the index width CPython gives that size,
 *      nentries within two thirds of the slots; entry active.n is ABSENT and reads nothing;
 *   N4 a second run over the same image gives the same results, names and reads;
 *   N5 on any image, an OK entry's ident is the int its key holds, decoded from the image
 *      independently (30-bit digits, at most three, nonnegative, within 64 bits).
 */
#include <stdint.h>
#include <string.h>

#include "image_place.h"
#include "names_gen.h"
#include "symbolize.h"
#include "thread_names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A 2^16-slot re-tabling (256 KiB of index) fits beside all but the largest recipes (and
 * is skipped then); with a 2 MiB arena AFL++ ran at half the rate. */
#define ARENA_CAP (1u << 20)
#define MAX_OPS 8u
#define MAX_LINKS 1200u
#define MAX_OBJS 600u
#define MAX_KSLOTS (3u * SPW_SYNTH_THREADS_MAX + 8u)
#define TID(i) (0x7f4000000700ull + 0x800000ull * (i))
#define GUARD 0x5a /* fills the name buffer past cap: must stay */

enum { OBJ_KEYS, OBJ_VALUES, OBJ_TYPE, OBJ_INT, OBJ_STR, OBJ_KINDS };

static uint8_t arena[ARENA_CAP] __attribute__((aligned(64)));
static uint32_t cps[SPW_SYNTH_THREADS_MAX][SPW_SYNTH_STR_MAX];
static char utf8[SPW_SYNTH_THREADS_MAX][4 * SPW_SYNTH_STR_MAX + 1];

typedef struct plink {
    uint64_t slot, target; /* a pointer field of the graph and what it held as built */
} plink;
static plink links[MAX_LINKS];
static uint32_t n_links, n_objs[OBJ_KINDS], n_kslots;
static uint64_t objs[OBJ_KINDS][MAX_OBJS];
static uint64_t kslots[MAX_KSLOTS]; /* the slots holding a keys pointer (ma_keys, ht_cached_keys) */
static int kslot_owner[MAX_KSLOTS]; /* the Thread whose attributes they key, or -1 */

/* ---- generation ---------------------------------------------------------------------- */

/* A code point of some kind: ASCII, Latin-1 (kind 1), BMP with surrogates (2), astral (4).
 * Never U+0000, which a C string cannot pass to the builder. */
static uint32_t some_cp(fz_provider *fp)
{
    switch (fz_pick(fp, 4)) {
    case 0: return 1 + fz_u8(fp) % 127u;
    case 1: return 0x80 + fz_u8(fp) % 0x80u;
    case 2: return 0x100 + fz_u16(fp) % 0xff00u;
    default: return 0x10000 + (uint32_t)fz_range(fp, 0, 0xfffff);
    }
}

static void read_thread(gen *g, uint32_t i)
{
    fz_provider *fp = &g->fp;
    gen_thread *t = &g->th[i];
    uint32_t *cp = cps[i], n = 0, pat[8];
    switch (fz_pick(fp, 4)) {
    case 0: t->ident = TID(i); break;             /* a pthread_t: two digits */
    case 1: t->ident = fz_u16(fp); break;          /* small, or 0 (no digits) */
    case 2: t->ident = fz_u64(fp); break;          /* up to three digits */
    default: t->ident = UINT64_MAX - fz_u8(fp); break;
    }
    t->has_name = 1;
    switch (fz_pick(fp, 6)) {
    case 0: case 1: /* ASCII, control characters included */
        n = (uint32_t)fz_range(fp, 0, 40);
        for (uint32_t k = 0; k < n; k++) cp[k] = 1 + fz_u8(fp) % 127u;
        break;
    case 2: /* mixed */
        n = (uint32_t)fz_range(fp, 1, 32);
        for (uint32_t k = 0; k < n; k++) cp[k] = some_cp(fp);
        break;
    case 3: { /* long: a pattern repeated past 100 bytes, up to the builder's most */
        n = (uint32_t)fz_range(fp, 101, SPW_SYNTH_STR_MAX);
        const uint32_t p = (uint32_t)fz_range(fp, 1, 8);
        for (uint32_t k = 0; k < p; k++) pat[k] = some_cp(fp);
        for (uint32_t k = 0; k < n; k++) cp[k] = pat[k % p];
        break;
    }
    case 4: break; /* "" */
    default: t->has_name = 0; break;
    }
    t->n_cps = n;
    size_t len = 0;
    for (uint32_t k = 0; k < n; k++) len += oracle_put_utf8(cp[k], (uint8_t *)utf8[i] + len);
    utf8[i][len] = '\0';
}

/* sys.modules without threading, or with a threading module without _active. */
static void partial_modules(gen *g)
{
    spw_synth *s = &g->s;
    const char *md_names[] = { "__name__", "_limbo" };
    const uint64_t md_vals[] = { spw_synth_str(s, "threading"),
                                 spw_synth_dict(s, SPW_DICT_GENERAL, NULL, NULL, 0) };
    const char *sys_names[] = { "sys", "builtins", "threading" };
    const uint64_t sys_vals[] = { spw_synth_module(s, 0), spw_synth_module(s, 0),
                                  spw_synth_module(s, spw_synth_str_dict(s, md_names, md_vals, 2)) };
    const uint32_t n = g->shape == SHAPE_NO_THREADING ? 2 : 3;
    spw_synth_poke(s, g->interp + s->layout.interp_imports_modules,
                   spw_synth_str_dict(s, sys_names, sys_vals, n), 8);
}

static int generate(gen *g, const uint8_t *data, size_t size)
{
    static const char *const shapes[] = { "threading._active", "no sys.modules",
                                          "no threading module", "threading without _active" };
    fz_provider *fp = &g->fp;
    memset(g, 0, sizeof *g);
    n_links = n_kslots = 0;
    memset(n_objs, 0, sizeof n_objs);
    g->cps = (const uint32_t(*)[SPW_SYNTH_STR_MAX])cps;
    fz_init(fp, data, size);
    spw_flavor flavor;
    spw_arch arch;
    if (fz_image_start(fp, &g->s, arena, ARENA_CAP, &flavor, &arch) != 0) return -1;
    spw_synth *s = &g->s;
    const uint8_t b = fz_u8(fp);
    g->shape = b < 232 ? SHAPE_ACTIVE : 1 + (b - 232) % 3;
    g->cap = fz_u8(fp) < 200 ? SPW_NAME_MAX : (size_t)fz_range(fp, 8, SPW_NAME_MAX);
    g->n = (uint32_t)fz_range(fp, 0, SPW_SYNTH_THREADS_MAX);
    for (uint32_t i = 0; i < g->n; i++) read_thread(g, i);
    g->interp = g->open_interp = spw_synth_interp(s, NULL, 0, 0);
    if (!g->interp) return -1;
    if (g->shape == SHAPE_ACTIVE) {
        const char *names[SPW_SYNTH_THREADS_MAX];
        uint64_t idents[SPW_SYNTH_THREADS_MAX];
        for (uint32_t i = 0; i < g->n; i++) {
            names[i] = g->th[i].has_name ? utf8[i] : NULL;
            idents[i] = g->th[i].ident;
        }
        spw_synth_threading(s, g->interp, idents, names, g->n);
    } else if (g->shape != SHAPE_NO_MODULES) {
        partial_modules(g);
    }
    if (s->oom) return -1;
    if ((g->verbose = fz_verbose())) {
        fz_log("image: %s on %s at 0x%llx, %s, %u threads, cap %zu\n", spw_flavor_name(flavor),
               spw_arch_name(arch), (unsigned long long)s->base, shapes[g->shape], g->n, g->cap);
        for (uint32_t i = 0; i < g->n; i++)
            fz_log("  thread %u: %llu, %s\"%s\"\n", i, (unsigned long long)g->th[i].ident,
                   g->th[i].has_name ? "" : "no _name, not ", utf8[i]);
    }
    return 0;
}

/* ---- the graph's pointers and objects, found in the image as built ------------------- */

#define peek oracle_peek /* the image as it is: the oracle's reader, kept out of coverage */

/* SPW_FUZZ_VERBOSE=1 lists them with the numbers a recipe picks them by. */
static void add_link(gen *g, uint64_t slot)
{
    if (n_links == MAX_LINKS) return;
    links[n_links] = (plink){ slot, peek(&g->s, slot, 8) };
    if (g->verbose) fz_log("  link %u: 0x%llx -> 0x%llx\n", n_links, (unsigned long long)slot,
                           (unsigned long long)links[n_links].target);
    n_links++;
}

static void add_obj(gen *g, int kind, uint64_t addr)
{
    static const char *const kinds[] = { "keys", "values", "type", "int", "str" };
    if (!addr || n_objs[kind] == MAX_OBJS) return;
    if (g->verbose) fz_log("  %s %u: 0x%llx\n", kinds[kind], n_objs[kind], (unsigned long long)addr);
    objs[kind][n_objs[kind]++] = addr;
}

static void add_kslot(uint64_t slot, int owner)
{
    if (n_kslots == MAX_KSLOTS) return;
    kslot_owner[n_kslots] = owner;
    kslots[n_kslots++] = slot;
}

/* A keys object (values: a split table's PyDictValues, or 0): its key and value slots
 * become links, its keys strs (ints in a GENERAL table: only _active has entries). The
 * slots of its first `cap` entries go to ks[] and vs[]; returns the entry count. */
static uint32_t map_keys(gen *g, uint64_t k, uint64_t values, uint64_t *ks, uint64_t *vs,
                         uint32_t cap)
{
    const uint8_t *h = spw_synth_ptr(&g->s, k, KEYS_HEADER);
    if (!h) return 0;
    add_obj(g, OBJ_KEYS, k);
    add_obj(g, OBJ_VALUES, values);
    const int general = h[10] == SPW_DICT_GENERAL, split = h[10] == SPW_DICT_SPLIT;
    const uint64_t esz = general ? 24 : 16, e0 = k + KEYS_HEADER + ((uint64_t)1 << h[9]);
    const uint32_t n = (uint32_t)spw_le64(h + 24);
    for (uint32_t i = 0; i < n; i++) {
        const uint64_t e = e0 + i * esz, kslot = e + (general ? 8 : 0);
        const uint64_t vslot = split ? (values ? values + 8 + 8u * i : 0) : kslot + 8;
        add_link(g, kslot);
        add_obj(g, general ? OBJ_INT : OBJ_STR, peek(&g->s, kslot, 8));
        if (vslot) add_link(g, vslot);
        if (i < cap) ks[i] = kslot, vs[i] = vslot;
    }
    return n;
}

/* The dict whose pointer is at `slot` (a link already). */
static uint32_t map_dict(gen *g, uint64_t slot, int owner, uint64_t *ks, uint64_t *vs,
                         uint32_t cap)
{
    const spw_layout *L = &g->s.layout;
    const uint64_t d = peek(&g->s, slot, 8);
    if (!d) return 0;
    add_link(g, d + L->ma_keys);
    add_link(g, d + L->ma_values);
    add_kslot(d + L->ma_keys, owner);
    return map_keys(g, peek(&g->s, d + L->ma_keys, 8), peek(&g->s, d + L->ma_values, 8),
                    ks, vs, cap);
}

static void map_thread(gen *g, uint32_t i, uint64_t t, uint64_t key_int)
{
    const spw_synth *s = &g->s;
    const spw_layout *L = &s->layout;
    gen_thread *th = &g->th[i];
    uint64_t ks[3] = { 0 }, vs[3] = { 0 }, none[1];
    if (!t) return;
    add_link(g, t + L->ob_type);
    const uint64_t type = peek(s, t + L->ob_type, 8), dslot = t - L->managed_dict_before;
    add_obj(g, OBJ_TYPE, type);
    add_link(g, type + L->ht_cached_keys);
    add_kslot(type + L->ht_cached_keys, (int)i);
    const uint64_t cached = peek(s, type + L->ht_cached_keys, 8);
    uint32_t n;
    add_link(g, dslot);
    th->in_dict = peek(s, dslot, 8) != 0;
    if (th->in_dict) {
        add_obj(g, OBJ_VALUES, t + L->object_size); /* inline, marked invalid */
        map_keys(g, cached, 0, none, none, 0);
        n = map_dict(g, dslot, (int)i, ks, vs, 3);
    } else {
        n = map_keys(g, cached, t + L->object_size, ks, vs, 3);
    }
    /* _target (None), then _name (a str) if it has one, then _ident (an int). */
    for (uint32_t a = 1; a < n && a < 3; a++)
        add_obj(g, th->has_name && a == 1 ? OBJ_STR : OBJ_INT, peek(s, vs[a], 8));
    *th = (gen_thread){ .ident = th->ident, .n_cps = th->n_cps, .has_name = th->has_name,
                        .in_dict = th->in_dict, .obj = t, .type = type, .key_int = key_int,
                        .values = t + L->object_size, .kslot = { ks[0], ks[1] }, .vslot1 = vs[1] };
    g->n_mapped = i + 1;
}

static void map_graph(gen *g)
{
    const spw_layout *L = &g->s.layout;
    static uint64_t ks[SPW_SYNTH_THREADS_MAX], vs[SPW_SYNTH_THREADS_MAX];
    add_link(g, g->interp + L->interp_imports_modules);
    if (map_dict(g, g->interp + L->interp_imports_modules, -1, ks, vs, 3) < 3) return;
    const uint64_t md = peek(&g->s, vs[2], 8) + L->module_md_dict;
    add_link(g, md);
    if (map_dict(g, md, -1, ks, vs, 3) < 2 || g->shape != SHAPE_ACTIVE) return;
    const uint32_t n = map_dict(g, vs[1], -1, ks, vs, SPW_SYNTH_THREADS_MAX);
    for (uint32_t i = 0; i < n && i < g->n; i++)
        map_thread(g, i, peek(&g->s, vs[i], 8), peek(&g->s, ks[i], 8));
}

/* ---- corruption, faults, re-tablings ------------------------------------------------- */

/* Every draw below is a statement of its own or behind ?: , never two in one argument list
 * or initializer (their order would be the compiler's: gcc's arm64 replay and clang must
 * read a recipe alike). */
static uint64_t some_obj(gen *g, int kind)
{
    return n_objs[kind] ? objs[kind][fz_range(&g->fp, 0, n_objs[kind] - 1)] : 0;
}

/* An address some rule must refuse or the reader cannot serve, or, one time in 13, an
 * object of the graph of any kind (a str where a dict belongs, a Thread's type...). */
static uint64_t bad_ptr(gen *g, uint64_t near)
{
    static const fz_reach reach = { 64, 128, 64 };
    uint64_t a;
    if (fz_bad_address(&g->fp, &g->s, near, &reach, &a)) return a;
    const uint32_t l = (uint32_t)fz_range(&g->fp, 0, n_links - 1);
    return fz_bool(&g->fp) ? links[l].target : some_obj(g, (int)fz_pick(&g->fp, OBJ_KINDS));
}

/* A value at the edge of a check: just past `near` (up to `span` further), just below it,
 * around `far`, or anything. */
static uint64_t edge_value(fz_provider *fp, uint64_t near, uint64_t span, uint64_t far)
{
    switch (fz_pick(fp, 4)) {
    case 0: return near + fz_range(fp, 1, span);
    case 1: return near - 1;
    case 2: return far - 8 + fz_u8(fp) % 16u;
    default: return fz_u64(fp);
    }
}

/* The keys object at *slot copied into a table of another size, with the index width
 * CPython gives it (the index itself is never read: left zero). The reader scans entries
 * in order, so no answer changes: N2 holds over every index width, and over Py_EMPTY_KEYS's
 * shape (log2 0, entries at +33) for an empty table. */
static void retable(gen *g, uint64_t slot)
{
    static const unsigned sizes[] = { 0, 7, 8, 15, 16 };
    spw_synth *s = &g->s;
    const uint8_t *h = spw_synth_ptr(s, peek(s, slot, 8), KEYS_HEADER);
    if (!h || h[9] > 28 || spw_le64(h + 24) > SPW_DICT_SCAN_MAX) return; /* corrupted before */
    const uint32_t n = (uint32_t)spw_le64(h + 24);
    const uint64_t esz = h[10] == SPW_DICT_GENERAL ? 24 : 16;
    unsigned l2 = sizes[fz_pick(&g->fp, 5)];
    if (n && l2 < 3) l2 = 3; /* CPython's smallest table, but for the shared empty one */
    while (((uint64_t)2 << l2) / 3 < n) l2++;
    const unsigned li = l2 < 8 ? l2 : l2 < 16 ? l2 + 1 : l2 + 2;
    const size_t size = KEYS_HEADER + ((size_t)1 << li) + n * esz;
    const uint64_t nk = spw_synth_alloc(s, size, 8);
    uint8_t *d = nk ? spw_synth_ptr(s, nk, size) : NULL;
    const uint8_t *e = spw_synth_ptr(s, peek(s, slot, 8) + KEYS_HEADER + ((uint64_t)1 << h[9]),
                                     n * esz);
    if (!d || !e) return;
    memcpy(d, h, KEYS_HEADER);
    d[8] = (uint8_t)l2;
    d[9] = (uint8_t)li;
    memmove(d + size - n * esz, e, n * esz); /* a corrupted n may reach into d */
    spw_synth_poke(s, slot, nk, 8);
    fz_log("    keys at 0x%llx: log2 %u, 0x%llx\n", (unsigned long long)slot, l2,
           (unsigned long long)nk);
}

static void corrupt(gen *g)
{
    fz_provider *fp = &g->fp;
    spw_synth *s = &g->s;
    const spw_layout *L = &s->layout;
    static const unsigned widths[] = { 1, 2, 4, 8 }, type_bits[] = { 2, 4, 9 };
    const uint32_t n_ops = fz_pick(fp, MAX_OPS + 1);
    for (uint32_t op = 0; op < n_ops; op++) {
        const unsigned what = fz_pick(fp, 12);
        uint64_t o = 0, v, at;
        unsigned f;
        g->inexact |= what < 10;
        fz_log("  op %u: %u\n", op, what);
        switch (what) {
        case 0: case 1: { /* a link: there is one at least, the interpreter's imports.modules */
            const plink l = links[fz_range(fp, 0, n_links - 1)];
            if (what == 0) /* a bad pointer */
                v = bad_ptr(g, l.target ? l.target : l.slot);
            else /* NULL (a deleted entry, no dict yet), or another link's target */
                v = fz_bool(fp) ? 0 : links[fz_range(fp, 0, n_links - 1)].target;
            spw_synth_poke(s, l.slot, v, 8);
            fz_log("    0x%llx := 0x%llx\n", (unsigned long long)l.slot, (unsigned long long)v);
            break;
        }
        case 2: /* a keys header: kind, log2 sizes, nentries; or a consistent resize */
            if (!(o = some_obj(g, OBJ_KEYS))) break;
            v = peek(s, o + 8, 1); /* log2_size */
            f = fz_pick(fp, 5);
            if (f == 0) spw_synth_poke(s, o + 10, fz_range(fp, 0, 4), 1);
            if (f == 1 || f == 2) spw_synth_poke(s, o + 7 + f, fz_u8(fp) % 32u, 1);
            if (f == 3) /* at and past two thirds of the slots, or around the scan limit */
                spw_synth_poke(s, o + 24, edge_value(fp, ((uint64_t)2 << v) / 3 - 1, 4,
                                                     SPW_DICT_SCAN_MAX), 8);
            if (f == 4) { /* a larger table over the same bytes: 2- and 4-byte indices */
                v = fz_range(fp, v, 28);
                spw_synth_poke(s, o + 8, v, 1);
                spw_synth_poke(s, o + 9, v < 8 ? v : v < 16 ? v + 1 : v + 2, 1);
            }
            break;
        case 3: /* a PyDictValues header: capacity, size, embedded, valid */
            if (!(o = some_obj(g, OBJ_VALUES))) break;
            at = o + fz_pick(fp, 4);
            spw_synth_poke(s, at, fz_bool(fp) ? 0 : fz_u8(fp), 1);
            break;
        case 4: /* a type: tp_flags (a bit of the three it needs, or anything), tp_basicsize */
            if (!(o = some_obj(g, OBJ_TYPE))) break;
            if (fz_bool(fp)) {
                v = peek(s, o + L->tp_flags, 8);
                spw_synth_poke(s, o + L->tp_flags,
                               fz_bool(fp) ? v ^ (1u << type_bits[fz_pick(fp, 3)]) : fz_u64(fp), 8);
            } else { /* misaligned, below the object, past the values, around 4096 */
                spw_synth_poke(s, o + L->tp_basicsize, edge_value(fp, L->object_size, 40, 4096), 8);
            }
            break;
        case 5: /* an int: lv_tag (0 to 5 digits, every sign) or a digit */
            if (!(o = some_obj(g, OBJ_INT))) break;
            if (fz_bool(fp)) {
                v = fz_range(fp, 0, 5) << 3;
                v |= fz_range(fp, 0, 3);
                spw_synth_poke(s, o + L->long_lv_tag, fz_bool(fp) ? fz_u64(fp) : v, 8);
            } else {
                at = o + L->long_ob_digit + 4 * fz_range(fp, 0, 2);
                spw_synth_poke(s, at, fz_u32(fp), 4);
            }
            break;
        case 6: /* a str: a bit of its state (kind, compact, ascii) or anything; its length */
            if (!(o = some_obj(g, OBJ_STR))) break;
            if (fz_bool(fp)) {
                const unsigned bits[] = { L->state_kind_shift, L->state_kind_shift + 1u,
                                          L->state_kind_shift + 2u, L->state_compact_bit,
                                          L->state_ascii_bit };
                v = peek(s, o + L->unicode_state, 4);
                spw_synth_poke(s, o + L->unicode_state,
                               fz_bool(fp) ? v ^ (1u << bits[fz_pick(fp, 5)]) : fz_u32(fp), 4);
            } else { /* longer (into the next object), shorter, around the cut, negative */
                v = peek(s, o + L->unicode_length, 8);
                spw_synth_poke(s, o + L->unicode_length,
                               edge_value(fp, v, 300, SPW_STRING_MAX_CHARS), 8);
            }
            break;
        case 7: /* a raw poke anywhere in the image */
            at = s->base + fz_range(fp, 0, s->used ? s->used - 1 : 0);
            v = fz_u64(fp);
            spw_synth_poke(s, at, v, widths[fz_pick(fp, 4)]);
            break;
        case 8: /* start from a bad interpreter */
            g->open_interp = bad_ptr(g, g->interp);
            break;
        case 9: /* the image ends early, or has a hole (an unmapped page): reads there fail.
                 * The root is built last, so only a hole reaches into the Threads alone. */
            at = s->base + fz_range(fp, 0, s->used);
            if (!fz_bool(fp)) {
                g->serve_end = at;
            } else {
                g->hole = at;
                g->hole_end = at + fz_range(fp, 1, 4096);
            }
            break;
        case 10: /* a fault of known effect (names_oracle.c) */
            names_fault(g);
            break;
        default: { /* a re-tabling: changes no answer (a fault before it moves with it) */
            const uint32_t k = n_kslots ? (uint32_t)fz_range(fp, 0, n_kslots - 1) : 0;
            if (!n_kslots) break;
            if (kslot_owner[k] >= 0) g->th[kslot_owner[k]].retabled = 1;
            retable(g, kslots[k]);
            break;
        }
        }
    }
}

/* ---- the run ------------------------------------------------------------------------- */

static int holed_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    const gen *g = ctx;
    if (addr < g->hole_end && addr + len > g->hole) return -1;
    return spw_synth_read((void *)&g->s, addr, dst, len);
}

FZ_ORACLE static uint64_t oracle_mix(uint64_t h, uint64_t v)
{
    return h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
}

typedef struct outcome {
    uint64_t entries, values, digest;
    uint32_t open, n, kind, capacity, open_reads, entry_reads;
} outcome;
_Static_assert(sizeof(outcome) == 48, "outcome is compared with memcmp: no padding");

static void run(const gen *g, const char *what, outcome *o)
{
    static char name[SPW_NAME_MAX + 16];
    const spw_layout *L = &g->s.layout;
    const spw_reader inner = { holed_read, (void *)g };
    fz_checked ck;
    fz_checked_init(&ck, &inner, L->arch, 8, OPEN_READS(SPW_DICT_SCAN_MAX, SPW_DICT_SCAN_MAX),
                    what);
    ck.serve_end = g->serve_end;
    const spw_reader rd = fz_checked_reader(&ck);
    spw_dict active;
    memset(&active, 0, sizeof active);
    const spw_obj_err e = spw_names_open(L, &rd, g->open_interp, &active);
    FZ_CHECK(e <= SPW_OBJ_E_LIMIT, "spw_names_open returned %d", (int)e); /* N3 */
    *o = (outcome){ .entries = active.entries, .values = active.values, .open = e,
                    .n = active.n, .kind = active.kind, .capacity = active.capacity,
                    .open_reads = ck.n_reads };
    fz_log("%s: open %s after %u reads, %u entries\n", what, spw_obj_strerror(e), ck.n_reads,
           e == SPW_OBJ_OK ? active.n : 0);
    if (!g->inexact) oracle_open(g, e, &active, ck.n_reads); /* N2, N1 */
    if (e != SPW_OBJ_OK) return;
    oracle_table(g, &active);
    const uint32_t n = active.n < SPW_DICT_SCAN_MAX ? active.n : SPW_DICT_SCAN_MAX;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t ident = 0;
        fz_checked_reset(&ck, ENTRY_READS(SPW_DICT_SCAN_MAX, 4 * SPW_STRING_MAX_CHARS), what);
        memset(name, GUARD, sizeof name);
        const spw_obj_err r = spw_names_entry(L, &rd, &active, i, &ident, name, g->cap);
        for (size_t k = g->cap; k < sizeof name; k++) /* N3 */
            FZ_CHECK((uint8_t)name[k] == GUARD, "entry %u: byte %zu written, past cap %zu", i,
                     k, g->cap);
        if (g->verbose)
            fz_log("  entry %u: %s, %u reads, ident %llu, \"%s\"\n", i, spw_obj_strerror(r),
                   ck.n_reads, (unsigned long long)ident, r == SPW_OBJ_OK ? name : "");
        oracle_entry(g, &active, i, r, ident, name, ck.n_reads); /* N2, N3, N5 */
        o->digest = oracle_mix(oracle_mix(o->digest, r), ck.n_reads);
        if (r == SPW_OBJ_OK) {
            o->digest = oracle_mix(o->digest, ident);
            for (const char *c = name; *c; c++) o->digest = oracle_mix(o->digest, (uint8_t)*c);
        }
        o->entry_reads += ck.n_reads;
    }
    /* N3: one past the end is no entry, whatever the table holds. */
    uint64_t ident;
    fz_checked_reset(&ck, ENTRY_READS(SPW_DICT_SCAN_MAX, 4 * SPW_STRING_MAX_CHARS), what);
    const spw_obj_err r = spw_names_entry(L, &rd, &active, active.n, &ident, name, g->cap);
    FZ_CHECK(r == SPW_OBJ_ABSENT && ck.n_reads == 0, "entry %u, one past the end: %s after %u "
             "reads", active.n, spw_obj_strerror(r), ck.n_reads);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gen g;
    if (generate(&g, data, size) != 0) return 0; /* the recipe does not fit the arena */
    map_graph(&g);
    corrupt(&g);
    outcome a, b;
    run(&g, "names", &a);
    run(&g, "names (again)", &b);
    FZ_CHECK(memcmp(&a, &b, sizeof a) == 0, /* N4 */
             "two runs over one image differ: %s, %u entries, %u+%u reads, then %s, %u "
             "entries, %u+%u reads", spw_obj_strerror(a.open), a.n, a.open_reads,
             a.entry_reads, spw_obj_strerror(b.open), b.n, b.open_reads, b.entry_reads);
    return 0;
}
