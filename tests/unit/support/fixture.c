#include "support/fixture.h"

#include <stdlib.h>
#include <unistd.h>

/* A unit test binary runs in well under a second (under qemu-aarch64 and ASan, seconds): one
 * still running after this long is stuck in a loop, which is how some mutants of the
 * campaign (docs/fuzzing.md) show. SIGALRM ends it as a failure at once, instead of
 * leaving it to the driver's timeout for the whole unit stage. */
#define FIX_WATCHDOG_S 60u
__attribute__((constructor)) static void fix_watchdog(void)
{
    alarm(FIX_WATCHDOG_S);
}

const spw_flavor fix_flavors[SPW_FLAVOR_COUNT_] = { SPW_FLAVOR_313, SPW_FLAVOR_313T,
                                                    SPW_FLAVOR_314, SPW_FLAVOR_314T };

static int counting_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    fixture *f = ctx;
    f->n_reads++;
    return spw_synth_read(&f->s, addr, dst, len);
}

fixture *fix_new_cap(spw_flavor flavor, spw_arch arch, size_t cap)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->arena = malloc(cap);
    assert_non_null(f->arena);
    assert_int_equal(spw_synth_init(&f->s, flavor, arch, FIX_BASE, f->arena, cap), 0);
    f->reader.read = counting_read;
    f->reader.ctx = f;
    return f;
}

fixture *fix_new_arch(spw_flavor flavor, spw_arch arch)
{
    return fix_new_cap(flavor, arch, FIX_ARENA);
}

fixture *fix_new(spw_flavor flavor)
{
    return fix_new_arch(flavor, SPW_ARCH_X86_64);
}

void fix_free(fixture *f)
{
    free(f->arena);
    free(f);
}

uint64_t fix_code(fixture *f, const char *name, uint32_t units)
{
    spw_synth_code_spec spec = { .qualname = name, .filename = "mod.py", .firstlineno = 10,
                                 .n_units = units };
    uint64_t code = spw_synth_code(&f->s, &spec);
    assert_int_not_equal(code, 0);
    return code;
}

spw_status fix_walk(fixture *f, uint64_t tstate, spw_frame *frames, uint32_t max,
                    spw_walk_result *res)
{
    return fix_walk_follow(f, tstate, frames, max, 0, res);
}

spw_status fix_walk_follow(fixture *f, uint64_t tstate, spw_frame *frames, uint32_t max,
                           uint32_t max_follow, spw_walk_result *res)
{
    spw_walk_args a = { .layout = &f->s.layout, .code_type = f->s.code_type, .tstate = tstate,
                        .frames = frames, .max_frames = max, .max_follow = max_follow };
    f->n_reads = 0;
    spw_status st = spw_walk(&a, &f->reader, res);
    const uint32_t n_reads = f->n_reads;
    assert_int_equal(st, res->status);
    /* Every walk of every test is also made by the walker instantiated on the build's shape
     * (what the live handler runs), which must agree on everything. */
    static spw_frame again[SPW_WALK_DEPTH_MAX];
    spw_walk_result r2;
    a.frames = again;
    f->n_reads = 0;
    assert_int_equal(spw_walk_shape_instance(&a, &f->reader, &r2), st);
    assert_int_equal(f->n_reads, n_reads);
    assert_int_equal(r2.status, res->status);
    assert_int_equal(r2.reason, res->reason);
    assert_int_equal(r2.n_frames, res->n_frames);
    assert_int_equal(r2.n_visited, res->n_visited);
    for (uint32_t i = 0; i < res->n_frames; i++) {
        assert_int_equal(again[i].code, frames[i].code);
        assert_int_equal(again[i].lasti, frames[i].lasti);
    }
    /* Exactly one status; a reason only when dropped. */
    if (st == SPW_WALK_DROPPED)
        assert_true(res->reason > SPW_REASON_NONE && res->reason < SPW_REASON_COUNT_);
    else
        assert_int_equal(res->reason, SPW_REASON_NONE);
    assert_true(res->n_frames <= max);
    assert_true(res->n_visited <= SPW_WALK_BUDGET);
    return st;
}

int fix_failing_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
    fix_failing *fr = ctx;
    fr->n_reads++;
    if (fr->budget == 0) return -1;
    fr->budget--;
    return spw_synth_read(fr->s, addr, dst, len);
}

void fix_poke(fixture *f, uint64_t addr, uint64_t v, unsigned width)
{
    assert_int_equal(spw_synth_poke(&f->s, addr, v, width), 0);
}

uint64_t fix_peek64(const fixture *f, uint64_t addr)
{
    const uint8_t *p = spw_synth_ptr(&f->s, addr, 8);
    assert_non_null(p);
    return spw_le64(p);
}
