/*
 * live_reader.c — the live reader behind the core's reader table, and the guarded reads
 * the consumer and the test entries make (live_reader.h).
 */
#include "live_reader.h"
#include "guard.h"
#include "shim.h"

#include <string.h>

int spp_live_read_fn(void *ctx, uint64_t addr, void *dst, size_t len)
{
    return spp_live_read(ctx, addr, dst, len);
}

typedef struct copy_job {
    uint64_t addr;
    void *dst;
    size_t len;
} copy_job;

static void copy_run(void *arg)
{
    copy_job *j = arg;
    spp_live_read(NULL, j->addr, j->dst, j->len);
}

int spp_read_guarded(uint64_t addr, void *dst, size_t len)
{
    if (!spw_addr_ok(SPW_ARCH_HOST, addr, len, 1)) return -1;
    copy_job j = { addr, dst, len };
    return spp_guarded(copy_run, &j);
}

typedef struct sym_job {
    const spw_layout *L;
    uint64_t code;
    uint32_t lasti;
    spw_symbol *out;
    spw_sym_err err;
} sym_job;

static void sym_run(void *arg)
{
    sym_job *j = arg;
    const spw_reader rd = { spp_live_read_fn, NULL };
    j->err = spw_symbolize(j->L, &rd, j->code, j->lasti, j->out);
}

spw_sym_err spp_symbolize_guarded(const spw_layout *L, uint64_t code, uint32_t lasti,
                                  spw_symbol *out)
{
    sym_job j = { L, code, lasti, out, SPW_SYM_E_UNREADABLE };
    if (spp_guarded(sym_run, &j) != 0) {
        out->function[0] = 0;
        out->file[0] = 0;
        out->line = SPW_LINE_NONE;
        return SPW_SYM_E_UNREADABLE;
    }
    return j.err;
}
