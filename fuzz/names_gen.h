/*
 * names_gen.h — the names fuzzer's recipe made real (fuzz_names.c builds it) and what its
 * oracle (names_oracle.c) judges the thread-name reader's answers against: each Thread as
 * built, and where a fault of known effect was put.
 */
#ifndef FZ_NAMES_GEN_H
#define FZ_NAMES_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "checked_reader.h"
#include "dict.h"
#include "provider.h"
#include "synth.h"

#define KEYS_HEADER 32u /* PyDictKeysObject up to dk_indices (dict.h) */

/* N1's bounds, read off the code (reads, not bytes):
 *   a dict opened      ma_keys, ma_values, the keys header, a split table's values: 4;
 *   an entry scanned   spw_dict_entry (the entry, a split table's value) and spw_str_is
 *                      on its key (the header, the characters when the lengths agree): 4;
 *   spw_names_open     imports.modules and md_dict, three dicts opened, sys.modules and
 *                      md_dict scanned (each at most SPW_DICT_SCAN_MAX entries, or LIMIT);
 *   spw_names_entry    the entry (2), the int (lv_tag, the digits: 2), the Thread: ob_type,
 *                      tp_flags, its dict pointer (3), then its dict opened (4) or
 *                      tp_basicsize, ht_cached_keys, the inline values' header, the keys
 *                      header and the values header again (5), an attribute table
 *                      scanned; the `_name` str: its header and a read per SPW_READ_MAX
 *                      bytes of at most SPW_STRING_MAX_CHARS characters. */
#define SCAN_READS(n) (4u * (uint32_t)(n))
#define OPEN_READS(n1, n2) (2u + 3u * 4u + SCAN_READS(n1) + SCAN_READS(n2))
#define STR_READS(bytes) (1u + ((uint32_t)(bytes) + SPW_READ_MAX - 1) / SPW_READ_MAX)
#define ENTRY_READS(n, bytes) (2u + 2u + 3u + 5u + SCAN_READS(n) + STR_READS(bytes))

enum { SHAPE_ACTIVE, SHAPE_NO_MODULES, SHAPE_NO_THREADING, SHAPE_NO_ACTIVE };

/* Thread i: as built, where in the image its parts are (once mapped), and its fault. */
typedef struct gen_thread {
    uint64_t ident;
    uint32_t n_cps;            /* its name: the gen's cps[i][0, n_cps) */
    uint8_t has_name, in_dict; /* in_dict: its attributes in its managed dict */
    uint8_t faulted;           /* a fault of known effect was put in it ... */
    spw_obj_err want;          /* ... and this is the answer its entry must give */
    uint8_t retabled;          /* its attribute table moved: its slots below are stale */
    uint64_t obj, type, values, key_int; /* the Thread, its type, its inline values, its int */
    uint64_t kslot[2], vslot1; /* the attribute table scanned: entries 0 and 1's key slots,
                                  entry 1's value slot */
} gen_thread;

typedef struct gen {
    spw_synth s;
    fz_provider fp;
    int shape, verbose;
    int inexact;                  /* a corruption whose effect is not predicted: no N2 */
    uint32_t n, n_mapped;         /* Threads built / found in the image */
    size_t cap;                   /* the name buffer */
    uint64_t interp, open_interp; /* as built / what spw_names_open is given */
    uint64_t serve_end, hole, hole_end; /* reads past serve_end, or into the hole, fail */
    const uint32_t (*cps)[SPW_SYNTH_STR_MAX]; /* the names, as code points */
    gen_thread th[SPW_SYNTH_THREADS_MAX];
} gen;

/* A fault in one mapped Thread whose answer dict.h documents: sets its `want`. A second
 * fault in it, or one after its table moved, makes the image inexact. */
void names_fault(gen *g);
/* Little-endian bytes of the image as it is now (0 outside it). */
uint64_t oracle_peek(const spw_synth *s, uint64_t addr, unsigned width);
/* UTF-8 of one code point into e[4] (surrogates too: the builder's decoder takes them
 * back, so a str can hold them); returns its length. */
size_t oracle_put_utf8(uint32_t c, uint8_t *e);
/* N2 for spw_names_open of an image as built or with predicted faults only. */
void oracle_open(const gen *g, spw_obj_err e, const spw_dict *active, uint32_t reads);
/* N3 for an OK _active. */
void oracle_table(const gen *g, const spw_dict *d);
/* N3 and N5 for any entry i; N2 too when the image is exact. */
void oracle_entry(const gen *g, const spw_dict *d, uint32_t i, spw_obj_err e, uint64_t ident,
                  const char *name, uint32_t reads);

#endif /* FZ_NAMES_GEN_H */
