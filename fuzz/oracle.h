/*
 * oracle.h — invariant checks shared by several fuzz targets.
 *
 * Kept apart from the targets so each check exists once; named oracle_* so that
 * fuzz/nocov.txt keeps them out of coverage instrumentation (see checked_reader.h).
 */
#ifndef SPW_FUZZ_ORACLE_H
#define SPW_FUZZ_ORACLE_H

#include <stddef.h>

/* buf[cap] holds a NUL inside it, and everything before the NUL is valid UTF-8: no bad
 * lead or continuation bytes, no overlong form, no surrogate, nothing above U+10FFFF.
 * Aborts with `what` in the message otherwise. */
void oracle_utf8(const char *buf, size_t cap, const char *what);

#endif /* SPW_FUZZ_ORACLE_H */
