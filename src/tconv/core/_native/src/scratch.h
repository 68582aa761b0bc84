/* scratch.h: per-thread buffers kept between calls, so that a call does not fault in fresh pages.
 *
 * A slot is one buffer of each thread, grown on demand and freed when the thread ends.  The GEMM
 * driver's panels use the first slots on every thread of the pool.  A call's own buffers (the
 * weights packed for one call, a layout copy of its input) use the call slots on the calling thread
 * through tc_call_buffer: kept while they are at most TC_CALL_KEEP bytes, so that a layer called
 * again and again reuses them, a fresh allocation (freed by tc_call_release) above that, so that one
 * large call does not leave its memory behind. */
#ifndef TC_SCRATCH_H
#define TC_SCRATCH_H

#include <stddef.h>

enum {
    TC_SCRATCH_A,       /* gemm.c: a thread's packed A block */
    TC_SCRATCH_B,       /* gemm.c: a column task's packed B panel */
    TC_SCRATCH_C,       /* gemm.c: a column task's buffered C */
    TC_SCRATCH_RUNS,    /* gemm.c: a column task's column runs */
    TC_SCRATCH_WEIGHTS, /* a call's packed or re-laid weights (conv_run, brgemm, direct) */
    TC_SCRATCH_COPY,    /* a call's copy of its input (brgemm's channels-last copy, direct_wgrad's padded one) */
    TC_SCRATCH_SLOTS
};

/* kept per thread and call slot at most this many bytes (32 MiB: the weights of a 512 -> 512 4x4
 * layer are 16 MiB) */
#define TC_CALL_KEEP ((size_t)32 << 20)

/* This thread's buffer `slot` of at least `size` bytes, kept between calls; NULL if memory ran out. */
void *tc_thread_scratch(int slot, size_t size);

/* A buffer of `size` bytes for one call on this thread (the kept slot, or a fresh one above
 * TC_CALL_KEEP or while the slot is already lent); NULL if memory ran out.  Hand it back with
 * tc_call_release(slot, p) (NULL is fine). */
void *tc_call_buffer(int slot, size_t size);
void tc_call_release(int slot, void *p);

/* Frees this thread's kept call slots (none is lent between calls); returns the bytes freed. */
size_t tc_call_slots_free(void);

#endif
