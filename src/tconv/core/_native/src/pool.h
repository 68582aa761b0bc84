/* pool.h: the one thread pool.  A call takes the pool for its duration (tc_team_begin), runs
 * any number of parallel loops on it (tc_team_run: the caller is thread 0 and takes tasks too),
 * then gives it back (tc_team_end).  A second caller while the pool is taken gets a team of one:
 * its loops run on its own thread.  Workers spin ~TC_SPIN_NS after a loop, then sleep. */
#ifndef TC_POOL_H
#define TC_POOL_H

typedef void (*tc_task_fn)(void *ctx, int task, int thread);

typedef struct {
    int threads; /* 1: everything runs on the caller */
    int owner;   /* 1 if this team holds the pool */
} tc_team;

void tc_pool_init(void);                 /* once, at module import: atfork handlers, default size */
void tc_pool_set_threads(int n);         /* n >= 1; takes effect at the next call */
int tc_pool_threads(void);               /* the size a call would get */
/* +1 when a tconv call starts a sequence of parallel loops with serial work between them, -1 when it
 * ends: while held, idle workers spin instead of sleeping (a sleeping worker takes tens of
 * microseconds to wake, per loop); after the call they spin TC_SPIN_NS, then sleep as ever. */
void tc_pool_hold(int delta);
void tc_team_begin(tc_team *team, int want);
void tc_team_run(tc_team *team, int ntasks, tc_task_fn fn, void *ctx);
void tc_team_end(tc_team *team);

#endif
