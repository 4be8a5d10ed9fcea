/*
 * agg.h — the consumer's tables: threads, symbols, the (code, lasti) cache, and identical
 * stacks aggregated with their weights. Used only by the consumer thread and by stop()
 * (never by a signal handler), so it may allocate. Memory stays bounded by the number of
 * distinct stacks, not by the length of the run.
 */
#ifndef SPP_AGG_H
#define SPP_AGG_H

#include <stddef.h>
#include <stdint.h>

typedef struct spp_agg spp_agg;

/* What a cached (code, lasti) was resolved to, and the identity (ring.h) of the code object
 * it was resolved from: a sample hits the entry only if the handler saw the same identity
 * (a freed code object's address can be reused by another one). */
typedef struct spp_cache_entry {
    uint64_t code;
    uint32_t lasti;
    uint32_t sym;
    uint32_t ident;
    uint32_t used;
} spp_cache_entry;

/* Bounds: memory stays bounded however long a session runs and however many threads come
 * and go. Past SPP_AGG_THREADS_MAX threads, later ones share one record (ident 0, native id
 * 0: "other threads"); past SPP_AGG_STACKS_MAX distinct stacks, spp_agg_add fails (the caller
 * counts the samples as lost); the (code, lasti) cache is emptied when it reaches
 * SPP_AGG_CACHE_MAX entries (it is only a cache). */
#define SPP_AGG_THREADS_MAX (1u << 16)
#define SPP_AGG_STACKS_MAX (1u << 22)
#define SPP_AGG_CACHE_MAX (1u << 20)

spp_agg *spp_agg_new(void);
/* Threads that shared the "other threads" record. */
uint64_t spp_agg_threads_merged(const spp_agg *a);
void spp_agg_free(spp_agg *a);
/* -1 on allocation failure for every function returning an index. A thread record is made
 * for every arming, so its index names one thread for the whole session even when the
 * kernel reuses the tid or pthread reuses the ident. */
int64_t spp_agg_thread(spp_agg *a, uint64_t ident, uint64_t native_id);
int64_t spp_agg_symbol(spp_agg *a, const char *function, const char *file, int32_t line);
int spp_agg_add(spp_agg *a, uint32_t thread, const uint32_t *syms, uint32_t n, uint64_t w);
/* The entry for (code, lasti), created empty (used = 0) if absent; NULL on OOM. The pointer
 * is valid until the next call. */
spp_cache_entry *spp_agg_cache(spp_agg *a, uint64_t code, uint32_t lasti);

/* Read-out for stop(). */
size_t spp_agg_n_syms(const spp_agg *a);
void spp_agg_sym(const spp_agg *a, size_t i, char **function, char **file, int32_t *line);
size_t spp_agg_n_threads(const spp_agg *a);
void spp_agg_thread_ids(const spp_agg *a, size_t i, uint64_t *ident, uint64_t *native_id);
size_t spp_agg_n_stacks(const spp_agg *a);
void spp_agg_stack(const spp_agg *a, size_t i, uint32_t *thread, const uint32_t **syms,
                   uint32_t *n, uint64_t *count);

#endif /* SPP_AGG_H */
