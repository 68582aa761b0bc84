/* pool.c: pthreads pool, see pool.h.  One job at a time: the owner publishes (fn, ctx, ntasks)
 * and bumps a generation counter; workers (spinning briefly, else asleep on `wake`) take task
 * indices from an atomic counter; the owner waits for the last worker by spinning, then yielding.
 *
 * The owner never sleeps inside a job: a sleeping owner is woken by the last worker, and the
 * scheduler then tends to place it on the waker's CPU (wake-affine), so the two threads share one
 * core, 4 ms time slices apiece, while the other core idles, for tens of milliseconds, until the
 * load balancer separates them (seen with `perf sched timehist` on a 2-vCPU VM: a 0.7 ms call
 * took 3-6 ms after every pause of 50 ms or more).  Yielding instead lets a worker that does share
 * the owner's core run at once, and keeps the owner where it is. */
#define _GNU_SOURCE
#include "pool.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
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
    pthread_cond_t wake;
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
    /* steering a sleeping worker off the owner's core (see steer_sleepers); under `mu` */
    pid_t sys_tid[TC_MAX_THREADS];   /* worker i's kernel thread id (index i - 1) */
    cpu_set_t mask[TC_MAX_THREADS];  /* ... the CPUs it may use, read when it started */
    char asleep[TC_MAX_THREADS];     /* ... waiting on `wake` */
    char steered[TC_MAX_THREADS];    /* ... its mask narrowed by the owner: it restores it */
} tc_pool;

static tc_pool pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

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
static unsigned wait_for_job(int id, unsigned seen)
{
    long deadline = now_ns() + spin_ns;
    for (int i = 0;; ++i) {
        unsigned g = atomic_load_explicit(&pool.gen, memory_order_acquire);
        if (g != seen)
            return g;
        if ((i & 63) == 63) {
            if (now_ns() > deadline) {
                if (atomic_load_explicit(&pool.hold, memory_order_relaxed) <= 0)
                    break;
                deadline = now_ns() + spin_ns; /* the call is still running: its next loop soon */
            }
            sched_yield(); /* where the scheduler put this worker on the owner's core, the owner
                              runs now, not after this worker's time slice (milliseconds) */
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
    pool.asleep[id - 1] = 1;
    while (atomic_load(&pool.gen) == seen && !pool.stop)
        pthread_cond_wait(&pool.wake, &pool.mu);
    pool.asleep[id - 1] = 0;
    int steered = pool.steered[id - 1];
    pool.steered[id - 1] = 0;
    unsigned g = pool.stop ? seen : atomic_load(&pool.gen);
    pthread_mutex_unlock(&pool.mu);
    if (steered) /* woken on another core than the owner's: give back the CPUs it may use */
        sched_setaffinity(0, sizeof(cpu_set_t), &pool.mask[id - 1]);
    return g;
}

static void *worker_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    unsigned seen = pool.start_gen;
    pthread_mutex_lock(&pool.mu);
    pool.sys_tid[id - 1] = (pid_t)syscall(SYS_gettid);
    if (sched_getaffinity(0, sizeof(cpu_set_t), &pool.mask[id - 1]) != 0)
        CPU_ZERO(&pool.mask[id - 1]); /* unknown: never steered */
    pthread_mutex_unlock(&pool.mu);
    for (;;) {
        unsigned g = wait_for_job(id, seen);
        if (g == seen)
            return NULL;
        seen = g;
        if (id < pool.active)
            run_tasks(id);
        atomic_fetch_add_explicit(&pool.finished, 1, memory_order_release); /* the owner polls it */
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
    pool.nworkers = 0;
    pool.stop = 0;
    memset(pool.asleep, 0, sizeof pool.asleep);
    memset(pool.steered, 0, sizeof pool.steered);
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

/* Before waking sleeping workers (under `mu`): narrow each one's CPUs to those it may use minus
 * the owner's, so that the wake-up cannot place it on the owner's core.  The kernel otherwise often
 * does (wake-affine: the waker's core, busy with the owner, while the other idles), and the two
 * threads then share one core in 4 ms time slices: a 0.7 ms call took 3-6 ms after every pause of
 * 50 ms or more (`perf sched timehist`, a 2-vCPU VM).  The worker restores its mask once awake;
 * spinning workers are not touched.  Costs a system call per sleeping worker, only after a pause. */
static void steer_sleepers(int active)
{
    int cpu = sched_getcpu();
    if (cpu < 0)
        return;
    for (int i = 0; i < pool.nworkers && i + 1 < active; ++i) {
        if (!pool.asleep[i] || !CPU_ISSET(cpu, &pool.mask[i]) || CPU_COUNT(&pool.mask[i]) < 2)
            continue;
        cpu_set_t away = pool.mask[i];
        CPU_CLR(cpu, &away);
        if (sched_setaffinity(pool.sys_tid[i], sizeof(cpu_set_t), &away) == 0)
            pool.steered[i] = 1;
    }
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
    steer_sleepers(team->threads);
    atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    run_tasks(0);
    long deadline = now_ns() + TC_SPIN_NS;
    for (int i = 0; atomic_load_explicit(&pool.finished, memory_order_acquire) != pool.nworkers; ++i) {
        if ((i & 63) == 63 && now_ns() > deadline)
            sched_yield(); /* a worker on this core runs now; on another core this returns at once */
        else
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
