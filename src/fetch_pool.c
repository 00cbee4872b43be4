/* SPDX-License-Identifier: ISC */
/*
 * The idle handles of fetch (fetch.h): kept with their connections,
 * taken most recently used first, matched by origin and egress.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "egress.h"
#include "fetch.h"
#include "fetch_impl.h"
#include "proc.h"

#define POOL_MAX	32	/* idle handles kept */
#define POOL_IDLE_MS	60000	/* an idle handle older is let go */

static pthread_mutex_t		 pool_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct fetch_conn	*pool[POOL_MAX];	/* idle, oldest first */
static int			 npool;

static void
conn_free(struct fetch_conn *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	free(c);
}

/* "scheme://host:port" of url, into out. */
static void
origin_of(const char *url, char *out, size_t sz)
{
	const char	*p;
	size_t		 n;

	out[0] = '\0';
	if (url == NULL || (p = strstr(url, "://")) == NULL)
		return;
	n = (size_t)(p + 3 - url) + strcspn(p + 3, "/?#");
	snprintf(out, sz, "%.*s", (int)n, url);
}

/*
 * A handle for a request to url through egress e (NULL: the next in
 * turn; none configured: straight out), set up with the safety rules:
 * an idle one that last spoke to the same origin the same way if there
 * is one (its connection is reused), else the most recently used, else a
 * new one.  Give it back with fetch_give.  NULL on failure.
 */
struct fetch_conn *
fetch_take(const struct egress *e, const char *url)
{
	struct fetch_conn	*c = NULL;
	char			 o[128];
	int			 i, pick = -1;

	if (e == NULL)
		e = egress_pick(NULL);
	origin_of(url, o, sizeof(o));
	pthread_mutex_lock(&pool_mtx);
	for (i = npool - 1; i >= 0 && pick == -1; i--)
		if (pool[i]->e == e && strcmp(pool[i]->origin, o) == 0)
			pick = i;
	if (pick == -1 && npool > 0)
		pick = npool - 1;
	if (pick != -1) {
		c = pool[pick];
		memmove(&pool[pick], &pool[pick + 1],
		    (size_t)(npool - pick - 1) * sizeof(pool[0]));
		npool--;
	}
	pthread_mutex_unlock(&pool_mtx);
	if (c == NULL && ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->curl = curl_easy_init()) == NULL)) {
		conn_free(c);
		return NULL;
	}
	c->e = e;
	if (fetch_setup(c->curl, e) == -1) {
		conn_free(c);
		return NULL;
	}
	return c;
}

/* The libcurl handle of c, for the caller's options and perform. */
CURL *
fetch_curl(struct fetch_conn *c)
{
	return c->curl;
}

/*
 * Let go of the handles idle for more than POOL_IDLE_MS (and of their
 * connections), as fetch_give does; for a timer, when nothing is given
 * back for a while.
 */
void
fetch_trim(void)
{
	struct fetch_conn	*old[POOL_MAX];
	long long		 now = proc_now_ms();
	int			 n = 0, i;

	pthread_mutex_lock(&pool_mtx);
	while (npool > 0 && now - pool[0]->since > POOL_IDLE_MS) {
		old[n++] = pool[0];
		memmove(&pool[0], &pool[1], (size_t)(npool - 1) *
		    sizeof(pool[0]));
		npool--;
	}
	pthread_mutex_unlock(&pool_mtx);
	for (i = 0; i < n; i++)
		conn_free(old[i]);
}

/*
 * Done with c: it goes back to the idle handles with its connections
 * (the oldest let go when there are POOL_MAX, and those idle for
 * POOL_IDLE_MS: fetch_trim).  c may be NULL.
 */
void
fetch_give(struct fetch_conn *c)
{
	struct fetch_conn	*oldest = NULL;
	char			*url = NULL;

	if (c == NULL)
		return;
	curl_easy_getinfo(c->curl, CURLINFO_EFFECTIVE_URL, &url);
	origin_of(url, c->origin, sizeof(c->origin));
	/* Nothing of the request's (callbacks into its frame) stays. */
	curl_easy_reset(c->curl);
	c->since = proc_now_ms();
	pthread_mutex_lock(&pool_mtx);
	if (npool == POOL_MAX) {
		oldest = pool[0];
		memmove(&pool[0], &pool[1], (size_t)(npool - 1) *
		    sizeof(pool[0]));
		npool--;
	}
	pool[npool++] = c;
	pthread_mutex_unlock(&pool_mtx);
	conn_free(oldest);
	fetch_trim();
}

/* Every idle handle let go (fetch_cleanup). */
void
fetch_pool_clear(void)
{
	pthread_mutex_lock(&pool_mtx);
	while (npool > 0)
		conn_free(pool[--npool]);
	pthread_mutex_unlock(&pool_mtx);
}
