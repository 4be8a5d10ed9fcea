/*
 * walk_known.c — the walker instantiated on each known build's shape, over the generic
 * reader: what the live handler runs (offsets compiled in), reachable by the unit tests
 * and the fuzzers, which hold it to the same answers as spw_walk(). Not part of the
 * extension, which instantiates the shapes over its own inline reader.
 */
#include "walk_body.h"

spw_status spw_walk_shape_instance(const spw_walk_args *args, const spw_reader *reader,
                                   spw_walk_result *res)
{
    const spw_walk_shape shape = spw_walk_shape_of(args->layout);
    return spw_walk_known(spw_walk_shape_flavor(&shape), args->layout->arch, args, reader->read,
                          reader->ctx, res);
}
