/* SPDX-License-Identifier: ISC */
/*
 * The helper pool.  One supervisor thread owns every helper pipe and all
 * helper state changes; callers only queue a request with a function to
 * call when it ends, and return: nobody waits on a thread.  Every request
 * ends exactly once: with an answer, an error, or its deadline, which the
 * supervisor enforces; their functions are called by the pool_supervisor,
 * without the lock.
 *
 * A slot is one of the P places for a helper.  Its current helper takes
 * new work; a replacement ("next") may be starting beside it when the
 * current one is due for recycling, and takes over once it is ready, so
 * that capacity does not dip.  Helpers that leave a slot drain: they get
 * no new work, and are closed once their work is done (or killed, if
 * they hold work past its deadline, which yt-dlp cannot cancel).
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "helper.h"
#include "log.h"
#include "pool_impl.h"
#include "proc.h"
#include "procstat.h"

/*
 * Make a pool; nothing starts until pool_start().  The options' strings
 * are copied.  Returns NULL on failure.
 */
struct pool *
pool_new(const struct pool_opts *o)
{
	struct pool		*p;
	struct helper_settings	 hs;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->o = *o;
	p->wake[0] = p->wake[1] = -1;
	if (p->o.helpers < 1)
		p->o.helpers = 1;
	if (p->o.max_workers < 1)
		p->o.max_workers = 1;
	p->per_helper = (p->o.max_workers + p->o.helpers - 1) / p->o.helpers;
	p->want = 1;
	p->python = strdup(o->python);
	p->script = strdup(o->script);
	hs = o->helper;
	hs.workers = p->per_helper;
	p->envp = helper_env(&hs);
	p->slots = calloc(p->o.helpers, sizeof(*p->slots));
	LIST_INIT(&p->helpers);
	LIST_INIT(&p->parents);
	TAILQ_INIT(&p->queue);
	TAILQ_INIT(&p->ended);
	pthread_mutex_init(&p->mtx, NULL);
	if (p->python == NULL || p->script == NULL || p->slots == NULL ||
	    p->envp == NULL ||
	    pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) == -1) {
		pool_free(p);
		return NULL;
	}
	return p;
}

/* Start the pool_supervisor, which starts the helpers.  0, or -1. */

int
pool_start(struct pool *p)
{
	sigset_t	 all, old;
	int		 rc;

	srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&p->thread, NULL, pool_supervisor, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	p->running = 1;
	return 0;
}

/*
 * Extract url with a helper.  done(arg, err, info, msg) is called exactly
 * once: by the supervisor when a helper answers, fails, or the deadline
 * passes (never later than the queue wait plus YTDLP_TIMEOUT), or at
 * once, from this call, when the pool cannot take the request.  On
 * FAIL_OK info holds a reference that done takes over; msg, the pool's
 * reason otherwise (or NULL), lives until done returns.
 */
void
pool_extract(struct pool *p, const char *url, pool_done_fn done, void *arg)
{
	struct req	*r;
	const char	*why = NULL;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->url = strdup(url)) == NULL) {
		free(r);
		done(arg, FAIL_OTHER, NULL, "out of memory");
		return;
	}
	r->done = done;
	r->arg = arg;
	pthread_mutex_lock(&p->mtx);
	if (p->stopping || !p->running)
		why = "shutting down";
	else if (p->nqueued >= p->o.queue_max +
	    (p->o.max_workers - p->inflight))
		why = "too many extractions waiting";
	else if (pool_storm(p))
		why = "no extraction helper is running";
	if (why != NULL) {
		pthread_mutex_unlock(&p->mtx);
		done(arg, FAIL_BUSY, NULL, why);
		free(r->url);
		free(r);
		return;
	}
	r->id = ++p->seq;
	r->queued = 1;
	r->deadline = proc_now_ms() + (long long)p->o.timeout * 1000;
	TAILQ_INSERT_TAIL(&p->queue, r, entry);
	p->nqueued++;
	pool_wake(p);
	pthread_mutex_unlock(&p->mtx);
}

/* Replace every helper, gracefully (SIGHUP: pick up a new yt-dlp). */

void
pool_reload(struct pool *p)
{
	pthread_mutex_lock(&p->mtx);
	p->reload = 1;
	pool_wake(p);
	pthread_mutex_unlock(&p->mtx);
}

/*
 * The program and settings of the helpers started from now on (SIGHUP:
 * YTDLP_PYTHON or YTDLP_DIR changed); those running keep theirs until
 * replaced (pool_reload).  The strings are copied.  0, or -1 (out of
 * memory: nothing changed).
 */
int
pool_set_program(struct pool *p, const char *python, const char *script,
    const struct helper_settings *settings)
{
	struct helper_settings	 hs = *settings;
	char			*py, *sc, **envp;

	pthread_mutex_lock(&p->mtx);
	hs.workers = p->per_helper;
	pthread_mutex_unlock(&p->mtx);
	py = strdup(python);
	sc = strdup(script);
	envp = helper_env(&hs);
	if (py == NULL || sc == NULL || envp == NULL) {
		free(py);
		free(sc);
		helper_env_free(envp);
		return -1;
	}
	pthread_mutex_lock(&p->mtx);
	free(p->python);
	free(p->script);
	helper_env_free(p->envp);
	p->python = py;
	p->script = sc;
	p->envp = envp;
	pthread_mutex_unlock(&p->mtx);
	return 0;
}

/* Limits that change live: recycling (helpers started from now on) and
 * the queue's length. */
void
pool_set_limits(struct pool *p, int max_requests, int max_rss_mb,
    int queue_max)
{
	pthread_mutex_lock(&p->mtx);
	p->o.max_requests = max_requests;
	p->o.max_rss_mb = max_rss_mb;
	p->o.queue_max = queue_max;
	pthread_mutex_unlock(&p->mtx);
}

void
pool_stats(struct pool *p, struct pool_stats *st)
{
	struct member	*h;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&p->mtx);
	LIST_FOREACH(h, &p->helpers, entry) {
		if (h->state == H_READY && h->slot >= 0)
			st->helpers++;
		if (h->inflight > 0)
			st->busy++;
	}
	st->inflight = p->inflight;
	st->queued = p->nqueued;
	st->max_concurrency = p->o.max_workers;
	st->max_helpers = p->o.helpers;
	st->restarts = p->restarts;
	st->timeouts = p->timeouts;
	st->crashes = p->crashes;
	st->requests = p->requests;
	st->outdated = p->unreadable >= OUTDATED_STREAK;
	st->blocking = pool_refused(p) >= BLOCK_POSTS;
	pthread_mutex_unlock(&p->mtx);
}

/*
 * Each process of the pool (its parents, then its helpers, at most max)
 * into out, with its memory read now from /proc; returns how many.  For
 * /health and /metrics.
 */
int
pool_procs(struct pool *p, struct pool_proc *out, int max)
{
	static const char *const hstates[] = { "starting", "ready",
	    "draining" };
	struct member	*h;
	struct parent	*pa;
	int		 n = 0, i;

	pthread_mutex_lock(&p->mtx);
	LIST_FOREACH(pa, &p->parents, entry) {
		if (n == max)
			break;
		memset(&out[n], 0, sizeof(out[n]));
		out[n].pid = pa->pid;
		out[n].parent = 1;
		out[n++].state = pa->retiring ? "retiring" : pa->ready ?
		    "ready" : "starting";
	}
	LIST_FOREACH(h, &p->helpers, entry) {
		if (n == max)
			break;
		if (h->pid <= 0)
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		out[n].pid = h->pid;
		out[n].state = hstates[h->state];
		out[n].inflight = h->inflight;
		out[n++].served = h->served;
	}
	pthread_mutex_unlock(&p->mtx);
	for (i = 0; i < n; i++) {
		out[i].rss_kb = procstat_rss_kb(out[i].pid);
		out[i].pss_kb = procstat_pss_kb(out[i].pid);
	}
	return n;
}

/* The yt-dlp version the last helper reported; caller frees; or NULL. */

char *
pool_version(struct pool *p)
{
	char	*v;

	pthread_mutex_lock(&p->mtx);
	v = p->version ? strdup(p->version) : NULL;
	pthread_mutex_unlock(&p->mtx);
	return v;
}

/*
 * Days since a yt-dlp release, from its version (YYYY.MM.DD, maybe with
 * a build number after it); -1 when the version says no date.
 */
int
pool_version_age(const char *version, time_t now)
{
	struct tm	 tm;
	int		 y, m, d, n = 0;
	time_t		 rel;

	if (version == NULL || sscanf(version, "%4d.%2d.%2d%n", &y, &m, &d,
	    &n) != 3 || n < 8 || y < 2000 || m < 1 || m > 12 || d < 1 ||
	    d > 31)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	if ((rel = timegm(&tm)) == (time_t)-1 || rel > now)
		return rel > now ? 0 : -1;
	return (int)((now - rel) / 86400);
}

/*
 * Stop: fail what waits (its callers are told: "shutting down"), close
 * every helper's input, give them a moment to exit, then kill their
 * process groups and reap them.  No helper is left behind.  The pool
 * stays valid: later extractions fail at once.  Safe to call again.
 */
void
pool_stop(struct pool *p)
{
	struct member	*h;
	struct parent	*pa;
	struct req	*r;
	long long	 end;
	int		 alive;

	if (p == NULL)
		return;
	if (p->running) {
		pthread_mutex_lock(&p->mtx);
		p->stopping = 1;
		pool_wake(p);
		pthread_mutex_unlock(&p->mtx);
		pthread_join(p->thread, NULL);
		p->running = 0;
	}
	pthread_mutex_lock(&p->mtx);
	while ((r = TAILQ_FIRST(&p->queue)) != NULL) {
		TAILQ_REMOVE(&p->queue, r, entry);
		p->nqueued--;
		r->queued = 0;
		pool_req_done(p, r, FAIL_BUSY, "shutting down", NULL);
	}
	LIST_FOREACH(h, &p->helpers, entry) {
		while ((r = TAILQ_FIRST(&h->work)) != NULL) {
			TAILQ_REMOVE(&h->work, r, entry);
			p->inflight--;
			pool_req_done(p, r, FAIL_BUSY, "shutting down", NULL);
		}
		h->inflight = 0;
		h->state = H_DRAINING;
		helper_close_input(h->proc);
		helper_signal(h->proc, SIGTERM);
	}
	pool_deliver(p);
	end = proc_now_ms() + 2000;
	do {
		alive = 0;
		LIST_FOREACH(h, &p->helpers, entry)
			if (!helper_reaped(h->proc))
				alive++;
		if (alive > 0)
			usleep(20000);
	} while (alive > 0 && proc_now_ms() < end);
	/* Past the moment: killed (helper_free); drained ones quietly. */
	while ((h = LIST_FIRST(&p->helpers)) != NULL)
		pool_member_lost(p, h, "killed at shutdown");
	while ((pa = LIST_FIRST(&p->parents)) != NULL) {
		pa->retiring = 1;
		pool_parent_lost(p, pa, "stopped");
	}
	pool_deliver(p);
	pthread_mutex_unlock(&p->mtx);
}

/* Stop (pool_stop) and free.  pool_free(NULL) is a no-op. */

void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	pool_stop(p);
	if (p->wake[0] != -1)
		close(p->wake[0]);
	if (p->wake[1] != -1)
		close(p->wake[1]);
	pthread_mutex_destroy(&p->mtx);
	helper_env_free(p->envp);
	free(p->slots);
	free(p->python);
	free(p->script);
	free(p->version);
	free(p);
}

