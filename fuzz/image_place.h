/*
 * image_place.h — what the targets that build an image share: its start (which interpreter
 * build, and where in the target's address space the arena lies: an ordinary heap, the top of
 * each architecture's user range, just above the null page, so that every address bound of
 * the core is met) and the bad addresses they corrupt pointers with.
 */
#ifndef FZ_IMAGE_PLACE_H
#define FZ_IMAGE_PLACE_H

#include "provider.h"
#include "synth.h"

/* Start `s` over `arena` (`cap` bytes); 0, or -1 if the builder refused. *flavor and *arch
 * say what was chosen (for the targets' narration). */
static inline int fz_image_start(fz_provider *fp, spw_synth *s, uint8_t *arena, size_t cap,
                                 spw_flavor *flavor, spw_arch *arch)
{
    const struct {
        spw_arch arch;
        uint64_t base;
    } places[] = {
        { SPW_ARCH_X86_64, 0x7f1200000000ull },          /* an ordinary heap */
        { SPW_ARCH_AARCH64, 0x7f1200000000ull },
        { SPW_ARCH_AARCH64, ((uint64_t)1 << 48) - cap }, /* above 2^47: arm64 only */
        { SPW_ARCH_X86_64, ((uint64_t)1 << 47) - cap },  /* ends at the user limit */
        { SPW_ARCH_X86_64, 0x40000ull },                 /* just above the null page */
    };
    *flavor = (spw_flavor)fz_pick(fp, SPW_FLAVOR_COUNT_);
    const unsigned place = fz_pick(fp, sizeof places / sizeof places[0]);
    *arch = places[place].arch;
    return spw_synth_init(s, *flavor, places[place].arch, places[place].base, arena, cap);
}

/* How far the bad addresses below reach: below the arm64 top, below the x86-64 top (straddling
 * it), and into or before a real object, in 8-byte steps. */
typedef struct fz_reach {
    unsigned arm64_top, x86_top, object;
} fz_reach;

/* An address that some rule of the core must refuse, or that the reader cannot serve: 1 and
 * *out set; or 0 (one time in 13): the caller picks a wrong but well-formed object of its
 * own, so that each target decides what "the wrong thing" is. `near` is a real object to be
 * off by a little from. */
static inline int fz_bad_address(fz_provider *fp, const spw_synth *s, uint64_t near,
                                 const fz_reach *r, uint64_t *out)
{
    switch (fz_pick(fp, 13)) {
    case 0: *out = 0; return 1;
    case 1: *out = fz_range(fp, 1, 0xfff); return 1;                          /* null page */
    case 2: *out = near + fz_range(fp, 1, 7); return 1;                       /* misaligned */
    case 3: *out = ((uint64_t)1 << 47) + 8 * (uint64_t)fz_u16(fp); return 1;  /* non-canonical */
    case 4: *out = ((uint64_t)1 << 48) - 8 * fz_range(fp, 0, r->arm64_top); return 1;
    case 5: *out = 0xffff800000000000ull | (uint64_t)fz_u16(fp) << 3; return 1; /* kernel */
    case 6: *out = s->base - 8 * (1 + (uint64_t)fz_u16(fp)); return 1;        /* below image */
    case 7: *out = s->base + ((s->used + 7) & ~(size_t)7) + 8 * (uint64_t)fz_u16(fp); return 1;
    case 8: *out = ((uint64_t)1 << 47) - 8 * fz_range(fp, 1, r->x86_top); return 1;
    case 9: *out = fz_u64(fp); return 1;                                      /* anything */
    case 10: *out = near + 8 * fz_range(fp, 1, r->object); return 1;          /* inside */
    case 11: *out = near - 8 * fz_range(fp, 1, r->object); return 1;
    default: return 0;
    }
}

#endif /* FZ_IMAGE_PLACE_H */
