/* oracle.c — see oracle.h. */
#include "oracle.h"

#include <stdint.h>
#include <string.h>

#include "checked_reader.h"

FZ_ORACLE void oracle_utf8(const char *buf, size_t cap, const char *what)
{
    static const uint32_t least[5] = { 0, 0, 0x80, 0x800, 0x10000 }; /* no overlong forms */
    const uint8_t *p = (const uint8_t *)buf;
    const uint8_t *end = memchr(p, 0, cap);
    FZ_CHECK(end != NULL, "%s is not NUL-terminated inside its %zu bytes", what, cap);
    while (p < end) {
        unsigned n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3
                                     : (*p & 0xf8) == 0xf0 ? 4 : 0;
        FZ_CHECK(n != 0 && (size_t)(end - p) >= n, "%s: bad UTF-8 lead byte 0x%02x", what, *p);
        uint32_t cp = n == 1 ? *p : (uint32_t)(*p & (0x7f >> n));
        for (unsigned i = 1; i < n; i++) {
            FZ_CHECK((p[i] & 0xc0) == 0x80, "%s: bad UTF-8 continuation", what);
            cp = cp << 6 | (p[i] & 0x3f);
        }
        FZ_CHECK(cp >= least[n] && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff),
                 "%s: overlong, surrogate or out-of-range U+%X", what, cp);
        p += n;
    }
}
