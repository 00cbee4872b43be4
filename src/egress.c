/* SPDX-License-Identifier: ISC */
/*
 * The egress table (egress.h): built at start; then each entry's
 * counters and rest change, under one lock, and a reload (SIGHUP) may
 * retire entries and add others.  An entry is never freed or moved
 * while the program runs: extractions in flight hold pointers to them.
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "egress.h"
#include "log.h"
#include "proc.h"

#define EGRESS_MAX	64
#define REST_DOUBLINGS	6	/* at most 64 x EGRESS_REST */
#define FAILED_ROW	5	/* failures in a row, others succeeding: refused */

struct egress {
	char		*url;		/* with credentials: for curl, yt-dlp */
	char		 id[17];	/* 16 hex digits of a MAC of url */
	char		 shown[256];	/* without credentials: for people */
	long long	 rest_until;	/* monotonic ms; 0: usable */
	int		 refusals;	/* in a row, no success since */
	int		 failed_row;	/* other failures in a row */
	long long	 row_since;	/* monotonic ms: the row's first */
	long long	 ok_at;		/* monotonic ms: the last success */
	unsigned long	 successes;
	unsigned long	 blocks;
	int		 retired;	/* not in OUTBOUND_PROXY any more */
};

static struct egress	 table[EGRESS_MAX];
static int		 ntable;	/* entries made, retired ones too */
static int		 nactive;	/* entries not retired */
static int		 turn;		/* round robin */
static long long	 rest_ms = 60000;
static unsigned char	 id_key[32];
static pthread_mutex_t	 mtx = PTHREAD_MUTEX_INITIALIZER;

static const char *const schemes[] = { "http", "https", "socks4",
    "socks4a", "socks5", "socks5h", NULL };

/*
 * Parse one proxy URL; its scheme must be one libcurl and yt-dlp both
 * speak, and it must name a host.  shown gets it without credentials.
 * Returns 0, or -1 with why in err.
 */
static int
parse_one(const char *url, char *shown, size_t shownsz, char *err,
    size_t errsz)
{
	CURLU	*u;
	char	*scheme = NULL, *host = NULL, *out = NULL;
	int	 i, rc = -1;

	if ((u = curl_url()) == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) !=
	    CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) !=
	    CURLUE_OK || curl_url_get(u, CURLUPART_HOST, &host, 0) !=
	    CURLUE_OK || *host == '\0') {
		snprintf(err, errsz, "not a proxy URL (scheme://host:port)");
		goto out;
	}
	for (i = 0; schemes[i] != NULL; i++)
		if (strcmp(scheme, schemes[i]) == 0)
			break;
	if (schemes[i] == NULL) {
		snprintf(err, errsz, "scheme %s: not http, https, socks4, "
		    "socks4a, socks5 or socks5h", scheme);
		goto out;
	}
	curl_url_set(u, CURLUPART_USER, NULL, 0);
	curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
	if (curl_url_get(u, CURLUPART_URL, &out, CURLU_NON_SUPPORT_SCHEME) !=
	    CURLUE_OK) {
		snprintf(err, errsz, "not a proxy URL");
		goto out;
	}
	/* libcurl adds a "/" path; a proxy has none. */
	if (strlen(out) > 0 && out[strlen(out) - 1] == '/')
		out[strlen(out) - 1] = '\0';
	snprintf(shown, shownsz, "%s", out);
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(out);
	curl_url_cleanup(u);
	return rc;
}

/*
 * Split list on commas (spaces around entries ignored) and call fn on
 * each entry.  Returns -1 as soon as fn does.
 */
static int
each(const char *list, int (*fn)(const char *, int, void *), void *arg)
{
	const char	*p = list, *end;
	char		 one[2048];
	int		 n = 0;
	size_t		 len;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		end = strchrnul(p, ',');
		len = (size_t)(end - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len >= sizeof(one))
			len = sizeof(one) - 1;
		memcpy(one, p, len);
		one[len] = '\0';
		if (fn(one, n++, arg) == -1)
			return -1;
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

struct check_arg {
	char	*err;
	size_t	 errsz;
};

static int
check_one(const char *url, int n, void *arg)
{
	struct check_arg	*ca = arg;
	char			 shown[256], why[128];

	if (n >= EGRESS_MAX) {
		snprintf(ca->err, ca->errsz, "more than %d proxies", EGRESS_MAX);
		return -1;
	}
	if (*url == '\0') {
		snprintf(ca->err, ca->errsz, "entry %d is empty", n + 1);
		return -1;
	}
	if (parse_one(url, shown, sizeof(shown), why, sizeof(why)) == -1) {
		/* Never the entry itself: it may hold a password. */
		snprintf(ca->err, ca->errsz, "entry %d: %s", n + 1, why);
		return -1;
	}
	return 0;
}

/* Is list a usable OUTBOUND_PROXY?  0, or -1 with why in err. */
int
egress_check(const char *list, char *err, size_t errsz)
{
	struct check_arg	 ca = { err, errsz };

	return each(list, check_one, &ca);
}

static int
add_one(const char *url, int n, void *arg)
{
	struct egress	*e = &table[n];
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	char		 why[128];
	int		 i;

	(void)arg;
	if (n >= EGRESS_MAX || parse_one(url, e->shown, sizeof(e->shown),
	    why, sizeof(why)) == -1 || (e->url = strdup(url)) == NULL)
		return -1;
	/* Keyed: a plain hash of a URL with a password in it could be
	 * checked against guessed passwords by anyone who sees the id. */
	if (HMAC(EVP_sha256(), id_key, sizeof(id_key),
	    (const unsigned char *)url, strlen(url), md, &mdlen) == NULL ||
	    mdlen < 8)
		return -1;
	for (i = 0; i < 8; i++)
		snprintf(e->id + 2 * i, 3, "%02x", md[i]);
	ntable = n + 1;
	nactive = ntable;
	return 0;
}

/* A reload's entry: the one with that URL back in service (its counts
 * kept), else a new one at the end of the table. */
static int
keep_one(const char *url, int n, void *arg)
{
	int	 i, *seen = arg;

	(void)n;
	for (i = 0; i < ntable; i++)
		if (strcmp(table[i].url, url) == 0)
			break;
	if (i == ntable && add_one(url, ntable, NULL) == -1)
		return -1;
	if (!seen[i]) {
		seen[i] = 1;
		table[i].retired = 0;
	}
	return 0;
}

/*
 * OUTBOUND_PROXY and EGRESS_REST again (SIGHUP; list checked): the
 * entries of the list serve from now on, those that left it are
 * retired (no extraction or fetch picks them; links naming them are
 * fetched through the others), each entry's state is kept.  Returns 0,
 * or -1 when the table would pass EGRESS_MAX entries in all (nothing
 * changed then).
 */
int
egress_reload(const char *list, int rest_s)
{
	int	 seen[EGRESS_MAX], retired[EGRESS_MAX], i, old = ntable;
	int	 oldactive = nactive;

	memset(seen, 0, sizeof(seen));
	pthread_mutex_lock(&mtx);
	for (i = 0; i < ntable; i++)
		retired[i] = table[i].retired;
	if (list != NULL && each(list, keep_one, seen) == -1) {
		for (i = old; i < ntable; i++)
			free(table[i].url);
		memset(&table[old], 0, sizeof(table[0]) * (ntable - old));
		ntable = old;
		nactive = oldactive;
		for (i = 0; i < ntable; i++)
			table[i].retired = retired[i];
		pthread_mutex_unlock(&mtx);
		return -1;
	}
	rest_ms = 1000LL * rest_s;
	for (i = 0, nactive = 0; i < ntable; i++) {
		table[i].retired = !seen[i];
		nactive += seen[i];
	}
	pthread_mutex_unlock(&mtx);
	return 0;
}

/*
 * Build the table from OUTBOUND_PROXY (checked); NULL or "": none.  key
 * makes the ids (token_subkey of ENCRYPTION_KEY).  0, or -1.
 */
int
egress_init(const char *list, int rest_s, const unsigned char key[32])
{
	egress_free();
	rest_ms = 1000LL * rest_s;
	memcpy(id_key, key, sizeof(id_key));
	if (list == NULL)
		return 0;
	if (each(list, add_one, NULL) == -1) {
		egress_free();
		return -1;
	}
	return 0;
}

void
egress_free(void)
{
	int	 i;

	for (i = 0; i < ntable; i++)
		free(table[i].url);
	memset(table, 0, sizeof(table));
	OPENSSL_cleanse(id_key, sizeof(id_key));
	ntable = nactive = 0;
}

/* Proxies configured (0: straight out). */
int
egress_count(void)
{
	int	 n;

	pthread_mutex_lock(&mtx);
	n = nactive;
	pthread_mutex_unlock(&mtx);
	return n;
}

/*
 * The next egress in turn that is not resting and is not avoid; when
 * every other one rests, the one whose rest ends first (avoid only when
 * it is the only one).  NULL when there are no proxies.
 */
const struct egress *
egress_pick(const struct egress *avoid)
{
	const struct egress	*best = NULL;
	long long		 now = proc_now_ms();
	int			 i, k;

	pthread_mutex_lock(&mtx);
	if (nactive == 0) {
		pthread_mutex_unlock(&mtx);
		return NULL;
	}
	for (i = 0; i < ntable; i++) {
		k = (turn + i) % ntable;
		if (&table[k] == avoid || table[k].retired)
			continue;
		if (table[k].rest_until <= now) {
			best = &table[k];
			turn = k + 1;
			break;
		}
		if (best == NULL || table[k].rest_until < best->rest_until)
			best = &table[k];
	}
	if (best == NULL && avoid != NULL && !avoid->retired)
		best = avoid;
	pthread_mutex_unlock(&mtx);
	return best;
}

/* The egress with that id, or NULL (not in this instance's list). */
const struct egress *
egress_find(const char *id)
{
	const struct egress	*e = NULL;
	int			 i;

	if (id == NULL)
		return NULL;
	pthread_mutex_lock(&mtx);
	for (i = 0; i < ntable && e == NULL; i++)
		if (!table[i].retired && strcmp(table[i].id, id) == 0)
			e = &table[i];
	pthread_mutex_unlock(&mtx);
	return e;
}

const char *
egress_url(const struct egress *e)
{
	return e != NULL ? e->url : NULL;
}

const char *
egress_id(const struct egress *e)
{
	return e != NULL ? e->id : NULL;
}

/*
 * Has another egress than e, usable now, succeeded since e's failures
 * began?  (Then e's failures are e's, not the posts'.)  With the lock.
 */
static int
others_succeed(const struct egress *e, long long now)
{
	int	 i;

	for (i = 0; i < ntable; i++)
		if (&table[i] != e && !table[i].retired &&
		    table[i].rest_until <= now &&
		    table[i].ok_at >= e->row_since && table[i].ok_at != 0)
			return 1;
	return 0;
}

/*
 * What an extraction through e came to.  Refused (TikTok's 403 or 429,
 * or FAILED_ROW failures in a row while another egress succeeds): e
 * rests, twice as long as last time.  A success ends the back-off.
 */
void
egress_note(const struct egress *ce, enum egress_outcome what)
{
	struct egress	*e = (struct egress *)(uintptr_t)ce;
	long long	 rest, now = proc_now_ms();

	if (e == NULL)
		return;
	pthread_mutex_lock(&mtx);
	if (what == EGRESS_FAILED) {
		if (e->failed_row++ == 0)
			e->row_since = now;
		if (e->failed_row < FAILED_ROW || !others_succeed(e, now)) {
			pthread_mutex_unlock(&mtx);
			return;
		}
		log_warnx("egress %s: every post fails through it while others "
		    "succeed: TikTok refuses it", e->shown);
	}
	e->failed_row = 0;
	if (what == EGRESS_OK) {
		e->successes++;
		e->ok_at = now;
		if (e->refusals > 0)
			log_info("egress %s: extracting again", e->shown);
		e->refusals = 0;
		e->rest_until = 0;
	} else {
		e->blocks++;
		rest = rest_ms << (e->refusals < REST_DOUBLINGS ?
		    e->refusals : REST_DOUBLINGS);
		e->refusals++;
		e->rest_until = now + rest;
		log_warnx("egress %s: TikTok refuses it; resting %lld s",
		    e->shown, rest / 1000);
	}
	pthread_mutex_unlock(&mtx);
}

/* The i-th egress in service's state, for /health and /metrics.  -1: no
 * such. */
int
egress_stats(int n, struct egress_stats *st)
{
	long long	 now = proc_now_ms();
	int		 i;

	pthread_mutex_lock(&mtx);
	for (i = 0; i < ntable; i++)
		if (!table[i].retired && n-- == 0)
			break;
	if (i >= ntable) {
		pthread_mutex_unlock(&mtx);
		return -1;
	}
	memcpy(st->id, table[i].id, sizeof(st->id));
	snprintf(st->shown, sizeof(st->shown), "%s", table[i].shown);
	st->resting = table[i].rest_until > now;
	st->back_in_ms = st->resting ? table[i].rest_until - now : 0;
	st->successes = table[i].successes;
	st->blocks = table[i].blocks;
	pthread_mutex_unlock(&mtx);
	return 0;
}
