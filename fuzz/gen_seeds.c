/*
 * gen_seeds.c — write the generated seed files of the fuzz corpora (`make fuzz-seeds`).
 *
 *   corpus/layout/real-<flavour>-<arch>      the real _Py_DebugOffsets blobs, behind the
 *                                            architecture byte fuzz_layout.c expects
 *   corpus/snapshot_decode/synth-<flavour>*  synthetic snapshots: one region, several
 *                                            regions (adjacent and apart), expected output
 *   corpus/walk_snapshot/synth-<flavour>     a snapshot with several threads: a normal
 *                                            chain (thread-local bytecode on 3.14t), a cycle,
 *                                            an empty stack, incomplete frames
 *   corpus/threads/<name>                    fuzz_threads recipes: interpreters and thread
 *                                            lists, cycles in both lists (short, long, after
 *                                            a long tail), bad links, lowered limits
 *   corpus/names/<name>                      fuzz_names recipes: threading._active with one
 *                                            thread, several (non-ASCII, long, empty, no
 *                                            name), no sys.modules / threading / _active,
 *                                            a narrow buffer, corruptions, faults of known
 *                                            effect, re-tablings (2- and 4-byte indices,
 *                                            Py_EMPTY_KEYS)
 *   corpus/core_file/synth-<shape>-<arch>    ELF cores (core/synth_core.h): segments in and
 *                                            out of order, adjacent, partly in the file,
 *                                            threads, NT_AUXV, NT_FILE; an empty one
 *
 * The output is deterministic, so rerunning it leaves the committed files unchanged.
 * Usage: gen_seeds CORPUS_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "synth.h"
#include "synth_core.h"

#define BASE 0x7f2200000000ull
#define CAP (1u << 20)

static const char *dir;

static void put_file(const char *sub, const char *name, const uint8_t *a, size_t alen,
                     const uint8_t *b, size_t blen)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen) ||
        fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static uint8_t *arena, *out;
#define OUT_CAP (4u << 20)

static void build(spw_synth *s, spw_flavor fl, spw_snap_thread th[4])
{
    if (spw_synth_init(s, fl, SPW_ARCH_X86_64, BASE, arena, CAP) != 0) exit(1);
    const spw_layout *L = &s->layout;
    uint64_t codes[3];
    for (int k = 0; k < 3; k++) {
        char name[16];
        snprintf(name, sizeof name, "fn%d", k);
        spw_synth_code_spec spec = { .qualname = k == 2 ? "Klass.m\xc3\xa9thode" : name,
                                     .filename = k == 1 ? "/src/\xe6\xa8\xa1\xe5\x9d\x97.py" : "/src/mod.py",
                                     .firstlineno = 10 * (k + 1), .n_units = 16 };
        codes[k] = spw_synth_code(s, &spec);
        if (L->has_tlbc && k == 1) spw_synth_tlbc(s, codes[k], 3);
    }
    /* thread 0: five frames, one incomplete (owner 3), one in a tlbc copy on 3.14t */
    uint64_t prev = 0;
    for (int i = 4; i >= 0; i--)
        prev = spw_synth_frame(s, codes[i % 3], (uint32_t)(2 * i + 1), i == 2 ? 3 : 0, prev,
                               L->has_tlbc && i % 3 == 1 ? 2 : 0);
    th[0] = (spw_snap_thread){ spw_synth_tstate(s, prev, 101, 1001), 101, 1001 };
    /* thread 1: a cycle of three */
    uint64_t a = spw_synth_frame(s, codes[0], 1, 0, 0, 0);
    uint64_t b = spw_synth_frame(s, codes[1], 2, 0, a, 0);
    uint64_t c = spw_synth_frame(s, codes[2], 3, 0, b, 0);
    spw_synth_poke(s, a + L->frame_previous, c, 8);
    th[1] = (spw_snap_thread){ spw_synth_tstate(s, c, 102, 1002), 102, 1002 };
    /* thread 2: nothing running */
    th[2] = (spw_snap_thread){ spw_synth_tstate(s, 0, 103, 1003), 103, 1003 };
    /* thread 3: a NULL executable over one real frame */
    uint64_t d = spw_synth_frame(s, codes[2], 5, 0, 0, 0);
    th[3] = (spw_snap_thread){ spw_synth_tstate(s, spw_synth_frame(s, 0, 0, 0, d, 0), 104, 1004),
                               104, 1004 };
    if (s->oom) exit(1);
}

/* ---- fuzz_threads recipes, written field by field as fuzz/provider.h reads them ---- */
typedef struct recipe {
    uint8_t b[1024];
    size_t n;
} recipe;

static void r_u8(recipe *r, uint8_t v) { r->b[r->n++] = v; }
/* fz_range(lo, hi): nothing when hi <= lo, else v - lo in as few bytes as hi - lo needs. */
static void r_range(recipe *r, uint64_t v, uint64_t lo, uint64_t hi)
{
    if (hi <= lo) return;
    unsigned width = 1;
    while (width < 8 && ((hi - lo) >> (8 * width)) != 0) width++;
    for (unsigned i = 0; i < width; i++) r_u8(r, (uint8_t)((v - lo) >> (8 * i)));
}

/* Head of a recipe: flavour, place (fuzz/image_place.h), limits (0 = the defaults),
 * then the interpreters' thread counts (counts above 8 must be the first interpreter's,
 * up to 6000) and unborn patterns. */
static void r_head(recipe *r, unsigned flavor, unsigned place, int small_limits, unsigned max_i,
                   unsigned max_t, unsigned n_interp, const unsigned *counts, const uint8_t *unborn)
{
    r->n = 0;
    r_u8(r, (uint8_t)flavor);
    r_u8(r, (uint8_t)place);
    r_u8(r, small_limits ? 200 : 0);
    if (small_limits) {
        r_range(r, max_i, 0, 16);
        r_range(r, max_t, 0, 400);
    }
    r_u8(r, n_interp == 0 ? 240 : (uint8_t)(n_interp - 1)); /* 1..4, or 0 */
    for (unsigned k = 0; k < n_interp; k++) {
        if (counts[k] <= 8) r_u8(r, (uint8_t)counts[k]);
        else {
            r_u8(r, 224);
            r_range(r, counts[k], 0, 6000);
        }
        r_u8(r, unborn ? unborn[k] : 0);
    }
}

/* One corruption: its kind, the state (of n_ts) and interpreter (of n_interp) it is at. */
static void r_op(recipe *r, unsigned what, unsigned i, unsigned n_ts, unsigned k, unsigned n_interp)
{
    r_range(r, what, 0, 11);
    if (n_ts) r_range(r, i, 0, n_ts - 1);
    if (n_interp) r_range(r, k, 0, n_interp - 1);
}

static void threads_seeds(void)
{
    recipe r;
    static const unsigned three[] = { 3 }, several[] = { 3, 0, 5, 1 }, cyc[] = { 1, 2, 0, 1 },
                          two[] = { 2, 2 }, nine[] = { 3, 3, 3 }, four[] = { 4 },
                          long3000[] = { 3000 }, long5000[] = { 5000 };
    static const uint8_t unborn[] = { 0, 0, 3, 1 };

    r_head(&r, 1, 0, 0, 0, 0, 1, three, NULL); /* 3.13t, three states */
    r_u8(&r, 0);
    put_file("threads", "one-interp", r.b, r.n, NULL, 0);

    r_head(&r, 3, 0, 0, 0, 0, 4, several, unborn); /* 3.14t, four interpreters, unborn */
    r_u8(&r, 0);
    put_file("threads", "several-interps", r.b, r.n, NULL, 0);

    r_head(&r, 0, 0, 0, 0, 0, 1, four, NULL); /* a state pointing at itself */
    r_u8(&r, 1);
    r_op(&r, 0, 2, 4, 0, 1);
    r_range(&r, 2, 0, 2);
    put_file("threads", "cycle-self", r.b, r.n, NULL, 0);

    r_head(&r, 2, 0, 0, 0, 0, 1, long3000, NULL); /* a tail of 1000, a loop of 2000 */
    r_u8(&r, 1);
    r_op(&r, 0, 2999, 3000, 0, 1);
    r_range(&r, 1000, 0, 2999);
    put_file("threads", "cycle-long", r.b, r.n, NULL, 0);

    r_head(&r, 0, 0, 0, 0, 0, 1, long5000, NULL); /* a loop of 3 after a tail of 4997 */
    r_u8(&r, 1);
    r_op(&r, 0, 4999, 5000, 0, 1);
    r_range(&r, 4997, 0, 4999);
    put_file("threads", "cycle-after-tail", r.b, r.n, NULL, 0);

    r_head(&r, 1, 0, 0, 0, 0, 4, cyc, NULL); /* the interpreter list loops: 3 -> 1 */
    r_u8(&r, 1);
    r_op(&r, 3, 0, 4, 3, 4);
    r_range(&r, 1, 0, 3);
    put_file("threads", "interp-cycle", r.b, r.n, NULL, 0);

    r_head(&r, 3, 1, 0, 0, 0, 2, two, NULL); /* arm64; the last interpreter is its own next */
    r_u8(&r, 1);
    r_op(&r, 3, 0, 4, 1, 2);
    r_range(&r, 1, 0, 1);
    put_file("threads", "interp-self", r.b, r.n, NULL, 0);

    r_head(&r, 2, 0, 0, 0, 0, 2, two, NULL); /* a misaligned next, then a kernel head */
    r_u8(&r, 2);
    r_op(&r, 2, 1, 4, 0, 2);
    r_range(&r, 2, 0, 12);
    r_range(&r, 3, 1, 7);
    r_op(&r, 6, 0, 4, 1, 2);
    r_u8(&r, 0);
    r_range(&r, 5, 0, 12);
    put_file("threads", "bad-links", r.b, r.n, NULL, 0);

    r_head(&r, 1, 0, 1, 2, 5, 3, nine, NULL); /* limits of 2 interpreters, 5 states */
    r_u8(&r, 0);
    put_file("threads", "limits", r.b, r.n, NULL, 0);

    r_head(&r, 0, 3, 0, 0, 0, 3, nine, NULL); /* at the x86-64 user limit, cut short */
    r_u8(&r, 1);
    r_op(&r, 11, 0, 9, 0, 3);
    r_range(&r, 0x61b74, 0, 1000000); /* inside the second interpreter's threads head */
    put_file("threads", "cut-image", r.b, r.n, NULL, 0);

    r_head(&r, 2, 4, 0, 0, 0, 0, NULL, NULL); /* no interpreter, then a bad runtime */
    r_u8(&r, 0);
    put_file("threads", "no-interp", r.b, r.n, NULL, 0);
    r_head(&r, 2, 2, 0, 0, 0, 1, three, NULL);
    r_u8(&r, 1);
    r_op(&r, 8, 0, 3, 0, 1);
    r_range(&r, 1, 0, 12);
    r_range(&r, 0x10, 1, 0xfff);
    put_file("threads", "bad-runtime", r.b, r.n, NULL, 0);
}

/* ---- fuzz_names recipes, in the order fuzz/fuzz_names.c reads them ---- */

/* Head: flavour, place, shape (0 threading._active, 1 no sys.modules, 2 no threading, 3 no
 * _active), name buffer (0: SPW_NAME_MAX, else 8..256), thread count. */
static void n_head(recipe *r, unsigned flavor, unsigned place, unsigned shape, unsigned cap,
                   unsigned n)
{
    r->n = 0;
    r_u8(r, (uint8_t)flavor);
    r_u8(r, (uint8_t)place);
    r_u8(r, shape ? (uint8_t)(231 + shape) : 0);
    r_u8(r, cap ? 200 : 0);
    if (cap) r_range(r, cap, 8, 256);
    r_range(r, n, 0, SPW_SYNTH_THREADS_MAX);
}
/* A thread's ident: a pthread_t-like one (0x7f40...), or v (16 or 64 bits). */
static void n_tid(recipe *r) { r_u8(r, 0); }
static void n_ident(recipe *r, uint64_t v)
{
    r_u8(r, v <= 0xffff ? 1 : 2);
    for (int i = 0; i < (v <= 0xffff ? 2 : 8); i++) r_u8(r, (uint8_t)(v >> (8 * i)));
}
/* One code point, by its class: ASCII, Latin-1, BMP, astral. */
static void n_cp(recipe *r, uint32_t c)
{
    if (c < 0x80) { r_u8(r, 0); r_u8(r, (uint8_t)(c - 1)); }
    else if (c < 0x100) { r_u8(r, 1); r_u8(r, (uint8_t)(c - 0x80)); }
    else if (c < 0x10000) { r_u8(r, 2); r_u8(r, (uint8_t)(c - 0x100)); r_u8(r, (uint8_t)((c - 0x100) >> 8)); }
    else { r_u8(r, 3); r_range(r, c, 0x10000, 0x10000 + 0xfffff); }
}
static void n_ascii(recipe *r, const char *name)
{
    r_u8(r, 0);
    r_range(r, strlen(name), 0, 40);
    for (const char *c = name; *c; c++) r_u8(r, (uint8_t)(*c - 1));
}
static void n_mixed(recipe *r, const uint32_t *cps, unsigned n)
{
    r_u8(r, 2);
    r_range(r, n, 1, 32);
    for (unsigned i = 0; i < n; i++) n_cp(r, cps[i]);
}
static void n_long(recipe *r, unsigned n, const uint32_t *pat, unsigned p)
{
    r_u8(r, 3);
    r_range(r, n, 101, SPW_SYNTH_STR_MAX);
    r_range(r, p, 1, 8);
    for (unsigned i = 0; i < p; i++) n_cp(r, pat[i]);
}
static void n_empty(recipe *r) { r_u8(r, 4); }
static void n_nameless(recipe *r) { r_u8(r, 5); }
/* The change list: its length, then each op (0 a bad link, 1 a NULL or borrowed link,
 * 2 keys header, 3 values header, 4 type, 5 int, 6 str, 7 raw poke, 8 bad interpreter, 9
 * cut image or hole, 10 a fault of known effect, 11 a re-tabling) and its fields, as
 * fuzz_names.c's corrupt() reads them. */
static void n_ops(recipe *r, unsigned n) { r_range(r, n, 0, 8); }

static const uint32_t mixed[] = { 0xe9, 0x6a21, 0x5757, 0x1f600, 'x' };

/* 3.14t on arm64: six threads, the third and sixth with their attributes in a dict. */
static void several(recipe *r)
{
    static const uint32_t abc[] = { 'a', 'b', 'c' }, kanji[] = { 0x540d, 0x524d },
                          emoji[] = { 0x1f9f5, '-' };
    n_head(r, 3, 1, 0, 0, 6);
    n_tid(r);
    n_ascii(r, "worker-1");
    n_ident(r, 0);
    n_mixed(r, mixed, 5);
    n_ident(r, UINT64_MAX);
    n_long(r, 200, abc, 3);        /* 200 bytes: fits */
    n_tid(r);
    n_long(r, 150, kanji, 2);      /* 450 bytes: cut */
    n_ident(r, 42);
    n_long(r, 110, emoji, 2);      /* astral, kind 4, 275 bytes: cut */
    n_tid(r);
    n_empty(r);
}

static void names_seeds(void)
{
    recipe r;
    static const uint32_t surrogate[] = { 'a', 0xd800, 0xdfff, 'z' };

    n_head(&r, 1, 0, 0, 0, 1); /* 3.13t, one thread */
    n_tid(&r);
    n_ascii(&r, "MainThread");
    n_ops(&r, 0);
    put_file("names", "one-thread", r.b, r.n, NULL, 0);

    /* 3.14t on arm64: six threads, the third and sixth with their attributes in a dict */
    several(&r);
    n_ops(&r, 0);
    put_file("names", "several-unicode-long", r.b, r.n, NULL, 0);

    /* Faults of known effect (op 10: the Thread, the fault, its fields) and re-tablings
     * (op 11: one of the 11 keys pointers, sys.modules' first, then md_dict's, _active's,
     * each Thread's ht_cached_keys and managed dict's; the table size) on that image. N2
     * still holds, with the faulted entry's answer predicted. */
    const struct { const char *name; unsigned ops, n, f[6], hi[6]; } exact[] = {
        /* Thread 1 (inline): its values' capacity 1, below _name's index -> corrupt */
        { "fault-inline-capacity", 1, 5, { 10, 1, 2, 0, 1 }, { 11, 5, 7, 255, 3 } },
        /* Thread 2 (in its dict): entry 1's key misaligned -> invalid pointer */
        { "fault-dict-key", 1, 4, { 10, 2, 6, 1 }, { 11, 5, 7, 255 } },
        /* Thread 0 (inline): its _name str's pointer misaligned -> invalid pointer */
        { "fault-name-value", 1, 4, { 10, 0, 6, 0 }, { 11, 5, 7, 255 } },
        /* Thread 2's ident, 2^64 - 1: a third digit of 16 + 3 -> absent */
        { "fault-ident-top", 1, 5, { 10, 2, 7, 2, 3 }, { 11, 5, 7, 2, 255 } },
        /* one of each other fault: Thread 0 (inline) or 2 (in its dict) */
        { "fault-not-heap-type", 1, 4, { 10, 0, 0, 1 }, { 11, 5, 7, 255 } },
        { "fault-dict-not-managed", 1, 4, { 10, 2, 0, 0 }, { 11, 5, 7, 255 } },
        { "fault-no-inline-values", 1, 3, { 10, 0, 1 }, { 11, 5, 7 } },
        { "fault-values-invalid", 1, 4, { 10, 0, 2, 1 }, { 11, 5, 7, 255 } },
        { "fault-basicsize-misaligned", 1, 4, { 10, 0, 3, 0 }, { 11, 5, 7, 3 } },
        { "fault-basicsize-huge", 1, 4, { 10, 0, 3, 3 }, { 11, 5, 7, 3 } },
        { "fault-target-deleted", 1, 3, { 10, 0, 4 }, { 11, 5, 7 } },
        { "fault-name-deleted", 1, 3, { 10, 2, 5 }, { 11, 5, 7 } },
        { "fault-ident-negative", 1, 4, { 10, 0, 7, 0 }, { 11, 5, 7, 2 } },
        /* _active into 2^16 slots (4-byte indices), Thread 2's dict into 2^8 (2-byte) */
        { "retable-4-and-2-byte", 2, 6, { 11, 2, 4, 11, 6, 2 }, { 11, 10, 4, 11, 10, 4 } },
    };
    for (size_t k = 0; k < sizeof exact / sizeof exact[0]; k++) {
        several(&r);
        n_ops(&r, exact[k].ops);
        for (unsigned i = 0; i < exact[k].n; i++) r_range(&r, exact[k].f[i], 0, exact[k].hi[i]);
        put_file("names", exact[k].name, r.b, r.n, NULL, 0);
    }
    n_head(&r, 0, 0, 0, 0, 0); /* no Thread: _active as Py_EMPTY_KEYS (log2 0, entries at +33) */
    n_ops(&r, 1);
    r_range(&r, 11, 0, 11);
    r_range(&r, 2, 0, 2);
    r_range(&r, 0, 0, 4);
    put_file("names", "retable-empty-active", r.b, r.n, NULL, 0);

    n_head(&r, 2, 0, 0, 0, 3); /* 3.14: a Thread with no _name between two */
    n_tid(&r);
    n_ascii(&r, "Thread-1 (run)");
    n_tid(&r);
    n_nameless(&r);
    n_tid(&r);
    n_mixed(&r, surrogate, 4); /* lone surrogates: U+FFFD */
    n_ops(&r, 0);
    put_file("names", "nameless-and-surrogates", r.b, r.n, NULL, 0);

    n_head(&r, 0, 4, 0, 12, 2); /* 3.13 just above the null page, a 12-byte buffer */
    n_tid(&r);
    n_ascii(&r, "ThreadPoolExecutor-0_0");
    n_tid(&r);
    n_mixed(&r, mixed, 5);
    n_ops(&r, 0);
    put_file("names", "narrow-buffer", r.b, r.n, NULL, 0);

    /* Corruptions of one-thread's image. The numbers are fuzz_names.c's: its links and
     * objects in the order map_graph() finds them (SPW_FUZZ_VERBOSE=1 lists them; 31 links,
     * 4 keys, 1 values, 1 type, 2 ints, 10 strs here), then fz_bad_address()'s cases. */
    const struct { const char *name; unsigned what, fields[5], his[5], n; } bad[] = {
        /* link 18, _active's ma_keys: misaligned by 3 -> invalid pointer */
        { "bad-active-keys", 0, { 18, 2, 2 }, { 30, 12, 7 }, 3 },
        /* keys 2, _active's: nentries = 6, past two thirds of 8 slots -> corrupt */
        { "nentries-past-usable", 2, { 2, 3, 0, 1 }, { 3, 4, 3, 4 }, 4 },
        /* int 0, _active's key: lv_tag of two digits, negative -> absent */
        { "negative-ident", 5, { 0, 1, 2, 2, 0 }, { 1, 255, 5, 3, 255 }, 5 },
        /* type 0, the Thread's: tp_flags without Py_TPFLAGS_MANAGED_DICT -> corrupt */
        { "no-managed-dict", 4, { 1, 1, 1 }, { 255, 255, 2 }, 3 },
        /* a kernel address as the interpreter -> invalid pointer */
        { "bad-interp", 8, { 5, 0x10, 0 }, { 12, 255, 255 }, 3 },
        /* the image ends inside sys.modules' entry for threading (offset 0x35698) -> unreadable */
        { "cut-in-sys-modules", 9, { 0x35698 + 4, 0 }, { 0x356b0, 255 }, 2 },
        /* a one-byte hole in the Thread's inline values[0] (at 0x35088) -> unreadable */
        { "hole-in-thread", 9, { 0x35088, 1, 0 }, { 0x356b0, 255, 4095 }, 3 },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        n_head(&r, 1, 0, 0, 0, 1);
        n_tid(&r);
        n_ascii(&r, "MainThread");
        n_ops(&r, 1);
        r_range(&r, bad[k].what, 0, 11);
        for (unsigned i = 0; i < bad[k].n; i++) r_range(&r, bad[k].fields[i], 0, bad[k].his[i]);
        put_file("names", bad[k].name, r.b, r.n, NULL, 0);
    }

    for (unsigned shape = 1; shape <= 3; shape++) {
        static const char *const what[] = { "", "no-sys-modules", "no-threading", "no-active" };
        n_head(&r, shape, 3, shape, 0, 1); /* at the x86-64 user limit */
        n_tid(&r);
        n_ascii(&r, "MainThread");
        n_ops(&r, 0);
        put_file("names", what[shape], r.b, r.n, NULL, 0);
    }
}

static void core_seeds(void)
{
    static uint8_t a[96], b[48], c[32];
    for (size_t i = 0; i < sizeof a; i++) a[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof b; i++) b[i] = (uint8_t)(0x80 | i);
    for (size_t i = 0; i < sizeof c; i++) c[i] = (uint8_t)(0xc0 | i);
    const spw_synth_seg segs[4] = {
        { 0x7f0000002000, 0x1000, c, sizeof c, 4 },   /* out of order */
        { 0x400000, 0x1000, a, sizeof a, 5 },         /* partly in the file */
        { 0x401000, 0x2000, b, sizeof b, 6 },         /* adjacent to the one before */
        { 0x7f0000000000, 0x2000, NULL, 0, 4 },       /* none of it in the file */
    };
    const uint32_t tids[3] = { 4242, 4243, 4250 };
    const spw_synth_map maps[3] = {
        { 0x400000, 0x403000, 0, "/usr/bin/python3.13t" },
        { 0x7f0000000000, 0x7f0000002000, 0, "/usr/lib/libpython3.14t.so.1.0" },
        { 0x7f0000002000, 0x7f0000003000, 2, "/usr/lib/libpython3.14t.so.1.0" },
    };
    const struct { const char *name; spw_synth_core_spec spec; } shapes[] = {
        { "full", { .segs = segs, .n_segs = 4, .tids = tids, .n_tids = 3, .signal = 11,
                    .maps = maps, .n_maps = 3, .page_size = 4096, .entry = 0x400123 } },
        { "no-files", { .segs = segs + 1, .n_segs = 2, .tids = tids, .n_tids = 1 } },
        { "files-only", { .maps = maps, .n_maps = 3, .page_size = 65536, .entry = 0x400000 } },
        { "empty", { .n_segs = 0 } },
    };
    const spw_arch arches[2] = { SPW_ARCH_X86_64, SPW_ARCH_AARCH64 };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        for (int i = 0; i < 2; i++) {
            spw_synth_core_spec spec = shapes[k].spec;
            spec.arch = arches[i];
            size_t len = spw_synth_core(&spec, NULL, 0);
            if (len > OUT_CAP || spw_synth_core(&spec, out, OUT_CAP) != len) exit(1);
            char name[64];
            snprintf(name, sizeof name, "synth-%s-%s", shapes[k].name, spw_arch_name(arches[i]));
            put_file("core_file", name, out, len, NULL, 0);
        }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    arena = calloc(1, CAP);
    out = malloc(OUT_CAP);
    if (!arena || !out) return 1;

    for (int fl = 0; fl < SPW_FLAVOR_COUNT_; fl++) {
        char name[64];
        size_t len;
        const uint8_t *blob = spw_flavor_blob((spw_flavor)fl, &len);
        uint8_t arch = SPW_ARCH_X86_64 - 1; /* fuzz_layout: data[0] & 3 == 0 is x86_64 */
        snprintf(name, sizeof name, "real-%s-x86_64", spw_flavor_name((spw_flavor)fl));
        put_file("layout", name, &arch, 1, blob, len);
        arch = 1; /* aarch64 */
        snprintf(name, sizeof name, "real-%s-aarch64", spw_flavor_name((spw_flavor)fl));
        put_file("layout", name, &arch, 1, blob, len);

        spw_synth s;
        spw_snap_thread th[4];
        build(&s, (spw_flavor)fl, th);
        static const uint8_t expected[] = "thread 101\n  fn0 (/src/mod.py:11)\n";
        if (spw_synth_encode(&s, th, 4, NULL, 0, out, OUT_CAP, &len) != SPW_SNAP_OK) return 1;
        snprintf(name, sizeof name, "synth-%s", spw_flavor_name((spw_flavor)fl));
        put_file("walk_snapshot", name, out, len, NULL, 0);
        put_file("snapshot_decode", name, out, len, NULL, 0);
        if (spw_synth_encode(&s, th, 1, expected, sizeof expected - 1, out, OUT_CAP, &len) != SPW_SNAP_OK)
            return 1;
        snprintf(name, sizeof name, "synth-%s-expected", spw_flavor_name((spw_flavor)fl));
        put_file("snapshot_decode", name, out, len, NULL, 0);

        /* Three regions cut from the image: the first two adjacent, a gap before the
         * third; and "present but empty" expected output. */
        size_t blen;
        const uint8_t *b = spw_flavor_blob((spw_flavor)fl, &blen);
        size_t third = s.used / 3 & ~(size_t)7;
        spw_snap_region regs[3] = {
            { s.base, third, s.mem },
            { s.base + third, third, s.mem + third },
            { s.base + 2 * third + 64, s.used - 2 * third - 64, s.mem + 2 * third + 64 },
        };
        spw_snap_spec spec = {
            .header = { .arch = SPW_ARCH_AARCH64, .pointer_width = 8,
                        .free_threaded = s.layout.free_threaded,
                        .py_version = s.layout.py_version, .code_type = s.code_type },
            .offsets = b, .offsets_len = (uint32_t)blen, .threads = th, .n_threads = 4,
            .regions = regs, .n_regions = 3, .expected = expected, .expected_len = 0,
        };
        if (spw_snapshot_encode(&spec, out, OUT_CAP, &len) != SPW_SNAP_OK) return 1;
        snprintf(name, sizeof name, "synth-%s-regions", spw_flavor_name((spw_flavor)fl));
        put_file("snapshot_decode", name, out, len, NULL, 0);
        put_file("walk_snapshot", name, out, len, NULL, 0);
    }
    threads_seeds();
    names_seeds();
    core_seeds();
    free(arena);
    free(out);
    return 0;
}
