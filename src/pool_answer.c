/*
 * What a helper says: its handshake and its answers (member_line), the
 * kind of each failure, and what a run of answers says about us (yt-dlp
 * outdated, TikTok refusing this address: pool_note).
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

static enum pool_err
kind_parse(const char *k)
{
	if (k == NULL)
		return POOL_OTHER;
	if (strcmp(k, "not_found") == 0)
		return POOL_NOT_FOUND;
	if (strcmp(k, "private") == 0)
		return POOL_PRIVATE;
	if (strcmp(k, "blocked") == 0)
		return POOL_BLOCKED;
	if (strcmp(k, "unsupported") == 0)
		return POOL_UNSUPPORTED;
	if (strcmp(k, "timeout") == 0)
		return POOL_TIMEOUT;
	if (strcmp(k, "unreadable") == 0)
		return POOL_UNREADABLE;
	return POOL_OTHER;
}

/*
 * What a string of answers says about us: yt-dlp outdated (its answers
 * unreadable, again and again), or TikTok refusing this address (several
 * distinct posts refused as "blocked" in a short while, no success
 * since).  Any success clears both.  Called with the lock held.
 */
void
pool_note(struct pool *p, enum pool_err err, const char *url)
{
	unsigned int	 hv = 2166136261u;
	long long	 now = proc_now_ms();
	int		 i;

	if (err == POOL_OK) {
		p->unreadable = 0;
		p->nrefused = 0;
		return;
	}
	if (err == POOL_UNREADABLE)
		p->unreadable++;
	if (err != POOL_BLOCKED)
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

/*
 * One line from a helper.  Returns -1 when the line breaks the protocol
 * (the helper is then replaced).
 */
int
member_line(struct pool *p, struct member *h, const char *line, size_t len)
{
	struct json_tokener	*jt;
	struct json_object	*o, *v, *info = NULL;
	struct req		*r;
	unsigned long		 id;
	const char		*msg;
	enum pool_err		 err;
	struct slot		*s;
	char			 logbuf[512];

	if ((jt = json_tokener_new_ex(64)) == NULL)
		return -1;
	o = json_tokener_parse_ex(jt, line, (int)len);
	if (o == NULL || json_tokener_get_error(jt) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		json_tokener_free(jt);
		json_object_put(o);
		return -1;
	}
	json_tokener_free(jt);

	if (json_object_object_get_ex(o, "ready", &v)) {
		if (h->state != H_STARTING || !json_object_get_boolean(v)) {
			json_object_put(o);
			return -1;
		}
		/* The version must be a string: anything else (null) is a
		 * broken helper, replaced like any other. */
		if (!json_object_object_get_ex(o, "ytdlp", &v) ||
		    !json_object_is_type(v, json_type_string)) {
			json_object_put(o);
			return -1;
		}
		free(h->version);
		h->version = strdup(json_object_get_string(v));
		free(p->version);
		p->version = strdup(json_object_get_string(v));
		h->state = H_READY;
		h->pong_at = h->idle_since = proc_now_ms();
		h->kill_at = 0;
		log_info("%s: helper %d ready (yt-dlp %s)", __func__,
		    (int)h->pid, h->version ? h->version : "?");
		s = &p->slots[h->slot];
		if (s->next == h) {
			/* The replacement is up: the old one drains. */
			if (s->cur != NULL)
				member_drain(p, s->cur);
			s->cur = h;
			s->next = NULL;
		}
		json_object_put(o);
		return 0;
	}
	if (!json_object_object_get_ex(o, "id", &v)) {
		json_object_put(o);
		return -1;
	}
	id = (unsigned long)json_object_get_int64(v);
	if (h->ping_at != 0 && id == h->ping_id) {
		/* It lives (its main loop answers, busy or not). */
		h->ping_at = 0;
		h->pong_at = proc_now_ms();
		json_object_put(o);
		return 0;
	}
	TAILQ_FOREACH(r, &h->work, entry)
		if (r->id == id)
			break;
	if (json_object_object_get_ex(o, "started", &v)) {
		/* Its clock runs from now: time spent before it started
		 * (a helper busy or slow to warm) is not the extraction's. */
		if (r != NULL && !r->started) {
			r->started = 1;
			r->deadline = proc_now_ms() +
			    (long long)p->o.timeout * 1000;
		}
		json_object_put(o);
		return 0;
	}
	if (r == NULL) {
		/* An answer to work that timed out: drop it. */
		if (h->abandoned > 0)
			h->abandoned--;
		json_object_put(o);
		return 0;
	}
	TAILQ_REMOVE(&h->work, r, entry);
	if (--h->inflight == 0)
		h->idle_since = proc_now_ms();
	p->inflight--;
	h->served++;
	if (h->slot >= 0)
		p->slots[h->slot].failures = 0;
	if (json_object_object_get_ex(o, "ok", &v) &&
	    json_object_get_boolean(v) &&
	    json_object_object_get_ex(o, "info", &info) &&
	    json_object_is_type(info, json_type_object)) {
		pool_note(p, POOL_OK, r->url);
		egress_note(r->egress, EGRESS_OK);
		/* Its CDN URLs are fetched the way it came (fetch, tokens). */
		if (r->egress != NULL)
			json_object_object_add(info, "_egress",
			    json_object_new_string(egress_id(r->egress)));
		req_done(p, r, POOL_OK, NULL, json_object_get(info));
	} else {
		msg = json_object_object_get_ex(o, "error", &v) ?
		    json_object_get_string(v) : "extraction failed";
		err = kind_parse(json_object_object_get_ex(o, "kind", &v) ?
		    json_object_get_string(v) : NULL);
		/* yt-dlp's words are for the operator, not the client. */
		log_info("%s: helper %d: %s: %s", __func__, (int)h->pid,
		    pool_strerror(err), log_filter(logbuf, sizeof(logbuf),
		    msg));
		pool_note(p, err, r->url);
		if (err == POOL_BLOCKED && moved_on(p, r))
			r = NULL;
		else {
			if (err != POOL_BLOCKED && err != POOL_UNSUPPORTED)
				egress_note(r->egress, EGRESS_FAILED);
			req_done(p, r, err, NULL, NULL);
		}
	}
	json_object_put(o);
	if (h->limit > 0 && h->served >= h->limit && !h->recycle) {
		log_info("%s: helper %d served %d requests: recycling",
		    __func__, (int)h->pid, h->served);
		h->recycle = 1;
	}
	return 0;
}

