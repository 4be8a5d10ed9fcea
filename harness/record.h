/*
 * record.h — what `spwalk record` (record.c) keeps between ticks, and the document it writes
 * (record_doc.c): spprof's own profile format (docs/formats.md), with the run's stats.
 */
#ifndef SW_RECORD_H
#define SW_RECORD_H
#include <signal.h>
#include <sys/types.h>

#include "names.h"
#include "read_log.h"
#include "spwalk.h"

#define REC_THREADS_MAX 4096u       /* later threads share "<other threads>" */
#define REC_FRAMES_MAX (1u << 16)   /* distinct (function, file, line) */
#define REC_STACKS_MAX (1u << 17)   /* distinct (thread, stack) */
#define REC_IDS_MAX (1u << 22)      /* frame indices over all stacks */
#define REC_TEXT_MAX (8u << 20)     /* bytes of function and file names */
#define REC_SYMS (1u << 16)         /* (code, lasti) cache slots, emptied when half full */
#define PC_LINE 4096u               /* page cache: bytes per line (never more than a page) */
#define PC_SLOTS 1024u
#define TRUNC_ID UINT32_MAX         /* <truncated> in a stack key */
#define NO_FRAME (UINT32_MAX - 1)
#define REC_TORN_TRIES 3            /* walks of a thread per tick whose memory moved */
#define REC_LOG_CAP 65536u          /* loads one walk may make and still be checked */
#define REC_CHECKS 4                /* fresh re-reads a walk's log must pass */
#define REC_NAME_TRIES 16           /* ticks a new thread is looked for in threading._active */
#define REC_RENAME_S 1.0            /* every thread is looked for again this often (renames) */

typedef struct rec_thread {
    uint64_t ident, native, last_tick, other; /* other: samples that found no room */
    uint64_t runtime; /* the kernel's count of its time on CPU (ns) at its last sample... */
    int have_runtime; /* ... when known */
    uint64_t interp;  /* its interpreter, where its threading name is looked for */
    uint8_t name_tries; /* ticks left to find it there; 0: found, or given up */
    uint8_t named;      /* name is its threading name (else the kernel's) */
    char name[SPW_NAME_MAX];
} rec_thread;

typedef struct rec_frame {
    uint32_t function, file; /* offsets into text */
    int32_t line;
} rec_frame;

typedef struct rec_stack {
    uint64_t hash, count;
    uint32_t thread, first, n; /* ids[first, first + n) */
} rec_stack;

typedef struct rec_sym {
    uint64_t code, qualname, filename, linetable;
    uint32_t lasti, frame;
    int32_t first_line;
    uint32_t used;
} rec_sym;

typedef struct pc_tag {
    uint64_t page, gen;
    int ok;
} pc_tag;

typedef struct pcache {
    sw_remote *remote;
    uint64_t gen;
    pc_tag tags[PC_SLOTS];
    uint8_t data[PC_SLOTS][PC_LINE];
} pcache;

/* Every table at its full size, in one zeroed allocation: the kernel hands it out as
 * untouched pages, so a table costs memory only as far as it is used. */
typedef struct rec {
    pid_t pid;
    int nonblocking;
    sw_python py;
    spw_layout layout;
    sw_remote remote;
    pcache pc;
    spw_frame walk[SW_DEPTH];
    uint32_t key[SW_DEPTH + 2]; /* frame ids of the stack being added (+ <idle>, <truncated>) */
    spw_symbol sym;

    /* Hash indexes hold an entry's index + 1 (0: empty), linear probing. */
    rec_thread threads[REC_THREADS_MAX + 1]; /* the last may be "<other threads>" */
    uint32_t n_threads, other_thread, thread_index[2 * REC_THREADS_MAX];
    uint32_t names_pending; /* threads with name_tries left */
    double names_at;        /* when every thread was last given a try again */
    sw_names names;         /* a pass over threading._active, refilled per tick */
    rec_frame frames[REC_FRAMES_MAX];
    uint32_t n_frames, frame_index[2 * REC_FRAMES_MAX];
    char text[REC_TEXT_MAX];
    size_t text_len;
    rec_stack stacks[REC_STACKS_MAX];
    uint32_t n_stacks, stack_index[2 * REC_STACKS_MAX];
    uint32_t ids[REC_IDS_MAX];
    size_t n_ids;
    rec_sym syms[REC_SYMS];
    uint32_t n_syms;

    uint64_t ticks, ticks_late, ticks_failed, list_errors;
    uint64_t captured, dropped, by_reason[SPW_REASON_COUNT_], truncated, empty, sym_errors;
    uint64_t other_threads, other_stacks, idle;
    uint64_t torn, retries;               /* walks whose memory moved under them */
    spw_read_entry log_entries[REC_LOG_CAP];
    spw_read_log log;                     /* the loads of the walk being checked */
    int used_trunc, exited;
    double t_start, cpu_start, tick_total, tick_max;
    char last_error[sizeof(((sw_err *)0)->msg)];
} rec;

/* The page cache (page_cache.c): pc_read is an spw_read_fn over it (ctx: the pcache); a
 * new generation (gen++) empties it; pc_reread reads every page of a walk's log again, in
 * one system call, as a new generation. */
int pc_read(void *ctx, uint64_t addr, void *dst, size_t len);
void pc_reread(pcache *c, const spw_read_log *log);

/* The run so far as one JSON document (one line), `final` when the run has ended. */
void rec_document(rec *r, sw_buf *b, double rate, int final);
/* Seconds of the monotonic clock and of this process's CPU; the kernel's name of a thread. */
double rec_now_s(void);
double rec_cpu_s(void);
void rec_thread_name(pid_t pid, uint64_t tid, char *buf, size_t cap);
#endif /* SW_RECORD_H */
