/* SPDX-License-Identifier: ISC */
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

#include <errno.h>
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
 * Whether h still works on YOUNG_MAX extractions handed to it in the
 * last YOUNG_MS.  An extraction mostly waits for TikTok (and then a
 * helper runs many at once for little CPU and memory), unless TikTok
 * answers at once: then more at once in one helper only share its one
 * processor (one interpreter lock), and each holds its own memory.
 * Work that ends or waits past YOUNG_MS makes room; a helper whose work
 * was seen waiting (read_cpu()) takes as much as comes.
 */
static int
busy(const struct member *h, long long now)
{
	const struct req	*r;
	int			 n = 0;

	if (h->waiting)
		return 0;
	TAILQ_FOREACH(r, &h->work, entry)
		if (now - r->handed_at < YOUNG_MS && ++n >= YOUNG_MAX)
			return 1;
	return 0;
}

/*
 * Best helper for new work: ready, least loaded, with room, not busy();
 * among the slots the work needs first, so that one beyond them idles
 * and goes.
 */
static struct member *
pick(struct pool *p, long long now)
{
	struct member	*h, *best = NULL;
	int		 i, need = needed(p), pass;

	for (pass = 0; pass < 2 && best == NULL; pass++)
		for (i = 0; i < (pass == 0 ? need : p->want); i++) {
			h = p->slots[i].cur;
			if (h == NULL || h->state != H_READY ||
			    h->inflight >= p->per_helper || busy(h, now))
				continue;
			if (best == NULL || h->inflight < best->inflight)
				best = h;
		}
	return best;
}

/* Add v (NULL: out of memory) to o as key.  0, or -1 (v let go). */
static int
add(struct json_object *o, const char *key, struct json_object *v)
{
	if (v == NULL)
		return -1;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/* The request line for r, with a newline; NULL when out of memory. */
static char *
request_line(struct req *r, size_t *len)
{
	struct json_object	*o;
	const char		*s;
	char			*line = NULL;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	/* The way out: its turn, unless it was moved off a refused one.
	 * The proxy's credentials go down the pipe, never into an
	 * environment or argv. */
	if (!r->moved)
		r->egress = egress_pick(NULL);
	if (add(o, "id", json_object_new_int64((int64_t)r->id)) == -1 ||
	    add(o, "op", json_object_new_string("extract")) == -1 ||
	    add(o, "url", json_object_new_string(r->url)) == -1 ||
	    (r->egress != NULL && add(o, "proxy",
	    json_object_new_string(egress_url(r->egress))) == -1) ||
	    (s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN,
	    len)) == NULL)
		goto out;
	if ((line = malloc(*len + 1)) != NULL) {
		memcpy(line, s, *len);
		line[(*len)++] = '\n';
	}
out:
	json_object_put(o);
	return line;
}

static void
dispatch(struct pool *p, long long now, long long *next)
{
	struct req	*r;
	struct member	*h;
	size_t		 len;
	char		*line;
	int		 full;

	while ((r = TAILQ_FIRST(&p->queue)) != NULL &&
	    p->inflight < p->o.max_workers && (h = pick(p, now)) != NULL) {
		line = request_line(r, &len);
		TAILQ_REMOVE(&p->queue, r, entry);
		p->nqueued--;
		r->queued = 0;
		if (line == NULL || helper_send(h->proc, line, len) == -1) {
			/* Refused for its size: the helper has not read
			 * what it was sent (its input is full). */
			full = line != NULL && errno == EMSGSIZE;
			if (full)
				log_warnx("%s: helper %d is not reading its "
				    "input", __func__, (int)helper_pid(h->proc));
			free(line);
			pool_req_done(p, r, FAIL_OTHER, full ? "the helper is "
			    "not reading its input" : "out of memory", NULL);
			continue;
		}
		free(line);
		r->helper = h;
		r->handed++;
		r->started = 0;
		r->handed_at = now;
		r->deadline = now + (long long)p->o.timeout * 1000;
		TAILQ_INSERT_TAIL(&h->work, r, entry);
		h->inflight++;
		p->inflight++;
		p->requests++;
	}
	/* Work left waiting for a busy() helper: look again soon. */
	if (r != NULL && p->inflight < p->o.max_workers &&
	    now + YOUNG_MS / 2 < *next)
		*next = now + YOUNG_MS / 2;
}

/*
 * Every CPU_EVERY_MS while h works: of the time its extractions were in
 * flight since the last look (summed over them), what share did h spend
 * on a processor?  Under CPU_WAITING_PCT, they mostly wait for TikTok
 * (busy()).  Extractions that only share h's one processor (TikTok
 * answering at once) still get a tenth each when ten run at once, so
 * waiting is not mistaken for that.  Idle, or unknown: not waiting.
 */
static void
read_cpu(struct member *h, long long now)
{
	const struct req	*r;
	long long		 ms, ran;

	if (h->inflight > 0 && h->cpu_at != 0 &&
	    now - h->cpu_at < CPU_EVERY_MS)
		return;
	if (h->inflight == 0 || h->pid <= 0 ||
	    (ms = procstat_cpu_ms(h->pid)) < 0) {
		h->cpu_at = 0;
		h->waiting = 0;
		return;
	}
	if (h->cpu_at != 0) {
		ran = h->ran_ms;
		TAILQ_FOREACH(r, &h->work, entry)
			ran += now - pool_member_since(h, r);
		h->waiting = ran > 0 && (ms - h->cpu_ms) * 100 <
		    (long long)CPU_WAITING_PCT * ran;
	}
	h->cpu_ms = ms;
	h->cpu_at = now;
	h->ran_ms = 0;
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
		if (h->state == H_READY && h->slot >= 0 &&
		    h->recycle != RECYCLE_NOW &&
		    h->rss_kb > 1024L * p->o.max_rss_mb) {
			log_info("%s: helper %d uses %ld KiB: recycling",
			    __func__, (int)h->pid, h->rss_kb);
			h->recycle = RECYCLE_NOW;
		}
	}
}

/*
 * Memory follows the work: as many slots in use as the work needs (at
 * once: a fork is ready in milliseconds), one fewer when the helper of
 * the last slot has idled SHRINK_MS while the work needs fewer.  The
 * last one stays, warm.
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
			pool_member_drain(p, h);
		s->failures = 0;
		p->want--;
		log_debug("%s: %d helpers", __func__, p->want);
	}
}

/* A helper due for recycling is to be replaced now (RECYCLE_IDLE). */
static int
replace_now(const struct member *h)
{
	return h->recycle == RECYCLE_NOW || h->inflight == 0 ||
	    h->served >= 2 * h->limit;
}

/*
 * Whether a ready helper of a slot other than i takes work (one due
 * for recycling by its count still does, until its turn).
 */
static int
carried(struct pool *p, int i)
{
	int	 k;

	for (k = 0; k < p->want; k++)
		if (k != i && p->slots[k].cur != NULL &&
		    p->slots[k].cur->state == H_READY &&
		    p->slots[k].cur->recycle != RECYCLE_NOW)
			return 1;
	return 0;
}

/*
 * Whether a helper is on its way in or out (starting, or draining).
 * Helpers due by their count are then replaced one after the other:
 * together, the replacement of one forked beside another's drain,
 * they held up to twice HELPERS helpers in memory at once.
 */
static int
changing(struct pool *p)
{
	struct member	*h;

	LIST_FOREACH(h, &p->helpers, entry)
		if (h->state != H_READY)
			return 1;
	return 0;
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
		/* A helper that went first is replaced once it is gone, or
		 * at once when no other is left to carry the work (shrunk,
		 * lost meanwhile). */
		if (s->cur == NULL && s->next == NULL &&
		    (s->old == NULL || !carried(p, i))) {
			if ((s->cur = pool_parent_fork(p, i)) != NULL &&
			    s->started++ > 0)
				p->restarts++;
		} else if (s->cur != NULL && s->cur->recycle &&
		    s->next == NULL) {
			if (s->cur->recycle == RECYCLE_IDLE && changing(p))
				continue;	/* its turn comes */
			if (s->cur->recycle == RECYCLE_IDLE && carried(p, i)) {
				/* It goes first (it ends the work it has, new
				 * work goes to the others); its replacement
				 * after. */
				log_info("%s: helper %d goes, then its "
				    "replacement comes", __func__,
				    (int)s->cur->pid);
				s->old = s->cur;
				pool_member_drain(p, s->cur);
			} else if (replace_now(s->cur))
				s->next = pool_parent_fork(p, i);
		}
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
			pool_req_done(p, r, FAIL_BUSY, "timed out waiting "
			    "for an extraction slot", NULL);
		} else if (r->deadline < *next)
			*next = r->deadline;
	}
	if (pool_storm(p))
		while ((r = TAILQ_FIRST(&p->queue)) != NULL) {
			TAILQ_REMOVE(&p->queue, r, entry);
			p->nqueued--;
			r->queued = 0;
			pool_req_done(p, r, FAIL_BUSY, "no extraction helper "
			    "is running", NULL);
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
		pool_member_lost(p, h, "stopped answering");
		return -1;
	}
	if (h->state == H_READY && h->ping_at == 0 &&
	    now - h->pong_at >= PING_EVERY_MS && ping(p, h) == 0)
		h->ping_at = now;
	if (h->state == H_READY)
		read_cpu(h, now);
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
		pool_req_done(p, r, FAIL_TIMEOUT, "extraction timed out", NULL);
		if (h->slot >= 0) {
			log_warnx("%s: helper %d: extraction past %d s: "
			    "replacing it", __func__, (int)h->pid,
			    p->o.timeout);
			pool_member_drain(p, h);
		}
	}
	if (h->state == H_DRAINING && h->inflight == 0 && h->kill_at == 0) {
		if (h->abandoned > 0) {
			/* Stuck inside: nothing to wait for. */
			pool_member_lost(p, h, "killed");
			return -1;
		}
		if (helper_pending(h->proc) == 0)
			helper_close_input(h->proc);	/* EOF: it exits */
		h->kill_at = now + DRAIN_KILL_MS;
	}
	if (h->kill_at != 0) {
		if (now >= h->kill_at) {
			pool_member_lost(p, h, h->state == H_STARTING ?
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
	dispatch(p, now, &next);
	return next > now ? next - now : 0;
}
