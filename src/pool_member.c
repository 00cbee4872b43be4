/* SPDX-License-Identifier: ISC */
/*
 * A helper as the pool keeps it: what its lines mean for it and for the
 * requests it holds (ready, started, answered, a pong), its drain, and
 * its loss (its work given one more chance on another helper).
 */

#include "config.h"

#include <sys/queue.h>
#include <sys/types.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "answer.h"
#include "egress.h"
#include "helper.h"
#include "log.h"
#include "pool_answer.h"
#include "pool_impl.h"
#include "proc.h"

/* Take h out of its slot; it gets no new work from now on. */

void
pool_member_drain(struct pool *p, struct member *h)
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
pool_member_lost(struct pool *p, struct member *h, const char *why)
{
	struct req	*r;
	struct slot	*s;
	int		 crashed, i;
	long long	 backoff;

	crashed = h->state != H_DRAINING;
	if (crashed)
		log_warnx("%s: helper %d %s", __func__, (int)h->pid, why);
	else
		log_debug("%s: helper %d (drained) %s", __func__, (int)h->pid,
		    why);
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
	pool_member_drain(p, h);
	while ((r = TAILQ_FIRST(&h->work)) != NULL) {
		TAILQ_REMOVE(&h->work, r, entry);
		p->inflight--;
		if ((r->started && r->retried) || r->handed >= HANDOVERS_MAX) {
			pool_req_done(p, r, FAIL_OTHER, "the extraction helper "
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
	for (i = 0; i < p->o.helpers; i++)
		if (p->slots[i].old == h)
			p->slots[i].old = NULL;
	if (h->from != NULL)
		h->from->children--;
	LIST_REMOVE(h, entry);
	helper_free(h->proc);
	free(h->version);
	free(h);
}

/*
 * TikTok refused r on its egress: that egress rests, and r is tried once
 * more on another, first in the queue.  Returns 1 when r was requeued.
 */
static int
moved_on(struct pool *p, struct req *r)
{
	const struct egress	*alt;

	egress_note(r->egress, EGRESS_BLOCKED);
	if (r->moved || (alt = egress_pick(r->egress)) == NULL ||
	    alt == r->egress)
		return 0;
	log_info("%s: refused through egress %s: trying %s", __func__,
	    egress_id(r->egress), egress_id(alt));
	r->moved = 1;
	r->egress = alt;
	r->queued = 1;
	TAILQ_INSERT_HEAD(&p->queue, r, entry);
	p->nqueued++;
	return 1;
}

/* The handshake: it is ready; a replacement takes its slot. */
static int
on_ready(struct pool *p, struct member *h, const char *version)
{
	struct slot	*s;

	if (h->state != H_STARTING)
		return -1;
	free(h->version);
	h->version = strdup(version);
	free(p->version);
	p->version = strdup(version);
	h->state = H_READY;
	h->pong_at = h->idle_since = proc_now_ms();
	h->kill_at = 0;
	if (h->pid != 0)	/* else said when its parent tells its pid */
		log_info("%s: helper %d ready (yt-dlp %s)", __func__,
		    (int)h->pid, version);
	s = &p->slots[h->slot];
	if (s->next == h) {
		/* The replacement is up: the old one drains. */
		if (s->cur != NULL)
			pool_member_drain(p, s->cur);
		s->cur = h;
		s->next = NULL;
	}
	return 0;
}

/*
 * An extraction began: its clock runs from now (time before it, a
 * helper busy or slow to warm, is not the extraction's).
 */
static void
on_started(struct pool *p, struct req *r)
{
	if (r != NULL && !r->started) {
		r->started = 1;
		r->deadline = proc_now_ms() + (long long)p->o.timeout * 1000;
	}
}

/* Since when r has been in flight on h, as read_cpu() counts. */
long long
pool_member_since(const struct member *h, const struct req *r)
{
	return r->handed_at > h->cpu_at ? r->handed_at : h->cpu_at;
}

/* r answered: it ends, or a refusal moves it to another egress. */
static void
on_result(struct pool *p, struct member *h, struct req *r,
    const struct pool_answer *a)
{
	struct json_object	*v;
	char			 logbuf[512];

	TAILQ_REMOVE(&h->work, r, entry);
	if (h->cpu_at != 0)
		h->ran_ms += proc_now_ms() - pool_member_since(h, r);
	if (--h->inflight == 0)
		h->idle_since = proc_now_ms();
	p->inflight--;
	h->served++;
	if (h->slot >= 0)
		p->slots[h->slot].failures = 0;
	if (a->info != NULL) {
		pool_note(p, FAIL_OK, r->url);
		egress_note(r->egress, EGRESS_OK);
		/* Its CDN URLs are fetched the way it came (fetch, tokens):
		 * without saying which, not at all. */
		v = r->egress != NULL ?
		    json_object_new_string(egress_id(r->egress)) : NULL;
		if (r->egress != NULL && (v == NULL ||
		    json_object_object_add(a->info, "_egress", v) != 0)) {
			json_object_put(v);
			pool_req_done(p, r, FAIL_OTHER, "out of memory", NULL);
		} else
			pool_req_done(p, r, FAIL_OK, NULL,
			    json_object_get(a->info));
	} else {
		/* yt-dlp's words are for the operator, not the client; a
		 * TikTok out of reach is the operator's to act on. */
		if (a->err == FAIL_UNREACHABLE)
			log_warnx("%s: TikTok could not be reached%s%s: %s",
			    __func__, r->egress != NULL ? " through egress " :
			    "", r->egress != NULL ? egress_id(r->egress) : "",
			    log_filter(logbuf, sizeof(logbuf), a->msg));
		else
			log_info("%s: helper %d: %s: %s", __func__,
			    (int)h->pid, answer_name(a->err),
			    log_filter(logbuf, sizeof(logbuf), a->msg));
		pool_note(p, a->err, r->url);
		if (a->err != FAIL_BLOCKED || !moved_on(p, r)) {
			if (a->err != FAIL_BLOCKED &&
			    a->err != FAIL_UNSUPPORTED)
				egress_note(r->egress, EGRESS_FAILED);
			pool_req_done(p, r, a->err, NULL, NULL);
		}
	}
	if (h->limit > 0 && h->served >= h->limit && !h->recycle) {
		log_info("%s: helper %d served %d requests: recycling",
		    __func__, (int)h->pid, h->served);
		h->recycle = RECYCLE_IDLE;
	}
}

/*
 * One line from a helper (pool_answer.h reads it).  Returns -1 when the
 * line breaks the protocol (the helper is then replaced).
 */
int
pool_member_line(struct pool *p, struct member *h, const char *line,
    size_t len)
{
	struct pool_answer	 a;
	struct req		*r;
	int			 rc = 0;

	if (pool_answer_parse(&a, line, len) == -1)
		return -1;
	if (a.what == POOL_ANSWER_READY) {
		rc = on_ready(p, h, a.version);
		pool_answer_clear(&a);
		return rc;
	}
	if (a.what == POOL_ANSWER_DONE && h->ping_at != 0 &&
	    a.id == h->ping_id) {
		/* It lives (its main loop answers, busy or not). */
		h->ping_at = 0;
		h->pong_at = proc_now_ms();
		pool_answer_clear(&a);
		return 0;
	}
	TAILQ_FOREACH(r, &h->work, entry)
		if (r->id == a.id)
			break;
	if (a.what == POOL_ANSWER_STARTED)
		on_started(p, r);
	else if (r != NULL)
		on_result(p, h, r, &a);
	else if (h->abandoned > 0)
		h->abandoned--;	/* an answer to work that timed out */
	pool_answer_clear(&a);
	return rc;
}
