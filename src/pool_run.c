/* SPDX-License-Identifier: ISC */
/*
 * The pool's supervisor thread: it owns every helper pipe and every
 * change of a helper's state.  Each pass it does what is due
 * (pool_maintain, pool_tend.c), then waits on every helper's and
 * parent's descriptors and reads what they say (pool_answer.c,
 * pool_parent.c); a helper that is gone is reaped here and its work
 * given one more chance.
 */

#include "config.h"

#include <sys/queue.h>
#include <sys/types.h>

#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkserver.h"
#include "helper.h"
#include "log.h"
#include "pool_impl.h"
#include "proc.h"

/* What the supervisor polls: a member's pipe, or a parent's. */
enum watch { W_OUT, W_ERR, W_IN, W_PARENT, W_PARENT_ERR };

struct polls {
	struct pollfd	*pfd;
	void		**who;
	enum watch	*what;
	size_t		 n, cap;
};

/* Room for n; 0, or -1 (out of memory: nothing lost, try again). */
static int
polls_room(struct polls *ps, size_t n)
{
	struct pollfd	 *np;
	void		**nw;
	enum watch	 *nt;

	if (n <= ps->cap)
		return 0;
	if ((np = reallocarray(ps->pfd, n * 2, sizeof(*np))) != NULL)
		ps->pfd = np;
	if ((nw = reallocarray(ps->who, n * 2, sizeof(*nw))) != NULL)
		ps->who = nw;
	if ((nt = reallocarray(ps->what, n * 2, sizeof(*nt))) != NULL)
		ps->what = nt;
	if (np == NULL || nw == NULL || nt == NULL)
		return -1;
	ps->cap = n * 2;
	return 0;
}

static void
polls_add(struct polls *ps, int fd, short events, void *who,
    enum watch what)
{
	if (fd == -1)
		return;
	ps->pfd[ps->n].fd = fd;
	ps->pfd[ps->n].events = events;
	ps->who[ps->n] = who;
	ps->what[ps->n++] = what;
}

/* The descriptors of the wake pipe, every member and every parent. */
static int
polls_fill(struct pool *p, struct polls *ps)
{
	struct member	*h;
	struct parent	*pa;
	size_t		 n = 1;

	LIST_FOREACH(h, &p->helpers, entry)
		n += 3;
	LIST_FOREACH(pa, &p->parents, entry)
		n += 2;
	if (polls_room(ps, n) == -1)
		return -1;
	ps->n = 0;
	polls_add(ps, p->wake[0], POLLIN, NULL, W_OUT);
	LIST_FOREACH(h, &p->helpers, entry) {
		polls_add(ps, helper_fd(h->proc, HELPER_OUT), POLLIN, h,
		    W_OUT);
		polls_add(ps, helper_fd(h->proc, HELPER_ERR), POLLIN, h,
		    W_ERR);
		if (helper_pending(h->proc) > 0)
			polls_add(ps, helper_fd(h->proc, HELPER_IN), POLLOUT,
			    h, W_IN);
	}
	LIST_FOREACH(pa, &p->parents, entry) {
		polls_add(ps, forkserver_fd(pa->fs), POLLIN, pa, W_PARENT);
		polls_add(ps, helper_fd(forkserver_proc(pa->fs), HELPER_ERR),
		    POLLIN, pa, W_PARENT_ERR);
	}
	return 0;
}

/* pool_member_line, as helper_read's callback. */
struct reading {
	struct pool	*p;
	struct member	*h;
};

static int
on_line(void *arg, const char *line, size_t len)
{
	struct reading	*rd = arg;

	return pool_member_line(rd->p, rd->h, line, len);
}

/* A member's descriptor is ready. */
static void
serve_member(struct pool *p, struct member *h, enum watch what)
{
	struct reading	 rd;

	rd.p = p;
	rd.h = h;
	if (what == W_ERR)
		helper_stderr(h->proc);
	else if (what == W_OUT) {
		if (helper_read(h->proc, on_line, &rd) == -1) {
			helper_stderr(h->proc);
			pool_member_lost(p, h, h->state == H_STARTING ?
			    "failed to start" : "exited");
		}
	} else if (helper_flush(h->proc) == -1)
		pool_member_lost(p, h, "closed its input");
}

/* A parent's descriptor is ready. */
static void
serve_parent(struct pool *p, struct parent *pa, enum watch what)
{
	if (what == W_PARENT_ERR)
		helper_stderr(forkserver_proc(pa->fs));
	else if (pool_parent_read(p, pa) == -1)
		pool_parent_lost(p, pa, pa->ready ? "exited" :
		    "failed to start");
}

/* Is who still there (not lost earlier in this pass)? */
static int
alive(struct pool *p, void *who, enum watch what)
{
	struct member	*h;
	struct parent	*pa;

	if (what == W_PARENT || what == W_PARENT_ERR) {
		LIST_FOREACH(pa, &p->parents, entry)
			if (pa == who)
				return 1;
		return 0;
	}
	LIST_FOREACH(h, &p->helpers, entry)
		if (h == who)
			return 1;
	return 0;
}

void *
pool_supervisor(void *arg)
{
	struct pool	*p = arg;
	struct polls	 ps;
	struct member	*h, *tmp;
	long long	 wait;
	char		 drain[256];
	size_t		 i;
	int		 rc;

	memset(&ps, 0, sizeof(ps));
	pthread_mutex_lock(&p->mtx);
	while (!p->stopping) {
		wait = pool_maintain(p);
		pool_deliver(p);
		if (polls_fill(p, &ps) == -1) {
			log_warnx("%s: out of memory", __func__);
			pthread_mutex_unlock(&p->mtx);
			usleep(100000);
			pthread_mutex_lock(&p->mtx);
			continue;
		}
		pthread_mutex_unlock(&p->mtx);
		rc = poll(ps.pfd, ps.n, wait > 1000 ? 1000 : (int)wait);
		pthread_mutex_lock(&p->mtx);
		if (rc <= 0)
			continue;
		if (ps.pfd[0].revents & POLLIN)
			while (read(p->wake[0], drain, sizeof(drain)) > 0)
				continue;
		/* Members and parents are freed only here, so who[] stays
		 * valid; one lost earlier in this pass is skipped. */
		for (i = 1; i < ps.n; i++) {
			if (ps.pfd[i].revents == 0 ||
			    !alive(p, ps.who[i], ps.what[i]))
				continue;
			if (ps.what[i] == W_PARENT ||
			    ps.what[i] == W_PARENT_ERR)
				serve_parent(p, ps.who[i], ps.what[i]);
			else
				serve_member(p, ps.who[i], ps.what[i]);
		}
		/* Write what became writable without waiting for POLLOUT. */
		LIST_FOREACH_SAFE(h, &p->helpers, entry, tmp)
			if (helper_pending(h->proc) > 0 &&
			    helper_flush(h->proc) == -1)
				pool_member_lost(p, h, "closed its input");
		pool_deliver(p);
	}
	pthread_mutex_unlock(&p->mtx);
	free(ps.pfd);
	free(ps.who);
	free(ps.what);
	return NULL;
}
