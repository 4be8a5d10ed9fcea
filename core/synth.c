/*
 * synth.c — build CPython memory images from the real layouts (see synth.h).
 *
 * Objects are placed exactly where the parsed layout says their fields are, so the walker
 * and symbolizer cannot tell a synthetic image from captured memory. Only the fields the
 * core reads are filled in; everything else stays zero.
 */
#include "synth.h"

#include <string.h>

/* Py_TAG_REFCNT / deferred tag of a 3.14 _PyStackRef. */
#define STACKREF_DEFERRED_TAG 1u

uint64_t spw_synth_alloc(spw_synth *s, size_t size, size_t align)
{
    if (s->oom || align == 0 || (align & (align - 1)) != 0 || size > s->cap) goto fail;
    size_t at = (s->used + align - 1) & ~(align - 1);
    if (at < s->used || at > s->cap - size) goto fail;
    memset(s->mem + at, 0, size);
    s->used = at + (size ? size : 1); /* distinct addresses even for empty objects */
    return s->base + at;
fail:
    s->oom = 1;
    return 0;
}

uint8_t *spw_synth_ptr(const spw_synth *s, uint64_t addr, size_t len)
{
    if (addr < s->base || addr - s->base > s->used || len > s->used - (addr - s->base))
        return NULL;
    return s->mem + (addr - s->base);
}

int spw_synth_poke(spw_synth *s, uint64_t addr, uint64_t value, unsigned width)
{
    uint8_t *p = spw_synth_ptr(s, addr, width);
    if (!p || (width != 1 && width != 2 && width != 4 && width != 8)) return -1;
    for (unsigned i = 0; i < width; i++) p[i] = (uint8_t)(value >> (8 * i));
    return 0;
}

int spw_synth_read(void *synth, uint64_t addr, void *dst, size_t len)
{
    const uint8_t *p = spw_synth_ptr(synth, addr, len);
    if (!p) return -1;
    memcpy(dst, p, len);
    return 0;
}

/* Store into a freshly allocated object; a failed allocation (0) is ignored here and shows
 * up as s->oom. */
static void put(spw_synth *s, uint64_t obj, uint32_t off, uint64_t value, unsigned width)
{
    if (obj) spw_synth_poke(s, obj + off, value, width);
}

uint64_t spw_synth_object(spw_synth *s, uint64_t type, size_t size)
{
    if (size < s->layout.object_size) size = s->layout.object_size;
    uint64_t obj = spw_synth_alloc(s, size, 16);
    put(s, obj, s->layout.ob_type, type, 8);
    return obj;
}

int spw_synth_init(spw_synth *s, spw_flavor flavor, spw_arch arch, uint64_t base, uint8_t *mem,
                   size_t cap)
{
    memset(s, 0, sizeof *s);
    size_t blob_len;
    const uint8_t *blob = spw_flavor_blob(flavor, &blob_len);
    if (!blob || spw_layout_parse(blob, blob_len, arch, &s->layout) != SPW_LAYOUT_OK) return -1;
    if ((base & 63) != 0 || !spw_addr_ok(arch, base, cap, 64)) return -1;
    s->flavor = flavor;
    s->base = base;
    s->mem = mem;
    s->cap = cap;
    /* Type objects are never read beyond their address; any object-sized block will do. */
    s->other_type = spw_synth_object(s, 0, 64);
    s->code_type = spw_synth_object(s, s->other_type, 64);
    s->none = spw_synth_object(s, s->other_type, 0);
    return s->oom ? -1 : 0;
}

uint64_t spw_synth_str_kind(spw_synth *s, const uint32_t *cps, size_t n, unsigned kind, int ascii)
{
    const spw_layout *L = &s->layout;
    if ((kind != 1 && kind != 2 && kind != 4) || (ascii && kind != 1)) return 0;
    size_t header = ascii ? L->unicode_ascii_size : L->unicode_compact_size;
    if (n > ((size_t)1 << 24)) return 0;
    uint64_t str = spw_synth_object(s, s->other_type, header + (n + 1) * kind);
    uint32_t state = kind << L->state_kind_shift | 1u << L->state_compact_bit |
                     (uint32_t)(ascii ? 1 : 0) << L->state_ascii_bit;
    put(s, str, L->unicode_state, state, 4);
    put(s, str, L->unicode_length, n, 8);
    for (size_t i = 0; i < n; i++) put(s, str, (uint32_t)(header + i * kind), cps[i], kind);
    return str;
}

/* Decode one UTF-8 sequence (trusted input: test strings). */
static size_t utf8_next(const unsigned char *p, uint32_t *cp)
{
    if (p[0] < 0x80) { *cp = p[0]; return 1; }
    if (p[0] < 0xe0) { *cp = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f); return 2; }
    if (p[0] < 0xf0) {
        *cp = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
        return 3;
    }
    *cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
          (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
    return 4;
}

uint64_t spw_synth_str(spw_synth *s, const char *utf8)
{
    /* Decode, then build in the narrowest kind, as CPython's PyUnicode_FromString does. */
    uint32_t cps[SPW_SYNTH_STR_MAX], maxcp = 0;
    const unsigned char *p = (const unsigned char *)utf8;
    size_t n = 0;
    for (size_t i = 0; p[i]; n++) {
        if (n == SPW_SYNTH_STR_MAX) { s->oom = 1; return 0; }
        i += utf8_next(p + i, &cps[n]);
        if (cps[n] > maxcp) maxcp = cps[n];
    }
    unsigned kind = maxcp < 0x100 ? 1 : maxcp < 0x10000 ? 2 : 4;
    return spw_synth_str_kind(s, cps, n, kind, maxcp < 0x80);
}

uint64_t spw_synth_bytes(spw_synth *s, const uint8_t *data, size_t len)
{
    const spw_layout *L = &s->layout;
    uint64_t b = spw_synth_object(s, s->other_type, L->bytes_ob_sval + len + 1);
    put(s, b, L->bytes_ob_size, len, 8);
    uint8_t *p = b ? spw_synth_ptr(s, b + L->bytes_ob_sval, len) : NULL;
    if (p && len) memcpy(p, data, len);
    return b;
}

uint64_t spw_synth_code(spw_synth *s, const spw_synth_code_spec *spec)
{
    const spw_layout *L = &s->layout;
    uint64_t qualname = spw_synth_str(s, spec->qualname ? spec->qualname : "");
    uint64_t filename = spw_synth_str(s, spec->filename ? spec->filename : "");
    uint64_t linetable;
    if (spec->linetable) {
        linetable = spw_synth_bytes(s, spec->linetable, spec->linetable_len);
    } else {
        /* One "no column" entry (code 13, one unit) per code unit, each a line further:
         * 0xE8 then svarint(delta) = delta * 2. */
        size_t n = spec->n_units;
        linetable = spw_synth_object(s, s->other_type, L->bytes_ob_sval + 2 * n + 1);
        put(s, linetable, L->bytes_ob_size, 2 * n, 8);
        for (size_t i = 0; i < n; i++) {
            put(s, linetable, (uint32_t)(L->bytes_ob_sval + 2 * i), 0xe8, 1);
            put(s, linetable, (uint32_t)(L->bytes_ob_sval + 2 * i + 1), i ? 2 : 0, 1);
        }
    }
    size_t size = (size_t)L->co_code_adaptive + 2 * (size_t)spec->n_units;
    uint64_t code = spw_synth_object(s, s->code_type, size > L->code_size ? size : L->code_size);
    put(s, code, L->ob_size, spec->n_units, 8);
    put(s, code, L->co_qualname, qualname, 8);
    put(s, code, L->co_name, qualname, 8);
    put(s, code, L->co_filename, filename, 8);
    put(s, code, L->co_linetable, linetable, 8);
    put(s, code, L->co_firstlineno, (uint32_t)spec->firstlineno, 4);
    return s->oom ? 0 : code;
}

uint64_t spw_synth_tlbc(spw_synth *s, uint64_t code, uint32_t n_copies)
{
    const spw_layout *L = &s->layout;
    uint8_t *size_field = spw_synth_ptr(s, code + L->ob_size, 8);
    if (!L->has_tlbc || !size_field || n_copies == 0) return 0;
    uint64_t n_units = spw_le64(size_field);
    /* _PyCodeArray: Py_ssize_t size, then `size` bytecode pointers. */
    uint64_t arr = spw_synth_alloc(s, 8 + 8 * (size_t)n_copies, 8);
    put(s, arr, 0, n_copies, 8);
    put(s, arr, 8, code + L->co_code_adaptive, 8);
    for (uint32_t i = 1; i < n_copies; i++)
        put(s, arr, 8 + 8 * i, spw_synth_alloc(s, 2 * (size_t)n_units, 8), 8);
    put(s, code, L->co_tlbc, arr, 8);
    return s->oom ? 0 : arr;
}

uint64_t spw_synth_bytecode(const spw_synth *s, uint64_t code, uint32_t index)
{
    const spw_layout *L = &s->layout;
    if (index == 0) return code + L->co_code_adaptive;
    const uint8_t *f = L->has_tlbc ? spw_synth_ptr(s, code + L->co_tlbc, 8) : NULL;
    const uint8_t *arr = f ? spw_synth_ptr(s, spw_le64(f), 8) : NULL;
    if (!arr || index >= spw_le64(arr)) return 0;
    const uint8_t *entry = spw_synth_ptr(s, spw_le64(f) + 8 + 8 * (uint64_t)index, 8);
    return entry ? spw_le64(entry) : 0;
}

uint64_t spw_synth_frame(spw_synth *s, uint64_t code, uint32_t lasti, uint8_t owner,
                         uint64_t previous, int32_t tlbc_index)
{
    const spw_layout *L = &s->layout;
    uint64_t f = spw_synth_alloc(s, L->frame_size, 16);
    uint64_t exec = code, instr = 0;
    if (code) {
        uint64_t bytecode = spw_synth_bytecode(s, code, tlbc_index > 0 ? (uint32_t)tlbc_index : 0);
        instr = bytecode ? bytecode + 2 * (uint64_t)lasti : 0;
    }
    if (L->executable_tag_mask) exec |= STACKREF_DEFERRED_TAG; /* NULL stays a tagged NULL */
    put(s, f, L->frame_executable, exec, 8);
    put(s, f, L->frame_previous, previous, 8);
    put(s, f, L->frame_instr_ptr, instr, 8);
    put(s, f, L->frame_owner, owner, 1);
    if (L->has_tlbc) put(s, f, L->frame_tlbc_index, (uint32_t)tlbc_index, 4);
    return f;
}

uint32_t spw_synth_chain_position(spw_synth_order order, uint32_t chunk, uint32_t n,
                                  uint32_t a)
{
    if (order == SPW_SYNTH_RISING) return a;
    if (order == SPW_SYNTH_FALLING || chunk == 0) return n - 1 - a;
    const uint32_t top = (a / chunk + 1) * chunk; /* one past the chunk's last position */
    return (top < n ? top : n) - 1 - a % chunk;
}

uint64_t spw_synth_tstate(spw_synth *s, uint64_t frame, uint64_t thread_id,
                          uint64_t native_thread_id)
{
    const spw_layout *L = &s->layout;
    uint64_t t = spw_synth_alloc(s, L->tstate_size, 16);
    put(s, t, L->tstate_current_frame, frame, 8);
    put(s, t, L->tstate_thread_id, thread_id, 8);
    put(s, t, L->tstate_native_thread_id, native_thread_id, 8);
    return t;
}

uint64_t spw_synth_runtime(spw_synth *s, uint64_t interp_head)
{
    const spw_layout *L = &s->layout;
    size_t blob_len;
    const uint8_t *blob = spw_flavor_blob(s->flavor, &blob_len);
    uint64_t r = spw_synth_alloc(s, L->runtime_size, 64);
    uint8_t *p = r && blob_len <= L->runtime_size ? spw_synth_ptr(s, r, blob_len) : NULL;
    if (p) memcpy(p, blob, blob_len);
    put(s, r, L->runtime_interpreters_head, interp_head, 8);
    return r;
}

uint64_t spw_synth_interp(spw_synth *s, const uint64_t *tstates, uint32_t n, uint64_t next)
{
    const spw_layout *L = &s->layout;
    uint64_t interp = spw_synth_alloc(s, L->interp_size, 64);
    for (uint32_t i = 0; i < n; i++)
        put(s, tstates[i], L->tstate_next, i + 1 < n ? tstates[i + 1] : 0, 8);
    put(s, interp, L->interp_threads_head, n ? tstates[0] : 0, 8);
    put(s, interp, L->interp_next, next, 8);
    return interp;
}

spw_snap_err spw_synth_encode(const spw_synth *s, const spw_snap_thread *threads,
                              uint32_t n_threads, const uint8_t *expected,
                              uint32_t expected_len, uint8_t *out, size_t cap, size_t *size)
{
    size_t blob_len;
    const uint8_t *blob = spw_flavor_blob(s->flavor, &blob_len);
    spw_snap_region region = { .addr = s->base, .len = s->used, .data = s->mem };
    spw_snap_spec spec = {
        .header = { .arch = s->layout.arch, .pointer_width = 8,
                    .free_threaded = s->layout.free_threaded,
                    .py_version = s->layout.py_version, .code_type = s->code_type },
        .offsets = blob, .offsets_len = (uint32_t)blob_len,
        .threads = threads, .n_threads = n_threads,
        .regions = &region, .n_regions = s->used ? 1 : 0,
        .expected = expected, .expected_len = expected_len,
    };
    return spw_snapshot_encode(&spec, out, cap, size);
}
