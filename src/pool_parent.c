/* SPDX-License-Identifier: ISC */
/*
 * The helper parent as the pool keeps it (forkserver.h): started, with
 * backoff after failures; killed if it is not ready in time; replaced
 * at SIGHUP (the new one starts beside the old, and once it is ready the
 * old one's helpers are recycled, new ones forked from the new parent,
 * and the old parent is closed when its last helper is gone); and what
 * it says: the pid of each helper it forked, a fork that failed.  A
 * parent that dies leaves its helpers serving until new ones replace
 * them.
 */

#include "config.h"

#include <sys/queue.h>
#include <sys/types.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkserver.h"
#include "helper.h"
#include "log.h"
#include "pool_impl.h"
#include "proc.h"

#define FORK_TIMEOUT_MS	10000	/* a forked helper says it is ready */

/* Start a parent; NULL on failure (logged). */
static struct parent *
parent_spawn(struct pool *p)
{
	struct parent	*pa;

	if ((pa = calloc(1, sizeof(*pa))) == NULL)
		return NULL;
	if ((pa->fs = forkserver_spawn(p->python, p->script, p->envp)) ==
	    NULL) {
		free(pa);
		return NULL;
	}
	pa->pid = helper_pid(forkserver_proc(pa->fs));
	pa->kill_at = proc_now_ms() + START_TIMEOUT_MS;
	LIST_INSERT_HEAD(&p->parents, pa, entry);
	log_debug("%s: helper parent %d started", __func__, (int)pa->pid);
	return pa;
}

/* Another failure to start a parent: wait before the next try. */
static void
backoff(struct pool *p)
{
	int	 n = p->parent_failures++;

	p->parent_start_at = proc_now_ms() + (BACKOFF_MIN_MS << (n > 7 ?
	    7 : n));
	if (p->parent_start_at > proc_now_ms() + BACKOFF_MAX_MS)
		p->parent_start_at = proc_now_ms() + BACKOFF_MAX_MS;
}

/* Every ready helper of pa is replaced by one of the current parent. */
static void
recycle_children(struct pool *p, struct parent *pa)
{
	struct member	*h;

	LIST_FOREACH(h, &p->helpers, entry)
		if (h->from == pa && h->slot >= 0)
			h->recycle = RECYCLE_NOW;
}

/*
 * A parent is gone, or retired: kill and reap it.  Its helpers that
 * still run keep serving and are replaced as soon as a parent can fork
 * again; a helper it was forking fails to start (its pipes close).
 */
void
pool_parent_lost(struct pool *p, struct parent *pa, const char *why)
{
	struct member	*h;

	if (pa->retiring)
		log_debug("%s: helper parent %d %s", __func__, (int)pa->pid,
		    why);
	else
		log_warnx("%s: helper parent %d %s", __func__, (int)pa->pid,
		    why);
	helper_stderr(forkserver_proc(pa->fs));
	forkserver_free(pa->fs);
	recycle_children(p, pa);
	LIST_FOREACH(h, &p->helpers, entry)
		if (h->from == pa)
			h->from = NULL;
	if (pa == p->parent) {
		p->parent = p->parent_next;
		p->parent_next = NULL;
	} else if (pa == p->parent_next) {
		p->parent_next = NULL;
		if (!pa->retiring)
			log_warnx("%s: keeping the helpers of the parent "
			    "before", __func__);
	}
	if (!pa->retiring) {
		p->crashes++;
		backoff(p);
	}
	LIST_REMOVE(pa, entry);
	free(pa);
}

/* What the parent said (forkserver_read's callback). */
struct said {
	struct pool	*p;
	struct parent	*pa;
};

static int
on_msg(void *arg, const struct forkserver_msg *m)
{
	struct said	*sd = arg;
	struct pool	*p = sd->p;
	struct parent	*pa = sd->pa, *old;
	struct member	*h;

	if (m->what != FORKSERVER_FORKED && m->pidfd != -1)
		close(m->pidfd);	/* comes only with a fork */
	switch (m->what) {
	case FORKSERVER_READY:
		if (pa->ready)
			return -1;
		pa->ready = 1;
		pa->kill_at = 0;
		free(p->version);
		p->version = strdup(m->version);
		log_info("%s: helper parent %d ready (yt-dlp %s)", __func__,
		    (int)pa->pid, m->version);
		if (pa == p->parent_next) {
			old = p->parent;
			p->parent = pa;
			p->parent_next = NULL;
			if (old != NULL) {
				old->retiring = 1;
				recycle_children(p, old);
			}
		}
		p->parent_failures = 0;
		return 0;
	case FORKSERVER_FORKED:
		LIST_FOREACH(h, &p->helpers, entry)
			if (h->from == pa && h->tag == m->tag && h->pid == 0)
				break;
		if (h == NULL) {
			if (m->pidfd != -1)
				close(m->pidfd);
			return 0;
		}
		helper_adopt(h->proc, m->pid, m->pidfd);
		h->pid = m->pid;
		log_debug("%s: helper %d forked by %d (slot %d)", __func__,
		    (int)h->pid, (int)pa->pid, h->slot);
		if (h->state != H_STARTING)	/* its ready came first */
			log_info("%s: helper %d ready (yt-dlp %s)", __func__,
			    (int)h->pid, h->version != NULL ? h->version : "?");
		return 0;
	case FORKSERVER_FAILED:
		LIST_FOREACH(h, &p->helpers, entry)
			if (h->from == pa && h->tag == m->tag && h->pid == 0)
				break;
		log_warnx("%s: helper parent %d could not fork: %s", __func__,
		    (int)pa->pid, m->why != NULL ? m->why : "?");
		if (h != NULL)
			pool_member_lost(p, h, "could not be forked");
		return 0;
	case FORKSERVER_EXITED:
		log_debug("%s: helper %d exited (%d)", __func__, (int)m->pid,
		    m->status);
		return 0;
	}
	return -1;
}

/*
 * Read what pa said.  -1: it is gone or broke the protocol (the caller
 * then calls pool_parent_lost).
 */
int
pool_parent_read(struct pool *p, struct parent *pa)
{
	struct said	 sd;

	sd.p = p;
	sd.pa = pa;
	return forkserver_read(pa->fs, on_msg, &sd);
}

/*
 * Fork a helper for a slot from the current parent, as a member that
 * is starting.  NULL when no parent is ready or it cannot be asked.
 */
struct member *
pool_parent_fork(struct pool *p, int slot)
{
	struct parent	*pa = p->parent;
	struct member	*h;

	if (pa == NULL || !pa->ready || (h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->tag = ++p->seq;
	if ((h->proc = forkserver_fork(pa->fs, h->tag)) == NULL) {
		free(h);
		return NULL;
	}
	h->from = pa;
	pa->children++;
	h->slot = slot;
	TAILQ_INIT(&h->work);
	h->state = H_STARTING;
	h->started = h->idle_since = proc_now_ms();
	h->kill_at = h->started + FORK_TIMEOUT_MS;
	/* Recycle after max_requests, give or take 10%, so that helpers
	 * started together do not all retire together. */
	h->limit = p->o.max_requests;
	if (h->limit > 10)
		h->limit += (int)(random() % (h->limit / 5)) - h->limit / 10;
	LIST_INSERT_HEAD(&p->helpers, h, entry);
	return h;
}

/*
 * Start a parent when there is none (after backoff), a replacement at
 * SIGHUP, kill one not ready in time, close retired ones whose helpers
 * are gone.  Returns when it next needs to run (monotonic ms).
 */
long long
pool_parent_maintain(struct pool *p, long long now)
{
	struct parent	*pa, *tmp;
	long long	 next = now + 1000;

	if (p->reload) {
		p->reload = 0;
		/* One still starting may run the old yt-dlp: start over. */
		if (p->parent_next != NULL) {
			p->parent_next->retiring = 1;
			pool_parent_lost(p, p->parent_next, "replaced");
		}
		if (p->parent != NULL && !p->parent->ready) {
			p->parent->retiring = 1;
			pool_parent_lost(p, p->parent, "replaced");
		}
		if (p->parent != NULL)
			p->parent_next = parent_spawn(p);
	}
	if (p->parent == NULL && now >= p->parent_start_at &&
	    (p->parent = parent_spawn(p)) == NULL)
		backoff(p);
	if (p->parent == NULL && p->parent_start_at < next)
		next = p->parent_start_at;
	LIST_FOREACH_SAFE(pa, &p->parents, entry, tmp) {
		if (!pa->ready && now >= pa->kill_at) {
			pool_parent_lost(p, pa, "did not start in time");
			continue;
		}
		if (pa->retiring && pa->children == 0) {
			pool_parent_lost(p, pa, "retired");
			continue;
		}
		if (!pa->ready && pa->kill_at < next)
			next = pa->kill_at;
	}
	return next;
}
