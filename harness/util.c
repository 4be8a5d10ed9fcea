/*
 * util.c — error messages and a growable buffer for the spwalk tool.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spwalk.h"

int sw_fail(sw_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

void *sw_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) sw_out_of_memory();
    return p;
}

void *sw_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) sw_out_of_memory();
    return q;
}

static void reserve(sw_buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len) sw_out_of_memory();
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1) cap *= 2;
    b->data = sw_xrealloc(b->data, cap);
    b->cap = cap;
}

void sw_buf_put(sw_buf *b, const void *p, size_t n)
{
    reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0'; /* always a C string too, for messages and tests */
}

void sw_buf_puts(sw_buf *b, const char *s)
{
    sw_buf_put(b, s, strlen(s));
}

void sw_buf_printf(sw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sw_buf_free(sw_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
