/* SPDX-License-Identifier: ISC */
/*
 * The bottom of the pool: a request ended and its caller told, the
 * supervisor woken, and what the pool's state says (a crash storm;
 * yt-dlp outdated, TikTok refusing this address).  Calls nothing else
 * of the pool.
 */

#include "config.h"

#include <sys/queue.h>
#include <sys/types.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pool_impl.h"
#include "proc.h"

/* Wake the supervisor (a request queued, a reload, a stop). */
void
pool_wake(struct pool *p)
{
	char	 c = 1;

	if (write(p->wake[1], &c, 1) == -1 && errno != EAGAIN)
		log_warn("%s: write", __func__);
}

/*
 * End a request: record the outcome; pool_deliver() tells its caller.
 * Takes the reference to info.  Called with the lock held.
 */
void
pool_req_done(struct pool *p, struct req *r, enum fail err,
    const char *msg, struct json_object *info)
{
	r->err = err;
	r->info = info;
	r->msg = msg != NULL ? strdup(msg) : NULL;
	r->helper = NULL;
	TAILQ_INSERT_TAIL(&p->ended, r, entry);
}

/*
 * Tell the callers of ended requests, without the lock (a caller may
 * start another extraction from its function).  Called with the lock
 * held; returns with it held.
 */
void
pool_deliver(struct pool *p)
{
	struct req	*r;

	while ((r = TAILQ_FIRST(&p->ended)) != NULL) {
		TAILQ_REMOVE(&p->ended, r, entry);
		pthread_mutex_unlock(&p->mtx);
		r->done(r->arg, r->err, r->info, r->msg);
		free(r->msg);
		free(r->url);
		free(r);
		pthread_mutex_lock(&p->mtx);
	}
}

/* No helper can take work and none is coming soon: a crash storm. */
int
pool_storm(struct pool *p)
{
	struct member	*h;
	int		 i;

	LIST_FOREACH(h, &p->helpers, entry)
		if (h->state == H_READY && h->slot >= 0)
			return 0;
	if (p->parent_failures >= STORM_FAILURES)
		return 1;
	for (i = 0; i < p->want; i++)
		if (p->slots[i].failures < STORM_FAILURES)
			return 0;
	return 1;
}

/*
 * What a string of answers says about us: yt-dlp outdated (its answers
 * unreadable, again and again), or TikTok refusing this address (several
 * distinct posts refused as "blocked" in a short while, no success
 * since).  Any success clears both.  Called with the lock held.
 */
void
pool_note(struct pool *p, enum fail err, const char *url)
{
	unsigned int	 hv = 2166136261u;
	long long	 now = proc_now_ms();
	int		 i;

	if (err == FAIL_OK) {
		p->unreadable = 0;
		p->nrefused = 0;
		return;
	}
	if (err == FAIL_UNREADABLE)
		p->unreadable++;
	if (err != FAIL_BLOCKED)
		return;
	for (; *url != '\0'; url++)
		hv = (hv ^ (unsigned char)*url) * 16777619u;
	for (i = 0; i < p->nrefused; i++)
		if (p->refused[i].post == hv)
			break;
	if (i == p->nrefused) {
		if (p->nrefused == BLOCK_SEEN) {
			memmove(&p->refused[0], &p->refused[1],
			    sizeof(p->refused[0]) * (BLOCK_SEEN - 1));
			i = BLOCK_SEEN - 1;
		} else
			p->nrefused++;
	}
	p->refused[i].post = hv;
	p->refused[i].at = now;
}

/* How many distinct posts were refused as "blocked" lately. */

int
pool_refused(struct pool *p)
{
	long long	 now = proc_now_ms();
	int		 i, n = 0;

	for (i = 0; i < p->nrefused; i++)
		if (now - p->refused[i].at < BLOCK_WINDOW_MS)
			n++;
	return n;
}
