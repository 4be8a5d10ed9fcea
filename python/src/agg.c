/*
 * agg.c — open-addressing hash tables for the consumer (see agg.h).
 */
#include "agg.h"
#include "mix.h"

#include <stdlib.h>
#include <string.h>

typedef struct sym_rec {
    char *function, *file;
    int32_t line;
    uint64_t hash;
} sym_rec;

typedef struct stack_rec {
    uint64_t hash;
    size_t off; /* into ids */
    uint32_t n, thread;
    uint64_t count;
} stack_rec;

typedef struct thread_rec {
    uint64_t ident, native_id;
} thread_rec;

struct spp_agg {
    thread_rec *threads;
    size_t n_threads, cap_threads;

    sym_rec *syms;
    size_t n_syms, cap_syms;
    uint32_t *sym_index; /* open addressing: sym id + 1, 0 = empty */
    size_t sym_index_cap;

    stack_rec *stacks;
    size_t n_stacks, cap_stacks;
    uint32_t *stack_index; /* stack id + 1 */
    size_t stack_index_cap;
    uint32_t *ids; /* all stacks' symbol ids, back to back */
    size_t n_ids, cap_ids;

    spp_cache_entry *cache;
    size_t n_cache, cache_cap;

    uint64_t threads_merged;
    int64_t other_threads; /* index of the shared record, or -1 */
};


static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

spp_agg *spp_agg_new(void)
{
    spp_agg *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->other_threads = -1;
    a->sym_index_cap = 1024;
    a->stack_index_cap = 1024;
    a->cache_cap = 4096;
    a->sym_index = calloc(a->sym_index_cap, sizeof *a->sym_index);
    a->stack_index = calloc(a->stack_index_cap, sizeof *a->stack_index);
    a->cache = calloc(a->cache_cap, sizeof *a->cache);
    if (!a->sym_index || !a->stack_index || !a->cache) {
        spp_agg_free(a);
        return NULL;
    }
    return a;
}

void spp_agg_free(spp_agg *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->n_syms; i++) {
        free(a->syms[i].function);
        free(a->syms[i].file);
    }
    free(a->syms);
    free(a->sym_index);
    free(a->stacks);
    free(a->stack_index);
    free(a->ids);
    free(a->threads);
    free(a->cache);
    free(a);
}

int64_t spp_agg_thread(spp_agg *a, uint64_t ident, uint64_t native_id)
{
    if (a->n_threads >= SPP_AGG_THREADS_MAX) {
        if (a->other_threads < 0) {
            if (grow((void **)&a->threads, &a->cap_threads, a->n_threads + 1, sizeof *a->threads))
                return -1;
            a->threads[a->n_threads] = (thread_rec){ 0, 0 };
            a->other_threads = (int64_t)a->n_threads++;
        }
        a->threads_merged++;
        return a->other_threads;
    }
    if (grow((void **)&a->threads, &a->cap_threads, a->n_threads + 1, sizeof *a->threads))
        return -1;
    a->threads[a->n_threads] = (thread_rec){ ident, native_id };
    return (int64_t)a->n_threads++;
}

/* Rebuild an index of `cap` buckets holding ids 0..n-1 whose hashes hash_of() gives. */
static uint32_t *reindex(size_t cap, size_t n, const void *recs, size_t stride, size_t hash_off)
{
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (!idx) return NULL;
    for (size_t i = 0; i < n; i++) {
        uint64_t h;
        memcpy(&h, (const char *)recs + i * stride + hash_off, sizeof h);
        size_t b = (size_t)h & (cap - 1);
        while (idx[b]) b = (b + 1) & (cap - 1);
        idx[b] = (uint32_t)i + 1;
    }
    return idx;
}

int64_t spp_agg_symbol(spp_agg *a, const char *function, const char *file, int32_t line)
{
    size_t lf = strlen(function), lfi = strlen(file);
    uint64_t h = hash_bytes(0xcbf29ce484222325ull, function, lf + 1);
    h = hash_bytes(h, file, lfi + 1);
    h = spw_mix64(h ^ (uint64_t)(uint32_t)line);
    size_t b = (size_t)h & (a->sym_index_cap - 1);
    for (; a->sym_index[b]; b = (b + 1) & (a->sym_index_cap - 1)) {
        sym_rec *s = &a->syms[a->sym_index[b] - 1];
        if (s->hash == h && s->line == line && !strcmp(s->function, function) &&
            !strcmp(s->file, file))
            return a->sym_index[b] - 1;
    }
    if (grow((void **)&a->syms, &a->cap_syms, a->n_syms + 1, sizeof *a->syms)) return -1;
    sym_rec *s = &a->syms[a->n_syms];
    s->function = malloc(lf + 1);
    s->file = malloc(lfi + 1);
    if (!s->function || !s->file) {
        free(s->function);
        free(s->file);
        return -1;
    }
    memcpy(s->function, function, lf + 1);
    memcpy(s->file, file, lfi + 1);
    s->line = line;
    s->hash = h;
    a->sym_index[b] = (uint32_t)a->n_syms + 1;
    int64_t id = (int64_t)a->n_syms++;
    if (a->n_syms * 2 > a->sym_index_cap) {
        uint32_t *idx = reindex(a->sym_index_cap * 2, a->n_syms, a->syms, sizeof *a->syms,
                                offsetof(sym_rec, hash));
        if (idx) {
            free(a->sym_index);
            a->sym_index = idx;
            a->sym_index_cap *= 2;
        }
    }
    return id;
}

int spp_agg_add(spp_agg *a, uint32_t thread, const uint32_t *syms, uint32_t n, uint64_t w)
{
    uint64_t h = hash_bytes(0xcbf29ce484222325ull ^ thread, syms, n * sizeof *syms);
    h = spw_mix64(h ^ n);
    size_t b = (size_t)h & (a->stack_index_cap - 1);
    for (; a->stack_index[b]; b = (b + 1) & (a->stack_index_cap - 1)) {
        stack_rec *s = &a->stacks[a->stack_index[b] - 1];
        if (s->hash == h && s->thread == thread && s->n == n &&
            !memcmp(a->ids + s->off, syms, n * sizeof *syms)) {
            s->count += w;
            return 0;
        }
    }
    if (a->n_stacks >= SPP_AGG_STACKS_MAX ||
        grow((void **)&a->stacks, &a->cap_stacks, a->n_stacks + 1, sizeof *a->stacks) ||
        grow((void **)&a->ids, &a->cap_ids, a->n_ids + n, sizeof *a->ids))
        return -1;
    stack_rec *s = &a->stacks[a->n_stacks];
    s->hash = h;
    s->off = a->n_ids;
    s->n = n;
    s->thread = thread;
    s->count = w;
    if (n) memcpy(a->ids + a->n_ids, syms, n * sizeof *syms);
    a->n_ids += n;
    a->stack_index[b] = (uint32_t)a->n_stacks + 1;
    a->n_stacks++;
    if (a->n_stacks * 2 > a->stack_index_cap) {
        uint32_t *idx = reindex(a->stack_index_cap * 2, a->n_stacks, a->stacks,
                                sizeof *a->stacks, offsetof(stack_rec, hash));
        if (idx) {
            free(a->stack_index);
            a->stack_index = idx;
            a->stack_index_cap *= 2;
        }
    }
    return 0;
}

static size_t cache_bucket(const spp_agg *a, uint64_t code, uint32_t lasti)
{
    return (size_t)spw_mix64(code ^ ((uint64_t)lasti << 48) ^ lasti) & (a->cache_cap - 1);
}

spp_cache_entry *spp_agg_cache(spp_agg *a, uint64_t code, uint32_t lasti)
{
    if (a->n_cache >= SPP_AGG_CACHE_MAX) {
        memset(a->cache, 0, a->cache_cap * sizeof *a->cache);
        a->n_cache = 0;
    }
    if ((a->n_cache + 1) * 2 > a->cache_cap) {
        size_t nc = a->cache_cap * 2;
        spp_cache_entry *old = a->cache, *c = calloc(nc, sizeof *c);
        if (!c) return NULL;
        size_t oc = a->cache_cap;
        a->cache = c;
        a->cache_cap = nc;
        for (size_t i = 0; i < oc; i++) {
            if (!old[i].code) continue;
            size_t b = cache_bucket(a, old[i].code, old[i].lasti);
            while (c[b].code) b = (b + 1) & (nc - 1);
            c[b] = old[i];
        }
        free(old);
    }
    size_t b = cache_bucket(a, code, lasti);
    for (; a->cache[b].code; b = (b + 1) & (a->cache_cap - 1))
        if (a->cache[b].code == code && a->cache[b].lasti == lasti) return &a->cache[b];
    memset(&a->cache[b], 0, sizeof a->cache[b]);
    a->cache[b].code = code;
    a->cache[b].lasti = lasti;
    a->n_cache++;
    return &a->cache[b];
}

size_t spp_agg_n_syms(const spp_agg *a) { return a->n_syms; }
uint64_t spp_agg_threads_merged(const spp_agg *a) { return a ? a->threads_merged : 0; }
void spp_agg_sym(const spp_agg *a, size_t i, char **function, char **file, int32_t *line)
{
    *function = a->syms[i].function;
    *file = a->syms[i].file;
    *line = a->syms[i].line;
}
size_t spp_agg_n_threads(const spp_agg *a) { return a->n_threads; }
void spp_agg_thread_ids(const spp_agg *a, size_t i, uint64_t *ident, uint64_t *native_id)
{
    *ident = a->threads[i].ident;
    *native_id = a->threads[i].native_id;
}
size_t spp_agg_n_stacks(const spp_agg *a) { return a->n_stacks; }
void spp_agg_stack(const spp_agg *a, size_t i, uint32_t *thread, const uint32_t **syms,
                   uint32_t *n, uint64_t *count)
{
    *thread = a->stacks[i].thread;
    *syms = a->ids + a->stacks[i].off;
    *n = a->stacks[i].n;
    *count = a->stacks[i].count;
}
