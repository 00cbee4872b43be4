/*
 * The pool's supervisor thread: it owns every helper pipe and every
 * change of a helper's state.  It forks a helper (pool_parent.c) for
 * each slot in use (with backoff after crashes) and a replacement beside
 * one due for recycling, grows the slots in use with the work waiting
 * and shrinks them when helpers idle, hands queued requests to the least
 * loaded ready helper, reads answers (pool_answer.c), enforces
 * deadlines, drains and kills.
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
#include "forkserver.h"
#include "helper.h"
#include "log.h"
#include "pool_impl.h"
#include "proc.h"
#include "procstat.h"

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
 * give its live requests one more chance on another helper (one it
 * never started costs no chance: it may have been handed to a helper
 * dying at that moment), fail the rest, count a crash against its slot.
 * Called with the lock held.
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
		if ((r->started && r->retried) || r->handed >= HANDOVERS_MAX) {
			req_done(p, r, POOL_OTHER, "the extraction helper "
			    "crashed", NULL);
			continue;
		}
		if (r->started)
			r->retried = 1;
		r->started = 0;
		r->helper = NULL;
		r->queued = 1;
		TAILQ_INSERT_HEAD(&p->queue, r, entry);
		p->nqueued++;
	}
	if (h->from != NULL)
		h->from->children--;
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

/*
 * Helpers the work at hand needs: running and waiting extractions over
 * what one helper runs at once, at least one, at most HELPERS.
 */
static int
needed(struct pool *p)
{
	int	 n;

	n = (p->inflight + p->nqueued + p->per_helper - 1) / p->per_helper;
	return n < 1 ? 1 : n > p->o.helpers ? p->o.helpers : n;
}

/*
 * Best helper for new work: ready, least loaded, with room; among the
 * slots the work needs first, so that one beyond them idles and goes.
 */
static struct member *
pick(struct pool *p)
{
	struct member	*h, *best = NULL;
	int		 i, need = needed(p), pass;

	for (pass = 0; pass < 2 && best == NULL; pass++)
		for (i = 0; i < (pass == 0 ? need : p->o.helpers); i++) {
			h = p->slots[i].cur;
			if (h == NULL || h->state != H_READY ||
			    h->inflight >= p->per_helper)
				continue;
			if (best == NULL || h->inflight < best->inflight)
				best = h;
		}
	return best;
}

/* The request line for r, with a newline; NULL when out of memory. */
static char *
request_line(struct req *r, size_t *len)
{
	struct json_object	*o;
	const char		*s;
	char			*line;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "id", json_object_new_int64(
	    (int64_t)r->id));
	json_object_object_add(o, "op", json_object_new_string("extract"));
	json_object_object_add(o, "url", json_object_new_string(r->url));
	/* The way out: its turn, unless it was moved off a refused one.
	 * The proxy's credentials go down the pipe, never into an
	 * environment or argv. */
	if (!r->moved)
		r->egress = egress_pick(NULL);
	if (r->egress != NULL)
		json_object_object_add(o, "proxy",
		    json_object_new_string(egress_url(r->egress)));
	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, len);
	if ((line = malloc(*len + 1)) != NULL) {
		memcpy(line, s, *len);
		line[(*len)++] = '\n';
	}
	json_object_put(o);
	return line;
}

static void
dispatch(struct pool *p)
{
	struct req	*r;
	struct member	*h;
	size_t		 len;
	char		*line;

	while ((r = TAILQ_FIRST(&p->queue)) != NULL &&
	    p->inflight < p->o.max_workers && (h = pick(p)) != NULL) {
		line = request_line(r, &len);
		TAILQ_REMOVE(&p->queue, r, entry);
		p->nqueued--;
		r->queued = 0;
		if (line == NULL || helper_send(h->proc, line, len) == -1) {
			free(line);
			req_done(p, r, POOL_OTHER, "out of memory", NULL);
			continue;
		}
		free(line);
		r->helper = h;
		r->handed++;
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
	if (p->parent_failures >= STORM_FAILURES)
		return 1;
	for (i = 0; i < p->want; i++)
		if (p->slots[i].failures < STORM_FAILURES)
			return 0;
	return 1;
}

/* Every RSS_CHECK_MS: helpers above HELPER_MAX_RSS_MB are recycled. */
static void
check_memory(struct pool *p, long long now)
{
	struct member	*h;

	if (now - p->rss_checked < RSS_CHECK_MS || p->o.max_rss_mb <= 0)
		return;
	p->rss_checked = now;
	LIST_FOREACH(h, &p->helpers, entry) {
		if (h->pid <= 0)
			continue;
		h->rss_kb = procstat_rss_kb(h->pid);
		if (h->state == H_READY && h->slot >= 0 && !h->recycle &&
		    h->rss_kb > 1024L * p->o.max_rss_mb) {
			log_info("%s: helper %d uses %ld KiB: recycling",
			    __func__, (int)h->pid, h->rss_kb);
			h->recycle = 1;
		}
	}
}

/*
 * Memory follows the work: as many slots in use as the work needs (at
 * once), one fewer when the helper of the last slot has idled
 * SHRINK_MS while the work needs fewer; the last helper, idle FRESH_MS
 * after work, is replaced by a fresh fork (a used helper keeps what its
 * extractions touched).  Forks are ready in milliseconds.
 */
static void
size_pool(struct pool *p, long long now)
{
	struct member	*h;
	struct slot	*s;
	int		 need = needed(p);

	if (need > p->want) {
		log_debug("%s: %d helpers", __func__, need);
		p->want = need;
		return;
	}
	s = &p->slots[p->want - 1];
	h = s->cur;
	if (p->want > need && s->next == NULL && (h == NULL ||
	    (h->state == H_READY && h->inflight == 0 &&
	    now - h->idle_since >= SHRINK_MS))) {
		if (h != NULL)
			member_drain(p, h);
		s->failures = 0;
		p->want--;
		log_debug("%s: %d helpers", __func__, p->want);
		return;
	}
	h = p->slots[0].cur;
	if (p->want == 1 && h != NULL && h->state == H_READY &&
	    h->served > 0 && h->inflight == 0 && !h->recycle &&
	    now - h->idle_since >= FRESH_MS) {
		log_debug("%s: helper %d idle: a fresh one", __func__,
		    (int)h->pid);
		h->recycle = 1;
	}
}

/* Fork a helper for each empty slot in use, and each replacement due. */
static void
fill_slots(struct pool *p, long long now, long long *next)
{
	struct slot	*s;
	int		 i;

	for (i = 0; i < p->want; i++) {
		s = &p->slots[i];
		if (now < s->start_at) {
			if (s->start_at < *next)
				*next = s->start_at;
			continue;
		}
		if (s->cur == NULL && s->next == NULL) {
			if ((s->cur = pool_parent_fork(p, i)) != NULL &&
			    s->started++ > 0)
				p->restarts++;
		} else if (s->cur != NULL && s->cur->recycle &&
		    s->next == NULL)
			s->next = pool_parent_fork(p, i);
	}
}

/* Waiting requests past their deadline: the service is overloaded. */
static void
expire_queue(struct pool *p, long long now, long long *next)
{
	struct req	*r, *rtmp;

	TAILQ_FOREACH_SAFE(r, &p->queue, entry, rtmp) {
		if (r->deadline <= now) {
			TAILQ_REMOVE(&p->queue, r, entry);
			p->nqueued--;
			r->queued = 0;
			req_done(p, r, POOL_BUSY, "timed out waiting for an "
			    "extraction slot", NULL);
		} else if (r->deadline < *next)
			*next = r->deadline;
	}
	if (storm(p))
		while ((r = TAILQ_FIRST(&p->queue)) != NULL) {
			TAILQ_REMOVE(&p->queue, r, entry);
			p->nqueued--;
			r->queued = 0;
			req_done(p, r, POOL_BUSY, "no extraction helper is "
			    "running", NULL);
		}
}

/*
 * One helper's clocks: its ping, its work's deadlines (that work
 * answers 504 and the helper is replaced; its other work goes on), its
 * drain and its kill.  Returns -1 when it was lost.
 */
static int
tend(struct pool *p, struct member *h, long long now, long long *next)
{
	struct req	*r, *rtmp;

	/* A helper that stopped answering (stopped, wedged) would attract
	 * work while it looks idle: ask it every so often, and replace it
	 * when it says nothing. */
	if (h->state == H_READY && h->ping_at != 0 &&
	    now - h->ping_at >= PING_TIMEOUT_MS) {
		log_warnx("%s: helper %d does not answer: replacing it",
		    __func__, (int)h->pid);
		member_lost(p, h, "stopped answering");
		return -1;
	}
	if (h->state == H_READY && h->ping_at == 0 &&
	    now - h->pong_at >= PING_EVERY_MS && ping(p, h) == 0)
		h->ping_at = now;
	TAILQ_FOREACH_SAFE(r, &h->work, entry, rtmp) {
		if (r->deadline > now) {
			if (r->deadline < *next)
				*next = r->deadline;
			continue;
		}
		TAILQ_REMOVE(&h->work, r, entry);
		if (--h->inflight == 0)
			h->idle_since = now;
		p->inflight--;
		h->abandoned++;
		p->timeouts++;
		req_done(p, r, POOL_TIMEOUT, "extraction timed out", NULL);
		if (h->slot >= 0) {
			log_warnx("%s: helper %d: extraction past %d s: "
			    "replacing it", __func__, (int)h->pid,
			    p->o.timeout);
			member_drain(p, h);
		}
	}
	if (h->state == H_DRAINING && h->inflight == 0 && h->kill_at == 0) {
		if (h->abandoned > 0) {
			/* Stuck inside: nothing to wait for. */
			member_lost(p, h, "killed");
			return -1;
		}
		if (helper_pending(h->proc) == 0)
			helper_close_input(h->proc);	/* EOF: it exits */
		h->kill_at = now + DRAIN_KILL_MS;
	}
	if (h->kill_at != 0) {
		if (now >= h->kill_at) {
			member_lost(p, h, h->state == H_STARTING ?
			    "did not start in time" : "did not exit in time");
			return -1;
		}
		if (h->kill_at < *next)
			*next = h->kill_at;
	}
	return 0;
}

/*
 * Everything time- and state-driven, once per loop: the parent, the
 * number of helpers, helpers for empty slots (after backoff) and
 * replacements for those due, deadlines, drained helpers closed and
 * killed, memory.  Returns the milliseconds until the next thing is due.
 */
static long long
maintain(struct pool *p)
{
	struct member	*h, *tmp;
	long long	 now = proc_now_ms(), next;

	check_memory(p, now);
	next = pool_parent_maintain(p, now);
	size_pool(p, now);
	fill_slots(p, now, &next);
	expire_queue(p, now, &next);
	LIST_FOREACH_SAFE(h, &p->helpers, entry, tmp)
		tend(p, h, now, &next);
	dispatch(p);
	return next > now ? next - now : 0;
}

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
			member_lost(p, h, h->state == H_STARTING ?
			    "failed to start" : "exited");
		}
	} else if (helper_flush(h->proc) == -1)
		member_lost(p, h, "closed its input");
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
supervisor(void *arg)
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
		wait = maintain(p);
		deliver(p);
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
				member_lost(p, h, "closed its input");
		deliver(p);
	}
	pthread_mutex_unlock(&p->mtx);
	free(ps.pfd);
	free(ps.who);
	free(ps.what);
	return NULL;
}
