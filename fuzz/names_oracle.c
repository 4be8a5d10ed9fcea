/*
 * names_oracle.c — what fuzz_names.c checks the thread-name reader's answers against (its
 * header lists N1-N5), and the faults of known effect whose answers N2 predicts. Written
 * from CPython's layouts and dict.h's promises, not from dict.c: the only thing shared
 * with the code under test is the image.
 */
#include <string.h>

#include "names_gen.h"
#include "oracle.h"
#include "symbolize.h"

#define TPFLAGS_INLINE_VALUES (1u << 2)
#define TPFLAGS_MANAGED_DICT (1u << 4)
#define TPFLAGS_HEAPTYPE (1u << 9)

static const char *const shape_names[] = { "threading._active", "no sys.modules",
                                           "no threading module", "threading without _active" };

FZ_ORACLE uint64_t oracle_peek(const spw_synth *s, uint64_t addr, unsigned width)
{
    const uint8_t *p = spw_synth_ptr(s, addr, width);
    uint64_t v = 0;
    for (unsigned k = 0; p && k < width; k++) v |= (uint64_t)p[k] << (8 * k);
    return v;
}

FZ_ORACLE size_t oracle_put_utf8(uint32_t c, uint8_t *e)
{
    static const uint8_t lead[5] = { 0, 0, 0xc0, 0xe0, 0xf0 };
    const size_t n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    for (size_t k = n - 1; k > 0; k--, c >>= 6) e[k] = (uint8_t)(0x80 | (c & 0x3f));
    e[0] = (uint8_t)(lead[n] | c);
    return n;
}

/* Thread i's name as spw_read_unicode must give it in cap bytes: lone surrogates as
 * U+FFFD; when it does not fit in cap - 1 bytes, the whole characters that leave room for
 * SPW_TRUNC_MARK, then the mark. (The builder's names are at most SPW_SYNTH_STR_MAX code
 * points, below SPW_STRING_MAX_CHARS: never clipped.) */
FZ_ORACLE static void oracle_name(const gen *g, uint32_t i, char *want)
{
    static uint8_t all[4 * SPW_SYNTH_STR_MAX + 1];
    size_t len = 0, fit = 0;
    const size_t mark = sizeof SPW_TRUNC_MARK - 1;
    for (uint32_t k = 0; k < g->th[i].n_cps; k++) {
        uint32_t c = g->cps[i][k];
        if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
        len += oracle_put_utf8(c, all + len);
        if (len + mark <= g->cap - 1) fit = len;
    }
    if (len <= g->cap - 1) {
        memcpy(want, all, len);
        want[len] = '\0';
    } else {
        memcpy(want, all, fit);
        memcpy(want + fit, SPW_TRUNC_MARK, mark + 1);
    }
}

FZ_ORACLE void oracle_open(const gen *g, spw_obj_err e, const spw_dict *active, uint32_t reads)
{
    FZ_CHECK(e == (g->shape == SHAPE_ACTIVE ? SPW_OBJ_OK : SPW_OBJ_ABSENT),
             "open of an image as built (%s): %s", shape_names[g->shape], spw_obj_strerror(e));
    FZ_CHECK(reads <= OPEN_READS(3, 3), "open: %u reads of an image as built", reads);
    if (e == SPW_OBJ_OK)
        FZ_CHECK(active->n == g->n && active->kind == SPW_DICT_GENERAL,
                 "_active as built: %u entries of kind %u, built %u", active->n, active->kind,
                 g->n);
}

FZ_ORACLE void oracle_table(const gen *g, const spw_dict *d)
{
    const spw_synth *s = &g->s;
    const uint64_t esz = d->kind == SPW_DICT_GENERAL ? 24 : 16;
    FZ_CHECK(d->kind <= SPW_DICT_SPLIT && (d->kind == SPW_DICT_SPLIT) == (d->values != 0),
             "_active of kind %u with values at 0x%llx", d->kind, (unsigned long long)d->values);
    FZ_CHECK(d->n == 0 || fz_addr_plausible(s->layout.arch, d->entries, d->n * esz, 8),
             "_active's %u entries at 0x%llx", d->n, (unsigned long long)d->entries);
    /* Its keys header: where log2_index (any of them) puts it before the entries. */
    int found = 0;
    for (unsigned j = 0; j <= 29 && !found; j++) {
        const uint8_t *h = spw_synth_ptr(s, d->entries - KEYS_HEADER - ((uint64_t)1 << j),
                                         KEYS_HEADER);
        if (!h || h[9] != j || h[10] != d->kind || spw_le64(h + 24) != d->n) continue;
        const unsigned l2 = h[8];
        found = l2 <= SPW_DICT_LOG2_MAX && j == (l2 < 8 ? l2 : l2 < 16 ? l2 + 1 : l2 + 2) &&
                d->n <= ((uint64_t)2 << l2) / 3;
    }
    FZ_CHECK(found, "_active (kind %u, %u entries at 0x%llx) has no well-formed keys header "
             "before its entries", d->kind, d->n, (unsigned long long)d->entries);
    FZ_CHECK(!d->values || oracle_peek(s, d->values, 1) == d->capacity, "_active's capacity %u",
             d->capacity);
}

/* N5: the int at `key` by CPython's rules (30-bit digits, at most three, nonnegative,
 * within 64 bits): 1 and *v, or 0 when it holds no ident. */
FZ_ORACLE static int oracle_int(const spw_synth *s, uint64_t key, uint64_t *v)
{
    const spw_layout *L = &s->layout;
    const uint64_t tag = oracle_peek(s, key + L->long_lv_tag, 8), n = tag >> 3;
    int ok = (tag & 3) == (n ? 0 : 1) && n <= 3;
    *v = 0;
    for (unsigned k = 0; ok && k < n; k++) {
        const uint64_t digit = oracle_peek(s, key + L->long_ob_digit + 4 * k, 4);
        ok = digit < (1u << 30) && (k < 2 || digit < 16);
        *v |= digit << (30 * k);
    }
    return ok;
}

FZ_ORACLE void oracle_entry(const gen *g, const spw_dict *d, uint32_t i, spw_obj_err e,
                            uint64_t ident, const char *name, uint32_t reads)
{
    static char want[SPW_NAME_MAX];
    FZ_CHECK(e <= SPW_OBJ_E_LIMIT, "entry %u: returned %d", i, (int)e); /* N3 */
    if (e == SPW_OBJ_OK) {
        oracle_utf8(name, g->cap, "name"); /* N3 */
        const int general = d->kind == SPW_DICT_GENERAL;
        const uint64_t key = oracle_peek(&g->s, d->entries + i * (general ? 24u : 16u) +
                                                    (general ? 8 : 0), 8);
        uint64_t v;
        const int ok = oracle_int(&g->s, key, &v); /* N5 */
        FZ_CHECK(ok && v == ident, "entry %u: ident %llu, but its key 0x%llx holds %s%llu", i,
                 (unsigned long long)ident, (unsigned long long)key, ok ? "" : "no ident: ",
                 (unsigned long long)v);
    }
    if (g->inexact) return;
    /* N2: as built, or as its fault says. */
    const gen_thread *t = &g->th[i];
    uint32_t maxcp = 0;
    for (uint32_t k = 0; k < t->n_cps; k++) maxcp = g->cps[i][k] > maxcp ? g->cps[i][k] : maxcp;
    const uint32_t kind = maxcp < 0x100 ? 1 : maxcp < 0x10000 ? 2 : 4; /* as the builder */
    FZ_CHECK(reads <= ENTRY_READS(t->has_name ? 3 : 2, t->n_cps * kind),
             "entry %u: %u reads of an image as built", i, reads);
    const spw_obj_err expect = t->faulted ? t->want : t->has_name ? SPW_OBJ_OK : SPW_OBJ_ABSENT;
    FZ_CHECK(e == expect, "entry %u (%s, attributes %s): %s, want %s", i,
             t->faulted ? "with a fault" : "as built", t->in_dict ? "in a dict" : "inline",
             spw_obj_strerror(e), spw_obj_strerror(expect));
    if (e != SPW_OBJ_OK) return;
    FZ_CHECK(ident == t->ident, "entry %u: ident %llu, built %llu", i, (unsigned long long)ident,
             (unsigned long long)t->ident);
    oracle_name(g, i, want);
    FZ_CHECK(strcmp(name, want) == 0, "entry %u: name \"%s\", want \"%s\" (cap %zu)", i, name,
             want, g->cap);
}

/* The faults of known effect and the answers dict.h gives them (fuzz_names.c's op 10).
 * Not an oracle_ function: its choices steer the fuzzer, so they stay instrumented. */
void names_fault(gen *g)
{
    fz_provider *fp = &g->fp;
    spw_synth *s = &g->s;
    const spw_layout *L = &s->layout;
    if (!g->n_mapped) return;
    gen_thread *t = &g->th[fz_range(fp, 0, g->n_mapped - 1)];
    const spw_obj_err as_built = t->has_name ? SPW_OBJ_OK : SPW_OBJ_ABSENT;
    spw_obj_err want = as_built;
    uint64_t v;
    g->inexact |= t->faulted | t->retabled; /* effects not composed; slots stale */
    t->faulted = 1;
    const unsigned what = fz_pick(fp, 8);
    fz_log("    fault %u in the Thread at 0x%llx\n", what, (unsigned long long)t->obj);
    switch (what) {
    case 0: /* not a heap type, or no managed dict: attributes where the reader won't look */
        v = oracle_peek(s, t->type + L->tp_flags, 8);
        spw_synth_poke(s, t->type + L->tp_flags,
                       v & ~(uint64_t)(fz_bool(fp) ? TPFLAGS_HEAPTYPE : TPFLAGS_MANAGED_DICT), 8);
        want = SPW_OBJ_E_CORRUPT;
        break;
    case 1: /* no inline values: no attribute set yet, unless they are in its dict */
        v = oracle_peek(s, t->type + L->tp_flags, 8);
        spw_synth_poke(s, t->type + L->tp_flags, v & ~(uint64_t)TPFLAGS_INLINE_VALUES, 8);
        if (!t->in_dict) want = SPW_OBJ_ABSENT;
        break;
    case 2: /* inline values marked invalid (a dict was made), or fewer than the scan needs */
        if (fz_bool(fp)) {
            spw_synth_poke(s, t->values + 3, 0, 1);
            if (!t->in_dict) want = SPW_OBJ_E_CORRUPT;
        } else {
            v = fz_range(fp, 0, 3);
            spw_synth_poke(s, t->values, v, 1);
            if (!t->in_dict && v < 2) want = SPW_OBJ_E_CORRUPT; /* _name is entry 1 */
        }
        break;
    case 3: /* tp_basicsize misaligned, below an object, above BASICSIZE_MAX (just, or so far
             * that the values would lie outside the image) */
        v = (uint64_t[]){ L->object_size + 4, L->object_size - 8, 4104, 1u << 30 }[fz_pick(fp, 4)];
        spw_synth_poke(s, t->type + L->tp_basicsize, v, 8);
        if (!t->in_dict) want = SPW_OBJ_E_CORRUPT;
        break;
    case 4: /* entry 0 (_target) deleted: passed over */
        spw_synth_poke(s, t->kslot[0], 0, 8);
        break;
    case 5: /* entry 1's value deleted: _name, or (no name) _ident */
        spw_synth_poke(s, t->vslot1, 0, 8);
        want = SPW_OBJ_ABSENT;
        break;
    case 6: /* entry 1's key misaligned (met before any match), or its value: the _name str
             * (read), or _ident (not: its key is no match) */
        if (fz_bool(fp)) {
            spw_synth_poke(s, t->kslot[1], oracle_peek(s, t->kslot[1], 8) + 4, 8);
            want = SPW_OBJ_E_ADDR;
        } else {
            spw_synth_poke(s, t->vslot1, oracle_peek(s, t->vslot1, 8) + 4, 8);
            if (t->has_name) want = SPW_OBJ_E_ADDR;
        }
        break;
    default: /* the ident: negative, sign 3, or a third digit past 64 bits */
        v = oracle_peek(s, t->key_int + L->long_lv_tag, 8);
        switch (fz_pick(fp, 3)) {
        case 0:
            spw_synth_poke(s, t->key_int + L->long_lv_tag, (v & ~3ull) | 2, 8);
            want = v >> 3 ? SPW_OBJ_ABSENT : SPW_OBJ_E_CORRUPT; /* -0 is no int */
            break;
        case 1:
            spw_synth_poke(s, t->key_int + L->long_lv_tag, v | 3, 8);
            want = SPW_OBJ_E_CORRUPT;
            break;
        default:
            if (v >> 3 != 3) break;
            spw_synth_poke(s, t->key_int + L->long_ob_digit + 8, 16 + fz_u8(fp) % 16u, 4);
            want = SPW_OBJ_ABSENT;
            break;
        }
        break;
    }
    t->want = want;
}
