/* scratch.c: per-thread buffers kept between calls (see scratch.h). */
#define _DEFAULT_SOURCE
#include "scratch.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "tc_common.h"

typedef struct {
    void *ptr[TC_SCRATCH_SLOTS];
    size_t size[TC_SCRATCH_SLOTS];
    unsigned char lent[TC_SCRATCH_SLOTS]; /* a call slot handed out by tc_call_buffer, not yet back */
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    scratch *s = (scratch *)p;
    for (int i = 0; i < TC_SCRATCH_SLOTS; ++i)
        free(s->ptr[i]);
    free(s);
}

static void scratch_make_key(void) { pthread_key_create(&scratch_key, scratch_free); }

/* Buffers of 1 MiB and more go on 2 MiB boundaries and ask for transparent huge pages: the
 * micro-kernel walks a whole panel per call, and 4 KiB pages would cost a TLB miss per 4 KiB. */
static void *alloc_panel(size_t size)
{
    const size_t huge = (size_t)2 << 20;
    if (size < ((size_t)1 << 20))
        return aligned_alloc(TC_ALIGN, (size + TC_ALIGN - 1) / TC_ALIGN * TC_ALIGN);
    size = (size + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, size);
#ifdef MADV_HUGEPAGE
    if (p)
        madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

/* This thread's slots, or NULL when it has none yet. */
static scratch *current(void)
{
    pthread_once(&scratch_once, scratch_make_key);
    return (scratch *)pthread_getspecific(scratch_key);
}

/* This thread's slots, made on first use; NULL if memory ran out. */
static scratch *this_thread(void)
{
    scratch *s = current();
    if (!s) {
        s = (scratch *)calloc(1, sizeof(scratch));
        if (!s || pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    return s;
}

/* s's buffer `slot`, grown to at least `size` bytes; NULL if memory ran out. */
static void *grown(scratch *s, int slot, size_t size)
{
    if (s->size[slot] < size) {
        free(s->ptr[slot]);
        s->ptr[slot] = alloc_panel(size);
        s->size[slot] = s->ptr[slot] ? size : 0;
    }
    return s->ptr[slot];
}

void *tc_thread_scratch(int slot, size_t size)
{
    scratch *s = this_thread();
    return s && slot >= 0 && slot < TC_SCRATCH_SLOTS ? grown(s, slot, size) : NULL;
}

void *tc_call_buffer(int slot, size_t size)
{
    size = size ? size : 1;
    scratch *s = size <= TC_CALL_KEEP ? this_thread() : NULL;
    if (!s || slot < 0 || slot >= TC_SCRATCH_SLOTS || s->lent[slot])
        return alloc_panel(size); /* large, or the slot already lent (a nested call): its own */
    void *p = grown(s, slot, size);
    s->lent[slot] = p != NULL;
    return p;
}

void tc_call_release(int slot, void *p)
{
    if (!p)
        return;
    scratch *s = current();
    if (s && slot >= 0 && slot < TC_SCRATCH_SLOTS && s->lent[slot] && s->ptr[slot] == p)
        s->lent[slot] = 0;
    else
        free(p);
}

size_t tc_call_slots_free(void)
{
    scratch *s = current();
    size_t freed = 0;
    for (int slot = TC_SCRATCH_WEIGHTS; s && slot <= TC_SCRATCH_COPY; ++slot) {
        if (s->lent[slot])
            continue;
        freed += s->size[slot];
        free(s->ptr[slot]);
        s->ptr[slot] = NULL;
        s->size[slot] = 0;
    }
    return freed;
}
