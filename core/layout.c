/*
 * layout.c — parse _Py_DebugOffsets (3.13 and 3.14) into an spw_layout.
 *
 * The blob is a sequence of uint64 values: the 8-byte cookie, version, free_threaded, then
 * one group per CPython struct. Each group usually starts with the struct's size followed by
 * field offsets. Group order and length depend on the minor version, so each version is
 * described by a table of group lengths; a field is named by (group, index within group).
 * Only fields the core uses are extracted, and each is checked against its group's size.
 */
#include "layout.h"
#include "reader.h"

#include <string.h>

enum group {
    G_RUNTIME, G_INTERP, G_THREAD, G_FRAME, G_CODE, G_OBJECT, G_TYPE, G_TUPLE, G_LIST, G_SET,
    G_DICT, G_FLOAT, G_LONG, G_BYTES, G_UNICODE, G_GC, G_GEN, G_LLIST, G_DEBUGGER, G_COUNT
};

/* Number of uint64 slots per group, in blob order; 0 = group absent in that version. */
typedef struct version_shape {
    uint8_t minor;
    uint8_t order[G_COUNT + 1]; /* groups in blob order, G_COUNT-terminated */
    uint8_t slots[G_COUNT];  /* slots per group */
} version_shape;

static const version_shape SHAPES[] = {
    { 13,
      { G_RUNTIME, G_INTERP, G_THREAD, G_FRAME, G_CODE, G_OBJECT, G_TYPE, G_TUPLE, G_LIST,
        G_DICT, G_FLOAT, G_LONG, G_BYTES, G_UNICODE, G_GC, G_COUNT },
      { [G_RUNTIME] = 3, [G_INTERP] = 13, [G_THREAD] = 9, [G_FRAME] = 6, [G_CODE] = 10,
        [G_OBJECT] = 2, [G_TYPE] = 4, [G_TUPLE] = 3, [G_LIST] = 3, [G_DICT] = 3,
        [G_FLOAT] = 2, [G_LONG] = 3, [G_BYTES] = 3, [G_UNICODE] = 4, [G_GC] = 2 } },
    { 14,
      { G_RUNTIME, G_INTERP, G_THREAD, G_FRAME, G_CODE, G_OBJECT, G_TYPE, G_TUPLE, G_LIST,
        G_SET, G_DICT, G_FLOAT, G_LONG, G_BYTES, G_UNICODE, G_GC, G_GEN, G_LLIST,
        G_DEBUGGER, G_COUNT },
      { [G_RUNTIME] = 3, [G_INTERP] = 16, [G_THREAD] = 9, [G_FRAME] = 8, [G_CODE] = 11,
        [G_OBJECT] = 2, [G_TYPE] = 4, [G_TUPLE] = 3, [G_LIST] = 3, [G_SET] = 4, [G_DICT] = 3,
        [G_FLOAT] = 2, [G_LONG] = 3, [G_BYTES] = 3, [G_UNICODE] = 4, [G_GC] = 2,
        [G_GEN] = 4, [G_LLIST] = 2, [G_DEBUGGER] = 6 } },
};

#define HEADER_SLOTS 3 /* cookie, version, free_threaded */

static const version_shape *shape_of(unsigned minor)
{
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++)
        if (SHAPES[i].minor == minor) return &SHAPES[i];
    return NULL;
}

static size_t shape_slots(const version_shape *v)
{
    size_t n = HEADER_SLOTS;
    for (int i = 0; v->order[i] != G_COUNT; i++) n += v->slots[v->order[i]];
    return n;
}

size_t spw_layout_blob_size(unsigned py_minor)
{
    const version_shape *v = shape_of(py_minor);
    return v ? shape_slots(v) * 8 : 0;
}

/* Where each group starts (slot index), for one version. */
typedef struct parse_ctx {
    const uint8_t *blob;
    uint32_t start[G_COUNT];
    spw_layout_err err;
} parse_ctx;

static uint64_t slot(const parse_ctx *c, enum group g, unsigned index)
{
    return spw_le64(c->blob + 8 * ((size_t)c->start[g] + index));
}

/* Size of a group's struct, validated. */
static uint32_t group_size(parse_ctx *c, enum group g)
{
    uint64_t size = slot(c, g, 0);
    if (size == 0 || size > SPW_LAYOUT_SIZE_MAX) {
        if (!c->err) c->err = SPW_LAYOUT_E_SIZE;
        return 0;
    }
    return (uint32_t)size;
}

/* Offset of field `index` of group g, which must leave `width` bytes inside the struct. */
static uint32_t field(parse_ctx *c, enum group g, unsigned index, uint32_t width)
{
    uint64_t size = group_size(c, g), off = slot(c, g, index);
    if (size == 0) return 0; /* group_size() recorded the error */
    if (off > size || width > size - off) {
        if (!c->err) c->err = SPW_LAYOUT_E_OFFSET;
        return 0;
    }
    return (uint32_t)off;
}

static uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

const char *spw_layout_strerror(spw_layout_err err)
{
    switch (err) {
    case SPW_LAYOUT_OK: return "ok";
    case SPW_LAYOUT_E_SHORT: return "debug offsets blob is too short";
    case SPW_LAYOUT_E_COOKIE: return "not a _Py_DebugOffsets blob (bad cookie)";
    case SPW_LAYOUT_E_VERSION: return "unsupported Python version";
    case SPW_LAYOUT_E_FREE_THREADED: return "free_threaded flag is neither 0 nor 1";
    case SPW_LAYOUT_E_SIZE: return "a struct size is zero or implausibly large";
    case SPW_LAYOUT_E_OFFSET: return "an offset lies outside its struct";
    case SPW_LAYOUT_E_ARCH: return "unknown architecture";
    }
    return "unknown layout error";
}

/* Accept final releases and release candidates of 3.13 and 3.14: earlier pre-releases
 * changed _Py_DebugOffsets without notice. */
static int version_supported(uint64_t hex, unsigned *minor)
{
    unsigned major = (unsigned)(hex >> 24) & 0xff, min = (unsigned)(hex >> 16) & 0xff;
    unsigned level = (unsigned)(hex >> 4) & 0xf;
    if ((hex >> 32) != 0 || major != 3 || !shape_of(min)) return 0;
    if (level != 0xc && level != 0xf) return 0;
    *minor = min;
    return 1;
}

const char *spw_flavor_name(spw_flavor f)
{
    static const char *const names[] = { "3.13", "3.13t", "3.14", "3.14t" };
    return (unsigned)f < SPW_FLAVOR_COUNT_ ? names[f] : "unknown";
}

spw_layout_err spw_layout_parse(const void *blob_, size_t len, spw_arch arch, spw_layout *out)
{
    const uint8_t *blob = blob_;
    if (spw_arch_user_limit(arch) == 0) return SPW_LAYOUT_E_ARCH;
    if (len < HEADER_SLOTS * 8) return SPW_LAYOUT_E_SHORT;
    if (memcmp(blob, "xdebugpy", 8) != 0) return SPW_LAYOUT_E_COOKIE;
    unsigned minor;
    uint64_t version = spw_le64(blob + 8), ft = spw_le64(blob + 16);
    if (!version_supported(version, &minor)) return SPW_LAYOUT_E_VERSION;
    if (ft > 1) return SPW_LAYOUT_E_FREE_THREADED;
    const version_shape *v = shape_of(minor);
    if (len < shape_slots(v) * 8) return SPW_LAYOUT_E_SHORT;

    parse_ctx c = { .blob = blob, .err = SPW_LAYOUT_OK };
    uint32_t at = HEADER_SLOTS;
    for (int i = 0; v->order[i] != G_COUNT; i++) {
        c.start[v->order[i]] = at;
        at += v->slots[v->order[i]];
    }

    spw_layout L;
    memset(&L, 0, sizeof L);
    L.arch = arch;
    L.py_version = version;
    L.py_minor = (uint8_t)minor;
    L.free_threaded = (uint8_t)ft;
    L.has_tlbc = (uint8_t)(minor >= 14 && ft);

    /* Field indexes below are positions inside each group as declared in CPython's
     * pycore_runtime.h (3.13) / pycore_debug_offsets.h (3.14); index 0 is the size. */
    L.runtime_size = group_size(&c, G_RUNTIME);
    L.runtime_interpreters_head = field(&c, G_RUNTIME, 2, 8);
    L.interp_size = group_size(&c, G_INTERP);
    L.interp_next = field(&c, G_INTERP, 2, 8);
    L.interp_threads_head = field(&c, G_INTERP, 3, 8);
    L.tstate_size = group_size(&c, G_THREAD);
    L.tstate_next = field(&c, G_THREAD, 2, 8);
    L.tstate_current_frame = field(&c, G_THREAD, 4, 8);
    L.tstate_thread_id = field(&c, G_THREAD, 5, 8);
    L.tstate_native_thread_id = field(&c, G_THREAD, 6, 8);

    L.frame_size = group_size(&c, G_FRAME);
    L.frame_previous = field(&c, G_FRAME, 1, 8);
    L.frame_executable = field(&c, G_FRAME, 2, 8);
    L.frame_instr_ptr = field(&c, G_FRAME, 3, 8);
    L.frame_owner = field(&c, G_FRAME, 5, 1);
    if (L.has_tlbc) L.frame_tlbc_index = field(&c, G_FRAME, 7, 4);
    L.frame_span = max_u32(max_u32(L.frame_previous + 8, L.frame_executable + 8),
                           max_u32(L.frame_instr_ptr + 8, L.frame_owner + 1));
    if (L.has_tlbc) L.frame_span = max_u32(L.frame_span, L.frame_tlbc_index + 4);
    if (!c.err && L.frame_span > SPW_FRAME_SPAN_MAX) c.err = SPW_LAYOUT_E_OFFSET;
    /* 3.13: FRAME_OWNED_BY_CSTACK = 3 is the last owner. 3.14: FRAME_OWNED_BY_INTERPRETER = 3
     * and FRAME_OWNED_BY_CSTACK = 4. Either way owners from 3 up are not Python frames. */
    L.owner_incomplete = 3;
    L.owner_max = minor >= 14 ? 4 : 3;
    /* 3.14's f_executable is a _PyStackRef whose low bits carry tags (deferred = 1,
     * tagged int = 3); 3.13 stores a plain PyObject pointer. */
    L.executable_tag_mask = minor >= 14 ? 3 : 0;

    L.object_size = group_size(&c, G_OBJECT);
    L.ob_type = field(&c, G_OBJECT, 1, 8);
    /* PyVarObject's ob_size directly follows the PyObject header; the tuple group records
     * it (offsetof(PyTupleObject, ob_base.ob_size)). */
    L.ob_size = field(&c, G_TUPLE, 2, 8);
    /* The walker reads ob_type and ob_size together: ob_type must end the PyObject header
     * and ob_size start right after it, as in every CPython build. */
    if (!c.err && (L.ob_type + 8 != L.object_size || L.ob_size != L.object_size))
        c.err = SPW_LAYOUT_E_OFFSET;

    L.code_size = group_size(&c, G_CODE);
    L.co_filename = field(&c, G_CODE, 1, 8);
    L.co_name = field(&c, G_CODE, 2, 8);
    L.co_qualname = field(&c, G_CODE, 3, 8);
    L.co_linetable = field(&c, G_CODE, 4, 8);
    L.co_firstlineno = field(&c, G_CODE, 5, 4);
    L.co_code_adaptive = field(&c, G_CODE, 9, 1); /* flexible array: at least one byte */
    if (L.has_tlbc) L.co_tlbc = field(&c, G_CODE, 10, 8);
    if (!c.err && L.code_size < L.ob_size + 8) c.err = SPW_LAYOUT_E_OFFSET;

    L.bytes_size = group_size(&c, G_BYTES);
    L.bytes_ob_size = field(&c, G_BYTES, 1, 8);
    L.bytes_ob_sval = field(&c, G_BYTES, 2, 1);

    L.unicode_size = group_size(&c, G_UNICODE);
    L.unicode_state = field(&c, G_UNICODE, 1, 4);
    L.unicode_length = field(&c, G_UNICODE, 2, 8);
    uint64_t ascii = slot(&c, G_UNICODE, 3);
    /* PyCompactUnicodeObject = PyASCIIObject + utf8_length + utf8 pointer; data of
     * non-ASCII compact strings starts right after it. */
    if (!c.err && (ascii < (uint64_t)L.unicode_state + 4 || ascii < (uint64_t)L.unicode_length + 8 ||
                   ascii + 16 > L.unicode_size))
        c.err = SPW_LAYOUT_E_OFFSET;
    L.unicode_ascii_size = (uint32_t)ascii;
    L.unicode_compact_size = (uint32_t)ascii + 16;
    /* The state bit-field: 3.14t made `interned` a whole byte, so the kind bits move. */
    L.state_kind_shift = (minor >= 14 && ft) ? 8 : 2;
    L.state_compact_bit = (uint8_t)(L.state_kind_shift + 3);
    L.state_ascii_bit = (uint8_t)(L.state_kind_shift + 4);

    /* The thread-name reader's fields. */
    L.interp_imports_modules = field(&c, G_INTERP, minor >= 14 ? 6 : 5, 8);
    L.tstate_interp = field(&c, G_THREAD, 3, 8);
    L.type_size = group_size(&c, G_TYPE);
    /* PyTypeObject: tp_name, then tp_basicsize (both 8 bytes); the debug offsets name the
     * first. */
    L.tp_basicsize = field(&c, G_TYPE, 1, 16) + 8;
    L.tp_flags = field(&c, G_TYPE, 3, 8);
    /* PyHeapTypeObject: the PyTypeObject, then its method tables (PyAsyncMethods 4
     * pointers, PyNumberMethods 36, PyMappingMethods 3, PySequenceMethods 10,
     * PyBufferProcs 2) and ht_name, ht_slots, ht_qualname: 58 pointers, the same in 3.13
     * and 3.14, before ht_cached_keys. */
    L.ht_cached_keys = L.type_size + 58 * 8;
    L.dict_size = group_size(&c, G_DICT);
    L.ma_keys = field(&c, G_DICT, 1, 8);
    L.ma_values = field(&c, G_DICT, 2, 8);
    L.long_size = group_size(&c, G_LONG);
    L.long_lv_tag = field(&c, G_LONG, 1, 8);
    L.long_ob_digit = field(&c, G_LONG, 2, 4);
    /* PyModuleObject: the object header, then md_dict. */
    L.module_md_dict = L.object_size;
    /* MANAGED_DICT_OFFSET: one pointer before the object in free-threaded builds, three
     * (past the GC header) in the default ones. */
    L.managed_dict_before = ft ? 8 : 24;

    if (c.err) return c.err;
    *out = L;
    return SPW_LAYOUT_OK;
}

const char *spw_arch_name(spw_arch arch)
{
    switch (arch) {
    case SPW_ARCH_X86_64: return "x86_64";
    case SPW_ARCH_AARCH64: return "aarch64";
    default: return "unknown";
    }
}
