/*
 * The pool's supervisor thread: it owns every helper pipe and every
 * change of a helper's state.  It starts a helper for each empty slot
 * (with backoff after crashes) and a replacement beside one due for
 * recycling, hands queued requests to the least loaded ready helper,
 * reads answers (pool_answer.c), enforces deadlines, drains and kills.
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

#include "egress.h"
#include "helper.h"
#include "log.h"
#include "pool_impl.h"
#include "proc.h"
#include "procstat.h"

/*
 * Start a helper for a slot (helper_spawn), as a member that is starting:
 * it must say it is ready within START_TIMEOUT_MS.
 */
static struct member *
member_spawn(struct pool *p, int slot)
{
	struct member	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if ((h->proc = helper_spawn(p->python, p->script, p->envp)) == NULL) {
		free(h);
		return NULL;
	}
	h->pid = helper_pid(h->proc);
	h->slot = slot;
	TAILQ_INIT(&h->work);
	h->state = H_STARTING;
	h->started = proc_now_ms();
	h->kill_at = h->started + START_TIMEOUT_MS;
	/* Recycle after max_requests, give or take 10%, so that helpers
	 * started together do not all retire together. */
	h->limit = p->o.max_requests;
	if (h->limit > 10)
		h->limit += (int)(random() % (h->limit / 5)) - h->limit / 10;
	LIST_INSERT_HEAD(&p->helpers, h, entry);
	log_debug("%s: helper %d started (slot %d)", __func__, (int)h->pid,
	    slot);
	return h;
}

/* Take h out of its slot; it gets no new work from now on. */

void
member_drain(struct pool *p, struct member *h)
{
	struct slot	*s;

	if (h->slot >= 0) {
		s = &p->slots[h->slot];
		if (s->cur == h)
			s->cur = NULL;
		if (s->next == h)
			s->next = NULL;
	}
	h->slot = -1;
	h->state = H_DRAINING;
}

/*
 * A helper is gone (exited, killed, or broke the protocol): reap it,
 * give its live requests one more chance on another helper, fail the
 * rest, count a crash against its slot.  Called with the lock held.
 */
void
member_lost(struct pool *p, struct member *h, const char *why)
{
	struct req	*r;
	struct slot	*s;
	int		 crashed;
	long long	 backoff;

	crashed = h->state != H_DRAINING;
	if (crashed)
		log_warnx("%s: helper %d %s", __func__, (int)h->pid, why);
	helper_kill(h->proc);
	if (crashed && h->slot >= 0) {
		s = &p->slots[h->slot];
		p->crashes++;
		s->failures++;
		backoff = BACKOFF_MIN_MS << (s->failures > 7 ? 7 :
		    s->failures - 1);
		if (backoff > BACKOFF_MAX_MS)
			backoff = BACKOFF_MAX_MS;
		s->start_at = proc_now_ms() + backoff;
	}
	member_drain(p, h);
	while ((r = TAILQ_FIRST(&h->work)) != NULL) {
		TAILQ_REMOVE(&h->work, r, entry);
		p->inflight--;
		if (!r->retried) {
			r->retried = 1;
			r->helper = NULL;
			r->queued = 1;
			TAILQ_INSERT_HEAD(&p->queue, r, entry);
			p->nqueued++;
		} else
			req_done(p, r, POOL_OTHER, "the extraction helper "
			    "crashed", NULL);
	}
	LIST_REMOVE(h, entry);
	helper_free(h->proc);
	free(h->version);
	free(h);
}

/* Ask a helper whether it lives: {"id": N, "op": "ping"}.  0 or -1. */
static int
ping(struct pool *p, struct member *h)
{
	char	 line[64];
	int	 n;

	h->ping_id = ++p->seq;
	n = snprintf(line, sizeof(line), "{\"id\":%lu,\"op\":\"ping\"}\n",
	    h->ping_id);
	return helper_send(h->proc, line, (size_t)n);
}

/* member_line, as helper_read's callback. */
struct reading {
	struct pool	*p;
	struct member	*h;
};

static int
on_line(void *arg, const char *line, size_t len)
{
	struct reading	*rd = arg;

	return member_line(rd->p, rd->h, line, len);
}

/* Best helper for new work: ready, least loaded, under its share. */

static struct member *
pick(struct pool *p)
{
	struct member	*h, *best = NULL;
	int		 i;

	for (i = 0; i < p->o.helpers; i++) {
		h = p->slots[i].cur;
		if (h == NULL || h->state != H_READY ||
		    h->inflight >= p->per_helper)
			continue;
		if (best == NULL || h->inflight < best->inflight)
			best = h;
	}
	return best;
}

static void
dispatch(struct pool *p)
{
	struct req		*r;
	struct member		*h;
	struct json_object	*o;
	const char		*s;
	size_t			 len;
	char			*line;

	while ((r = TAILQ_FIRST(&p->queue)) != NULL &&
	    p->inflight < p->o.max_workers && (h = pick(p)) != NULL) {
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_int64(
		    (int64_t)r->id));
		json_object_object_add(o, "op",
		    json_object_new_string("extract"));
		json_object_object_add(o, "url",
		    json_object_new_string(r->url));
		/* The way out: its turn, unless it was moved off a refused
		 * one.  The proxy's credentials go down the pipe, never into
		 * an environment or argv. */
		if (!r->moved)
			r->egress = egress_pick(NULL);
		if (r->egress != NULL)
			json_object_object_add(o, "proxy",
			    json_object_new_string(egress_url(r->egress)));
		s = json_object_to_json_string_length(o,
		    JSON_C_TO_STRING_PLAIN, &len);
		line = malloc(len + 1);
		if (line != NULL) {
			memcpy(line, s, len);
			line[len] = '\n';
		}
		json_object_put(o);
		TAILQ_REMOVE(&p->queue, r, entry);
		p->nqueued--;
		r->queued = 0;
		if (line == NULL || helper_send(h->proc, line, len + 1) ==
		    -1) {
			free(line);
			req_done(p, r, POOL_OTHER, "out of memory", NULL);
			continue;
		}
		free(line);
		r->helper = h;
		r->deadline = proc_now_ms() + (long long)p->o.timeout * 1000;
		TAILQ_INSERT_TAIL(&h->work, r, entry);
		h->inflight++;
		p->inflight++;
		p->requests++;
	}
}

/* No helper can take work and none is coming soon: a crash storm. */

int
storm(struct pool *p)
{
	struct member	*h;
	int		 i;

	LIST_FOREACH(h, &p->helpers, entry)
		if (h->state == H_READY && h->slot >= 0)
			return 0;
	for (i = 0; i < p->o.helpers; i++)
		if (p->slots[i].failures < STORM_FAILURES)
			return 0;
	return 1;
}

/*
 * Everything time- and state-driven, once per loop: start helpers for
 * empty slots (after backoff) and replacements for those due, enforce
 * deadlines, close and kill drained helpers, check memory.  Returns the
 * milliseconds until the next thing is due.
 */
static long long
maintain(struct pool *p)
{
	struct member	*h, *tmp;
	struct req	*r, *rtmp;
	struct slot	*s;
	long long	 now = proc_now_ms(), next = now + 1000;
	int		 i;

	if (now - p->rss_checked >= RSS_CHECK_MS && p->o.max_rss_mb > 0) {
		p->rss_checked = now;
		LIST_FOREACH(h, &p->helpers, entry) {
			h->rss_kb = procstat_rss_kb(h->pid);
			if (h->state == H_READY && h->slot >= 0 &&
			    !h->recycle && h->rss_kb > 1024L * p->o.max_rss_mb) {
				log_info("%s: helper %d uses %ld KiB: "
				    "recycling", __func__, (int)h->pid,
				    h->rss_kb);
				h->recycle = 1;
			}
		}
	}
	if (p->reload) {
		p->reload = 0;
		for (i = 0; i < p->o.helpers; i++)
			if (p->slots[i].cur != NULL)
				p->slots[i].cur->recycle = 1;
	}
	for (i = 0; i < p->o.helpers; i++) {
		s = &p->slots[i];
		if (now < s->start_at) {
			if (s->start_at < next)
				next = s->start_at;
			continue;
		}
		if (s->cur == NULL && s->next == NULL) {
			if ((s->cur = member_spawn(p, i)) == NULL) {
				s->failures++;
				s->start_at = now + BACKOFF_MAX_MS;
			} else if (s->started++ > 0)
				p->restarts++;
		} else if (s->cur != NULL && s->cur->recycle &&
		    s->next == NULL)
			s->next = member_spawn(p, i);
	}

	/* Deadlines of waiting requests: the service is overloaded. */
	TAILQ_FOREACH_SAFE(r, &p->queue, entry, rtmp) {
		if (r->deadline <= now) {
			TAILQ_REMOVE(&p->queue, r, entry);
			p->nqueued--;
			r->queued = 0;
			req_done(p, r, POOL_BUSY, "timed out waiting for an "
			    "extraction slot", NULL);
		} else if (r->deadline < next)
			next = r->deadline;
	}
	if (storm(p))
		while ((r = TAILQ_FIRST(&p->queue)) != NULL) {
			TAILQ_REMOVE(&p->queue, r, entry);
			p->nqueued--;
			r->queued = 0;
			req_done(p, r, POOL_BUSY, "no extraction helper is "
			    "running", NULL);
		}

	LIST_FOREACH_SAFE(h, &p->helpers, entry, tmp) {
		/* A helper that stopped answering (stopped, wedged) would
		 * attract work while it looks idle: ask it every so often,
		 * and replace it when it says nothing. */
		if (h->state == H_READY && h->ping_at != 0 &&
		    now - h->ping_at >= PING_TIMEOUT_MS) {
			log_warnx("%s: helper %d does not answer: replacing "
			    "it", __func__, (int)h->pid);
			member_lost(p, h, "stopped answering");
			continue;
		}
		if (h->state == H_READY && h->ping_at == 0 &&
		    now - h->pong_at >= PING_EVERY_MS && ping(p, h) == 0)
			h->ping_at = now;
		/* Work past its deadline: answer 504, replace the helper. */
		TAILQ_FOREACH_SAFE(r, &h->work, entry, rtmp) {
			if (r->deadline > now) {
				if (r->deadline < next)
					next = r->deadline;
				continue;
			}
			TAILQ_REMOVE(&h->work, r, entry);
			h->inflight--;
			p->inflight--;
			h->abandoned++;
			p->timeouts++;
			req_done(p, r, POOL_TIMEOUT, "extraction timed out",
			    NULL);
			if (h->slot >= 0) {
				log_warnx("%s: helper %d: extraction past "
				    "%d s: replacing it", __func__,
				    (int)h->pid, p->o.timeout);
				member_drain(p, h);
			}
		}
		if (h->state == H_DRAINING && h->inflight == 0 &&
		    h->kill_at == 0) {
			if (h->abandoned > 0) {
				/* Stuck inside: nothing to wait for. */
				member_lost(p, h, "killed");
				continue;
			}
			if (helper_pending(h->proc) == 0)
				helper_close_input(h->proc); /* EOF: it exits */
			h->kill_at = now + DRAIN_KILL_MS;
		}
		if (h->kill_at != 0) {
			if (now >= h->kill_at) {
				member_lost(p, h, h->state == H_STARTING ?
				    "did not start in time" :
				    "did not exit in time");
				continue;
			}
			if (h->kill_at < next)
				next = h->kill_at;
		}
	}
	dispatch(p);
	return next > now ? next - now : 0;
}

void *
supervisor(void *arg)
{
	struct pool	 *p = arg;
	struct pollfd	 *pfd = NULL;
	struct member	**who = NULL, *h, *tmp;
	int		 *what = NULL;
	size_t		  cap = 0, n, i;
	long long	  wait;
	char		  drain[256];
	int		  rc, fd;
	struct reading	  rd;

	pthread_mutex_lock(&p->mtx);
	while (!p->stopping) {
		wait = maintain(p);
		deliver(p);
		n = 1;
		LIST_FOREACH(h, &p->helpers, entry)
			n += 3;
		if (n > cap) {
			struct pollfd	 *np;
			struct member	**nw;
			int		 *nt;

			/* Grown one at a time, so that a failure loses
			 * nothing: wait a little and try again. */
			if ((np = reallocarray(pfd, n * 2, sizeof(*pfd))) != NULL)
				pfd = np;
			if ((nw = reallocarray(who, n * 2, sizeof(*who))) != NULL)
				who = nw;
			if ((nt = reallocarray(what, n * 2, sizeof(*what))) !=
			    NULL)
				what = nt;
			if (np == NULL || nw == NULL || nt == NULL) {
				log_warnx("%s: out of memory", __func__);
				pthread_mutex_unlock(&p->mtx);
				usleep(100000);
				pthread_mutex_lock(&p->mtx);
				continue;
			}
			cap = n * 2;
		}
		pfd[0].fd = p->wake[0];
		pfd[0].events = POLLIN;
		n = 1;
		LIST_FOREACH(h, &p->helpers, entry) {
			if ((fd = helper_fd(h->proc, HELPER_OUT)) != -1) {
				pfd[n].fd = fd;
				pfd[n].events = POLLIN;
				who[n] = h;
				what[n++] = HELPER_OUT;
			}
			if ((fd = helper_fd(h->proc, HELPER_ERR)) != -1) {
				pfd[n].fd = fd;
				pfd[n].events = POLLIN;
				who[n] = h;
				what[n++] = HELPER_ERR;
			}
			if ((fd = helper_fd(h->proc, HELPER_IN)) != -1 &&
			    helper_pending(h->proc) > 0) {
				pfd[n].fd = fd;
				pfd[n].events = POLLOUT;
				who[n] = h;
				what[n++] = HELPER_IN;
			}
		}
		pthread_mutex_unlock(&p->mtx);
		rc = poll(pfd, n, wait > 1000 ? 1000 : (int)wait);
		pthread_mutex_lock(&p->mtx);
		if (rc <= 0)
			continue;
		if (pfd[0].revents & POLLIN)
			while (read(p->wake[0], drain, sizeof(drain)) > 0)
				continue;
		/* Helpers are freed only here, so who[] stays valid; a
		 * helper lost earlier in this pass is skipped by marking. */
		for (i = 1; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			LIST_FOREACH(h, &p->helpers, entry)
				if (h == who[i])
					break;
			if (h == NULL)
				continue;	/* lost in this pass */
			rd.p = p;
			rd.h = h;
			if (what[i] == HELPER_ERR)
				helper_stderr(h->proc);
			else if (what[i] == HELPER_OUT) {
				if (helper_read(h->proc, on_line, &rd) == -1) {
					helper_stderr(h->proc);
					member_lost(p, h, h->state ==
					    H_STARTING ? "failed to start" :
					    "exited");
				}
			} else if (helper_flush(h->proc) == -1)
				member_lost(p, h, "closed its input");
		}
		/* Write what became writable without waiting for POLLOUT. */
		LIST_FOREACH_SAFE(h, &p->helpers, entry, tmp)
			if (helper_pending(h->proc) > 0 &&
			    helper_flush(h->proc) == -1)
				member_lost(p, h, "closed its input");
		deliver(p);
	}
	pthread_mutex_unlock(&p->mtx);
	free(pfd);
	free(who);
	free(what);
	return NULL;
}

