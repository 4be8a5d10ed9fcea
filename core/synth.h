/*
 * synth.h — synthetic images: CPython memory built from the documented layouts.
 *
 * A builder lays out thread states, frame chains, code objects, strings and line tables in
 * a caller-provided arena that stands for target memory at address `base`, using the real
 * _Py_DebugOffsets of each supported interpreter flavour (3.13, 3.13t, 3.14, 3.14t). Unit
 * tests use it to craft exact situations; the fuzzers use it to build and then corrupt
 * frame graphs; spw_synth_encode() turns an image into a snapshot file, so the very same
 * decoder and image reader serve synthetic and captured memory.
 *
 * Like the rest of the core it never allocates: when the arena is full, the builder
 * records the failure in `oom` and every later call returns 0.
 */
#ifndef SPW_SYNTH_H
#define SPW_SYNTH_H

#include "dict.h"
#include "layout.h"
#include "snapshot.h"


/* The real _Py_DebugOffsets blob of a flavour (as read from that interpreter's _PyRuntime). */
const uint8_t *spw_flavor_blob(spw_flavor f, size_t *len);

typedef struct spw_synth {
    spw_layout layout;
    spw_flavor flavor;
    uint64_t base;   /* target address of mem[0]; 64-byte aligned */
    uint8_t *mem;    /* arena */
    size_t cap;      /* arena bytes */
    size_t used;     /* bytes handed out */
    int oom;         /* set once an allocation failed */
    uint64_t code_type;  /* a fake PyCode_Type object */
    uint64_t other_type; /* a fake type object that is not PyCode_Type */
    uint64_t none;       /* a fake None object (of other_type) */
} spw_synth;

/* Start an image. Returns 0, or -1 if the arena cannot hold the basics or base is bad. */
int spw_synth_init(spw_synth *s, spw_flavor flavor, spw_arch arch, uint64_t base, uint8_t *mem,
                   size_t cap);

/* Zeroed target memory; returns its target address, or 0 when out of arena. */
uint64_t spw_synth_alloc(spw_synth *s, size_t size, size_t align);
/* Host pointer to target memory [addr, addr+len), or NULL if outside the arena. */
uint8_t *spw_synth_ptr(const spw_synth *s, uint64_t addr, size_t len);
/* Little-endian store of `width` (1, 2, 4 or 8) bytes at a target address; -1 if outside. */
int spw_synth_poke(spw_synth *s, uint64_t addr, uint64_t value, unsigned width);

/* An object header (ob_type = type) of `size` bytes. */
uint64_t spw_synth_object(spw_synth *s, uint64_t type, size_t size);
/* A compact str from UTF-8, in the narrowest kind that holds it (ASCII, 1, 2 or 4); at most
 * SPW_SYNTH_STR_MAX code points. */
#define SPW_SYNTH_STR_MAX 1024u
uint64_t spw_synth_str(spw_synth *s, const char *utf8);
/* A compact str of an explicit kind (1, 2 or 4) from code points; ascii=1 only with kind 1. */
uint64_t spw_synth_str_kind(spw_synth *s, const uint32_t *cps, size_t n, unsigned kind,
                            int ascii);
/* A bytes object. */
uint64_t spw_synth_bytes(spw_synth *s, const uint8_t *data, size_t len);

/* A code object with `n_units` code units of bytecode. */
typedef struct spw_synth_code_spec {
    const char *qualname;
    const char *filename;
    int32_t firstlineno;
    const uint8_t *linetable; /* may be NULL: then one "no column" entry per code unit,
                                 each on line firstlineno + unit index */
    size_t linetable_len;
    uint32_t n_units;
} spw_synth_code_spec;
uint64_t spw_synth_code(spw_synth *s, const spw_synth_code_spec *spec);

/* 3.14t: give a code object `n_copies` thread-local bytecode copies (entry 0 is
 * co_code_adaptive itself, as in CPython). Returns the _PyCodeArray address. */
uint64_t spw_synth_tlbc(spw_synth *s, uint64_t code, uint32_t n_copies);
/* Address of bytecode copy `index` of a code (index 0: co_code_adaptive), or 0. */
uint64_t spw_synth_bytecode(const spw_synth *s, uint64_t code, uint32_t index);

/* An interpreter frame executing code unit `lasti` of `code` (in copy `tlbc_index` on
 * 3.14t), with the given owner and previous pointer. `code` 0 gives a NULL executable.
 * On 3.14 the executable is stored as a tagged _PyStackRef (deferred tag). */
uint64_t spw_synth_frame(spw_synth *s, uint64_t code, uint32_t lasti, uint8_t owner,
                         uint64_t previous, int32_t tlbc_index);

/* How addresses run along a chain built frame by frame (the arena hands out rising
 * addresses): spw_synth_chain_position() gives the chain position, innermost 0, of the a-th
 * of n frames allocated.
 *   RISING   the innermost frame lowest: every step goes up, so the walker searches its
 *            window on every frame;
 *   FALLING  as CPython's data stack, a callee above its caller: the walker's fast loop;
 *   CHUNKED  falling within chunks of `chunk` frames, each chunk above the one before, as
 *            when the data stack moves to a new chunk: both loops and the hand-overs. */
typedef enum spw_synth_order {
    SPW_SYNTH_RISING = 0,
    SPW_SYNTH_FALLING = 1,
    SPW_SYNTH_CHUNKED = 2,
} spw_synth_order;
uint32_t spw_synth_chain_position(spw_synth_order order, uint32_t chunk, uint32_t n,
                                  uint32_t a);

/* A thread state whose current_frame is `frame`. */
uint64_t spw_synth_tstate(spw_synth *s, uint64_t frame, uint64_t thread_id,
                          uint64_t native_thread_id);

/* A _PyRuntime (runtime_size bytes, the flavour's _Py_DebugOffsets at its start, as in
 * CPython) whose interpreters.head is `interp_head`. */
uint64_t spw_synth_runtime(spw_synth *s, uint64_t interp_head);
/* A PyInterpreterState (interp_size bytes) whose thread list is the n thread states
 * tstates[0] -> tstates[1] -> ... -> tstates[n-1] -> NULL (their `next` fields are set;
 * n = 0 gives an empty list), and whose `next` is `next`. */
uint64_t spw_synth_interp(spw_synth *s, const uint64_t *tstates, uint32_t n, uint64_t next);

/* Reader over the arena: fails outside it. ctx is the spw_synth. */
int spw_synth_read(void *synth, uint64_t addr, void *dst, size_t len);

/* Encode the image as a snapshot with one region (the used part of the arena). */
spw_snap_err spw_synth_encode(const spw_synth *s, const spw_snap_thread *threads,
                              uint32_t n_threads, const uint8_t *expected,
                              uint32_t expected_len, uint8_t *out, size_t cap, size_t *size);

/* ---- the objects the thread-name reader follows (synth_objects.c) ---- */

/* An int object holding v, in 30-bit digits. */
uint64_t spw_synth_int(spw_synth *s, uint64_t v);
/* A PyDictKeysObject of `kind` (SPW_DICT_GENERAL, _UNICODE, _SPLIT) with n entries
 * keys[i] -> values[i] (a split table's values stay out of its entries; values may be
 * NULL), in the smallest table that holds them. */
uint64_t spw_synth_keys(spw_synth *s, unsigned kind, const uint64_t *keys,
                        const uint64_t *values, uint32_t n);
/* PyDictValues holding values[0..n) (capacity n, valid), at `at` (inline in an object,
 * already allocated) or, at = 0, newly allocated. */
uint64_t spw_synth_values(spw_synth *s, uint64_t at, const uint64_t *values, uint32_t n);
/* A dict object over spw_synth_keys(); a split one gets its values. */
uint64_t spw_synth_dict(spw_synth *s, unsigned kind, const uint64_t *keys,
                        const uint64_t *values, uint32_t n);
/* A str-keyed dict: names[i] -> values[i]. */
#define SPW_SYNTH_ATTRS_MAX 16u
uint64_t spw_synth_str_dict(spw_synth *s, const char *const *names, const uint64_t *values,
                            uint32_t n);
/* An instance of a fresh heap type with a managed dict and inline values (its type's
 * ht_cached_keys holds the names), attributes names[i] = values[i]: inline, or (in_dict)
 * in its managed dict with the inline values marked invalid. */
uint64_t spw_synth_instance(spw_synth *s, const char *const *names, const uint64_t *values,
                            uint32_t n, int in_dict);
/* A module object whose md_dict is md_dict. */
uint64_t spw_synth_module(spw_synth *s, uint64_t md_dict);
/* sys.modules of the interpreter at `interp` (its imports.modules is set) with a threading
 * module whose _active maps idents[i] to a Thread whose _name is names[i] (NULL: a Thread
 * with no _name). Returns the _active dict. */
#define SPW_SYNTH_THREADS_MAX 64u
uint64_t spw_synth_threading(spw_synth *s, uint64_t interp, const uint64_t *idents,
                             const char *const *names, uint32_t n);

#endif /* SPW_SYNTH_H */
