/* pool.c: pthreads pool, see pool.h.  One job at a time: the owner publishes (fn, ctx, ntasks)
 * and bumps a generation counter; workers (spinning briefly, else asleep on `wake`) take task
 * indices from an atomic counter; the last worker done signals `done`. */
#define _GNU_SOURCE
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define TC_SPIN_NS 50000L    /* how long an idle worker spins (pause) ... */
#define TC_YIELD_NS 300000L  /* ... then yields (sched_yield: any runnable thread, a NumPy matmul's
                                BLAS workers included, takes the core at once) before it sleeps:
                                a vCPU that went idle takes milliseconds to wake on these VMs */
/* TC_SPIN_NS / TC_YIELD_NS in the environment override the workers' two phases when the pool
 * starts (for experiments: benchmarks/ measure the matmul after a call with them) */
#define TC_MAX_THREADS 256

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    pthread_t tids[TC_MAX_THREADS];
    int nworkers;          /* running workers (threads - 1) */
    int stop;
    atomic_uint gen;       /* bumped per job */
    atomic_int next;       /* next task index */
    atomic_int finished;   /* workers done with the current job */
    int ntasks;
    int active;            /* threads that take tasks in the current job (ids below it) */
    unsigned start_gen;    /* the generation new workers start from */
    tc_task_fn fn;
    void *ctx;
    atomic_int busy;       /* 1 while a team owns the pool */
    atomic_int hold;       /* > 0 while a caller is inside one tconv call (tc_pool_hold): idle
                              workers keep spinning between its parallel loops instead of sleeping */
    atomic_int want;       /* size asked for by set_num_threads or the environment */
} tc_pool;

static tc_pool pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
                       .done = PTHREAD_COND_INITIALIZER};

static long spin_ns = TC_SPIN_NS, yield_ns = TC_YIELD_NS;

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void run_tasks(int thread)
{
    int t;
    while ((t = atomic_fetch_add_explicit(&pool.next, 1, memory_order_relaxed)) < pool.ntasks)
        pool.fn(pool.ctx, t, thread);
}

/* Waits for a generation other than `seen`: a short spin, then the condition variable.
 * Returns the new generation, or `seen` when told to stop. */
static unsigned wait_for_job(unsigned seen)
{
    long deadline = now_ns() + spin_ns;
    for (int i = 0;; ++i) {
        unsigned g = atomic_load_explicit(&pool.gen, memory_order_acquire);
        if (g != seen)
            return g;
        if ((i & 63) == 63 && now_ns() > deadline) {
            if (atomic_load_explicit(&pool.hold, memory_order_relaxed) <= 0)
                break;
            deadline = now_ns() + spin_ns; /* the call is still running: its next loop comes soon */
        }
        cpu_relax();
    }
    for (long until = now_ns() + yield_ns; now_ns() < until;) {
        unsigned g = atomic_load_explicit(&pool.gen, memory_order_acquire);
        if (g != seen || pool.stop)
            break;
        sched_yield();
    }
    pthread_mutex_lock(&pool.mu);
    while (atomic_load(&pool.gen) == seen && !pool.stop)
        pthread_cond_wait(&pool.wake, &pool.mu);
    unsigned g = pool.stop ? seen : atomic_load(&pool.gen);
    pthread_mutex_unlock(&pool.mu);
    return g;
}

static void *worker_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    unsigned seen = pool.start_gen;
    for (;;) {
        unsigned g = wait_for_job(seen);
        if (g == seen)
            return NULL;
        seen = g;
        if (id < pool.active)
            run_tasks(id);
        if (atomic_fetch_add_explicit(&pool.finished, 1, memory_order_acq_rel) + 1 == pool.nworkers) {
            pthread_mutex_lock(&pool.mu);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.mu);
        }
    }
}

static void stop_workers(void)
{
    pthread_mutex_lock(&pool.mu);
    pool.stop = 1;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    for (int i = 0; i < pool.nworkers; ++i)
        pthread_join(pool.tids[i], NULL);
    pool.nworkers = 0;
    pool.stop = 0;
}

static void start_workers(int n)
{
    const char *e;
    if ((e = getenv("TC_SPIN_NS")))
        spin_ns = atol(e);
    if ((e = getenv("TC_YIELD_NS")))
        yield_ns = atol(e);
    pool.start_gen = atomic_load(&pool.gen);
    for (int i = 0; i < n; ++i) {
        if (pthread_create(&pool.tids[i], NULL, worker_main, (void *)(intptr_t)(i + 1)) != 0)
            break; /* fewer workers than asked: the pool runs with what it has */
        pool.nworkers = i + 1;
    }
}

/* fork: the parent holds the mutex across fork so the child copies a consistent state; the
 * child has none of the workers, so it starts with an empty pool, recreated at its first call. */
static void atfork_prepare(void) { pthread_mutex_lock(&pool.mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&pool.mu); }
static void atfork_child(void)
{
    pthread_mutex_init(&pool.mu, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.nworkers = 0;
    pool.stop = 0;
    atomic_store(&pool.busy, 0);
    atomic_store(&pool.hold, 0);
}

static int default_threads(void)
{
    const char *env = getenv("TCONV_NUM_THREADS");
    if (env && *env) {
        long n = strtol(env, NULL, 10);
        if (n >= 1)
            return n > TC_MAX_THREADS ? TC_MAX_THREADS : (int)n;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        return n < 1 ? 1 : n > TC_MAX_THREADS ? TC_MAX_THREADS : n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > TC_MAX_THREADS ? TC_MAX_THREADS : (int)n;
}

void tc_pool_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    atomic_store(&pool.want, default_threads());
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void tc_pool_hold(int delta) { atomic_fetch_add(&pool.hold, delta); }

void tc_pool_set_threads(int n)
{
    atomic_store(&pool.want, n < 1 ? 1 : n > TC_MAX_THREADS ? TC_MAX_THREADS : n);
}

int tc_pool_threads(void) { return atomic_load(&pool.want); }

void tc_team_begin(tc_team *team, int want)
{
    team->threads = 1;
    team->owner = 0;
    int size = atomic_load(&pool.want);
    if (want > size)
        want = size;
    if (want <= 1 || atomic_exchange(&pool.busy, 1) != 0)
        return; /* tiny work, or another caller has the pool: run on this thread */
    team->owner = 1;
    if (pool.nworkers != size - 1) {
        stop_workers();
        start_workers(size - 1);
    }
    team->threads = pool.nworkers + 1 < want ? pool.nworkers + 1 : want;
}

void tc_team_run(tc_team *team, int ntasks, tc_task_fn fn, void *ctx)
{
    if (team->threads <= 1 || ntasks <= 1 || pool.nworkers == 0) {
        for (int t = 0; t < ntasks; ++t)
            fn(ctx, t, 0);
        return;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    pool.ntasks = ntasks;
    pool.active = team->threads;
    atomic_store(&pool.next, 0);
    atomic_store(&pool.finished, 0);
    pthread_mutex_lock(&pool.mu);
    atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    run_tasks(0);
    long deadline = now_ns() + TC_SPIN_NS;
    for (int i = 0; atomic_load_explicit(&pool.finished, memory_order_acquire) != pool.nworkers; ++i) {
        if ((i & 63) == 63 && now_ns() > deadline) {
            pthread_mutex_lock(&pool.mu);
            while (atomic_load(&pool.finished) != pool.nworkers)
                pthread_cond_wait(&pool.done, &pool.mu);
            pthread_mutex_unlock(&pool.mu);
            break;
        }
        cpu_relax();
    }
}

void tc_team_end(tc_team *team)
{
    if (team->owner)
        atomic_store(&pool.busy, 0);
    team->owner = 0;
    team->threads = 1;
}
