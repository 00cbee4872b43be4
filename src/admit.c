/* SPDX-License-Identifier: ISC */
/*
 * Admission of requests: client, API key, budget (admit.h).
 */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "admit.h"
#include "answer.h"
#include "apikeys.h"
#include "client.h"
#include "conf.h"
#include "counters.h"
#include "http.h"
#include "limitdb.h"
#include "log.h"
#include "proc.h"

#define TOKEN_MAX	320	/* longer than any key (apikeys.c) */

struct admit {
	struct limit_rate	 rate[LIMIT_CLASSES];	/* n 0: none */
	struct limit_table	*table[LIMIT_CLASSES];	/* per address */
	struct client_nets	*trusted;
	enum client_header	 header;
	struct limitdb		*db;		/* REDIS_URL, else NULL */
	pthread_mutex_t		 mtx;		/* guards holds on keys */
	struct apikeys		*keys;		/* API_KEYS_FILE, else NULL */
	int			 keys_on;
	int			 required;	/* __atomic */
	time_t			 keys_loaded;	/* __atomic */
	unsigned long		 limited[LIMIT_CLASSES];	/* __atomic */
	char			 fixed[1024];	/* settings set at start */
};

/* The routes with a budget, and the policy each answers under. */
static const struct {
	const char		*route;
	enum limit_class	 cls;
} limited_routes[] = {
	{ "/tiktok", LIMIT_API },
	{ "/stream", LIMIT_MEDIA },
	{ "/download", LIMIT_MEDIA },
	{ "/download-slideshow", LIMIT_MEDIA },
	{ "/download-audio", LIMIT_MEDIA },
};
static const char *const policy[LIMIT_CLASSES] = { "api", "media" };

/* The settings a reload cannot change, as one text to compare. */
static void
fixed_settings(const struct conf *c, char *buf, size_t sz)
{
	snprintf(buf, sz, "%s|%s|%d|%s|%s|%s", c->rate_limit ? c->rate_limit :
	    "", c->rate_limit_media ? c->rate_limit_media : "",
	    c->rate_limit_clients, c->trusted_proxies ? c->trusted_proxies :
	    "", c->real_ip_header ? c->real_ip_header : "", c->redis_url ?
	    "redis" : "");
}

/*
 * What -n checks beyond conf.c: the API keys file, line by line, and
 * API_KEYS_REQUIRED only with one.  0, or -1 with a message in err.
 */
int
admit_check(const struct conf *c, char *err, size_t errsz)
{
	struct apikeys	*ks;

	if (c->api_keys_required && c->api_keys_file == NULL) {
		snprintf(err, errsz, "API_KEYS_REQUIRED: needs API_KEYS_FILE "
		    "(else every POST /tiktok would be refused)");
		return -1;
	}
	if (c->api_keys_file == NULL)
		return 0;
	if ((ks = apikeys_load(c->api_keys_file, err, errsz)) == NULL)
		return -1;
	apikeys_drop(ks);
	return 0;
}

/*
 * Make the admission from the configuration (checked by conf.c and
 * admit_check): the budgets and their tables, the trusted proxies, the
 * keys.  NULL with a message in err.  Freed by admit_free.
 */
struct admit *
admit_new(const struct conf *c, char *err, size_t errsz)
{
	struct admit	*ad;
	const char	*rates[LIMIT_CLASSES];
	char		 why[160];
	int		 i;

	if ((ad = calloc(1, sizeof(*ad))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&ad->mtx, NULL);
	fixed_settings(c, ad->fixed, sizeof(ad->fixed));
	rates[LIMIT_API] = c->rate_limit;
	rates[LIMIT_MEDIA] = c->rate_limit_media;
	for (i = 0; i < LIMIT_CLASSES; i++) {
		if (rates[i] == NULL)
			continue;
		if (limit_rate_parse(rates[i], &ad->rate[i], why,
		    sizeof(why)) == -1 || (ad->table[i] =
		    limit_table_new((size_t)c->rate_limit_clients)) == NULL) {
			snprintf(err, errsz, "%s: %s", i == LIMIT_API ?
			    "RATE_LIMIT" : "RATE_LIMIT_MEDIA", ad->table[i] ?
			    why : "out of memory");
			goto fail;
		}
	}
	ad->trusted = client_nets_new(c->trusted_proxies);
	client_header_parse(c->real_ip_header, &ad->header);
	ad->keys_on = c->api_keys_file != NULL;
	ad->required = c->api_keys_required;
	if (ad->keys_on) {
		if ((ad->keys = apikeys_load(c->api_keys_file, err, errsz)) ==
		    NULL)
			goto fail;
		ad->keys_loaded = time(NULL);
	}
	if (c->redis_url != NULL && (ad->keys_on || ad->table[LIMIT_API] !=
	    NULL || ad->table[LIMIT_MEDIA] != NULL) &&
	    (ad->db = limitdb_new(c)) == NULL) {
		snprintf(err, errsz, "REDIS_URL: out of memory");
		goto fail;
	}
	return ad;
fail:
	admit_free(ad);
	return NULL;
}

/*
 * SIGHUP: read the API keys file again (API_KEYS_FILE and
 * API_KEYS_REQUIRED as c says now).  Requests under way finish with
 * the keys they found; keys still there keep their windows.  A file
 * that cannot be read, or has a bad line, is logged and the keys
 * loaded before stay.  The budgets, their tables and the trusted
 * proxies are set at start: a change to them is logged as waiting for
 * the next start.
 */
void
admit_reload(struct admit *ad, const struct conf *c)
{
	struct apikeys	*ks = NULL, *old;
	char		 err[512], now[sizeof(ad->fixed)];

	if (ad == NULL)
		return;
	fixed_settings(c, now, sizeof(now));
	if (strcmp(now, ad->fixed) != 0)
		log_warnx("%s: RATE_LIMIT, RATE_LIMIT_MEDIA, RATE_LIMIT_CLIENTS, "
		    "TRUSTED_PROXIES, REAL_IP_HEADER and REDIS_URL take effect "
		    "at the next start", __func__);
	if (c->api_keys_required && c->api_keys_file == NULL) {
		log_warnx("%s: API_KEYS_REQUIRED without API_KEYS_FILE: the "
		    "keys stay as they were", __func__);
		return;
	}
	if (c->api_keys_file != NULL && (ks = apikeys_load(c->api_keys_file,
	    err, sizeof(err))) == NULL) {
		log_warnx("%s: %s: keeping the %zu keys loaded before",
		    __func__, err, apikeys_count(ad->keys));
		return;
	}
	pthread_mutex_lock(&ad->mtx);
	old = ad->keys;
	if (ks != NULL && old != NULL)
		apikeys_carry(ks, old);
	__atomic_store_n(&ad->keys, ks, __ATOMIC_RELEASE);
	ad->keys_on = ks != NULL;
	pthread_mutex_unlock(&ad->mtx);
	apikeys_drop(old);
	__atomic_store_n(&ad->required, c->api_keys_required,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&ad->keys_loaded, time(NULL), __ATOMIC_RELAXED);
	if (ks != NULL)
		log_info("%s: %zu API keys from %s", __func__,
		    apikeys_count(ks), c->api_keys_file);
}

void
admit_free(struct admit *ad)
{
	int	 i;

	if (ad == NULL)
		return;
	for (i = 0; i < LIMIT_CLASSES; i++)
		limit_table_free(ad->table[i]);
	client_nets_free(ad->trusted);
	limitdb_free(ad->db);
	apikeys_drop(ad->keys);
	pthread_mutex_destroy(&ad->mtx);
	free(ad);
}

static void
resolve(struct admit *ad, struct http *h, struct client_addr *ca)
{
	client_resolve(ad->trusted, ad->header, http_param(h, "REMOTE_ADDR"),
	    http_param(h, ad->header == CLIENT_FORWARDED ? "HTTP_FORWARDED" :
	    "HTTP_X_FORWARDED_FOR"), ca);
}

/* Note the request's client for the access log (every route). */
void
admit_client(struct admit *ad, struct http *h)
{
	struct client_addr	 ca;
	char			 text[CLIENT_ADDRSTRLEN];

	if (ad == NULL)
		return;
	resolve(ad, h, &ca);
	client_format(&ca, text, sizeof(text));
	http_set_client(h, text, NULL);
}

/*
 * The key an Authorization field carries ("Api-Key KEY" or "Bearer
 * KEY"), copied into buf; NULL for none or another scheme (Basic, say,
 * of a web server's own password).
 */
static char *
bearer(const char *auth, char *buf, size_t bufsz)
{
	size_t	 n;

	if (auth == NULL)
		return NULL;
	if (strncasecmp(auth, "Api-Key ", 8) == 0)
		auth += 8;
	else if (strncasecmp(auth, "Bearer ", 7) == 0)
		auth += 7;
	else
		return NULL;
	while (*auth == ' ' || *auth == '\t')
		auth++;
	for (n = strlen(auth); n > 0 && isspace((unsigned char)auth[n - 1]);
	    n--)
		continue;
	if (n == 0)
		return NULL;
	if (n >= bufsz)
		n = bufsz - 1;
	memcpy(buf, auth, n);
	buf[n] = '\0';
	return buf;
}

/*
 * Count the request against its budget in class c: the key's, else the
 * client's.  Returns 1 with r and v, or 0 when no budget applies.  With
 * Redis the fleet counts, and this instance keeps what it said (to go
 * on from there should Redis go); without, or while it is down, this
 * instance counts alone.
 */
static int
count(struct admit *ad, enum limit_class c, struct apikey *key,
    const struct client_addr *ca, struct limit_rate *r,
    struct limit_verdict *v)
{
	struct client_addr	 net = *ca;
	char			 who[CLIENT_ADDRSTRLEN + 8], name[200];
	long long		 n, reset, now = proc_now_ms(), start;

	if (key != NULL) {
		if (!apikeys_rate(key, c, &ad->rate[c], r))
			return 0;
		snprintf(who, sizeof(who), "key:%s", apikeys_id(key));
	} else {
		if (ad->table[c] == NULL)
			return 0;
		*r = ad->rate[c];
		if (net.fam == 6)
			memset(net.a + 8, 0, 8);
		memcpy(who, "ip:", 3);
		client_format(&net, who + 3, sizeof(who) - 3);
		if (net.fam == 6)
			snprintf(who + strlen(who), sizeof(who) - strlen(who),
			    "/64");
	}
	if (ad->db != NULL) {
		snprintf(name, sizeof(name), "tiktok-fcgi:rl:%s:%d:%s",
		    policy[c], r->w, who);
		if (limitdb_count(ad->db, name, r->w, &n, &reset) == 0) {
			limit_window_verdict(n, reset, r, v);
			start = now + reset - r->w * 1000LL;
			n = n > UINT_MAX ? UINT_MAX : n < 0 ? 0 : n;
			if (key != NULL)
				apikeys_set(key, c, (unsigned)n, start);
			else
				limit_table_set(ad->table[c], ca->fam,
				    client_id(ca), r, now, (unsigned)n, start);
			return 1;
		}
	}
	if (key != NULL)
		apikeys_hit(key, c, r, now, v);
	else
		limit_table_hit(ad->table[c], ca->fam, client_id(ca), r, now, v);
	return 1;
}

/* The RateLimit fields (and Retry-After past the budget). */
static void
say_budget(struct http *h, enum limit_class c, const struct limit_rate *r,
    const struct limit_verdict *v)
{
	char		 buf[96];
	long long	 t = (v->reset_ms + 999) / 1000;

	snprintf(buf, sizeof(buf), "\"%s\";q=%d;w=%d", policy[c], r->n, r->w);
	http_header(h, "RateLimit-Policy", buf);
	snprintf(buf, sizeof(buf), "\"%s\";r=%d;t=%lld", policy[c],
	    v->remaining, t);
	http_header(h, "RateLimit", buf);
	if (!v->allowed) {
		snprintf(buf, sizeof(buf), "%lld", t > 0 ? t : 1);
		http_header(h, "Retry-After", buf);
	}
}

static void
unauthorized(struct http *h, enum fail f)
{
	http_header(h, "WWW-Authenticate", "Api-Key realm=\"tiktok-fcgi\", "
	    "Bearer realm=\"tiktok-fcgi\"");
	answer_fail(h, f, NULL);
}

/*
 * Admit a request to its route, or answer it: 429 past its budget, 401
 * for a key we do not know (counted against the address first, so keys
 * cannot be guessed at any speed) or for POST /tiktok without a key
 * under API_KEYS_REQUIRED.  Returns 1 to go on to the handler, 0 when
 * answered.  Routes without a budget go on untouched.
 */
int
admit_request(struct admit *ad, struct http *h)
{
	struct client_addr	 ca;
	struct apikeys		*ks;
	struct apikey		*key = NULL;
	struct limit_rate	 r;
	struct limit_verdict	 v;
	char			 text[CLIENT_ADDRSTRLEN], buf[TOKEN_MAX];
	char			 msg[160];
	const char		*tok;
	size_t			 i;
	int			 c = -1, unknown = 0, missing, counted, rc = 1;

	for (i = 0; i < sizeof(limited_routes) / sizeof(limited_routes[0]);
	    i++)
		if (strcmp(http_route(h), limited_routes[i].route) == 0)
			c = (int)limited_routes[i].cls;
	if (ad == NULL || c == -1)
		return 1;
	resolve(ad, h, &ca);
	/* Without keys, no lock at all; with, one held to take a hold. */
	if ((ks = __atomic_load_n(&ad->keys, __ATOMIC_ACQUIRE)) != NULL) {
		pthread_mutex_lock(&ad->mtx);
		if ((ks = ad->keys) != NULL)
			apikeys_hold(ks);
		pthread_mutex_unlock(&ad->mtx);
	}
	if (ks != NULL && (tok = bearer(http_param(h, "HTTP_AUTHORIZATION"),
	    buf, sizeof(buf))) != NULL) {
		key = apikeys_find(ks, tok);
		unknown = key == NULL;
		OPENSSL_cleanse(buf, sizeof(buf));
	}
	client_format(&ca, text, sizeof(text));
	http_set_client(h, text, key != NULL ? apikeys_name(key) : NULL);
	missing = key == NULL && !unknown && c == LIMIT_API &&
	    __atomic_load_n(&ad->required, __ATOMIC_RELAXED);

	if ((counted = count(ad, (enum limit_class)c, key, &ca, &r, &v)))
		say_budget(h, (enum limit_class)c, &r, &v);
	if (counted && !v.allowed) {
		__atomic_add_fetch(&ad->limited[c], 1, __ATOMIC_RELAXED);
		counters_limited(http_route(h));
		snprintf(msg, sizeof(msg), "%d per %d s for this %s; try again "
		    "in %lld s", r.n, r.w, key != NULL ? "API key" : "address",
		    (v.reset_ms + 999) / 1000);
		answer_fail(h, FAIL_LIMITED, msg);
		rc = 0;
	} else if (unknown) {
		unauthorized(h, FAIL_KEY_UNKNOWN);
		rc = 0;
	} else if (missing) {
		unauthorized(h, FAIL_KEY_REQUIRED);
		rc = 0;
	}
	apikeys_drop(ks);
	return rc;
}

/* The settings and counts, for /health and /metrics. */
void
admit_stats(struct admit *ad, struct admit_stats *st)
{
	struct limitdb_stats	 ds;
	int			 i;

	memset(st, 0, sizeof(*st));
	if (ad == NULL)
		return;
	for (i = 0; i < LIMIT_CLASSES; i++) {
		st->rate[i] = ad->rate[i];
		st->limited[i] = __atomic_load_n(&ad->limited[i],
		    __ATOMIC_RELAXED);
		if (ad->table[i] == NULL)
			continue;
		st->clients[i] = limit_table_used(ad->table[i]);
		st->slots = limit_table_slots(ad->table[i]);
		st->bytes += limit_table_bytes(ad->table[i]);
	}
	pthread_mutex_lock(&ad->mtx);
	st->keys_on = ad->keys_on;
	st->keys = apikeys_count(ad->keys);
	pthread_mutex_unlock(&ad->mtx);
	st->required = __atomic_load_n(&ad->required, __ATOMIC_RELAXED);
	st->keys_loaded = __atomic_load_n(&ad->keys_loaded, __ATOMIC_RELAXED);
	if (ad->db != NULL) {
		limitdb_stats(ad->db, &ds);
		st->shared = 1;
		st->shared_up = ds.down_ms == 0;
		st->down_ms = ds.down_ms;
		st->alone = ds.alone;
	}
}
