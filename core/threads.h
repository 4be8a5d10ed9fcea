/*
 * threads.h — the thread list of a CPython process, one thread state at a time.
 *
 * CPython keeps its thread states in two levels of singly linked lists:
 * _PyRuntime.interpreters.head -> PyInterpreterState.next, and per interpreter
 * PyInterpreterState.threads.head -> PyThreadState.next. Nothing stops either list from
 * changing while another process or a signal handler reads it, so the iterator treats
 * every pointer in it as the walker treats a frame pointer: validated with spw_addr_ok()
 * before anything is read through it, cycles caught with O(1) memory (Brent), the work
 * bounded, and exactly one way to end.
 *
 * Like the rest of the core it is pure: no allocation, no I/O, no global state, every byte
 * through the reader. The iterator is a plain struct the caller allocates (on the stack,
 * in a signal handler); it keeps target addresses and a copy of the offsets and of the
 * reader it needs, never a pointer into the target or into the caller's layout.
 *
 *     spw_threads_iter it;
 *     spw_thread_info t;
 *     spw_threads_begin(&it, &layout, &reader, runtime_addr);
 *     while (spw_threads_next(&it, &t)) use(t.tstate, t.native_thread_id);
 *     if (spw_threads_status_of(&it) != SPW_THREADS_DONE) the list was not all seen;
 */
#ifndef SPW_THREADS_H
#define SPW_THREADS_H

#include "layout.h"
#include "reader.h"

typedef enum spw_threads_status {
    SPW_THREADS_MORE = 0,   /* iteration in progress (next() returned 1) */
    SPW_THREADS_DONE,       /* the whole list was traversed: every thread state was returned */
    SPW_THREADS_UNREADABLE, /* a read failed */
    SPW_THREADS_INVALID,    /* a pointer failed validation (null-page, misaligned,
                               non-canonical, out of range) */
    SPW_THREADS_CYCLE,      /* an interpreter or thread list loops */
    SPW_THREADS_LIMIT,      /* more interpreters than SPW_THREADS_MAX_INTERP or threads than
                               SPW_THREADS_MAX */
} spw_threads_status;

#define SPW_THREADS_MAX_INTERP 256u
#define SPW_THREADS_MAX (1u << 20) /* thread states over all interpreters */

/* Reads one iteration makes at most, given the interpreters it entered and the thread
 * states it returned (the n_interp and n_threads fields): the runtime's head; per
 * interpreter its threads head and its next; per thread state native_thread_id, thread_id
 * and next, and up to three for the state whose read failed. The unit tests and the
 * fuzzer check it (the fuzzer also the exact count, against its reference). */
#define SPW_THREADS_READS(n_interp, n_threads) (1u + 2u * (n_interp) + 3u * ((n_threads) + 1u))

typedef struct spw_thread_info {
    uint64_t interp;           /* address of its PyInterpreterState */
    uint64_t tstate;           /* address of the PyThreadState */
    uint64_t thread_id;        /* tstate.thread_id (pthread_self() / threading.get_ident()) */
    uint64_t native_thread_id; /* tstate.native_thread_id (kernel tid; 0 while the thread is
                                  being born) */
} spw_thread_info;

/* Caller-allocated; fill it with spw_threads_begin(). A caller may read `status` (as
 * spw_threads_status_of() does) and the two counters (for messages and statistics); the
 * other fields are the iterator's. */
typedef struct spw_threads_iter {
    /* What begin() copied: the reader (its ctx must outlive the iteration), the offsets. */
    spw_reader rd;
    spw_arch arch;
    uint32_t runtime_size, runtime_interpreters_head;
    uint32_t interp_size, interp_next, interp_threads_head;
    uint32_t tstate_size, tstate_next, tstate_thread_id, tstate_native_thread_id;
    uint32_t max_interp, max_threads; /* the limits in force */
    uint64_t runtime;

    /* Where the iteration is. */
    spw_threads_status status;
    uint8_t started;      /* the runtime's head has been read */
    uint64_t interp;      /* the interpreter whose thread list is being followed */
    uint64_t tstate;      /* the next thread state of that list; 0: the list has ended */
    uint64_t fail_addr;   /* the address whose read or validation failed */

    /* Brent, once per list: the element at the last power-of-two step (2^j - 1) and the
     * number of elements of the list taken so far. */
    uint64_t interp_tortoise, tstate_tortoise;
    uint32_t tstate_steps;

    /* Public counters: interpreters entered, thread states returned (repeats included). */
    uint32_t n_interp, n_threads;
} spw_threads_iter;

/* Start an iteration over the thread states of the process whose _PyRuntime is at
 * `runtime`. Makes no read: the first spw_threads_next() does. */
void spw_threads_begin(spw_threads_iter *it, const spw_layout *L, const spw_reader *rd,
                       uint64_t runtime);
/* The same with lower limits: at most max_interp interpreters and max_threads thread states
 * (each clamped to SPW_THREADS_MAX_INTERP / SPW_THREADS_MAX). For callers with a smaller
 * table (spwalk stops at a snapshot's thread limit) and for tests. */
void spw_threads_begin_limits(spw_threads_iter *it, const spw_layout *L, const spw_reader *rd,
                              uint64_t runtime, uint32_t max_interp, uint32_t max_threads);

/* 1: *out holds the next thread state; 0: the iteration ended, it->status (or
 * spw_threads_status_of(it)) says how. Once it returned 0 it keeps returning 0 with the
 * same status, and reads nothing.
 *
 * A thread state's fields (native_thread_id, thread_id, next) are all read before it is
 * returned; if one fails, that state is not returned. Each pointer met, in list order, is
 * judged in this order: 0 ends its list (the interpreter list: DONE); spw_addr_ok() over its
 * whole struct (interp_size, tstate_size; 8-aligned) else INVALID; equal to its list's
 * tortoise: CYCLE; one more than the limit allows: LIMIT; then its fields are read
 * (UNREADABLE). The runtime address is validated the same way (runtime_size) before its
 * head is read. DONE therefore means every list really ended with a NULL pointer.
 *
 * Cycles: a list (of either kind) of T distinct elements followed by a loop of L (its
 * element T + L is element T again) is reported at its element number s = 2^j - 1 + L
 * (counted from 0), 2^j the smallest power of two >= max(T + 1, L): after s of its elements
 * were returned (thread states) or entered (interpreters), each as the list holds it (the
 * loop's states come round again), and s <= 2 * max(T + 1, L) + L - 2. The cycle is judged
 * before the limit, so a looping thread list gives CYCLE whenever the states returned
 * before it plus s are at most the thread limit, and a looping interpreter list whenever
 * s is at most the interpreter limit. An acyclic list is never reported as one. */
int spw_threads_next(spw_threads_iter *it, spw_thread_info *out);
spw_threads_status spw_threads_status_of(const spw_threads_iter *it);
/* "more", "done", "unreadable", "invalid", "cycle", "limit"; "unknown" otherwise. */
const char *spw_threads_status_name(spw_threads_status s);
/* On failure: the target address whose read or validation failed (0 if none), for error
 * messages. A failed read names the field's address, a failed validation the pointer, a
 * cycle the element met again, a limit the first element over it. */
uint64_t spw_threads_fail_addr(const spw_threads_iter *it);

#endif /* SPW_THREADS_H */
