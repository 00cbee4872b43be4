/* SPDX-License-Identifier: ISC */
/*
 * Finding a post.  A short link (vm.tiktok.com/CODE, vt., /t/CODE,
 * v.douyin.com/CODE) names no id until followed; following it here, with
 * one HEAD request, gives the id, so that a short link and the long URL
 * of the same post share one cache entry and one extraction.  Follows
 * are shared (one per link at a time, the answer kept a while) and
 * bounded (a quarter of the slow threads at most, waiters included), so
 * that a silent proxy cannot take every thread.  If it cannot be
 * followed, or the bound is reached, the short link is handed to yt-dlp
 * as it is (its vm.tiktok extractor follows it too, holding no thread),
 * keyed by the link.  One the guard refuses is not.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fetch.h"
#include "log.h"
#include "post.h"
#include "proc.h"

#define SHORT_TIMEOUT	15	/* seconds, at most, to follow a short link */
#define FOLLOWS_KEPT	128	/* links followed (or following), kept */
#define FOLLOWS_MAX	64	/* follows and waiters at once, at most */
#define FAILED_KEEP_MS	30000	/* a link that could not be followed */

/* A short link: being followed, or where it led. */
struct follow {
	char		*link;		/* NULL: a free slot */
	int		 done;
	char		*final;		/* where it led, or NULL */
	int		 refused;	/* by the guard */
	long long	 at;		/* when done (ms) */
};

static pthread_mutex_t	 fmtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 fcv = PTHREAD_COND_INITIALIZER;
static struct follow	 follows[FOLLOWS_KEPT];
static int		 fbusy;		/* threads following or waiting */

/* Throw a body away (a short link's page). */
static size_t
discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

/*
 * Where a short link (vm.tiktok.com/CODE and kin) leads: its redirects
 * followed with a HEAD request, as yt-dlp does, through the proxy and
 * guard like every fetch, within timeout_s.  Returns the final URL (the
 * caller frees it), or NULL; *refused tells whether the guard refused
 * the link or a hop of it.
 */
static char *
final_url(const char *url, int timeout_s, int *refused)
{
	struct fetch_conn	*c;
	struct fetch_hops	 hops;
	char			*final = NULL, *out = NULL;
	CURL			*h;

	*refused = 0;
	if ((c = fetch_take(NULL, url)) == NULL)
		return NULL;
	h = fetch_curl(c);
	if (fetch_url(c, url) == -1) {
		*refused = 1;
		fetch_give(c);
		return NULL;
	}
	if (fetch_headers(c, &hops, NULL, NULL) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_NOBODY, 1L) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_USERAGENT,
	    "facebookexternalhit/1.1") == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)timeout_s) ==
	    CURLE_OK && curl_easy_perform(h) == CURLE_OK &&
	    curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &final) == CURLE_OK &&
	    final != NULL)
		out = strdup(final);
	*refused = hops.refused || fetch_blocked();
	fetch_give(c);
	return out;
}

/* How long what a follow found is good for (ms). */
static long long
keep_ms(const struct conf *conf, const struct follow *f)
{
	long long	 ttl = (long long)conf->cache_ttl * 1000;

	return f->final == NULL && !f->refused && ttl > FAILED_KEEP_MS ?
	    FAILED_KEEP_MS : ttl;
}

/* The slot for link (under fmtx): its own, else a free or the oldest
 * finished one, emptied; NULL when every slot is being followed. */
static struct follow *
slot(const char *link, int *mine)
{
	struct follow	*f, *pick = NULL;
	int		 i;

	for (i = 0; i < FOLLOWS_KEPT; i++) {
		f = &follows[i];
		if (f->link != NULL && strcmp(f->link, link) == 0) {
			*mine = 1;
			return f;
		}
		if (f->link == NULL || (f->done && (pick == NULL ||
		    (pick->link != NULL && f->at < pick->at))))
			pick = f;
	}
	*mine = 0;
	if (pick != NULL) {
		free(pick->link);
		free(pick->final);
		memset(pick, 0, sizeof(*pick));
	}
	return pick;
}

/*
 * Where link leads (*final, the caller frees it; NULL when it could not
 * be followed), shared with every other request for it and bounded (see
 * above); within timeout_s.  Returns 0, or -1 when the guard refused it.
 */
static int
follow_shared(const struct conf *conf, const char *link, int timeout_s,
    char **final)
{
	struct follow	*f;
	struct timespec	 ts;
	int		 mine, refused, bound;
	char		*got;

	*final = NULL;
	bound = conf->fcgi_threads / 4;
	bound = bound < 1 ? 1 : bound > FOLLOWS_MAX ? FOLLOWS_MAX : bound;
	pthread_mutex_lock(&fmtx);
	f = slot(link, &mine);
	if (f != NULL && mine && f->done &&
	    proc_now_ms() - f->at <= keep_ms(conf, f))
		goto known;
	if (f == NULL || fbusy >= bound) {
		pthread_mutex_unlock(&fmtx);
		return 0;	/* as it is, to yt-dlp */
	}
	if (mine && !f->done) {
		fbusy++;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += timeout_s + 1;
		while (!f->done && f->link != NULL && strcmp(f->link, link) == 0
		    && pthread_cond_timedwait(&fcv, &fmtx, &ts) == 0)
			;
		fbusy--;
		if (f->done && f->link != NULL && strcmp(f->link, link) == 0)
			goto known;
		pthread_mutex_unlock(&fmtx);
		return 0;	/* waited in vain */
	}
	/* Ours to follow: a free slot, or ours gone stale. */
	if (!mine && (f->link = strdup(link)) == NULL) {
		pthread_mutex_unlock(&fmtx);
		return 0;
	}
	free(f->final);
	f->final = NULL;
	f->refused = f->done = 0;
	fbusy++;
	pthread_mutex_unlock(&fmtx);
	got = final_url(link, timeout_s, &refused);
	pthread_mutex_lock(&fmtx);
	fbusy--;
	f->final = got;
	f->refused = refused;
	f->done = 1;
	f->at = proc_now_ms();
	pthread_cond_broadcast(&fcv);
known:
	*final = f->final != NULL ? strdup(f->final) : NULL;
	refused = f->refused;
	pthread_mutex_unlock(&fmtx);
	return refused ? -1 : 0;
}

/*
 * Follow pu's short link, if it is one, and name the post it leads to
 * (blocking: at most SHORT_TIMEOUT seconds, on a thread for slow work;
 * shared and bounded: follow_shared).  POSTURL_OK, POSTURL_NOT_POST when
 * it leads to no single post, POSTURL_REFUSED when the guard refused it.
 */
enum posturl_err
post_follow(const struct conf *conf, struct posturl *pu)
{
	enum posturl_err	 rc;
	struct posturl		 longer;
	char			*final;
	char			 buf[256];
	int			 t, refused;

	if (!pu->is_short)
		return POSTURL_OK;
	t = conf->ytdlp_timeout < SHORT_TIMEOUT ?
	    conf->ytdlp_timeout : SHORT_TIMEOUT;
	refused = follow_shared(conf, pu->page, t, &final) == -1;
	if (final == NULL) {
		if (refused) {
			/* Not handed to yt-dlp either: it would go there. */
			log_info("%s: %s: leads where fetches may not go",
			    __func__, log_filter(buf, sizeof(buf), pu->page));
			posturl_clear(pu);
			return POSTURL_REFUSED;
		}
		log_info("%s: %s: could not follow the short link", __func__,
		    log_filter(buf, sizeof(buf), pu->page));
		return POSTURL_OK;
	}
	rc = posturl_parse(final, conf->test_post_hosts, &longer);
	free(final);
	if (rc == POSTURL_OK && !longer.is_short) {
		posturl_clear(pu);
		*pu = longer;
		return POSTURL_OK;
	}
	posturl_clear(&longer);
	if (rc == POSTURL_NOT_POST) {
		posturl_clear(pu);
		return rc;
	}
	log_info("%s: %s: leads to no post", __func__,
	    log_filter(buf, sizeof(buf), pu->page));
	return POSTURL_OK;
}

/*
 * Fill pu with the post text names, a short link followed.  POSTURL_OK,
 * or why not (see posturl_parse).  The caller clears pu.
 */
enum posturl_err
post_find(const struct conf *conf, const char *text, struct posturl *pu)
{
	enum posturl_err	 rc;

	if ((rc = posturl_parse(text, conf->test_post_hosts, pu)) !=
	    POSTURL_OK)
		return rc;
	return post_follow(conf, pu);
}
