/*
 * What the supervisor does on each pass (pool_maintain): fork a helper
 * (pool_parent.c) for each slot in use (with backoff after crashes) and
 * a replacement beside one due for recycling; grow the slots in use with
 * the work waiting and shrink them when helpers idle; hand queued
 * requests to the least loaded ready helper; enforce deadlines, ping,
 * drain and kill.
 */

#include "config.h"

#include <sys/queue.h>
#include <sys/types.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "egress.h"
#include "helper.h"
#include "log.h"
#include "pool_impl.h"
#include "proc.h"
#include "procstat.h"

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
 * Best helper for new work: ready, least loaded (the first in slot
 * order among equals), with room.
 */
static struct member *
pick(struct pool *p)
{
	struct member	*h, *best = NULL;
	int		 i;

	for (i = 0; i < p->want; i++) {
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
 * How much of a processor each ready helper wanted (ran or waited to
 * run) since the last look, in percent.
 */
static void
measure(struct pool *p, long long now)
{
	struct member	*h;
	long long	 t;

	LIST_FOREACH(h, &p->helpers, entry) {
		if (h->pid <= 0 || h->state != H_READY ||
		    (t = procstat_busy_ms(h->pid)) < 0)
			continue;
		h->busy = h->busy_at > 0 && now > h->busy_at ?
		    (int)((t - h->busy_ms) * 100 / (now - h->busy_at)) : 0;
		h->busy_ms = t;
		h->busy_at = now;
	}
}

/*
 * Memory follows the work.  One helper runs at idle; it may run every
 * extraction at once (most of an extraction is waiting for TikTok).
 * Another is forked (in milliseconds) when every helper in use wants a
 * whole processor (CPU_BUSY) and there is work for one more, up to
 * HELPERS; the last one goes (it finishes its work) when for SHRINK_MS
 * fewer would have done.  The last helper, idle FRESH_MS after work, is
 * replaced by a fresh fork (a used helper keeps what its extractions
 * touched).
 */
static void
size_pool(struct pool *p, long long now)
{
	struct member	*h;
	struct slot	*s;
	int		 i, n = 0, busy = 0, total = 0;

	if (now - p->measured >= CPU_EVERY_MS) {
		p->measured = now;
		measure(p, now);
		for (i = 0; i < p->want; i++)
			if ((h = p->slots[i].cur) != NULL &&
			    h->state == H_READY) {
				n++;
				total += h->busy;
				busy += h->busy >= CPU_BUSY;
			}
		if (n == p->want && busy == n && p->want < p->o.helpers &&
		    p->inflight + p->nqueued > p->want) {
			p->want++;
			p->calm_since = 0;
			log_debug("%s: %d helpers (each busy)", __func__,
			    p->want);
			return;
		}
		if (p->want > 1 && total < CPU_BUSY * (p->want - 1)) {
			if (p->calm_since == 0)
				p->calm_since = now;
		} else
			p->calm_since = 0;
	}
	if (p->want > 1 && p->calm_since != 0 &&
	    now - p->calm_since >= SHRINK_MS) {
		s = &p->slots[p->want - 1];
		if (s->next != NULL)
			member_drain(p, s->next);
		if (s->cur != NULL)
			member_drain(p, s->cur);
		s->failures = 0;
		p->want--;
		p->calm_since = 0;
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
long long
pool_maintain(struct pool *p)
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
