/*
 * layout.h — where things are inside a CPython process, from its _Py_DebugOffsets.
 *
 * Since 3.13 every interpreter carries _Py_DebugOffsets at the start of _PyRuntime: a
 * cookie, the version, the free-threaded flag, then groups of uint64 offsets and sizes.
 * The order of the groups and fields differs between minor versions, so the parser knows
 * each supported version's shape and refuses anything else. The blob is untrusted input:
 * every offset the core will use must lie inside the struct size declared next to it.
 */
#ifndef SPW_LAYOUT_H
#define SPW_LAYOUT_H

#include "spw.h"

typedef enum spw_layout_err {
    SPW_LAYOUT_OK = 0,
    SPW_LAYOUT_E_SHORT,         /* blob shorter than this version's _Py_DebugOffsets */
    SPW_LAYOUT_E_COOKIE,        /* not "xdebugpy" */
    SPW_LAYOUT_E_VERSION,       /* a Python version this core does not know */
    SPW_LAYOUT_E_FREE_THREADED, /* free_threaded flag neither 0 nor 1 */
    SPW_LAYOUT_E_SIZE,          /* a declared struct size is zero or implausibly large */
    SPW_LAYOUT_E_OFFSET,        /* an offset falls outside its declared struct size */
    SPW_LAYOUT_E_ARCH,          /* unknown architecture */
} spw_layout_err;

const char *spw_layout_strerror(spw_layout_err err);

/* Largest struct size accepted from a blob (PyInterpreterState is the biggest, ~100 KiB). */
#define SPW_LAYOUT_SIZE_MAX (16u << 20)
/* The frame fields the walker needs all lie in the first SPW_FRAME_SPAN_MAX bytes. */
#define SPW_FRAME_SPAN_MAX 128u

/* Everything the walker, symbolizer and harness need, as byte offsets. */
typedef struct spw_layout {
    spw_arch arch;
    uint64_t py_version;   /* PY_VERSION_HEX, e.g. 0x030d05f0 */
    uint8_t py_minor;      /* 13 or 14 */
    uint8_t free_threaded; /* 0 or 1 */
    uint8_t has_tlbc;      /* 3.14 free-threaded: thread-local bytecode copies */

    /* _PyRuntimeState, PyInterpreterState, PyThreadState */
    uint32_t runtime_size, runtime_interpreters_head;
    uint32_t interp_size, interp_next, interp_threads_head;
    uint32_t tstate_size, tstate_next, tstate_current_frame, tstate_thread_id,
        tstate_native_thread_id;

    /* _PyInterpreterFrame. Every field the walker reads lies in the first frame_span bytes,
     * which is the range it validates before reading any of them. */
    uint32_t frame_size, frame_previous, frame_executable, frame_instr_ptr, frame_owner,
        frame_tlbc_index, frame_span;
    uint8_t owner_incomplete; /* owner values >= this are not Python frames (C stack, ...) */
    uint8_t owner_max;        /* owner values above this are corrupt */
    uint64_t executable_tag_mask; /* bits of f_executable to clear (3.14 _PyStackRef tags) */

    /* PyObject / PyVarObject */
    uint32_t object_size, ob_type, ob_size;

    /* PyCodeObject */
    uint32_t code_size, co_filename, co_name, co_qualname, co_linetable, co_firstlineno,
        co_code_adaptive, co_tlbc;

    /* PyBytesObject (co_linetable) */
    uint32_t bytes_size, bytes_ob_size, bytes_ob_sval;

    /* PyUnicodeObject: state word, length, and where compact data starts */
    uint32_t unicode_size, unicode_state, unicode_length, unicode_ascii_size,
        unicode_compact_size;
    uint8_t state_kind_shift, state_compact_bit, state_ascii_bit;

    /* What the thread-name reader needs (dict.h, thread_names.h): the interpreter's
     * sys.modules and a thread state's interpreter; PyTypeObject's tp_basicsize and
     * tp_flags and PyHeapTypeObject's ht_cached_keys; PyDictObject; PyLongObject;
     * PyModuleObject's md_dict; where an object's managed dict pointer sits before it. */
    uint32_t interp_imports_modules, tstate_interp;
    uint32_t type_size, tp_basicsize, tp_flags, ht_cached_keys;
    uint32_t dict_size, ma_keys, ma_values;
    uint32_t long_size, long_lv_tag, long_ob_digit;
    uint32_t module_md_dict;
    uint32_t managed_dict_before; /* the dict pointer is at object - managed_dict_before */
} spw_layout;

/* The builds spprof knows by name: synthetic images are made from their real blobs, and the
 * walker can be instantiated on their frame layout with every offset a constant. */
typedef enum spw_flavor {
    SPW_FLAVOR_313 = 0,  /* CPython 3.13.5, default (GIL) build */
    SPW_FLAVOR_313T = 1, /* CPython 3.13.5, free-threaded */
    SPW_FLAVOR_314 = 2,  /* CPython 3.14.x, default build */
    SPW_FLAVOR_314T = 3, /* CPython 3.14.x, free-threaded */
    SPW_FLAVOR_COUNT_ = 4,
} spw_flavor;

const char *spw_flavor_name(spw_flavor f); /* "3.13", "3.13t", "3.14", "3.14t", "unknown" */

/* Bytes needed for the blob of a given minor version (13 or 14), 0 if unknown. */
size_t spw_layout_blob_size(unsigned py_minor);

/* Parse a raw _Py_DebugOffsets blob read from a process of architecture `arch`.
 * On success fills *out and returns SPW_LAYOUT_OK; otherwise *out is unspecified. */
spw_layout_err spw_layout_parse(const void *blob, size_t len, spw_arch arch, spw_layout *out);

#endif /* SPW_LAYOUT_H */
