/*
 * walk_synthetic.c — the core API end to end, in one page: build a 3.13t image with the
 * synthetic builder, freeze it into a snapshot file in memory, decode it, and walk and
 * symbolize its thread through the image reader — the same path `spwalk replay` takes.
 *
 *   make build/gcc/libspwcore.a
 *   cc -std=c11 -Icore docs/examples/walk_synthetic.c build/gcc/libspwcore.a -o /tmp/ex && /tmp/ex
 */
#include <stdio.h>
#include <stdlib.h>

#include "snapshot.h"
#include "symbolize.h"
#include "synth.h"
#include "walk.h"

int main(void)
{
    /* 1. An image: main() -> work() -> leaf(), in a 1 MiB arena standing at 0x7f0000000000. */
    static uint8_t arena[1 << 20];
    spw_synth s;
    if (spw_synth_init(&s, SPW_FLAVOR_313T, SPW_ARCH_X86_64, 0x7f0000000000, arena,
                       sizeof arena) != 0)
        return 1;
    const char *names[] = { "main", "Worker.work", "leaf" };
    uint64_t frame = 0;
    for (int i = 0; i < 3; i++) {
        spw_synth_code_spec spec = { .qualname = names[i], .filename = "app.py",
                                     .firstlineno = 10 * (i + 1), .n_units = 8 };
        uint64_t code = spw_synth_code(&s, &spec);
        frame = spw_synth_frame(&s, code, (uint32_t)(2 + i), 0, frame, 0);
    }
    spw_snap_thread thread = { .tstate = spw_synth_tstate(&s, frame, 140001, 4242),
                               .thread_id = 140001, .native_thread_id = 4242 };

    /* 2. Freeze it: measure, then encode. */
    size_t size;
    spw_synth_encode(&s, &thread, 1, NULL, 0, NULL, 0, &size);
    uint8_t *file = malloc(size);
    if (!file || spw_synth_encode(&s, &thread, 1, NULL, 0, file, size, &size) != SPW_SNAP_OK)
        return 1;

    /* 3. Replay it: decode, parse the layout it carries, walk through the image reader. */
    spw_snapshot snap;
    spw_snap_err err = spw_snapshot_decode(file, size, &snap);
    if (err != SPW_SNAP_OK) {
        fprintf(stderr, "decode: %s\n", spw_snap_strerror(err));
        return 1;
    }
    spw_layout layout;
    if (spw_layout_parse(snap.offsets, snap.offsets_len, snap.header.arch, &layout) != SPW_LAYOUT_OK)
        return 1;
    spw_reader reader = { spw_image_read, &snap };
    spw_snap_thread t = spw_snapshot_thread(&snap, 0);
    spw_frame frames[64];
    spw_walk_args args = { .layout = &layout, .code_type = snap.header.code_type,
                           .tstate = t.tstate, .frames = frames, .max_frames = 64 };
    spw_walk_result res;
    spw_walk(&args, &reader, &res);
    printf("thread %llu: %s%s%s, %u frames emitted of %u followed\n",
           (unsigned long long)t.thread_id, spw_status_name(res.status), res.reason ? " " : "",
           spw_reason_name(res.reason), res.n_frames, res.n_visited);
    for (uint32_t i = 0; i < res.n_frames; i++) {
        spw_symbol sym;
        spw_symbolize(&layout, &reader, frames[i].code, frames[i].lasti, &sym);
        printf("  %s (%s:%d)\n", sym.function, sym.file, sym.line);
    }
    free(file);
    return res.status == SPW_WALK_OK ? 0 : 1;
}
